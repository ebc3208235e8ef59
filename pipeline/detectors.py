"""Detectors: what figure of a window its anomaly score is made from (the `detector` setting).

Every detector gives each window a figure per sensor and one for the window, in the windows' scaled units
(z-scores of the training span by default); the threshold (pipeline.threshold) is set on the window figures of
the validation windows and saved with the model, so every detector is calibrated and scored the same way, and
events name the sensors of largest figure (pipeline.events).

- `autoencoder` (default): the model's reconstruction error, mean |x - x_hat| per sensor, their mean.
- `pca`: the reconstruction error of a PCA with as many components as the latent space has dimensions, fitted
  on the training windows (flattened) when the model is: the linear model of the same windows.
- `zscore`: each sensor's mean |z| over the window, the window's figure the largest of them: how far the
  readings are from the training span's mean, one sensor at a time, with no model at all.

Measured side by side on SKAB (docs/anomalies.md): none of them wins everywhere, which is why it is a setting
a user can compare on their own data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Detector(StrEnum):
    autoencoder = "autoencoder"
    pca = "pca"
    zscore = "zscore"


DETECTORS = tuple(Detector)
# what each detector's window figure is, in words (the threshold's rule text says it)
FIGURE_TEXT = {Detector.autoencoder: "reconstruction errors",
               Detector.pca: "PCA reconstruction errors",
               Detector.zscore: "largest per-sensor mean |z-scores|"}


@dataclass
class WindowScorer:
    """A detector ready to score windows: its kind and, for `pca`, the fitted centre (features,) and basis
    (features, components) of the flattened training windows."""

    detector: str = Detector.autoencoder.value
    pca_mean: np.ndarray | None = None
    pca_basis: np.ndarray | None = None

    def __post_init__(self):
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {tuple(map(str, DETECTORS))}, got {self.detector!r}")
        self.detector = str(self.detector)
        if self.detector == Detector.pca and (self.pca_mean is None or self.pca_basis is None):
            raise ValueError("the pca detector needs its fitted centre and basis")

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
        return np.abs(x).mean(axis=1, dtype=np.float32)

    def window_figures(self, per_sensor: np.ndarray) -> np.ndarray:
        """(windows,) float32: the window's figure from its per-sensor ones (the largest sensor's for zscore,
        their mean otherwise)."""
        per_sensor = np.asarray(per_sensor, dtype=np.float32)
        return per_sensor.max(axis=1) if self.detector == Detector.zscore else per_sensor.mean(axis=1)

    def arrays(self) -> dict[str, np.ndarray]:
        """What is saved with the model besides the detector's name (pipeline.formats: one .npy each)."""
        if self.detector != Detector.pca:
            return {}
        return {"pca_mean": np.asarray(self.pca_mean), "pca_basis": np.asarray(self.pca_basis)}


def fit_scorer(detector: str, x_train: np.ndarray, components: int) -> WindowScorer:
    """The detector fitted on training windows `x_train` (windows, rows, sensors), scaled as scored windows are:
    for `pca`, the centre and first `components` principal directions of the flattened windows (as many as fit
    in them); the others learn nothing beyond the scaler."""
    if detector != Detector.pca:
        return WindowScorer(detector)
    from pipeline.usefulness import pca_basis

    flat = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
    if len(flat) < 2:
        raise ValueError(f"the pca detector needs at least 2 training windows, got {len(flat)}")
    mean, basis = pca_basis(flat, min(components, *flat.shape))
    return WindowScorer(detector, mean, basis)
