"""Scaling and sliding windows over a (time, sensor) array, without copying the data once per window.

A window is identified by its start row; a batch of windows is gathered from the scaled array only when a
model asks for it. The train/validation split is by time: the first rows form the training span, the last
`validation_fraction` of rows the validation span, and windows that straddle the boundary belong to neither,
so no validation reading is ever seen in training, not even by the scaler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCALINGS = ("zscore", "none")


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


def fit_scaler(train_values: np.ndarray, method: str) -> Scaler:
    if method not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {method!r}")
    n = train_values.shape[1]
    if method == "none":
        return Scaler(method, (0.0,) * n, (1.0,) * n)
    mean = train_values.mean(axis=0)
    std = train_values.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)  # a constant sensor is centred, not divided by zero
    return Scaler(method, tuple(map(float, mean)), tuple(map(float, std)))


@dataclass
class WindowSplit:
    train_starts: np.ndarray
    validation_starts: np.ndarray
    split_row: int  # first row of the validation span


def window_starts(bounds: np.ndarray, window_length: int, stride: int = 1) -> np.ndarray:
    """Start row of every window: every `stride`-th row of each segment that leaves room for a whole window
    inside that segment. `bounds` is (segments, 2) of [first row, end row)."""
    if window_length < 2:
        raise ValueError(f"window_length must be at least 2, got {window_length}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    parts = [np.arange(lo, hi - window_length + 1, stride, dtype=np.int64) for lo, hi in bounds]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def split_windows(bounds: np.ndarray, window_length: int, stride: int, validation_fraction: float) -> WindowSplit:
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    starts = window_starts(bounds, window_length, stride)
    n_rows = int(bounds[-1, 1]) if len(bounds) else 0
    split_row = n_rows - round(n_rows * validation_fraction)
    train = starts[starts + window_length <= split_row]
    val = starts[starts >= split_row]
    if len(train) == 0 or (validation_fraction > 0 and len(val) == 0):
        longest = int((bounds[:, 1] - bounds[:, 0]).max()) if len(bounds) else 0
        raise ValueError(
            f"too few rows for windows of {window_length} rows: {n_rows} rows in {len(bounds)} continuous "
            f"segment(s), the longest {longest} rows, give {len(train)} training and {len(val)} validation "
            f"windows (validation_fraction {validation_fraction}); use a shorter window_length or more data"
        )
    return WindowSplit(train, val, split_row)


def window_view(values: np.ndarray, window_length: int) -> np.ndarray:
    """All windows as a zero-copy (n_windows, window_length, sensors) view of `values`."""
    view = np.lib.stride_tricks.sliding_window_view(values, window_length, axis=0)
    return view.transpose(0, 2, 1)


def gather_windows(values: np.ndarray, starts: np.ndarray, window_length: int) -> np.ndarray:
    """A batch of windows as one contiguous float32 array (copies only this batch)."""
    return np.ascontiguousarray(window_view(values, window_length)[starts], dtype=np.float32)


@dataclass
class TrainingWindows:
    """The scaled series and the windows over it; what the autoencoder trains on and encodes."""

    values: np.ndarray  # (rows, sensors) float32, scaled
    timestamps: np.ndarray  # (rows,) datetime64[ns]
    sensors: tuple[str, ...]
    scaler: Scaler
    window_length: int
    stride: int
    split: WindowSplit
    segments: np.ndarray  # (segments, 2) [first row, end row) of each continuous segment

    @property
    def starts(self) -> np.ndarray:
        """Every window, in time order (training, boundary-straddling and validation windows alike)."""
        return window_starts(self.segments, self.window_length, self.stride)

    def windows_per_segment(self) -> np.ndarray:
        return np.searchsorted(self.starts, self.segments[:, 1]) - np.searchsorted(self.starts, self.segments[:, 0])

    def summary(self) -> dict:
        per_segment = self.windows_per_segment()
        return {
            "rows": len(self.values),
            "segments": len(self.segments),
            "segments_too_short": int((per_segment == 0).sum()),
            "windows": len(self.starts),
            "training_windows": len(self.split.train_starts),
            "validation_windows": len(self.split.validation_starts),
            "window_length": self.window_length,
            "stride": self.stride,
            "scaling": self.scaler.method,
        }


def make_training_windows(
    values: np.ndarray,
    timestamps: np.ndarray,
    sensors: list[str],
    window_length: int = 30,
    stride: int = 1,
    validation_fraction: float = 0.2,
    scaling: str = "zscore",
    segments: np.ndarray | None = None,
) -> TrainingWindows:
    """Split by time, fit the scaler on the training span only, and scale the whole series once.
    `segments` is the (segments, 2) row bounds of continuous stretches; default: one segment."""
    bounds = np.array([[0, len(values)]], dtype=np.int64) if segments is None else np.asarray(segments, np.int64)
    split = split_windows(bounds, window_length, stride, validation_fraction)
    scaler = fit_scaler(values[: split.split_row], scaling)
    return TrainingWindows(
        scaler.apply(values), np.asarray(timestamps, dtype="datetime64[ns]"), tuple(sensors), scaler,
        window_length, stride, split, bounds,
    )
