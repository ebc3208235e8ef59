"""Sensor readings: one row per reading (`timestamp`, a float column per sensor, `source_file`), their contract
and what each raw file held; in memory or in the store's Parquet file, read only when asked for.

Memory layout, kept by ingestion and by loading alike: the sensors are one float64 block with each sensor's
values contiguous, so a file's rows, a sensor's column or the frame's Arrow conversion are views, not copies;
`source_file` is a Categorical whose categories are the files in order and whose codes are one byte a row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.contract import Contract

SOURCE_COLUMN = "source_file"
TIMESTAMP = "timestamp"  # the timestamp column's name in every table the pipeline writes
ROW_GROUP_ROWS = 262_144  # Parquet row group of stored readings
# Rows decoded at a time when streaming a stored column: small pieces (a few MB) are reused by the allocator
# instead of being kept as a high-water mark beside the whole arrays being filled.
STREAM_ROWS = 1 << 16


@dataclass(frozen=True)
class RawFile:
    """What a raw file held, before any selection: kept so validation can report missing/unexpected columns."""

    name: str  # path relative to the raw folder
    rows: int
    columns: tuple[str, ...]
    empty_rows: int = 0  # rows with every field empty, dropped when read


def sensor_frame(values: np.ndarray, sensors: list[str], others: dict, columns: list[str],
                 index: pd.Index | None = None) -> pd.DataFrame:
    """A frame over `values` (sensors x rows: each row of it one sensor's column) without copying it, with
    the columns of `others` (inserted by reference) at their places in `columns`."""
    frame = pd.DataFrame(values.T, columns=sensors, index=index, copy=False)
    known = set(sensors)
    for k, name in enumerate(columns):  # in order, so every column before position k is already there
        if name not in known:
            column = others[name]
            frame.insert(k, name, column if isinstance(column, pd.Series)
                         else pd.Series(column, index=frame.index, copy=False))
    return frame


def source_codes(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Each row's file as a small integer, and the file names those integers stand for."""
    column = frame[SOURCE_COLUMN]
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), list(column.cat.categories)
    codes, names = pd.factorize(column, sort=False)  # a frame built elsewhere, e.g. with a string column
    return codes, list(names)


