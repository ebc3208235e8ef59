"""Read raw sensor files (CSV or Parquet) into one typed table, files in time order, the source file kept.

Ingestion answers "can this file be read as readings at all": it fails on unreadable files, a missing timestamp
column, timestamps that do not parse or mix zones, and text in a sensor column. Whether the readings are
*good* (columns present, ranges, nulls, order, overlap, sampling) is validation's job, so a file missing a
sensor column is read here and reported there. All timestamps are stored as naive UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from pipeline.contract import CONTRACT_FILE, infer_contract, load_contract, with_timestamp_column
from pipeline.parse_cache import ParseCache
from pipeline.readings import SOURCE_COLUMN, TIMESTAMP, RawFile, SensorReadings, fill, sensor_frame

__all__ = ["SOURCE_COLUMN", "TIMESTAMP", "IngestError", "RawFile", "SensorReadings", "read_raw_files"]

RAW_SUFFIXES = (".csv", ".parquet", ".pq")
_UTC_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


class IngestError(ValueError):
    """A raw file that cannot be ingested; the message names the file, the column and the problem."""


@dataclass
class _Part:
    """A file reduced to what the frame keeps: its timestamps and the columns that are, or may be, sensors."""

    path: Path
    info: RawFile
    timestamps: pa.ChunkedArray  # naive UTC, ns
    columns: dict  # name -> float64 values; without a contract, other columns as read until sensors are known
    numeric: set[str]  # columns of a numeric type (what inference calls sensors)
    first: int | None  # first reading (ns): files are ordered by it


def list_raw_files(raw_dir: Path, pattern: str) -> list[Path]:
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise IngestError(f"raw folder {raw_dir} does not exist")
    files = sorted(p for p in raw_dir.glob(pattern) if p.is_file() and p.suffix.lower() in RAW_SUFFIXES)
    if not files:
        raise IngestError(f"no CSV or Parquet file matches {pattern!r} under {raw_dir}")
    return files


def _read_table(path: Path, separator: str) -> pa.Table:
    if path.suffix.lower() == ".csv":  # Arrow's multithreaded parser, types inferred per column
        table = pa_csv.read_csv(path, parse_options=pa_csv.ParseOptions(delimiter=separator))
    else:
        table = pq.read_table(path)
    names = table.column_names  # decodes the header: fails here on bytes that are not UTF-8 text
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise IngestError(f"{path}: duplicate column name(s) {dupes} in the header")
    return table


def _bad_values(path: Path, column: pd.Series, bad: np.ndarray, what: str) -> IngestError:
    rows = np.flatnonzero(bad)
    samples = ", ".join(repr(v) for v in column.iloc[rows[:3]])
    return IngestError(f"{path}: column {column.name!r}: {len(rows)} value(s) are not {what}, e.g. {samples} "
                       f"(first at data row {rows[0] + 1})")


def _parse_timestamps(path: Path, column: pd.Series, timezone: str) -> pd.Series:
    """Naive UTC timestamps. Values without an offset are in `timezone`; a file may not mix the two kinds."""
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column
    else:
        text = column.astype("string").str.strip()
        has_offset = text.str.contains(_UTC_OFFSET, regex=True, na=False).to_numpy()
        if has_offset.any() and not has_offset.all():
            a, b = text.iloc[int(np.argmax(has_offset))], text.iloc[int(np.argmin(has_offset))]
            raise IngestError(f"{path}: column {column.name!r} mixes timestamps with and without a UTC offset "
                              f"(e.g. {a!r} and {b!r}); write every timestamp in one form")
        try:
            parsed = pd.to_datetime(text, format="ISO8601", utc=bool(has_offset.any()))
        except (ValueError, TypeError):
            parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=bool(has_offset.any()))
        bad = (parsed.isna() & text.notna()).to_numpy() | text.isna().to_numpy()
        if bad.any():
            raise _bad_values(path, column, bad, "timestamps")
    if parsed.dt.tz is None:
        try:
            parsed = parsed.dt.tz_localize(timezone, ambiguous="raise", nonexistent="raise")
        except (ValueError, TypeError) as exc:  # a local time that a DST change skips or repeats
            raise IngestError(f"{path}: column {column.name!r}: {exc} in time zone {timezone}") from None
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")


def _to_float(path: Path, column: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype="float64", na_value=np.nan)
    numbers = pd.to_numeric(column, errors="coerce")
    bad = (numbers.isna() & column.notna()).to_numpy()
    if bad.any():
        raise _bad_values(path, column, bad, "numbers")
    return numbers.to_numpy(dtype="float64", na_value=np.nan)


def _is_numeric(kind: pa.DataType) -> bool:
    """Numeric as pandas sees the column (bool included), the test for an inferred sensor."""
    try:
        return pd.api.types.is_numeric_dtype(kind.to_pandas_dtype())
    except NotImplementedError:  # e.g. dictionary-encoded text
        return False


def _floats(path: Path, name: str, column: pa.ChunkedArray | np.ndarray) -> pa.ChunkedArray | np.ndarray:
    """A sensor column as float64: numeric types cast by Arrow (no copy for float64), text parsed by pandas."""
    if isinstance(column, np.ndarray) or column.type == pa.float64():
        return column
    if _is_numeric(column.type):
        return column.cast(pa.float64(), safe=False)  # like numpy: large integers may round
    return _to_float(path, column.to_pandas().rename(name))


def _parse(path: Path, separator: str, ts_column: str, timezone: str) -> pa.Table:
    """The file as read, its timestamp column parsed to naive UTC (what the parse cache keeps)."""
    table = _read_table(path, separator)
    if ts_column not in table.column_names:
        raise IngestError(f"{path}: no timestamp column {ts_column!r} (columns: {table.column_names[:10]}); "
                          f"check timestamp_column and the separator {separator!r}")
    if table.num_rows == 0:
        raise IngestError(f"{path}: no data rows (header only)")
    column = table.column(ts_column)
    if pa.types.is_timestamp(column.type) and column.type.tz is None and timezone == "UTC":
        parsed = column.cast(pa.timestamp("ns"))  # already naive UTC: no pandas round trip
    else:
        parsed = pa.array(_parse_timestamps(path, column.to_pandas().rename(ts_column), timezone).to_numpy())
    return table.set_column(table.column_names.index(ts_column), ts_column, parsed)


def _reduce(path: Path, name: str, table: pa.Table, ts_column: str, sensors: list[str] | None,
            non_sensors: set[str]) -> _Part:
    """Keep the timestamps and the sensor columns, as float64 in one exactly sized block (Arrow's buffers
    carry spare capacity); with `sensors` unknown (no contract), every column that is not a timestamp or
    label: numeric ones in the block, others as read until the sensors are known."""
    names = table.column_names
    numeric = {c for c in names if _is_numeric(table.schema.field(c).type)}
    keep = [s for s in sensors if s in names] if sensors is not None else [c for c in names if c not in non_sensors]
    floats = [c for c in keep if sensors is not None or c in numeric]
    block = np.empty((len(floats), table.num_rows))
    for j, c in enumerate(floats):
        fill(block[j], _floats(path, c, table.column(c)))
    columns = {c: block[floats.index(c)] if c in floats else table.column(c) for c in keep}
    timestamps = table.column(ts_column)
    return _Part(path, RawFile(name, table.num_rows, tuple(names)), timestamps, columns, numeric,
                 pc.min(timestamps).value)


def _median_interval_s(timestamps: list[pa.ChunkedArray]) -> float | None:
    diffs = [np.diff(t.to_numpy().astype("int64")) for t in timestamps if len(t) > 1]
    diffs = np.concatenate(diffs) if diffs else np.array([])
    diffs = diffs[diffs > 0]
    return float(np.median(diffs)) / 1e9 if len(diffs) else None


def _assemble(parts: list[_Part], sensors: list[str]) -> tuple[pd.DataFrame, tuple[RawFile, ...]]:
    """One frame, files in the order of their first reading, rows in their recorded order (so validation can
    see it). Filled file by file into preallocated columns, each file dropped once copied: the peak is about
    one copy of the frame plus one file."""
    order = sorted(parts, key=lambda p: (p.first is None, p.first or 0, p.info.name))
    parts.clear()
    n = sum(p.info.rows for p in order)
    values, stamps = np.empty((len(sensors), n)), np.empty(n, "datetime64[ns]")
    code = np.int8 if len(order) < 2**7 else np.int16 if len(order) < 2**15 else np.int32
    codes = np.repeat(np.arange(len(order), dtype=code), [p.info.rows for p in order])
    infos, pos = tuple(p.info for p in order), 0
    for i in range(len(order)):
        part, order[i] = order[i], None
        end = pos + part.info.rows
        fill(stamps[pos:end], part.timestamps)
        for j, s in enumerate(sensors):  # a missing sensor stays empty here; validation reports it by file
            column = part.columns.pop(s, None)
            if column is None:
                values[j, pos:end] = np.nan
            else:
                fill(values[j, pos:end], _floats(part.path, s, column))
        pos, part = end, None
        pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed memory unless asked
    source = pd.Categorical.from_codes(codes, categories=[f.name for f in infos])
    return sensor_frame(values, sensors, {TIMESTAMP: stamps, SOURCE_COLUMN: source},
                        [TIMESTAMP, *sensors, SOURCE_COLUMN]), infos


def read_raw_files(
    raw_dir: Path,
    pattern: str = "**/*",
    timestamp_column: str | None = None,
    separator: str = ",",
    exclude_columns: tuple[str, ...] = (),
    contract_path: Path | None = None,
    cache_dir: Path | None = None,
    log=lambda msg: None,
) -> SensorReadings:
    """All matching files as one table, and the contract (`contract_path`, else `sensors.yaml` in raw_dir,
    else inferred). `timestamp_column`, when given, overrides the contract's. With `cache_dir`, files
    unchanged since an earlier read are taken from the parse cache instead of being parsed again."""
    raw_dir = Path(raw_dir)
    files = list_raw_files(raw_dir, pattern)
    contract_path = Path(contract_path) if contract_path else raw_dir / CONTRACT_FILE
    contract = load_contract(contract_path) if contract_path.is_file() else None
    if contract is not None:
        contract = with_timestamp_column(contract, timestamp_column)
    ts_column = contract.timestamp_column if contract else (timestamp_column or TIMESTAMP)
    timezone = contract.timezone if contract else "UTC"
    non_sensors = {ts_column, *exclude_columns, *(contract.labels if contract else ())}

    cache = ParseCache(cache_dir)
    parts = []
    for path in files:
        name = str(path.relative_to(raw_dir))
        key = cache.key(path, (separator, ts_column, timezone))
        try:
            table = cache.get(key)
            if table is None:
                table = _parse(path, separator, ts_column, timezone)
                cache.put(key, table)
                log(f"read {name}: {table.num_rows} rows, {table.num_columns} columns")
            parts.append(_reduce(path, name, table, ts_column, contract.names if contract else None, non_sensors))
        except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError covers UnicodeDecodeError
            if isinstance(exc, IngestError):
                raise
            raise IngestError(f"{path}: cannot be read ({str(exc).strip().splitlines()[0]})") from None
        del table  # only the reduced columns stay
        pa.default_memory_pool().release_unused()
    cache.prune()
    if cache.hits:
        log(f"{cache.hits} of {len(files)} file(s) unchanged since the last read: taken from the parse cache")

    if contract is None:
        columns = list(dict.fromkeys(c for p in parts for c in p.info.columns if c not in non_sensors))
        numeric = [c for c in columns if any(c in p.numeric for p in parts)]
        period = _median_interval_s([p.timestamps for p in parts])
        contract = infer_contract(numeric, [c for c in columns if c not in numeric], ts_column, period)
    # Excluded columns are labels too: known, not sensors, never reported as unexpected.
    contract = replace(contract, labels=tuple(dict.fromkeys([*contract.labels, *exclude_columns])))
    if not contract.sensors:
        raise IngestError(f"{raw_dir}: no sensor columns (no numeric column besides {sorted(non_sensors)})")
    frame, infos = _assemble(parts, contract.names)
    return SensorReadings(frame, contract, infos)
