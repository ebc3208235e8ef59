"""Read raw sensor files (CSV or Parquet) into one typed table, files in time order, the source file kept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from pipeline.contract import CONTRACT_FILE, Contract, infer_contract, load_contract

RAW_SUFFIXES = (".csv", ".parquet", ".pq")
SOURCE_COLUMN = "source_file"
TIMESTAMP = "timestamp"  # the timestamp column's name in every table the pipeline writes


class IngestError(ValueError):
    """A raw file that cannot be ingested; the message names the file, the column and the problem."""


@dataclass
class SensorReadings:
    """Readings of all files: `timestamp`, one float column per sensor, `source_file`; and their contract."""

    frame: pd.DataFrame
    contract: Contract

    @property
    def sensors(self) -> list[str]:
        return self.contract.names

    def summary(self) -> dict:
        ts = self.frame[TIMESTAMP]
        return {
            "files": int(self.frame[SOURCE_COLUMN].nunique()),
            "rows": len(self.frame),
            "sensors": len(self.sensors),
            "first_timestamp": str(ts.min()) if len(ts) else "",
            "last_timestamp": str(ts.max()) if len(ts) else "",
            "contract": self.contract.source,
        }


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
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(f"{path}: cannot be read ({exc})") from None
    return table.to_pandas()


def _parse_timestamps(path: Path, column: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column
    else:
        parsed = pd.to_datetime(column, errors="coerce", format="mixed")
        bad = parsed.isna() & column.notna()
        if bad.any():
            rows = np.flatnonzero(bad.to_numpy())
            raise IngestError(
                f"{path}: column {column.name!r}: {len(rows)} value(s) are not timestamps, "
                f"e.g. {column.iloc[rows[0]]!r} at data row {rows[0] + 1}"
            )
    if getattr(parsed.dt, "tz", None) is not None:  # one clock for every file: naive UTC
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[ns]")


def _to_float(path: Path, column: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.astype("float64")
    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna() & column.notna()
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())
        samples = ", ".join(repr(v) for v in column.iloc[rows[:3]])
        raise IngestError(
            f"{path}: column {column.name!r}: {len(rows)} value(s) are not numbers, e.g. {samples} "
            f"(first at data row {rows[0] + 1})"
        )
    return numbers.astype("float64")


def read_raw_files(
    raw_dir: Path,
    pattern: str = "**/*",
    timestamp_column: str = TIMESTAMP,
    separator: str = ",",
    exclude_columns: tuple[str, ...] = (),
    log=lambda msg: None,
) -> SensorReadings:
    """All matching files as one table, plus the contract (`sensors.yaml` in raw_dir, else inferred)."""
    raw_dir = Path(raw_dir)
    files = list_raw_files(raw_dir, pattern)
    contract_path = raw_dir / CONTRACT_FILE
    contract = load_contract(contract_path) if contract_path.is_file() else None
    non_sensors = [timestamp_column, *exclude_columns, *(contract.labels if contract else ())]

    raw = {}
    for path in files:
        frame = _read_table(path, separator)
        if timestamp_column not in frame.columns:
            raise IngestError(
                f"{path}: no timestamp column {timestamp_column!r} (columns: {list(frame.columns)[:10]}); "
                f"check timestamp_column and separator {separator!r}"
            )
        if frame.empty:
            raise IngestError(f"{path}: no data rows")
        raw[path] = frame
        log(f"read {path.name}: {len(frame)} rows, {frame.shape[1]} columns")

    if contract is None:
        columns = list(dict.fromkeys(c for f in raw.values() for c in f.columns if c not in non_sensors))
        numeric = [c for c in columns if any(c in f and pd.api.types.is_numeric_dtype(f[c]) for f in raw.values())]
        contract = infer_contract(numeric, [c for c in columns if c not in numeric])
    sensors = contract.names
    if not sensors:
        raise IngestError(f"{raw_dir}: no sensor columns (no numeric column besides {non_sensors})")

    parts = []
    for path, frame in raw.items():
        missing = [s for s in sensors if s not in frame.columns]
        if missing:
            origin = "found in other files" if contract.inferred else f"required by {contract.source}"
            raise IngestError(f"{path}: missing sensor column(s) {missing} ({origin})")
        part = pd.DataFrame({TIMESTAMP: _parse_timestamps(path, frame[timestamp_column])})
        for s in sensors:
            part[s] = _to_float(path, frame[s]).to_numpy()
        part[SOURCE_COLUMN] = str(path.relative_to(raw_dir))
        parts.append(part)
    # Files in the order of their first reading; rows keep their recorded order so validation can see it.
    parts.sort(key=lambda p: (p[TIMESTAMP].min(), p[SOURCE_COLUMN].iat[0]))
    frame = pd.concat(parts, ignore_index=True)
    return SensorReadings(frame, contract)
