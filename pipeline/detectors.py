"""Detectors: what figure of a window its anomaly score is made from (the `detector` setting).

Every detector gives each window a figure per sensor and one for the window; the threshold (pipeline.threshold)
is margin x a quantile of the window figures of the validation windows, saved with the model, so every detector
is calibrated and scored the same way, and events name the sensors of largest figure (pipeline.events).

- `level` (default): each sensor's window mean against the training span's, in units of a 99 % prediction
  interval for a new window mean; the window's figure the largest sensor's. The interval is as wide as the
  spread of the training windows' means times Student's t for the number of independent levels the span
  holds: a sensor that drifts slowly (its window means persist for many windows) has shown few levels in the
  span, so the interval is wide and its drift no false alarm, while a sensor that moves fast has shown many
  and is held to them. On a long span every sensor has shown many, and this is a plain level test.
- `autoencoder`: the model's reconstruction error, mean |x - x_hat| per sensor, their mean.
- `pca`: the reconstruction error of a PCA with as many components as the latent space has dimensions, fitted
  on the training windows (flattened) when the model is: the linear model of the same windows.
- `zscore`: each sensor's mean |z| over the window, the window's figure the largest of them.

Measured side by side on SKAB (docs/anomalies.md): `level` has the best F1 at a false-alarm rate below 15 %; the
autoencoder's error is diluted over sensors and rows when one sensor's level shifts, and marks every slow drift.
A change of a window's shape that keeps its means is seen by the reconstruction errors only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Detector(StrEnum):
    level = "level"
    autoencoder = "autoencoder"
    pca = "pca"
    zscore = "zscore"


DETECTORS = tuple(Detector)
# the fitted state of the detectors that learn from the training windows beyond the scaler (one .npy each)
STATE = {Detector.level: ("level_centre", "level_tolerance"), Detector.pca: ("pca_mean", "pca_basis")}
FITTED = tuple(STATE)
ARRAY_NAMES = tuple(name for names in STATE.values() for name in names)
LARGEST = (Detector.level, Detector.zscore)  # a window's figure is its largest sensor's (else their mean)
# what each detector's window figure is, in words (the threshold's rule text says it)
FIGURE_TEXT = {Detector.level: "largest per-sensor level deviations (window mean off the training span's, in "
                               "prediction intervals)",
               Detector.autoencoder: "reconstruction errors",
               Detector.pca: "PCA reconstruction errors",
               Detector.zscore: "largest per-sensor mean |z-scores|"}
# the threshold margin each detector is used with unless one is set (`threshold_margin`); the level detector's
# chosen on SKAB: the validation windows are a short stretch, and their level figures spread less than those of
# the normal windows after them (docs/anomalies.md)
MARGINS = {Detector.level: 2.5, Detector.autoencoder: 1.5, Detector.pca: 1.5, Detector.zscore: 1.5}
LEVEL_QUANTILE = 0.99  # the prediction interval of the level detector
MIN_LEVELS = 2.0  # the fewest independent levels a span counts as holding (Student's t needs one degree of freedom)
TINY_SPREAD = 1e-6  # a sensor constant over the span: any change of its level counts


@dataclass
class WindowScorer:
    """A detector ready to score windows: its kind and its fitted state: for `pca` the centre (features,) and
    basis (features, components) of the flattened training windows, for `level` each sensor's centre and
    tolerance (sensors,), the half-width of its prediction interval."""

    detector: str = Detector.autoencoder.value
    pca_mean: np.ndarray | None = None
    pca_basis: np.ndarray | None = None
    level_centre: np.ndarray | None = None
    level_tolerance: np.ndarray | None = None

    def __post_init__(self):
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {tuple(map(str, DETECTORS))}, got {self.detector!r}")
        self.detector = str(self.detector)
        missing = [name for name in STATE.get(Detector(self.detector), ()) if getattr(self, name) is None]
        if missing:
            raise ValueError(f"the {self.detector} detector needs its fitted state: {', '.join(missing)} missing")

    @property
    def uses_model(self) -> bool:
        """Whether the figures are the model's own reconstruction errors."""
        return self.detector == Detector.autoencoder

    def sensor_figures(self, x: np.ndarray, x_hat: np.ndarray | None = None) -> np.ndarray:
        """(windows, sensors) float32: each window's figure per sensor, from its scaled readings `x` (windows,
        rows, sensors) and, for the autoencoder, the model's reconstruction `x_hat`."""
        if self.detector == Detector.autoencoder:
            if x_hat is None:
                raise ValueError("the autoencoder detector needs the model's reconstruction")
            return np.abs(x - x_hat).mean(axis=1, dtype=np.float32)
        if self.detector == Detector.pca:
            flat = x.reshape(len(x), -1).astype(np.float64)
            codes = (flat - self.pca_mean) @ self.pca_basis
            back = codes @ self.pca_basis.T + self.pca_mean
            return np.abs(flat - back).reshape(x.shape).mean(axis=1).astype(np.float32)
        if self.detector == Detector.level:
            return (np.abs(x.mean(axis=1, dtype=np.float64) - self.level_centre) / self.level_tolerance).astype(
                np.float32)
        return np.abs(x).mean(axis=1, dtype=np.float32)

    def window_figures(self, per_sensor: np.ndarray) -> np.ndarray:
        """(windows,) float32: the window's figure from its per-sensor ones (the largest sensor's for level and
        zscore, their mean for the reconstruction errors)."""
        per_sensor = np.asarray(per_sensor, dtype=np.float32)
        return per_sensor.max(axis=1) if self.detector in LARGEST else per_sensor.mean(axis=1)

    def arrays(self) -> dict[str, np.ndarray]:
        """What is saved with the model besides the detector's name (pipeline.formats: one .npy each)."""
        return {name: np.asarray(getattr(self, name)) for name in STATE.get(Detector(self.detector), ())}


