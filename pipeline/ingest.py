"""Read raw sensor files (CSV or Parquet) into one typed table, files in time order, the source file kept.

Ingestion answers "can this file be read as readings at all": it fails on unreadable files, a missing timestamp
column, timestamps that do not parse or mix zones, and text in a sensor column. Whether the readings are
*good* (columns present, ranges, nulls, order, overlap, sampling) is validation's job, so a file missing a
sensor column is read here and reported there. All timestamps are stored as naive UTC.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from pipeline.contract import CONTRACT_FILE, Contract, infer_contract, load_contract, with_timestamp_column
from pipeline.parse_cache import ParseCache

RAW_SUFFIXES = (".csv", ".parquet", ".pq")
SOURCE_COLUMN = "source_file"
TIMESTAMP = "timestamp"  # the timestamp column's name in every table the pipeline writes
_UTC_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


class IngestError(ValueError):
    """A raw file that cannot be ingested; the message names the file, the column and the problem."""


@dataclass(frozen=True)
class RawFile:
    """What a raw file held, before any selection: kept so validation can report missing/unexpected columns."""

    name: str  # path relative to the raw folder
    rows: int
    columns: tuple[str, ...]


@dataclass
class SensorReadings:
    """Readings of all files: `timestamp`, one float column per sensor, `source_file`; their contract and
    what each file held."""

    frame: pd.DataFrame
    contract: Contract
    files: tuple[RawFile, ...] = ()

    @property
    def sensors(self) -> list[str]:
        return self.contract.names

    def summary(self) -> dict:
        ts = self.frame[TIMESTAMP]
        return {
            "files": len(self.files),
            "rows": len(self.frame),
            "sensors": len(self.sensors),
            "first_timestamp": str(ts.min()) if len(ts) else "",
            "last_timestamp": str(ts.max()) if len(ts) else "",
            "contract": self.contract.source,
        }

    def sensor_summary(self) -> pd.DataFrame:
        """Per sensor: unit, min, mean, max and missing values (nulls)."""
        units = {s.name: s.unit or "" for s in self.contract.sensors}
        frame = self.frame
        return pd.DataFrame({
            "sensor": self.sensors,
            "unit": [units.get(s, "") for s in self.sensors],
            "min": [float(frame[s].min()) for s in self.sensors],
            "mean": [float(frame[s].mean()) for s in self.sensors],
            "max": [float(frame[s].max()) for s in self.sensors],
            "nulls": [int(frame[s].isna().sum()) for s in self.sensors],
        })

    def time_span_hours(self) -> float:
        ts = self.frame[TIMESTAMP]
        return float((ts.max() - ts.min()).total_seconds() / 3600.0) if len(ts) else 0.0

    def files_json(self) -> str:
        return json.dumps([asdict(f) for f in self.files], indent=2)

    @staticmethod
    def files_from_json(text: str) -> tuple[RawFile, ...]:
        return tuple(RawFile(f["name"], f["rows"], tuple(f["columns"])) for f in json.loads(text))


def list_raw_files(raw_dir: Path, pattern: str) -> list[Path]:
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise IngestError(f"raw folder {raw_dir} does not exist")
    files = sorted(p for p in raw_dir.glob(pattern) if p.is_file() and p.suffix.lower() in RAW_SUFFIXES)
    if not files:
        raise IngestError(f"no CSV or Parquet file matches {pattern!r} under {raw_dir}")
    return files


def _read_table(path: Path, separator: str) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".csv":
            table = pa_csv.read_csv(path, parse_options=pa_csv.ParseOptions(delimiter=separator))
        else:
            table = pq.read_table(path)
        names = table.column_names  # decodes the header: fails here on bytes that are not UTF-8 text
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise IngestError(f"{path}: duplicate column name(s) {dupes} in the header")
        return table.to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError covers UnicodeDecodeError
        if isinstance(exc, IngestError):
            raise
        raise IngestError(f"{path}: cannot be read ({str(exc).strip().splitlines()[0]})") from None


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


def _median_interval_s(timestamps: list[pd.Series]) -> float | None:
    diffs = [np.diff(t.to_numpy().astype("int64")) for t in timestamps if len(t) > 1]
    diffs = np.concatenate(diffs) if diffs else np.array([])
    diffs = diffs[diffs > 0]
    return float(np.median(diffs)) / 1e9 if len(diffs) else None


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
    raw, infos, times = {}, [], {}
    for path in files:
        name = str(path.relative_to(raw_dir))
        key = cache.key(path, (separator, ts_column, timezone))
        frame = cache.get(key)
        if frame is None:
            frame = _read_table(path, separator)
            if ts_column not in frame.columns:
                raise IngestError(f"{path}: no timestamp column {ts_column!r} (columns: {list(frame.columns)[:10]}); "
                                  f"check timestamp_column and the separator {separator!r}")
            if frame.empty:
                raise IngestError(f"{path}: no data rows (header only)")
            frame[ts_column] = _parse_timestamps(path, frame[ts_column], timezone).to_numpy()
            cache.put(key, frame)
            log(f"read {name}: {len(frame)} rows, {frame.shape[1]} columns")
        raw[name] = frame
        times[name] = frame[ts_column]
        infos.append(RawFile(name, len(frame), tuple(map(str, frame.columns))))
    cache.prune()
    if cache.hits:
        log(f"{cache.hits} of {len(files)} file(s) unchanged since the last read: taken from the parse cache")

    if contract is None:
        columns = list(dict.fromkeys(c for f in raw.values() for c in f.columns if c not in non_sensors))
        numeric = [c for c in columns if any(c in f and pd.api.types.is_numeric_dtype(f[c]) for f in raw.values())]
        period = _median_interval_s(list(times.values()))
        contract = infer_contract(numeric, [c for c in columns if c not in numeric], ts_column, period)
    # Excluded columns are labels too: known, not sensors, never reported as unexpected.
    contract = replace(contract, labels=tuple(dict.fromkeys([*contract.labels, *exclude_columns])))
    if not contract.sensors:
        raise IngestError(f"{raw_dir}: no sensor columns (no numeric column besides {sorted(non_sensors)})")

    parts = []
    for name, frame in raw.items():
        part = pd.DataFrame({TIMESTAMP: times[name].to_numpy()})
        for s in contract.names:  # a missing sensor stays empty here; validation reports it by file
            part[s] = _to_float(raw_dir / name, frame[s]) if s in frame.columns else np.nan
        part[SOURCE_COLUMN] = name
        parts.append(part)
    # Files in the order of their first reading; rows keep their recorded order so validation can see it.
    order = sorted(range(len(parts)), key=lambda i: (parts[i][TIMESTAMP].min(), infos[i].name))
    frame = pd.concat([parts[i] for i in order], ignore_index=True)
    return SensorReadings(frame, contract, tuple(infos[i] for i in order))
