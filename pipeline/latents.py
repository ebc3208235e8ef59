"""Encode every window in batches into the latent table: one row per window.

Encoding keeps, per window, its latent vector, its reconstruction error and that error per sensor (4 bytes a
number: 52 bytes per window at 3 dimensions and 9 sensors). With the model's calibration (pipeline.threshold)
each window also gets its anomaly_score and is_anomaly. The table is written to Parquet in row groups
(pipeline.store), never as one DataFrame, so exporting N windows costs those bytes per window, not a copy of
the windows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.detectors import Detector, WindowScorer
from pipeline.model import LATENT_LAYER
from pipeline.regimes import OFF_REGIME, REGIME, REGIME_DISTANCE, Assignment
from pipeline.threshold import Calibration
from pipeline.windows import TrainingWindows, gather_windows

LATENT_PREFIX = "z_"
SENSOR_ERROR_PREFIX = "error_"  # error_<sensor>: the window's reconstruction error in that sensor
SENSOR_SCORE_PREFIX = "score_"  # score_<sensor>: that sensor's figure over the threshold, with another detector
MODEL_VERSION = "model_version"
DETECTOR = "detector"  # the detector whose figures made anomaly_score, when not the autoencoder
ANOMALY_SCORE = "anomaly_score"
IS_ANOMALY = "is_anomaly"
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
    sensor_errors: np.ndarray  # (windows, sensors) float32: each window's mean |x - x_hat| per sensor
    windows: np.ndarray | None = None  # (windows, window_length, sensors): what was encoded, when kept
    reconstructions: np.ndarray | None = None  # the same shape: the model's reconstruction of each, when kept
    # another detector's figures than the reconstruction error (pipeline.detectors), when one was given
    figures: np.ndarray | None = None  # (windows,)
    sensor_figures: np.ndarray | None = None  # (windows, sensors)

    @property
    def anomaly_figures(self) -> np.ndarray:
        """What the threshold applies to: the detector's window figures (the reconstruction errors by default)."""
        return self.errors if self.figures is None else self.figures

    @property
    def anomaly_sensor_figures(self) -> np.ndarray:
        """Their per-sensor figures, which name an event's sensors (the reconstruction errors by default)."""
        return self.sensor_errors if self.sensor_figures is None else self.sensor_figures

    def error_by_sensor(self, sensors, validation_only: bool = False) -> dict[str, float]:
        """Mean absolute reconstruction error per sensor over all windows (or the validation ones)."""
        errors = self.sensor_errors[self.validation] if validation_only else self.sensor_errors
        total = errors.sum(axis=0, dtype=np.float64)
        return {s: float(e) / len(errors) if len(errors) else float("nan")
                for s, e in zip(sensors, total, strict=True)}


def encode_windows(model, windows: TrainingWindows, batch_size: int = EncodingSettings.batch_size,
                   log: Callable[[str], None] = lambda msg: None, starts: np.ndarray | None = None,
                   keep: bool = False, scorer: WindowScorer | None = None) -> Encoding:
    """Encode every window (or those at `starts`), in time order, in batches; no more than one batch of
    windows is in memory, unless `keep` keeps every window and its reconstruction (for a few, pipeline.view).
    With a `scorer` other than the autoencoder's, its figures are computed from the same batches."""
    index = windows.index
    starts = index.starts if starts is None else starts
    n, sensors = len(starts), len(windows.sensors)
    both = _encoder(model, xla=n >= XLA_FROM)
    z = np.empty((n, int(both.outputs[0].shape[-1])), dtype=np.float32)
    errors = np.empty(n, dtype=np.float32)
    validation = starts >= index.split_row
    by_sensor = np.empty((n, sensors), dtype=np.float32)
    other = scorer is not None and not scorer.uses_model
    figures = (np.empty(n, np.float32), np.empty((n, sensors), np.float32)) if other else (None, None)
    kept = (np.empty((n, index.window_length, sensors), np.float32), np.empty((n, index.window_length, sensors),
                                                                               np.float32)) if keep else (None, None)
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
        by_sensor[i : i + k] = per_sensor
        if other:
            figures[1][i : i + k] = scorer.sensor_figures(x, x_hat)
            figures[0][i : i + k] = scorer.window_figures(figures[1][i : i + k])
        if keep:
            kept[0][i : i + k], kept[1][i : i + k] = x, x_hat
        if b % every == 0 or i + batch_size >= n:
            log(f"encoded {min(i + batch_size, n)}/{n} windows")
    return Encoding(z, errors, validation, by_sensor, *kept, *figures)


