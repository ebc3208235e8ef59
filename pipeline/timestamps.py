"""A raw file's timestamp column, parsed to naive UTC nanoseconds exactly as the contract states, never guessed.

Text is read as ISO 8601 unless the contract (or the raw_readings config) gives a `timestamp_format`, so
`01/11/2026` is refused rather than read as 11 January or 1 November. Numbers are refused unless a
`timestamp_unit` says they are epoch times (which are UTC). Times without a UTC offset are in the contract's
`timezone`; a local time that a daylight-saving change repeats is refused unless `ambiguous_times` says how to
read it, and one that the change skips is always refused. Every reading needs a timestamp, and it must fit the
stored range (nanoseconds since 1970 in 64 bits: 1677-09-22 to 2262-04-11).
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
