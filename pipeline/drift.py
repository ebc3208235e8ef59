"""Drift: how far a day's latents and reconstruction errors have moved from the model's training reference.

Two figures, both against the training reference kept with the model (pipeline.threshold), windows spread
evenly over its training span:
- per latent dimension, the population stability index (PSI) of the day's values over the reference's deciles
  (each decile holds a tenth of the reference): sum over bins of (day - ref) x ln(day / ref). The usual
  reading: below 0.1 stable, 0.1 to 0.25 moving, above 0.25 shifted. One day is not the whole span: a day of
  high load differs from the span's mix. So a dimension has shifted when its PSI exceeds both 0.25 and
  `day_factor` x the largest PSI of a training day against the other training days (the day-to-day
  variation the model was trained on).
- the day's median and 90th-percentile reconstruction error over the training span's: a model that no longer
  fits the machine reconstructs it worse across the board, not only in a few anomalous windows.
Errors beyond their limit mean the model no longer fits the machine (retrain, or look for a fault); latents
beyond theirs with errors as before, that the machine runs differently from the training days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.latents import LATENT_PREFIX
from pipeline.threshold import Calibration, psi


@dataclass(frozen=True)
class DriftLimits:
    psi: float = 0.25  # a latent dimension's PSI from which it has shifted...
    day_factor: float = 1.5  # ...when also above this many times the largest PSI of a training day
    error_ratio: float = 1.5  # day / reference median (or p90) reconstruction error from which the fit has worsened

    def __post_init__(self):
        for name in ("psi", "day_factor", "error_ratio"):
            if not getattr(self, name) > 0:
                raise ValueError(f"drift_{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True)
class DriftReport:
    psi: dict[str, float]  # latent dimension -> PSI
    psi_limits: dict[str, float]  # latent dimension -> the PSI from which it has shifted
    error_ratios: dict[str, float]  # "p50", "p90" -> day / reference
    windows: int
    limits: DriftLimits

    @property
    def shifted(self) -> list[str]:
        return [d for d, v in self.psi.items() if v >= self.psi_limits[d]]

    @property
    def worse(self) -> list[str]:
        return [q for q, r in self.error_ratios.items() if r >= self.limits.error_ratio]

    @property
    def drifted(self) -> bool:
        return bool(self.shifted or self.worse)

    def text(self) -> str:
        if not self.drifted:
            dims = ", ".join(f"{d} PSI {v:.2f} (< {self.psi_limits[d]:.2f})" for d, v in self.psi.items())
            return (f"no drift over {self.windows} windows: {dims}, error p50 x{self.error_ratios['p50']:.2f}, p90 "
                    f"x{self.error_ratios['p90']:.2f} of the training reference (< x{self.limits.error_ratio:g})")
        parts = [f"{d} PSI {self.psi[d]:.2f} (limit {self.psi_limits[d]:.2f})" for d in self.shifted]
        parts += [f"reconstruction error {q} x{self.error_ratios[q]:.2f} (limit x{self.limits.error_ratio:g})"
                  for q in self.worse]
        if self.worse:
            why = ("the model reconstructs this data worse than its training reference: it no longer fits the "
                   "machine as it did, retraining on recent days is due (or, if this is a fault, see "
                   "anomaly_events)")
        else:
            why = ("the latents moved beyond the day-to-day variation of the training days (a different "
                   "operating mix or a new state) while the model still reconstructs the data as well as "
                   "before: retrain if it persists")
        return f"drift from the training reference: {', '.join(parts)}; {why}"

    def table(self) -> pd.DataFrame:
        rows = [{"figure": f"PSI {d}", "value": v, "limit": self.psi_limits[d]} for d, v in self.psi.items()]
        rows += [{"figure": f"error {q} / reference", "value": r, "limit": self.limits.error_ratio}
                 for q, r in self.error_ratios.items()]
        return pd.DataFrame(rows)


def drift_report(calibration: Calibration, z: np.ndarray, errors: np.ndarray,
                 limits: DriftLimits = DriftLimits()) -> DriftReport:
    """The day's drift from the reference, from its latents (windows, dims) and reconstruction errors."""
    z = np.asarray(z, dtype=np.float64)
    errors = np.asarray(errors, dtype=np.float64)
    if not len(errors):
        raise ValueError("no window to measure drift on")
    by_dim = {f"{LATENT_PREFIX}{d}": psi(z[:, d], edges) for d, edges in enumerate(calibration.latent_edges)}
    day_psi = calibration.day_psi or [0.0] * len(by_dim)
    psi_limits = {d: max(limits.psi, limits.day_factor * p) for d, p in zip(by_dim, day_psi, strict=True)}
    ref = calibration.error_quantiles
    ratios = {q: float(np.quantile(errors, p) / ref[q]) if ref[q] > 0 else float("inf")
              for q, p in (("p50", 0.5), ("p90", 0.9))}
    return DriftReport(by_dim, psi_limits, ratios, len(errors), limits)
