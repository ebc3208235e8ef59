"""Latent quality: per-dimension diagnostics and the verdict on dead dimensions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DEAD_TOLERANCE = 1e-6  # |z| at or below this counts as zero; relu-dead units are exactly 0.0


def dimension_stats(z: np.ndarray) -> pd.DataFrame:
    """min, max, mean, std and fraction of exact zeros of each latent dimension."""
    return pd.DataFrame({
        "dimension": [f"z_{d}" for d in range(z.shape[1])],
        "min": z.min(axis=0).astype(float),
        "max": z.max(axis=0).astype(float),
        "mean": z.mean(axis=0).astype(float),
        "std": z.std(axis=0).astype(float),
        "zero_fraction": (z == 0).mean(axis=0).astype(float),
    })


@dataclass
class LatentVerdict:
    dead: list[str]
    windows: int
    stats: pd.DataFrame

    @property
    def passed(self) -> bool:
        return not self.dead

    def explanation(self) -> str:
        if self.passed:
            return f"all {len(self.stats)} latent dimensions vary across the {self.windows} windows"
        return (
            f"dead latent dimension(s) {', '.join(self.dead)}: zero (|z| <= {DEAD_TOLERANCE:g}) for all "
            f"{self.windows} windows, so they carry no information and the latent space is smaller than it "
            "looks. Likely cause: a relu activation on the latent layer (its output is exactly 0 whenever "
            "the unit's input is negative), made worse by unscaled inputs. Remedy: use the default "
            "architecture (linear latent layer) and scaling 'zscore', or retrain with another seed."
        )


def judge_latents(z: np.ndarray, tolerance: float = DEAD_TOLERANCE) -> LatentVerdict:
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"expected a non-empty (windows, dims) latent matrix, got shape {z.shape}")
    dead = [f"z_{d}" for d in np.flatnonzero((np.abs(z) <= tolerance).all(axis=0))]
    return LatentVerdict(dead, len(z), dimension_stats(z))
