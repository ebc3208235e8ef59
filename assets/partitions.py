"""The day partitions every per-day asset shares.

Time partitions (not dynamic ones registered by a sensor): the day is a fact of the readings, so the set of
days is known without registering anything; the UI shows a status bar per day, ranges and backfills work
from the UI and the CLI, and the nightly schedule needs no extra state. Days without readings (datasets
recorded on scattered days) materialise as empty days, which training skips.

The partitions end yesterday (a live feed: a day is complete at midnight, and the nightly run ingests it), or on
`$PIPELINE_LAST_DAY` for a recorded dataset, so that a "Missing" day in the UI means work to do, not a day that
will never have readings.
"""

import os
from datetime import date, timedelta

import dagster as dg

from pipeline.catalog import DAY_TIMEZONE_ENV, Catalog
from pipeline.days import DayClock, DayError

FIRST_DAY_ENV = "PIPELINE_FIRST_DAY"  # first day partition, YYYY-MM-DD
LAST_DAY_ENV = "PIPELINE_LAST_DAY"  # last day partition, YYYY-MM-DD (unset: yesterday)
DEFAULT_FIRST_DAY = "2026-11-01"  # the shipped sample's first day


def _partitions() -> tuple[DayClock, dg.DailyPartitionsDefinition]:
    """The day clock and partitions from the settings; a bad setting is refused naming it."""
    timezone, first_day = Catalog().day_timezone(), os.environ.get(FIRST_DAY_ENV) or DEFAULT_FIRST_DAY
    last_day = os.environ.get(LAST_DAY_ENV) or None
    try:
        clock = DayClock(timezone)
        date.fromisoformat(first_day)
        end = None if last_day is None else (date.fromisoformat(last_day) + timedelta(days=1)).isoformat()
    except (DayError, ValueError) as exc:
        raise DayError(f"day partitions: {exc} (from ${DAY_TIMEZONE_ENV}, the contract's day_timezone, "
                       f"${FIRST_DAY_ENV}={first_day!r} or ${LAST_DAY_ENV}={last_day!r}, which must be "
                       "YYYY-MM-DD)") from None
    if last_day is not None and last_day < first_day:
        raise DayError(f"day partitions: ${LAST_DAY_ENV}={last_day} is before the first day {first_day} "
                       f"(${FIRST_DAY_ENV})")
    # end_date is exclusive: the day after the last one
    return clock, dg.DailyPartitionsDefinition(start_date=first_day, end_date=end, timezone=clock.timezone)


DAY_CLOCK, DAYS = _partitions()