def fit_scorer(detector: str, x_train: np.ndarray | None, components: int = 3,
               train_rows: int | None = None) -> WindowScorer:
    """The detector fitted on training windows `x_train` (windows, rows, sensors), scaled as scored windows are:
    for `pca`, the centre and first `components` principal directions of the flattened windows (as many as fit
    in them); for `level`, each sensor's level tolerance (`level_tolerance`) over the `train_rows` rows the
    windows were drawn from (default: as many as stride-1 windows cover); the others learn nothing beyond the
    scaler."""
    if detector not in FITTED:
        return WindowScorer(detector)
    x = np.asarray(x_train, dtype=np.float64)
    if len(x) < 2:
        raise ValueError(f"the {detector} detector needs at least 2 training windows, got {len(x)}")
    if detector == Detector.level:
        rows = len(x) + x.shape[1] - 1 if train_rows is None else train_rows
        return WindowScorer(detector, level_centre=x.mean(axis=(0, 1)), level_tolerance=level_tolerance(x, rows))
    from pipeline.usefulness import pca_basis

    flat = x.reshape(len(x), -1)
    mean, basis = pca_basis(flat, min(components, *flat.shape))
    return WindowScorer(detector, mean, basis)


def level_tolerance(x: np.ndarray, rows: int, quantile: float = LEVEL_QUANTILE) -> np.ndarray:
    """Per sensor, the half-width of a `quantile` prediction interval for a new window's mean, from training
    windows `x` (windows, rows, sensors) drawn from `rows` rows: the spread of their means times Student's t
    for the independent levels the rows hold, times sqrt(1 + 1/levels) (a new value, not the mean).

    How many levels: a window mean's variance over the mean variance within a window, times the window length,
    is about the number of rows over which a sensor's level persists (about 1 for white noise, hundreds for a
    temperature that creeps); rows / max(that, window length) independent levels were seen, at least
    MIN_LEVELS."""
    from scipy.stats import t

    length = x.shape[1]
    means = x.mean(axis=1)
    spread = np.maximum(means.std(axis=0), TINY_SPREAD)
    within = np.maximum(x.var(axis=1).mean(axis=0), TINY_SPREAD**2)
    persistence = length * np.square(spread) / within
    levels = np.maximum(rows / np.maximum(persistence, length), MIN_LEVELS)
    return spread * t.ppf(0.5 + quantile / 2, levels - 1) * np.sqrt(1 + 1 / levels)
