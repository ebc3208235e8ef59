"""Encode every window in batches into the latent table: one row per window.

Encoding keeps, per window, only its latent vector and its reconstruction error (16 bytes at 3 dimensions);
the per-sensor errors are summed as the batches pass. The table is written to Parquet in row groups
(pipeline.store), never as one DataFrame, so exporting N windows costs a few bytes per window, not a copy of
the windows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.model import LATENT_LAYER
from pipeline.windows import TrainingWindows, gather_windows

LATENT_PREFIX = "z_"
MODEL_VERSION = "model_version"
ROW_GROUP = 1 << 17  # rows per Parquet row group of the latent table
XLA_FROM = 20_000  # windows from which encoding is XLA-compiled


@dataclass(frozen=True)
class EncodingSettings:
    """How windows are encoded (the defaults of the `latent_vectors` asset)."""

    batch_size: int = 4096  # windows encoded at a time: bounds memory


def latent_columns(frame: pd.DataFrame) -> list[str]:
    """The z_0..z_{k-1} columns of a latent table, in dimension order."""
    cols = [c for c in frame.columns if c.startswith(LATENT_PREFIX) and c[len(LATENT_PREFIX):].isdigit()]
    return sorted(cols, key=lambda c: int(c[len(LATENT_PREFIX):]))


@dataclass
class Encoding:
    """What encoding every window gives: the latents and how well each window is reconstructed."""

    z: np.ndarray  # (windows, dims) float32
    errors: np.ndarray  # (windows,) mean |x - x_hat| over the window's rows and sensors, scaled units
    validation: np.ndarray  # (windows,) bool: the window lies in the validation span
    sensor_error_sum: np.ndarray  # (sensors,) sum over windows of each window's mean |x - x_hat| per sensor
    sensor_error_sum_validation: np.ndarray  # the same over the validation windows

    def error_by_sensor(self, sensors, validation_only: bool = False) -> dict[str, float]:
        """Mean absolute reconstruction error per sensor over all windows (or the validation ones)."""
        total, n = ((self.sensor_error_sum_validation, self.validation.sum()) if validation_only
                    else (self.sensor_error_sum, len(self.errors)))
        return {s: float(e) / n if n else float("nan") for s, e in zip(sensors, total, strict=True)}


def encode_windows(model, windows: TrainingWindows, batch_size: int = EncodingSettings.batch_size,
                   log: Callable[[str], None] = lambda msg: None, starts: np.ndarray | None = None) -> Encoding:
    """Encode every window (or those at `starts`), in time order, in batches; no more than one batch of
    windows is in memory."""
    index = windows.index
    starts = index.starts if starts is None else starts
    n, sensors = len(starts), len(windows.sensors)
    both = _encoder(model, xla=n >= XLA_FROM)
    z = np.empty((n, int(both.outputs[0].shape[-1])), dtype=np.float32)
    errors = np.empty(n, dtype=np.float32)
    validation = starts >= index.split_row
    sums, sums_val = np.zeros(sensors), np.zeros(sensors)
    batch_size = max(1, min(batch_size, n))  # one batch shape throughout: XLA compiles once
    every = max(1, n // batch_size // 10)  # about ten progress lines
    for b, i in enumerate(range(0, n, batch_size)):
        x = gather_windows(windows.values, starts[i : i + batch_size], index.window_length)
        k = len(x)
        if k < batch_size:  # the last batch, padded to the compiled shape
            x = np.concatenate([x, np.zeros((batch_size - k, *x.shape[1:]), dtype=x.dtype)])
        z_batch, x_hat = both.predict_on_batch(x)
        x, x_hat = x[:k], np.asarray(x_hat)[:k]
        per_sensor = np.abs(x - x_hat).mean(axis=1)  # (batch, sensors)
        z[i : i + k] = np.asarray(z_batch)[:k]
        errors[i : i + k] = per_sensor.mean(axis=1)
        sums += per_sensor.sum(axis=0)
        sums_val += per_sensor[validation[i : i + k]].sum(axis=0)
        if b % every == 0 or i + batch_size >= n:
            log(f"encoded {min(i + batch_size, n)}/{n} windows")
    return Encoding(z, errors, validation, sums, sums_val)


def _encoder(model, xla: bool):
    """The model's encoder and decoder outputs as one model, built once per model and kind: the audit and the
    scoring of a run share its compilation."""
    cache = model.__dict__.setdefault("_sensor_latents_encoders", {})
    if xla not in cache:
        import keras

        both = keras.Model(model.inputs, [model.get_layer(LATENT_LAYER).output, model.outputs[0]])
        # XLA: one fused program per batch shape. Measured here: 2-2.6x the windows/s of the plain graph, which
        # also runs at half speed when traced after a fit fed by a Python dataset (as in one Dagster process).
        # Its compilation (1-2 s) is only worth it for many windows.
        both.compile(jit_compile=xla)
        cache[xla] = both
    return cache[xla]


@dataclass
class LatentTable:
    """window_start, window_end, z_0..z_{k-1}, reconstruction_error: one row per window, as columns."""

    window_start: np.ndarray  # datetime64[ns]
    window_end: np.ndarray
    z: np.ndarray
    reconstruction_error: np.ndarray
    model_version: str | None = None  # the published version whose model made these rows, when scored with one

    def __len__(self) -> int:
        return len(self.z)

    @property
    def columns(self) -> list[str]:
        return ["window_start", "window_end", *(f"{LATENT_PREFIX}{d}" for d in range(self.z.shape[1])),
                "reconstruction_error", *([MODEL_VERSION] if self.model_version else [])]

    def schema(self) -> pa.Schema:
        names = self.columns
        times = [pa.field(c, pa.timestamp("ns")) for c in names[:2]]
        version = [pa.field(MODEL_VERSION, pa.dictionary(pa.int8(), pa.string()))] if self.model_version else []
        return pa.schema(times + [pa.field(c, pa.float32()) for c in names[2:len(names) - len(version)]] + version)

    def record_batches(self, rows: int = ROW_GROUP) -> Iterator[pa.RecordBatch]:
        schema = self.schema()
        for i in range(0, len(self), rows):
            part = slice(i, i + rows)
            arrays = [self.window_start[part], self.window_end[part], *self.z[part].T, self.reconstruction_error[part]]
            columns = [pa.array(a, type=f.type) for a, f in zip(arrays, schema, strict=False)]
            if self.model_version:
                n = len(arrays[0])
                columns.append(pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int8)),
                                                              pa.array([self.model_version])))
            yield pa.RecordBatch.from_arrays(columns, schema=schema)


def latent_table(windows: TrainingWindows, encoding: Encoding, model_version: str | None = None,
                 starts: np.ndarray | None = None) -> LatentTable:
    """The latent table of the windows encoded (all of them, or those at `starts`)."""
    starts = windows.index.starts if starts is None else starts
    return LatentTable(windows.timestamps[starts], windows.timestamps[starts + windows.index.window_length - 1],
                       encoding.z, encoding.errors, model_version)
