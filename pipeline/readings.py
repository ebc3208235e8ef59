"""Sensor readings: one row per reading (`timestamp`, a float column per sensor, `source_file`), their contract
and what each raw file held; in memory, or stored as arrays that are memory-mapped when loaded.

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

from pipeline.contract import Contract

SOURCE_COLUMN = "source_file"
TIMESTAMP = "timestamp"  # the timestamp column's name in every table the pipeline writes
SENSORS_FILE, TIMESTAMPS_FILE, SOURCE_FILE = "sensors.npy", "timestamps.npy", "source.npy"
# Rows per chunk when streaming the sensor columns: small pieces (a few MB) are reused by the allocator
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


def save_arrays(frame: pd.DataFrame, sensors: list[str], folder: Path) -> None:
    """The readings as arrays: `sensors.npy` (sensors x rows float64, each sensor's values contiguous, as
    ingestion lays them out), `timestamps.npy` (int64 ns, naive UTC) and `source.npy` (each row's file as a
    small integer, in the order of the readings' files)."""
    block = frame[sensors].to_numpy(np.float64)  # (rows, sensors): a view of the frame's block where it is one
    np.save(folder / SENSORS_FILE, np.ascontiguousarray(block.T))
    np.save(folder / TIMESTAMPS_FILE, frame[TIMESTAMP].to_numpy().astype("datetime64[ns]").view(np.int64))
    np.save(folder / SOURCE_FILE, source_codes(frame)[0])


def load_arrays(folder: Path, sensors: list[str], files: list[str]) -> pd.DataFrame:
    """A frame over the memory-mapped arrays of `save_arrays`: nothing is read until it is used, and pages
    read are the operating system's cache, not the process's memory."""
    values = _load(folder / SENSORS_FILE).reshape(len(sensors), -1)
    stamps = _load(folder / TIMESTAMPS_FILE).view("datetime64[ns]")
    source = pd.Categorical.from_codes(np.asarray(_load(folder / SOURCE_FILE)), categories=files)
    return sensor_frame(values, sensors, {TIMESTAMP: stamps, SOURCE_COLUMN: source}, [TIMESTAMP, *sensors,
                                                                                    SOURCE_COLUMN])


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r")
    except ValueError:  # an empty array cannot be memory-mapped
        return np.load(path)


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
    each file held. Stored readings are a frame over memory-mapped arrays (`folder` says where they are)."""

    def __init__(self, frame: pd.DataFrame, contract: Contract, files: tuple[RawFile, ...] = (),
                 skipped_files: tuple[tuple[str, str], ...] = (), folder: Path | None = None):
        self.frame, self.contract, self.files = frame, contract, tuple(files)
        self.skipped_files = skipped_files  # (file, why) of the raw folder's files not read; not stored
        self.folder = folder  # where the arrays of these exact readings are stored, if they are
        self.fingerprint: str | None = None  # of the raw files a day's readings were read from (pipeline.days)

    def with_frame(self, frame: pd.DataFrame) -> SensorReadings:
        return SensorReadings(frame, self.contract, self.files)

    @property
    def sensors(self) -> list[str]:
        return self.contract.names

    def column(self, name: str) -> np.ndarray:
        """One column as numpy (timestamps as datetime64[ns]): a view of the frame's column."""
        if name not in self.frame.columns:
            raise KeyError(f"no column {name!r} in the readings (columns: {list(self.frame.columns)})")
        return self.frame[name].to_numpy()

    def sensor_block(self) -> np.ndarray:
        """The sensors as one (sensors, rows) float64 array: memory-mapped when the readings are stored."""
        if self.folder is not None:
            return _load(Path(self.folder) / SENSORS_FILE).reshape(len(self.sensors), -1)
        return self.frame[self.sensors].to_numpy(np.float64).T

    def sensor_chunks(self, rows: int = STREAM_ROWS) -> Iterator[np.ndarray]:
        """The sensor columns, in `sensors` order, as float64 arrays of shape (<= rows, sensors), in row order,
        covering every row once; each chunk is a new array."""
        if rows < 1:
            raise ValueError(f"rows must be at least 1, got {rows}")
        frame, sensors = self.frame, self.sensors
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
