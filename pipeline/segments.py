"""Continuous segments: stretches of readings from one file with no pause longer than the gap policy allows.

Windows never cross a segment boundary, so a model never sees a window that silently jumps over a gap or
from one file into another.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.readings import TIMESTAMP, RawFile, source_codes

SEGMENT_COLUMN = "segment"


def assign_segments(frame: pd.DataFrame, max_gap_s: float | None) -> np.ndarray:
    """Segment number of every row (0, 1, ...): a new segment at each file change and each long pause."""
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    new = np.zeros(len(frame), dtype=bool)
    new[0] = True
    source, _ = source_codes(frame)  # small integers: no string compared
    new[1:] |= source[1:] != source[:-1]
    if max_gap_s is not None:
        ns = frame[TIMESTAMP].to_numpy().astype("datetime64[ns]", copy=False).view(np.int64)
        new[1:] |= np.diff(ns) > max_gap_s * 1e9
    out = np.cumsum(new)
    out -= 1  # in place: this array is as long as the readings
    return out


def segment_bounds(segment: np.ndarray) -> np.ndarray:
    """(n_segments, 2) array of [first row, end row) of each segment, from the per-row segment numbers."""
    if len(segment) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
    return np.c_[starts, np.r_[starts[1:], len(segment)]].astype(np.int64)


def segment_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per continuous segment: file, rows, first and last timestamp."""
    bounds = segment_bounds(frame[SEGMENT_COLUMN].to_numpy())
    codes, names = source_codes(frame)
    return segment_table(bounds, frame[TIMESTAMP].to_numpy(), np.asarray(names, dtype=object)[codes[bounds[:, 0]]])


def segment_table(bounds: np.ndarray, timestamps: np.ndarray, files: np.ndarray) -> pd.DataFrame:
    """The segment summary from the segments' row bounds, every row's timestamp and each segment's file."""
    return pd.DataFrame({"segment": np.arange(len(bounds)), "file": files, "rows": bounds[:, 1] - bounds[:, 0],
                         "start": timestamps[bounds[:, 0]], "end": timestamps[bounds[:, 1] - 1]})


def files_at_rows(files: tuple[RawFile, ...], rows: np.ndarray) -> np.ndarray:
    """The file holding each of `rows`, for readings assembled file after file in the order of `files`, as
    ingestion assembles them: found from the files' row counts, without reading the source_file column."""
    ends = np.cumsum([f.rows for f in files])
    return np.asarray([f.name for f in files], dtype=object)[np.searchsorted(ends, rows, side="right")]
