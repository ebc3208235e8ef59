"""A raw file's timestamp column, parsed to naive UTC nanoseconds exactly as the contract states, never guessed.

Text is read as ISO 8601 unless the contract (or the raw_readings config) gives a `timestamp_format`, so
`01/11/2026` is refused rather than read as 11 January or 1 November. Numbers are refused unless a
`timestamp_unit` says they are epoch times (which are UTC). Times without a UTC offset are in the contract's
`timezone`; a local time that a daylight-saving change repeats is refused unless `ambiguous_times` says how to
read it, and one that the change skips is always refused. Every reading needs a timestamp, and it must fit the
stored range (nanoseconds since 1970 in 64 bits: 1677-09-22 to 2262-04-11).

A file's rows must be in time order: a row earlier than the row before it is refused (equal timestamps are
left to validation, which reports duplicates). So is a row *far* from the rest of the file (`time_order_problem`):
one lying beyond the file's largest gap between consecutive rows, when that gap is both longer than
FAR_GAP_FLOOR (7 days) and more than FAR_GAP_FACTOR (10) times the time the rest of the file spans (the file's
span without that gap). A clock reset to 1970 in a day's file gives a gap of 56 years beside a day; a logger
paused overnight, for a weekend, or for weeks in a month's export stays far inside the rule (only a pause of
over a week that is also over 10 times all the recording around it is refused, e.g. a two-row file a month
apart); gaps in SKAB's files (up to 247 s) are far below the floor. A far row in time order can
only be at either end of the file (or a few rows together there): the rows on the smaller side of the gap are
the stray ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.contract import AMBIGUOUS_TIMES, TIMESTAMP_UNITS

UTC_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"
EARLIEST, LATEST = pd.Timestamp("1677-09-22"), pd.Timestamp("2262-04-11")  # whole days inside the ns range
FORMAT_HINT = "set timestamp_format in the contract or the raw_readings config, e.g. '%d/%m/%Y %H:%M:%S'"


FAR_GAP_FACTOR = 10  # a far row: beyond a gap more than this many times what the rest of the file spans...
FAR_GAP_FLOOR = pd.Timedelta(days=7)  # ...and longer than this


class TimestampError(ValueError):
    """A timestamp column that cannot be read as stated; the message names the column, the values and the row."""


@dataclass(frozen=True)
class TimestampSettings:
    column: str = "timestamp"
    timezone: str = "UTC"
    format: str | None = None  # strptime format of text timestamps; None: ISO 8601
    unit: str | None = None  # s, ms, us or ns for epoch numbers; None: numbers are not timestamps
    ambiguous: str = "raise"  # see pipeline.contract.AMBIGUOUS_TIMES

    def __post_init__(self):
        if self.unit is not None and self.unit not in TIMESTAMP_UNITS:
            raise TimestampError(f"timestamp_unit must be one of {TIMESTAMP_UNITS}, got {self.unit!r}")
        if self.ambiguous not in AMBIGUOUS_TIMES:
            raise TimestampError(f"ambiguous_times must be one of {AMBIGUOUS_TIMES}, got {self.ambiguous!r}")


def _rows_error(name: str, values: pd.Series, bad: np.ndarray, what: str, hint: str = "") -> TimestampError:
    rows = np.flatnonzero(bad)
    samples = ", ".join(repr(str(v)) for v in values.iloc[rows[:3]])
    return TimestampError(f"column {name!r}: {len(rows)} value(s) {what}, e.g. {samples} "
                          f"(first at data row {rows[0] + 1}){'; ' + hint if hint else ''}")


def parse_timestamps(column: pa.ChunkedArray, settings: TimestampSettings) -> pa.Array | pa.ChunkedArray:
    """The column as naive UTC datetime64[ns], or a TimestampError saying which rows are wrong and how."""
    name = settings.column
    if column.null_count:
        rows = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))
        raise TimestampError(f"column {name!r}: {len(rows)} row(s) without a timestamp (first at data row "
                             f"{rows[0] + 1}); every reading needs one")
    kind = column.type
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
    if settings.unit:
        parsed = _from_epoch(name, column, settings.unit)
    elif numeric:
        sample = column.slice(0, 1).to_pylist()[0]
        raise TimestampError(f"column {name!r} holds numbers (e.g. {sample!r}), not timestamps: if they are epoch "
                             f"times, set timestamp_unit ({', '.join(TIMESTAMP_UNITS)}) in the contract or the "
                             "raw_readings config")
    elif pa.types.is_timestamp(kind) and kind.tz is None and settings.timezone == "UTC":
        bounds = pc.min_max(column)
        if len(column) and (bounds["min"].as_py() < EARLIEST or bounds["max"].as_py() >= LATEST):
            _check_range(name, pd.Series(column.to_pandas()))  # names the rows
        return column.cast(pa.timestamp("ns"))  # already naive UTC: no pandas round trip, no copy if ns
    elif pa.types.is_timestamp(kind):
        parsed = pd.Series(column.to_pandas())
    else:
        parsed = _from_text(name, column.to_pandas().astype("string").str.strip(), settings.format)
    if parsed.dt.tz is None:
        parsed = _localize(name, parsed, settings.timezone, settings.ambiguous)
    naive = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    _check_range(name, naive)
    return pa.array(naive.astype("datetime64[ns]").to_numpy())


def _from_epoch(name: str, column: pa.ChunkedArray, unit: str) -> pd.Series:
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        raise TimestampError(f"column {name!r} holds dates, not epoch numbers, but timestamp_unit is set to "
                             f"{unit!r}: remove timestamp_unit")
    values = column.to_pandas()
    numbers = pd.to_numeric(values, errors="coerce")
    bad = (numbers.isna() & values.notna()).to_numpy()
    if bad.any():
        raise _rows_error(name, values, bad, f"are not epoch numbers (timestamp_unit {unit!r})")
    try:
        return pd.Series(pd.to_datetime(numbers, unit=unit, utc=True))
    except (OverflowError, ValueError):  # out of bounds
        raise TimestampError(f"column {name!r}: epoch numbers in {unit!r} from {numbers.min()!r} to "
                             f"{numbers.max()!r} fall outside {EARLIEST.date()} to {LATEST.date()}: is "
                             "timestamp_unit right?") from None


def _from_text(name: str, text: pd.Series, fmt: str | None) -> pd.Series:
    has_offset = text.str.contains(UTC_OFFSET, regex=True, na=False).to_numpy()
    if has_offset.any() and not has_offset.all():
        a, b = text.iloc[int(np.argmax(has_offset))], text.iloc[int(np.argmin(has_offset))]
        raise TimestampError(f"column {name!r} mixes timestamps with and without a UTC offset (e.g. {a!r} and "
                             f"{b!r}); write every timestamp in one form")
    try:
        parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=bool(has_offset.any()))
    except ValueError as exc:  # a format pandas cannot use
        raise TimestampError(f"column {name!r}: timestamp_format {fmt!r} cannot be used ({exc})") from None
    bad = parsed.isna().to_numpy()
    if bad.any():
        if fmt:
            raise _rows_error(name, text, bad, f"do not match timestamp_format {fmt!r}")
        raise _rows_error(name, text, bad, "are not ISO 8601 timestamps", f"dates are never guessed: {FORMAT_HINT}")
    return parsed


def _localize(name: str, parsed: pd.Series, timezone: str, ambiguous: str) -> pd.Series:
    if timezone == "UTC":
        return parsed.dt.tz_localize("UTC")
    how = {"earliest": np.ones(len(parsed), bool), "latest": np.zeros(len(parsed), bool)}.get(ambiguous, ambiguous)
    try:
        return parsed.dt.tz_localize(timezone, ambiguous=how, nonexistent="raise")
    except (ValueError, TypeError) as exc:
        detail = str(exc).strip().splitlines()[0]
        if "NonExistent" in type(exc).__name__ or "nonexistent" in detail.lower():
            raise TimestampError(f"column {name!r}: {detail} does not exist in {timezone} (the clocks skip it "
                                 "when summer time starts): the logger's clock or the contract's timezone is "
                                 "wrong") from None
        hint = ("ambiguous_times 'infer' needs the repeated hour in recorded order" if ambiguous == "infer" else
                "set ambiguous_times in the contract to 'infer' (the readings are in recorded order), 'earliest' "
                "(summer time) or 'latest' (standard time)")
        raise TimestampError(f"column {name!r}: a local time the clocks repeat when summer time ends in "
                             f"{timezone} ({detail}): {hint}") from None


def _check_range(name: str, naive: pd.Series) -> None:
    """Every timestamp inside the stored nanosecond range (pandas parses text at coarser units, so 2300 reads
    fine and only fails, obscurely, when stored)."""
    if not len(naive):
        return
    outside = ((naive < EARLIEST) | (naive >= LATEST)).to_numpy()
    if outside.any():
        raise _rows_error(name, naive, outside, f"lie outside {EARLIEST.date()} to {LATEST.date()}, the range "
                                                "timestamps are stored in")


def _when(ns: int) -> str:
    return str(pd.Timestamp(int(ns)))


def _duration(ns: int) -> str:
    delta = pd.Timedelta(int(ns))
    if delta >= pd.Timedelta(days=2):
        return f"{delta / pd.Timedelta(days=1):,.0f} days"
    if delta >= pd.Timedelta(hours=1):
        return f"{delta / pd.Timedelta(hours=1):.1f} hours"
    return str(delta).replace("0 days ", "")


def time_order_problem(ns: np.ndarray) -> tuple[int, str] | None:
    """What is wrong with the order of a file's timestamps (int64 naive UTC ns, in the file's row order), as
    (the 0-based row to name, what is wrong), or None: the first row earlier than the row before it, else the
    row far from the rest (see the module's notes)."""
    ns = np.asarray(ns, dtype="int64")
    if len(ns) < 2:
        return None
    steps = np.diff(ns)
    back = np.flatnonzero(steps < 0)
    if len(back):
        row = int(back[0]) + 1
        more = f" ({len(back)} rows go back in time)" if len(back) > 1 else ""
        # The row named is the one out of place: the earlier one, unless only the row before it is (a stray
        # late row, e.g. 2099 mid-file, which the row after it then goes back from).
        later_is_stray = row + 1 < len(ns) and ns[row + 1] < ns[row - 1] and (row < 2 or ns[row - 2] <= ns[row])
        if later_is_stray:
            return row - 1, (f"{_when(ns[row - 1])} is later than the row after it ({_when(ns[row])}): the file's "
                             f"rows must be in time order{more}")
        return row, (f"{_when(ns[row])} is earlier than the row before it ({_when(ns[row - 1])}): the file's rows "
                     f"must be in time order{more}")
    gap_at = int(np.argmax(steps))
    gap = int(steps[gap_at])
    rest = int(ns[-1] - ns[0]) - gap
    if gap <= FAR_GAP_FLOOR.value or gap <= FAR_GAP_FACTOR * rest:
        return None
    before, after = gap_at + 1, len(ns) - gap_at - 1  # rows on each side of the gap
    if before < after:
        row, others = gap_at, before - 1
        where = f"{_duration(gap)} before the row after it ({_when(ns[gap_at + 1])})"
        also = f" (as do the {others} row(s) before it)" if others else ""
    else:
        row, others = gap_at + 1, after - 1
        where = f"{_duration(gap)} after the row before it ({_when(ns[gap_at])})"
        also = f" (as do the {others} row(s) after it)" if others else ""
    return row, (f"{_when(ns[row])} lies {where}{also}, more than {FAR_GAP_FACTOR} times the {_duration(rest)} "
                 f"the rest of the file spans: a row far from the others (a logger clock reset, e.g. to 1970?); "
                 "fix or remove it")
