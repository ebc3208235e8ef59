"""Windows over days: the training span (many days, never gathered into one array) and one day to score.

The training span is the stored validated days laid end to end as one row space: a window's start row says
which day it lies in, and a batch is gathered from that day's memory-mapped array and scaled on the way, so
training on 28 days of 10 Hz readings holds one batch, not 28 days. Windows never cross a day boundary in
training (a segment ends at midnight), which leaves out window_length - 1 of a day's starts.

Scoring a day keeps every window that ends in the day: when the previous day's readings run on without a
pause into this day (same file, gap within the contract's limit), its last window_length - 1 rows are
prepended as context, so the windows that span midnight are produced, each once, by the day they end in.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from pipeline.days import ValidatedDay
from pipeline.readings import SOURCE_COLUMN, TIMESTAMP
from pipeline.windows import (
    CHUNK_ROWS,
    Scaler,
    TrainingWindows,
    WindowSettings,
    fit_scaler_chunks,
    index_windows,
    scoring_windows,
)


class DayStack:
    """Days' sensor arrays end to end as one (rows, sensors) row space, read through, never concatenated."""

    def __init__(self, days: list[ValidatedDay], scaler: Scaler | None = None):
        self.days = days
        self.offsets = np.cumsum([0, *(d.rows for d in days)]).astype(np.int64)
        self.scaler = scaler
        self._values = [d.readings.sensor_block() for d in days]  # (sensors, rows), memory-mapped
        self._times = [d.readings.column(TIMESTAMP) for d in days]

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def shape(self) -> tuple[int, int]:
        return len(self), (self._values[0].shape[0] if self._values else 0)

    def _day_of(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, rows, side="right") - 1

    def gather(self, starts: np.ndarray, window_length: int) -> np.ndarray:
        """The windows starting at `starts` (rows of the span), scaled, as (n, window_length, sensors) float32."""
        starts = np.asarray(starts, dtype=np.int64)
        out = np.empty((len(starts), window_length, self.shape[1]), dtype=np.float32)
        day = self._day_of(starts)
        for d in np.unique(day):
            pick = np.flatnonzero(day == d)
            view = np.lib.stride_tricks.sliding_window_view(self._values[d], window_length, axis=1)
            x = view[:, starts[pick] - self.offsets[d], :].transpose(1, 2, 0)  # (n, window, sensors)
            out[pick] = self.scaler.apply(x) if self.scaler else x
            _release(self._values[d])
        return out

    def raw_chunks(self, rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
        """The unscaled readings in row order, as float64 (<= rows, sensors) chunks."""
        for values in self._values:
            for lo in range(0, values.shape[1], rows):
                yield np.array(values[:, lo:lo + rows].T, dtype=np.float64)
                _release(values)

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
        """The scaled readings in row order, as float32 (<= rows, sensors) chunks."""
        for chunk in self.raw_chunks(rows):
            yield self.scaler.apply(chunk) if self.scaler else chunk.astype(np.float32)

    def times(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty(len(rows), dtype="datetime64[ns]")
        day = self._day_of(rows)
        for d in np.unique(day):
            pick = np.flatnonzero(day == d)
            out[pick] = self._times[d][rows[pick] - self.offsets[d]]
        return out


def _release(values: np.ndarray) -> None:
    """Hand a memory-mapped day's pages back: they stay in the page cache, but no longer count as this
    process's memory, so reading a span of many days keeps the process as small as one batch."""
    mapping = getattr(values, "_mmap", None)
    if mapping is not None:
        try:
            mapping.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError, AttributeError):  # not on this platform, or already closed
            pass


class SpanTimes:
    """Timestamps of a DayStack's rows, indexable like an array of them."""

    def __init__(self, stack: DayStack):
        self.stack = stack

    def __getitem__(self, rows) -> np.ndarray:
        return self.stack.times(np.atleast_1d(np.asarray(rows)))

    def __len__(self) -> int:
        return len(self.stack)


@dataclass
class SpanWindows(TrainingWindows):
    """Training windows over validated days: `values` is a DayStack, `timestamps` its SpanTimes; `skipped`
    names the quarantined days the span left out, with why."""

    skipped: dict = field(default_factory=dict)

    @property
    def days(self) -> list[ValidatedDay]:
        return self.values.days

    def day_names(self) -> list[str]:
        return [d.day for d in self.values.days]


def span_windows(days: list[ValidatedDay], settings: WindowSettings | None = None) -> SpanWindows:
    """Training windows over `days` (in time order, same sensors): split by time (the last
    validation_fraction of the rows validate), the scaler fit on the training rows only, streamed."""
    if not days:
        raise ValueError("no validated day with readings to train on")
    settings = settings or WindowSettings()
    sensors = days[0].readings.sensors
    for d in days[1:]:
        if d.readings.sensors != sensors:
            raise ValueError(f"day {d.day} has sensors {d.readings.sensors}, day {days[0].day} has {sensors}: the "
                             "days of one training span must have the same sensors")
    stack = DayStack(days)
    segments = np.concatenate([d.segments + off for d, off in zip(days, stack.offsets[:-1], strict=True)])
    index = index_windows(segments, settings.window_length, settings.stride, settings.validation_fraction)
    stack.scaler = fit_scaler_chunks(stack.raw_chunks, index.split_row, settings.scaling, list(sensors))
    return SpanWindows(stack, SpanTimes(stack), tuple(sensors), stack.scaler, index)


def _continues(previous: ValidatedDay, day: ValidatedDay, gap_s: float | None) -> bool:
    """Whether `day`'s first reading follows `previous`'s last without a pause or a change of file."""
    if not previous.rows or not day.rows:
        return False
    a, b = previous.readings.frame, day.readings.frame
    same_file = a[SOURCE_COLUMN].iloc[-1] == b[SOURCE_COLUMN].iloc[0]
    gap = (b[TIMESTAMP].iloc[0] - a[TIMESTAMP].iloc[-1]).total_seconds()
    return bool(same_file and 0 < gap and (gap_s is None or gap <= gap_s))


def day_windows(day: ValidatedDay, previous: ValidatedDay | None, scaler: Scaler, window_length: int,
                stride: int) -> TrainingWindows:
    """Every window ending in `day`, scaled with the model's scaler, with the previous day's tail as context
    where the readings run on across midnight. The windows of each continuous segment start on its stride
    grid; the context's first row anchors the grid of the first segment. No window is a validation window."""
    sensors = day.readings.sensors
    parts, times, bounds = [], [], day.segments.copy()
    context = 0
    if previous is not None and _continues(previous, day, day.readings.contract.gap_s):
        last = previous.segments[-1]
        context = int(min(window_length - 1, last[1] - last[0]))
    # (rows, sensors) views of the stored arrays, scaled chunk by chunk: neither day is copied as float64, and
    # their pages are mapped only while they are scaled
    if context:
        parts.append(previous.readings.sensor_block()[:, previous.rows - context:].T)
        times.append(previous.readings.column(TIMESTAMP)[previous.rows - context:])
        bounds = bounds + context
        bounds[0, 0] = 0
    parts.append(day.readings.sensor_block().T)
    times.append(day.readings.column(TIMESTAMP))
    return scoring_windows(parts, np.concatenate(times), sensors, scaler, window_length, stride, bounds)
