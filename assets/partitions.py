"""The day partitions every per-day asset shares.

Time partitions (not dynamic ones registered by a sensor): the day is a fact of the readings, so the set of
days is known without registering anything; the UI shows a status bar per day, ranges and backfills work
from the UI and the CLI, and the nightly schedule needs no extra state. Days without readings (datasets
recorded on scattered days) materialise as empty days, which training skips.
"""

import os
from datetime import date

import dagster as dg

from pipeline.catalog import DAY_TIMEZONE_ENV, Catalog
from pipeline.days import DayClock, DayError

FIRST_DAY_ENV = "PIPELINE_FIRST_DAY"  # first day partition, YYYY-MM-DD
DEFAULT_FIRST_DAY = "2026-11-01"  # the shipped sample's first day


def _partitions() -> tuple[DayClock, dg.DailyPartitionsDefinition]:
    """The day clock and partitions from the settings; a bad setting is refused naming it."""
    timezone, first_day = Catalog().day_timezone(), os.environ.get(FIRST_DAY_ENV) or DEFAULT_FIRST_DAY
    try:
        clock = DayClock(timezone)
        date.fromisoformat(first_day)
    except (DayError, ValueError) as exc:
        raise DayError(f"day partitions: {exc} (from ${DAY_TIMEZONE_ENV}, the contract's day_timezone or "
                       f"${FIRST_DAY_ENV}={first_day!r}, which must be YYYY-MM-DD)") from None
    return clock, dg.DailyPartitionsDefinition(start_date=first_day, timezone=clock.timezone)


DAY_CLOCK, DAYS = _partitions()