def latents_of(model, x: np.ndarray, batch_size: int = EncodingSettings.batch_size) -> np.ndarray:
    """The latents of windows already gathered, `x` (windows, window_length, sensors), scaled as the model's
    training windows were."""
    both = _encoder(model, xla=False)
    # batch by batch on the compiled model: Model.predict builds a dataset and a traced function every call
    parts = [np.asarray(both.predict_on_batch(x[i : i + batch_size])[0]) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.empty((0, int(both.outputs[0].shape[-1])), np.float32)


def latents_by(other, x: np.ndarray, scaler) -> np.ndarray:
    """The latents that `other` (a TrainedAutoencoder) gives windows `x` gathered as scaled by `scaler` (another
    model's): the readings are scaled with `other`'s own scaler first."""
    return latents_of(other.model, other.scaler.apply(scaler.invert(x)))


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
    """One row per window, as columns: window_start, window_end, z_0..z_{k-1}, reconstruction_error, then with
    the model's calibration anomaly_score and is_anomaly, with per-sensor errors error_<sensor> for each
    sensor, with a detector other than the autoencoder (pipeline.detectors) score_<sensor> for each sensor and
    detector, with the version's regimes regime, regime_distance and off_regime, and model_version when scored
    with a published model."""

    window_start: np.ndarray  # datetime64[ns]
    window_end: np.ndarray
    z: np.ndarray
    reconstruction_error: np.ndarray
    model_version: str | None = None  # the published version whose model made these rows, when scored with one
    calibration: Calibration | None = None  # the model's threshold: adds anomaly_score and is_anomaly
    sensors: tuple[str, ...] = ()
    sensor_errors: np.ndarray | None = None  # (windows, sensors)
    regimes: Assignment | None = None  # each window's regime (pipeline.regimes), when the version has regimes
    figures: np.ndarray | None = None  # another detector's window figures, which anomaly_score is made from
    sensor_figures: np.ndarray | None = None  # (windows, sensors): its figures per sensor

    def __len__(self) -> int:
        return len(self.z)

    @classmethod
    def empty(cls, dims: int, sensors, model_version: str | None = None,
              calibration: Calibration | None = None, regimes: bool = False) -> LatentTable:
        """A table without windows (a day with no readings, or none long enough), with every column."""
        times = np.empty(0, "datetime64[ns]")
        other = calibration is not None and calibration.detector != Detector.autoencoder
        return cls(times, times, np.empty((0, dims), np.float32), np.empty(0, np.float32), model_version,
                   calibration, tuple(sensors), np.empty((0, len(sensors)), np.float32),
                   Assignment(np.empty(0, np.int16), np.empty(0), np.empty(0, bool)) if regimes else None,
                   *((np.empty(0, np.float32), np.empty((0, len(sensors)), np.float32)) if other else ()))

    @property
    def anomaly_figures(self) -> np.ndarray:
        """What the threshold applies to: the detector's window figures (the reconstruction errors by default)."""
        return self.reconstruction_error if self.figures is None else self.figures

    def anomaly_scores(self) -> np.ndarray:
        """Each window's anomaly_score: its detector figure over the calibration's threshold."""
        return self.calibration.scores(self.anomaly_figures)

    @property
    def anomaly_sensor_figures(self) -> np.ndarray | None:
        """(windows, sensors): the per-sensor figures the anomaly score is made from, which name an event's
        sensors (the detector's; the reconstruction errors for the autoencoder)."""
        return self.sensor_errors if self.sensor_figures is None else self.sensor_figures

    @property
    def _other_detector(self) -> bool:
        return self.calibration is not None and self.sensor_figures is not None

    def _fields(self) -> list[tuple[str, pa.DataType]]:
        # UTC on disk, said in the file (a reader need not guess); in memory the pipeline keeps naive UTC
        out = [("window_start", pa.timestamp("ns", tz="UTC")), ("window_end", pa.timestamp("ns", tz="UTC"))]
        out += [(f"{LATENT_PREFIX}{d}", pa.float32()) for d in range(self.z.shape[1])]
        out.append(("reconstruction_error", pa.float32()))
        if self.calibration is not None:
            out += [(ANOMALY_SCORE, pa.float32()), (IS_ANOMALY, pa.bool_())]
        if self.sensor_errors is not None:
            out += [(f"{SENSOR_ERROR_PREFIX}{s}", pa.float32()) for s in self.sensors]
        if self._other_detector:
            out += [(f"{SENSOR_SCORE_PREFIX}{s}", pa.float32()) for s in self.sensors]
            out.append((DETECTOR, pa.dictionary(pa.int8(), pa.string())))
        if self.regimes is not None:
            out += [(REGIME, pa.int16()), (REGIME_DISTANCE, pa.float32()), (OFF_REGIME, pa.bool_())]
        if self.model_version:
            out.append((MODEL_VERSION, pa.dictionary(pa.int8(), pa.string())))
        return out

    @property
    def columns(self) -> list[str]:
        return [name for name, _ in self._fields()]

    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(name, kind) for name, kind in self._fields()])

    def record_batches(self, rows: int = ROW_GROUP) -> Iterator[pa.RecordBatch]:
        schema = self.schema()
        for i in range(0, len(self), rows):
            part = slice(i, i + rows)
            arrays = [self.window_start[part], self.window_end[part], *self.z[part].T, self.reconstruction_error[part]]
            n = len(arrays[0])
            if self.calibration is not None:
                score = self.calibration.scores(self.anomaly_figures[part])
                arrays += [score, score > 1.0]
            if self.sensor_errors is not None:
                arrays += list(self.sensor_errors[part].T)
            if self._other_detector:
                arrays += list(self.calibration.scores(self.sensor_figures[part]).T)
                arrays.append(_one_value(self.calibration.detector, n))
            if self.regimes is not None:
                r = self.regimes
                arrays += [r.regime[part], r.distance[part], r.off[part]]
            if self.model_version:
                arrays.append(_one_value(self.model_version, n))
            columns = [a if isinstance(a, pa.Array) else pa.array(a, type=f.type)
                       for a, f in zip(arrays, schema, strict=True)]
            yield pa.RecordBatch.from_arrays(columns, schema=schema)


def _one_value(value: str, n: int) -> pa.DictionaryArray:
    """A column holding one string in every row, stored once (a dictionary)."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int8)), pa.array([value]))


def latent_table(windows: TrainingWindows, encoding: Encoding, model_version: str | None = None,
                 starts: np.ndarray | None = None, calibration: Calibration | None = None) -> LatentTable:
    """The latent table of the windows encoded (all of them, or those at `starts`), with anomaly scores when
    the model's `calibration` is given (made from the encoding's detector figures when it has them)."""
    starts = windows.index.starts if starts is None else starts
    return LatentTable(windows.timestamps[starts], windows.timestamps[starts + windows.index.window_length - 1],
                       encoding.z, encoding.errors, model_version, calibration, tuple(windows.sensors),
                       encoding.sensor_errors, figures=encoding.figures, sensor_figures=encoding.sensor_figures)
