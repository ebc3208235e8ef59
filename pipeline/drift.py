"""Drift: how far a day's latents and reconstruction errors have moved from the model's training reference.

Two figures, both against the calibration windows kept with the model (pipeline.threshold):
- per latent dimension, the population stability index (PSI) of the day's values over the reference's deciles
  (each decile holds a tenth of the reference): sum over bins of (day - ref) x ln(day / ref). The usual
  reading: below 0.1 stable, 0.1 to 0.25 moving, above 0.25 shifted.
- the day's median and 90th-percentile reconstruction error over the reference's: a model that no longer fits
  the machine reconstructs it worse across the board, not only in a few anomalous windows.
Either beyond its limit means the model no longer describes the machine: retraining is due.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.latents import LATENT_PREFIX
from pipeline.threshold import Calibration

PSI_FLOOR = 1e-4  # an empty bin counts as this share, so the logarithm stays finite


@dataclass(frozen=True)
class DriftLimits:
    psi: float = 0.25  # a latent dimension's PSI from which it has shifted
    error_ratio: float = 1.5  # day / reference median (or p90) reconstruction error from which the fit has worsened


@dataclass(frozen=True)
class DriftReport:
    psi: dict[str, float]  # latent dimension -> PSI
    error_ratios: dict[str, float]  # "p50", "p90" -> day / reference
    windows: int
    limits: DriftLimits

    @property
    def shifted(self) -> list[str]:
        return [d for d, v in self.psi.items() if v >= self.limits.psi]

    @property
    def worse(self) -> list[str]:
        return [q for q, r in self.error_ratios.items() if r >= self.limits.error_ratio]

    @property
    def drifted(self) -> bool:
        return bool(self.shifted or self.worse)

    def text(self) -> str:
        if not self.drifted:
            return (f"no drift over {self.windows} windows: max PSI {max(self.psi.values()):.3f} (< "
                    f"{self.limits.psi:g}), error p50 x{self.error_ratios['p50']:.2f}, p90 "
                    f"x{self.error_ratios['p90']:.2f} of the training reference (< x{self.limits.error_ratio:g})")
        parts = [f"{d} PSI {self.psi[d]:.2f}" for d in self.shifted]
        parts += [f"reconstruction error {q} x{self.error_ratios[q]:.2f}" for q in self.worse]
        return ("drift from the training reference: " + ", ".join(parts) + f" (limits PSI {self.limits.psi:g}, "
                f"error x{self.limits.error_ratio:g}); the model no longer fits this data as it did: retraining "
                "on recent days is due (or, if this is a fault, see anomaly_events)")

    def table(self) -> pd.DataFrame:
        rows = [{"figure": f"PSI {d}", "value": v, "limit": self.limits.psi} for d, v in self.psi.items()]
        rows += [{"figure": f"error {q} / reference", "value": r, "limit": self.limits.error_ratio}
                 for q, r in self.error_ratios.items()]
        return pd.DataFrame(rows)


def psi(values: np.ndarray, inner_edges) -> float:
    """PSI of `values` over the reference bins cut at `inner_edges` (a tenth of the reference in each)."""
    edges = np.asarray(inner_edges, dtype=np.float64)
    expected = np.full(len(edges) + 1, 1.0 / (len(edges) + 1))
    actual = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1) / len(values)
    actual, expected = np.maximum(actual, PSI_FLOOR), np.maximum(expected, PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_report(calibration: Calibration, z: np.ndarray, errors: np.ndarray,
                 limits: DriftLimits = DriftLimits()) -> DriftReport:
    """The day's drift from the reference, from its latents (windows, dims) and reconstruction errors."""
    z = np.asarray(z, dtype=np.float64)
    errors = np.asarray(errors, dtype=np.float64)
    if not len(errors):
        raise ValueError("no window to measure drift on")
    by_dim = {f"{LATENT_PREFIX}{d}": psi(z[:, d], edges) for d, edges in enumerate(calibration.latent_edges)}
    ref = calibration.error_quantiles
    ratios = {q: float(np.quantile(errors, p) / ref[q]) if ref[q] > 0 else float("inf")
              for q, p in (("p50", 0.5), ("p90", 0.9))}
    return DriftReport(by_dim, ratios, len(errors), limits)
