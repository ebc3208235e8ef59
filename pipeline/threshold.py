"""The anomaly threshold, calibrated when the model is trained, and the reference that drift is measured from.

Rule: threshold = margin x the `quantile` of the detector's figures (pipeline.detectors; by default the
reconstruction errors) of the validation windows, the last stretch of the training span that the model did not
train on (the training windows when there is none). A window is anomalous when its figure exceeds the
threshold; its `anomaly_score` is figure / threshold, so 1.0 means "at the threshold" whatever the model
version, the detector or the units of its figures.

The calibration is saved with the model (params.json) and used unchanged on every day it scores, so a day's
flags do not depend on what else is in that day. It also keeps the training reference that pipeline.drift
compares new days with: the error quantiles and latent deciles of windows spread evenly over the whole training
span (the end of the span alone can be one time of day, one operating mode), and how much one training day
differs from the others (with `psi`, the measure pipeline.drift uses).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from pipeline.detectors import FIGURE_TEXT, Detector

DECILES = np.linspace(0.1, 0.9, 9)
ERROR_QUANTILES = (0.5, 0.9, 0.99)
PSI_FLOOR = 1e-4  # an empty bin counts as this share, so the logarithm stays finite
MIN_DRIFT_WINDOWS = 100  # fewer windows than this say too little about a distribution to judge drift


@dataclass(frozen=True)
class ThresholdRule:
    """How the threshold is set from the calibration windows' errors (the autoencoder asset's defaults)."""

    quantile: float = 0.99
    margin: float = 1.5

    def __post_init__(self):
        if not 0.0 < self.quantile <= 1.0:
            raise ValueError(f"threshold_quantile must be in (0, 1], got {self.quantile}")
        if self.margin <= 0:
            raise ValueError(f"threshold_margin must be positive, got {self.margin}")


@dataclass(frozen=True)
class Calibration:
    """The threshold, how it was set, and the training reference of the latents and errors."""

    threshold: float
    quantile: float
    margin: float
    windows: int  # calibration windows the threshold was set on
    source: str  # "validation" or "training" (no validation span)
    error_quantiles: dict[str, float]  # "p50", "p90", "p99" of the errors of windows spread over the span
    latent_edges: list[list[float]]  # per latent dimension: the 9 inner decile edges over the training span
    # per latent dimension: the largest PSI of one training day against the span's other days, the day-to-day
    # variation that is normal (a day of high load differs from the span's mix); empty when no day had enough
    day_psi: list[float] = field(default_factory=list)
    detector: str = Detector.autoencoder.value  # whose window figures the threshold applies to

    def scores(self, figures: np.ndarray) -> np.ndarray:
        """anomaly_score: the detector's window figure over the threshold (above 1: anomalous)."""
        return (np.asarray(figures, dtype=np.float64) / self.threshold).astype(np.float32)

    def rule_text(self) -> str:
        return (f"{self.margin:g} x the {self.quantile:.3g} quantile of the {FIGURE_TEXT[Detector(self.detector)]} "
                f"of {self.windows} {self.source} windows = {self.threshold:.4g}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        return cls(**d)


def calibrate(errors: np.ndarray, z: np.ndarray, rule: ThresholdRule = ThresholdRule(),
              source: str = "validation", days: np.ndarray | None = None,
              reference_errors: np.ndarray | None = None, detector: str = Detector.autoencoder.value) -> Calibration:
    """The calibration from the calibration windows' `errors` (the `detector`'s window figures: the threshold)
    and the reference windows of the training span: their latents `z` (windows, dims), their reconstruction
    `reference_errors` (default: the calibration errors) and `days`, the day of each."""

    errors = np.asarray(errors, dtype=np.float64)
    finite = errors[np.isfinite(errors)]
    if not len(finite):
        raise ValueError("no finite reconstruction error to calibrate the anomaly threshold on")
    level = float(np.quantile(finite, rule.quantile))
    # a model that reconstructs its calibration windows exactly still needs a positive threshold
    threshold = max(rule.margin * level, float(np.finfo(np.float32).tiny))
    z = np.asarray(z, dtype=np.float64)
    edges = [np.quantile(z[:, d], DECILES).tolist() for d in range(z.shape[1])]
    day_psi = []
    if days is not None:  # each day against the other days: how much one day differs from the rest
        labels, counts = np.unique(days, return_counts=True)
        whole = labels[counts >= MIN_DRIFT_WINDOWS]
        if len(whole) > 1:
            day_psi = [max(psi(z[days == day, d], np.quantile(z[days != day, d], DECILES)) for day in whole)
                       for d in range(z.shape[1])]
    ref = finite if reference_errors is None else np.asarray(reference_errors, dtype=np.float64)
    ref = ref[np.isfinite(ref)]
    return Calibration(threshold, rule.quantile, rule.margin, len(finite), source,
                       {f"p{round(q * 100)}": float(np.quantile(ref, q)) for q in ERROR_QUANTILES}, edges, day_psi,
                       str(detector))


def psi(values: np.ndarray, inner_edges) -> float:
    """PSI of `values` over the reference bins cut at `inner_edges` (a tenth of the reference in each)."""
    edges = np.asarray(inner_edges, dtype=np.float64)
    expected = np.full(len(edges) + 1, 1.0 / (len(edges) + 1))
    actual = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1) / len(values)
    actual, expected = np.maximum(actual, PSI_FLOOR), np.maximum(expected, PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))
