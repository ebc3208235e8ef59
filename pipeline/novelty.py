"""The novelty coordinate: how far a window lies outside the variation the model was trained on.

A code learnt from the training windows spans their main directions of variation, and a window that departs
from them in a direction the training span never showed (a valve that closes, a sensor that leaves its usual
relation to the others) is projected back among the normal ones: on SKAB, the distance of a window's code to
the training codes separated the anomalous windows no better than chance (k-NN AUC 0.60 for a PCA of the
training windows, 0.57 with 8 components), while the same distance on the whole windows separates them (0.90).
What the projection throws away is what matters. The novelty encoder keeps it as one coordinate of the code:
the log of the window's mean squared residual off the training windows' first principal directions,
standardised with the training windows' own residuals (docs/latent_quality.md).

Keras is imported here at module level: import this module only where a model is built or loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

FLOOR = 1e-6  # added to the mean squared residual before the log: a window on the subspace is not -inf
# The novelty's spread over the training windows, as a share of the other dimensions' (mean std): chosen on SKAB's
# codes without a model (benchmarks/latent_usefulness.py --codes): 1 keeps fewer neighbourhoods (trustworthiness
# 0.955, continuity 0.958) for no more anomaly separation (k-NN AUC 0.901) than 0.5 (0.961, 0.966, 0.897);
# 0.25 separates less (0.872).
WEIGHT = 0.5


def log_residual(flat: np.ndarray, centre: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """log(FLOOR + mean squared residual) of each row of `flat` off the directions `basis` (columns) through
    `centre`."""
    r = flat - centre
    residual = r - (r @ basis) @ basis.T
    return np.log(FLOOR + np.mean(residual * residual, axis=1))


@dataclass(frozen=True)
class EncoderStart:
    """The linear encoder's start, from the standardised, flattened training windows: their `centre` and first
    principal directions (`basis`, columns) and, for the novelty coordinate, the mean and std of the training
    windows' log residual off those directions and the spread the coordinate is scaled to (WEIGHT x the
    principal coordinates' mean std), so that it weighs in distances about as one of them does."""

    centre: np.ndarray
    basis: np.ndarray
    residual_mean: float = 0.0
    residual_std: float = 1.0
    spread: float = 1.0


def code_start(flat: np.ndarray, dimensions: int, novelty: bool) -> EncoderStart:
    """The start of a code of `dimensions` from the training windows `flat` (rows): a PCA of them, with as many
    components (linear), or one fewer and the novelty coordinate (novelty)."""
    from pipeline.usefulness import pca_basis

    centre, basis = pca_basis(flat, dimensions - 1 if novelty else dimensions)
    if not novelty:
        return EncoderStart(centre, basis)
    logs = log_residual(flat, centre, basis)
    spread = WEIGHT * float(((flat - centre) @ basis).std(axis=0).mean()) if basis.shape[1] else 1.0
    return EncoderStart(centre, basis, float(logs.mean()), float(max(logs.std(), 1e-6)), spread)


@keras.saving.register_keras_serializable(package="sensor_latents")
class Novelty(keras.layers.Layer):
    """The standardised log residual of flattened windows off fixed principal directions, as one column. The
    centre and directions are weights (saved with the model, never trained)."""

    def __init__(self, components: int, residual_mean: float = 0.0, residual_std: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.components, self.residual_mean, self.residual_std = int(components), residual_mean, residual_std

    def build(self, input_shape):
        size = int(input_shape[-1])
        self.centre = self.add_weight(shape=(size,), initializer="zeros", trainable=False, name="centre")
        self.basis = self.add_weight(shape=(size, self.components), initializer="zeros", trainable=False,
                                     name="basis")

    def call(self, flat):
        r = flat - self.centre
        residual = r - ops.matmul(ops.matmul(r, self.basis), ops.transpose(self.basis))
        logs = ops.log(FLOOR + ops.mean(residual * residual, axis=-1, keepdims=True))
        return (logs - self.residual_mean) / self.residual_std

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)

    def get_config(self):
        return {**super().get_config(), "components": self.components, "residual_mean": self.residual_mean,
                "residual_std": self.residual_std}


@keras.saving.register_keras_serializable(package="sensor_latents")
class KeepsNoveltyApart(keras.constraints.Constraint):
    """The latent layer's kernel over [flattened window, novelty]: the last dimension is the novelty alone
    (scaled, shifted by the bias) and the others never read it, so training cannot mix the window into the
    novelty. Unmixed, it is the same from seed to seed (on the sample, two seeds' novelty columns correlated
    0.90 when training could mix them) and keeps meaning only how unlike the training windows a window is."""

    def __call__(self, w):
        rows, columns = w.shape
        keep = np.ones((rows, columns), dtype="float32")
        keep[:-1, -1], keep[-1, :-1] = 0.0, 0.0
        return w * ops.cast(keep, w.dtype)

    def get_config(self):
        return {}