def file_rows(frame: pd.DataFrame) -> dict[str, slice | np.ndarray]:
    """The rows of each source file, in the frame's order: a slice when they are contiguous (as ingestion
    assembles them), else their positions."""
    codes, names = source_codes(frame)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.zeros(0, int)
    ends, run_codes = np.r_[starts[1:], len(codes)].astype(int), codes[starts]
    known = run_codes >= 0  # -1: a row without a file
    runs = np.bincount(run_codes[known], minlength=len(names))
    out = {}
    for code, lo, hi in zip(run_codes[known], starts[known], ends[known], strict=True):
        if names[code] not in out:
            out[names[code]] = slice(int(lo), int(hi)) if runs[code] == 1 else np.flatnonzero(codes == code)
    return out


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """The frame as Parquet in row groups, converted to Arrow without copying its columns. Dictionary
    encoding only where values repeat (file names, segment numbers): on readings it costs time for little."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    repeating = [c for c in frame.columns if frame[c].dtype.kind not in "fM"]
    pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS, use_dictionary=repeating)


def read_parquet(source: pq.ParquetFile, sensors: list[str]) -> pd.DataFrame:
    """A frame written by `write_parquet`: the sensors streamed into one block, the other columns read one at a
    time, so the peak is the frame plus one column."""
    values, pos = np.empty((len(sensors), source.metadata.num_rows)), 0
    for batch in _batches(source, sensors):
        for j, column in enumerate(batch.columns):
            values[j, pos:pos + batch.num_rows] = column.to_numpy(zero_copy_only=False)
        pos += batch.num_rows
    names = source.schema_arrow.names
    others = {c: source.read(columns=[c]).column(0).to_pandas() for c in names if c not in sensors}
    return sensor_frame(values, sensors, others, names)


def _batches(source: pq.ParquetFile, columns: list[str], rows: int = STREAM_ROWS) -> Iterator[pa.RecordBatch]:
    """The columns, `rows` rows at a time. Stored readings are opened without pre-buffering (see `stored`), so
    Arrow holds one batch; measured on 10 M rows, 64k-row batches kept the windowing peak 40 MB lower than
    whole row groups."""
    return source.iter_batches(batch_size=rows, columns=columns)


def _stored_chunks(source: pq.ParquetFile, sensors: list[str], rows: int) -> Iterator[np.ndarray]:
    """Chunks of at most `rows` rows of the sensors, as (rows, sensors) float64 arrays."""
    for batch in _batches(source, sensors, rows):
        chunk = np.empty((batch.num_rows, len(sensors)))
        for j, column in enumerate(batch.columns):
            chunk[:, j] = column.to_numpy(zero_copy_only=False)
        yield chunk


def fill(dest: np.ndarray, column: pa.ChunkedArray | np.ndarray) -> None:
    """Copy a column into `dest` chunk by chunk (nulls become NaN / NaT)."""
    if isinstance(column, np.ndarray):
        dest[:] = column
        return
    pos = 0
    for chunk in column.chunks:
        dest[pos:pos + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
        pos += len(chunk)


class SensorReadings:
    """Readings of all files: `timestamp`, one float column per sensor, `source_file`; their contract and what
    each file held. Readings from the store keep their Parquet file open and read it on first use of `frame`;
    `column` and `sensor_chunks` stream from it without loading the whole frame."""

    def __init__(self, frame: pd.DataFrame | None, contract: Contract, files: tuple[RawFile, ...] = (),
                 parquet: pq.ParquetFile | None = None, skipped_files: tuple[tuple[str, str], ...] = ()):
        if frame is None and parquet is None:
            raise ValueError("SensorReadings needs a frame or a Parquet file")
        self._frame, self._parquet = frame, parquet
        self.contract, self.files = contract, tuple(files)
        self.skipped_files = skipped_files  # (file, why) of the raw folder's files not read; not stored

    @classmethod
    def stored(cls, path: Path, contract: Contract, files: tuple[RawFile, ...]) -> SensorReadings:
        """Readings of a Parquet file, opened now (so a later replacement of the file does not change what
        these readings read) and loaded on first use."""
        # pre_buffer off: with it, a chunked pass keeps every column chunk it read cached until the file closes
        return cls(None, contract, files, pq.ParquetFile(path, pre_buffer=False))

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame, self._parquet = read_parquet(self._parquet, self.sensors), None
        return self._frame

    def with_frame(self, frame: pd.DataFrame) -> SensorReadings:
        return SensorReadings(frame, self.contract, self.files)

    @property
    def sensors(self) -> list[str]:
        return self.contract.names

    def column(self, name: str) -> np.ndarray:
        """One column as numpy (timestamps as datetime64[ns]): read alone when the readings are stored, a view
        of the frame's column when they are in memory."""
        if self._frame is not None:
            return self.frame[name].to_numpy()
        if name not in self._parquet.schema_arrow.names:
            raise KeyError(f"no column {name!r} in the readings (columns: {self._parquet.schema_arrow.names})")
        field = self._parquet.schema_arrow.field(name)
        if pa.types.is_dictionary(field.type) or pa.types.is_string(field.type):
            return self._parquet.read(columns=[name]).column(0).to_pandas().to_numpy()
        # Row group by row group into one array: Arrow never holds more than a row group of it.
        out, at = np.empty(self._parquet.metadata.num_rows, dtype=field.type.to_pandas_dtype()), 0
        for batch in _batches(self._parquet, [name]):
            out[at : at + batch.num_rows] = batch.column(0).to_numpy(zero_copy_only=False)
            at += batch.num_rows
        return out

    def sensor_chunks(self, rows: int = STREAM_ROWS) -> Iterator[np.ndarray]:
        """The sensor columns, in `sensors` order, as float64 arrays of shape (<= rows, sensors), in row order,
        covering every row once; each chunk is a new array."""
        if rows < 1:
            raise ValueError(f"rows must be at least 1, got {rows}")
        sensors = self.sensors
        if self._frame is None:
            yield from _stored_chunks(self._parquet, sensors, rows)
            return
        frame = self._frame
        for lo in range(0, len(frame), rows):
            yield np.array(frame.iloc[lo:lo + rows][sensors].to_numpy(np.float64), order="C", copy=True)

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
        return tuple(RawFile(f["name"], f["rows"], tuple(f["columns"]), f.get("empty_rows", 0))
                     for f in json.loads(text))
