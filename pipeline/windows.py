"""Scaling and sliding windows over a (time, sensor) array, without copying the data once per window.

A window is identified by its start row; a batch of windows is gathered from the scaled array only when a
model asks for it, and the start rows themselves are derived from the segment bounds when needed, never
stored. The train/validation split is by time: the first rows form the training span, the last
`validation_fraction` of rows the validation span, and windows that straddle the boundary belong to neither,
so no validation reading is ever seen in training, not even by the scaler.

Scaling streams over the readings in chunks of rows into one float32 array, so windowing N rows needs the
scaled array (4 bytes per reading) plus one chunk, not float64 copies of the whole series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

import numpy as np

from pipeline.readings import TIMESTAMP, SensorReadings
from pipeline.segments import SEGMENT_COLUMN, segment_bounds


class Scaling(StrEnum):
    zscore = "zscore"  # per sensor, fit on the training span only
    none = "none"  # raw units


SCALINGS = tuple(Scaling)
CHUNK_ROWS = 1 << 18

Chunks = Callable[[], Iterator[np.ndarray]]  # a fresh pass over (rows, sensors) chunks, in row order


@dataclass(frozen=True)
class Scaler:
    """Per-sensor affine scaling fit on the training span: scaled = (x - mean) / std."""

    method: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, values: np.ndarray) -> np.ndarray:
        return ((values - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def invert(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * np.asarray(self.std) + np.asarray(self.mean)


def array_chunks(values, rows: int = CHUNK_ROWS) -> Chunks:
    """Chunks of rows of an array, or of a row space that reads itself in chunks (pipeline.span.DayStack)."""
    if not isinstance(values, np.ndarray):
        return lambda: values.chunks(rows)
    return lambda: (values[i : i + rows] for i in range(0, len(values), rows))


def fit_scaler_chunks(chunks: Chunks, train_rows: int, method: str, names: list[str] | None = None) -> Scaler:
    """Mean and std of the first `train_rows` rows, merged chunk by chunk (Chan et al.) in float64. Refuses
    statistics that are not finite (a NaN, or values so large that their squares overflow), which would make
    every window NaN or a sensor look constant."""
    if method not in SCALINGS:
        raise ValueError(f"scaling must be one of {tuple(map(str, SCALINGS))}, got {method!r}")
    method = str(method)
    n, mean, m2, seen = 0, None, None, 0
    for chunk in chunks():
        part = np.asarray(chunk[: max(train_rows - seen, 0)], dtype=np.float64)
        seen += len(chunk)
        if len(part):
            k, mu = len(part), part.mean(axis=0)
            sq = ((part - mu) ** 2).sum(axis=0)
            if mean is None:
                n, mean, m2 = k, mu, sq
            else:
                delta = mu - mean
                mean = mean + delta * k / (n + k)
                m2 = m2 + sq + delta**2 * n * k / (n + k)
                n += k
        if seen >= train_rows:
            break
    if mean is None:
        raise ValueError("no training rows to fit the scaler on")
    with np.errstate(invalid="ignore", over="ignore"):
        std = np.sqrt(m2 / n)
    broken = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(std)))
    if len(broken):
        which = ", ".join(names[i] if names else f"column {i}" for i in broken)
        raise ValueError(f"cannot scale {which}: the mean or spread of the training span is not finite "
                         "(a missing or non-finite reading, or values too large to square in float64)")
    if method == "none":
        return Scaler(method, (0.0,) * len(mean), (1.0,) * len(mean))
    std = np.where(std > 1e-12, std, 1.0)  # a constant sensor is centred, not divided by zero
    return Scaler(method, tuple(map(float, mean)), tuple(map(float, std)))


def scale_chunks(chunks: Chunks, scaler: Scaler, rows: int, sensors: int) -> np.ndarray:
    """The whole series scaled into one float32 array, filled chunk by chunk."""
    out, at = np.empty((rows, sensors), dtype=np.float32), 0
    for chunk in chunks():
        out[at : at + len(chunk)] = scaler.apply(np.asarray(chunk, dtype=np.float64))
        at += len(chunk)
    if at != rows:
        raise ValueError(f"expected {rows} rows of readings, got {at}")
    return out


def window_starts(bounds: np.ndarray, window_length: int, stride: int = 1, first_row: int = 0,
                  end_row: int | None = None) -> np.ndarray:
    """Start row of every window: every `stride`-th row of each segment that leaves room for a whole window
    inside that segment. `bounds` is (segments, 2) of [first row, end row). Only windows lying wholly in
    [first_row, end_row) are returned (the training span) or, with `first_row`, starting at or after it."""
    _check(window_length, stride)
    parts = []
    for lo, hi in bounds:
        first = lo if lo >= first_row else lo + -(-(first_row - lo) // stride) * stride
        last = hi if end_row is None else min(hi, end_row)
        if first + window_length <= last:
            parts.append(np.arange(first, last - window_length + 1, stride, dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def window_counts(bounds: np.ndarray, window_length: int, stride: int = 1) -> np.ndarray:
    """Windows in each segment, counted without listing them."""
    _check(window_length, stride)
    rows = np.asarray(bounds[:, 1] - bounds[:, 0], dtype=np.int64) if len(bounds) else np.zeros(0, np.int64)
    return np.maximum(rows - window_length, -1) // stride + 1


class TooFewRows(ValueError):
    """Not enough rows in the continuous segments for one training (or validation) window."""


def _check(window_length: int, stride: int) -> None:
    if window_length < 2:
        raise ValueError(f"window_length must be at least 2, got {window_length}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class WindowIndex:
    """Which windows there are: every `stride`-th start within each continuous segment that leaves room for
    `window_length` rows, training windows ending before `split_row`, validation windows starting at or after
    it. The one owner of the segments, the window length and the stride; starts are derived, never stored."""

    segments: np.ndarray  # (segments, 2) [first row, end row) of each continuous segment
    window_length: int
    stride: int
    split_row: int  # first row of the validation span

    @property
    def starts(self) -> np.ndarray:
        """Every window, in time order (training, boundary-straddling and validation windows alike)."""
        return window_starts(self.segments, self.window_length, self.stride)

    @cached_property
    def train_starts(self) -> np.ndarray:
        return window_starts(self.segments, self.window_length, self.stride, end_row=self.split_row)

    @cached_property
    def validation_starts(self) -> np.ndarray:
        return window_starts(self.segments, self.window_length, self.stride, first_row=self.split_row)

    def per_segment(self) -> np.ndarray:
        """Windows in each segment, counted without listing them."""
        return window_counts(self.segments, self.window_length, self.stride)

    def _grid(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """Per segment, the first start and the number of windows of `part` (all, train or validation)."""
        lo, hi = self.segments[:, 0], self.segments[:, 1]
        if part == "train":
            hi = np.minimum(hi, self.split_row)
        elif part == "validation":
            lo = np.where(lo >= self.split_row, lo, lo + -(-(self.split_row - lo) // self.stride) * self.stride)
        elif part != "all":
            raise ValueError(f"part must be all, train or validation, got {part!r}")
        count = np.maximum(hi - lo - self.window_length, -1) // self.stride + 1
        return lo, np.maximum(count, 0)

    def count(self, part: str = "all") -> int:
        return int(self._grid(part)[1].sum())

    def nth(self, ranks: np.ndarray, part: str = "all") -> np.ndarray:
        """The starts of the windows ranked `ranks` (0-based, in time order) among those of `part`: a sample of
        windows without listing every start (at 10 Hz a 28-day span has 24 M of them)."""
        first, count = self._grid(part)
        ends = np.cumsum(count)
        ranks = np.asarray(ranks, dtype=np.int64)
        if len(ranks) and (ranks.min() < 0 or ranks.max() >= (ends[-1] if len(ends) else 0)):
            raise IndexError(f"window ranks out of range for {ends[-1] if len(ends) else 0} {part} windows")
        seg = np.searchsorted(ends, ranks, side="right")
        return first[seg] + (ranks - (ends[seg] - count[seg])) * self.stride

    @property
    def counts(self) -> tuple[int, int]:
        """(training, validation) windows, counted without listing them."""
        bounds = self.segments
        train = np.minimum(bounds, self.split_row)
        val = np.maximum(bounds, self.split_row)
        # validation windows start on the segment's stride grid at or after the split row
        val[:, 0] = np.where(bounds[:, 0] >= self.split_row, bounds[:, 0],
                             bounds[:, 0] + -(-(self.split_row - bounds[:, 0]) // self.stride) * self.stride)
        val[:, 0] = np.minimum(val[:, 0], val[:, 1])
        return (int(window_counts(train, self.window_length, self.stride).sum()),
                int(window_counts(val, self.window_length, self.stride).sum()))


def index_windows(segments: np.ndarray, window_length: int, stride: int, validation_fraction: float) -> WindowIndex:
    """The window index of the segments, split by time; refuses settings that leave no training (or, with a
    validation fraction, no validation) window."""
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    _check(window_length, stride)
    bounds = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    n_rows = int(bounds[-1, 1]) if len(bounds) else 0
    index = WindowIndex(bounds, window_length, stride, n_rows - round(n_rows * validation_fraction))
    n_train, n_val = index.counts
    if n_train == 0 or (validation_fraction > 0 and n_val == 0):
        longest = int((bounds[:, 1] - bounds[:, 0]).max()) if len(bounds) else 0
        raise TooFewRows(
            f"too few rows for windows of {window_length} rows: {n_rows} rows in {len(bounds)} continuous "
            f"segment(s), the longest {longest} rows, give {n_train} training and {n_val} validation "
            f"windows (validation_fraction {validation_fraction}); use a shorter window_length or more data"
        )
    return index


def window_view(values: np.ndarray, window_length: int) -> np.ndarray:
    """All windows as a zero-copy (n_windows, window_length, sensors) view of `values`."""
    view = np.lib.stride_tricks.sliding_window_view(values, window_length, axis=0)
    return view.transpose(0, 2, 1)


def gather_windows(values, starts: np.ndarray, window_length: int) -> np.ndarray:
    """A batch of windows as one contiguous float32 array (copies only this batch), from an array or from a
    row space that gathers its own windows (pipeline.span.DayStack)."""
    if not isinstance(values, np.ndarray):
        return values.gather(starts, window_length)
    return np.ascontiguousarray(window_view(values, window_length)[starts], dtype=np.float32)


@dataclass
class TrainingWindows:
    """The scaled series and the index of the windows over it; what the autoencoder trains on and encodes."""

    values: np.ndarray  # (rows, sensors) float32, scaled
    timestamps: np.ndarray  # (rows,) datetime64[ns]
    sensors: tuple[str, ...]
    scaler: Scaler
    index: WindowIndex

    def summary(self) -> dict:
        per_segment = self.index.per_segment()
        n_train, n_val = self.index.counts
        return {
            "rows": len(self.values),
            "segments": len(self.index.segments),
            "segments_too_short": int((per_segment == 0).sum()),
            "windows": int(per_segment.sum()),
            "training_windows": n_train,
            "validation_windows": n_val,
            "window_length": self.index.window_length,
            "stride": self.index.stride,
            "scaling": self.scaler.method,
        }


def make_training_windows(
    values: np.ndarray | Chunks,
    timestamps: np.ndarray,
    sensors: list[str],
    window_length: int = 30,
    stride: int = 1,
    validation_fraction: float = 0.2,
    scaling: str = "zscore",
    segments: np.ndarray | None = None,
) -> TrainingWindows:
    """Split by time, fit the scaler on the training span only, and scale the whole series once.
    `values` is the (rows, sensors) readings, or a function giving a fresh pass over them in chunks of rows
    (e.g. streamed from a Parquet file). `segments` is the (segments, 2) row bounds of continuous stretches;
    default: one segment."""
    rows = len(timestamps)
    chunks = array_chunks(values) if isinstance(values, np.ndarray) else values
    bounds = np.array([[0, rows]], dtype=np.int64) if segments is None else np.asarray(segments, np.int64)
    index = index_windows(bounds, window_length, stride, validation_fraction)
    if np.isnat(np.asarray(timestamps, dtype="datetime64[ns]")).any():  # validation guarantees it; never trust
        raise ValueError("a reading without a timestamp reached windowing")
    scaler = fit_scaler_chunks(chunks, index.split_row, scaling, list(sensors))
    return TrainingWindows(scale_chunks(chunks, scaler, rows, len(sensors)),
                           np.asarray(timestamps, dtype="datetime64[ns]"), tuple(sensors), scaler, index)


def scoring_windows(values: np.ndarray | list[np.ndarray], timestamps: np.ndarray, sensors, scaler: Scaler,
                    window_length: int, stride: int = 1, segments: np.ndarray | None = None) -> TrainingWindows:
    """Windows of new readings for a trained model: scaled with the model's scaler, every `stride`-th start
    of each continuous segment (default: one segment); none is a validation window. `values` (rows, sensors),
    or a list of such parts one after the other (e.g. the previous day's tail and a day, memory-mapped), is
    scaled chunk by chunk into the one float32 array the windows view: no float64 copy of it is made."""
    parts = values if isinstance(values, list) else [values]
    rows = sum(len(p) for p in parts)
    scaled = scale_chunks(lambda: (c for p in parts for c in array_chunks(p)()), scaler, rows, len(sensors))
    bounds = np.array([[0, rows]], dtype=np.int64) if segments is None else np.asarray(segments, np.int64)
    return TrainingWindows(scaled, np.asarray(timestamps, dtype="datetime64[ns]"), tuple(sensors), scaler,
                           WindowIndex(bounds.reshape(-1, 2), window_length, stride, rows))


@dataclass(frozen=True)
class WindowSettings:
    """How readings become windows (the defaults of the `training_windows` asset)."""

    window_length: int = 30  # rows per window: the time steps the LSTM sees
    stride: int = 1  # rows between the starts of consecutive windows
    validation_fraction: float = 0.2  # the last fraction of the rows, held out for validation
    scaling: str = Scaling.zscore.value


def windows_from_readings(readings: SensorReadings, settings: WindowSettings = WindowSettings()) -> TrainingWindows:
    """Validated readings (with their segment column) as training windows, streamed: stored readings are read
    in chunks from their Parquet file, never loaded as one frame."""
    return make_training_windows(readings.sensor_chunks, readings.column(TIMESTAMP), readings.sensors,
                                 settings.window_length, settings.stride, settings.validation_fraction,
                                 settings.scaling, segment_bounds(readings.column(SEGMENT_COLUMN)))
