"""Latent quality: diagnostics of the latent matrix Z (windows x dims) and two verdicts on it.

ERROR (blocks everything downstream): a latent value or reconstruction error that is NaN or infinite (the
training diverged, or the inputs overflowed), and a dimension that is zero, or constant, for every window,
which carries no information. WARN (reported, not blocking): dimensions that are mostly zero, barely vary,
duplicate another, or whose scale has blown up. The texts are written for a user who has not read the code,
and name the likely cause from what is known about the training (architecture, scaling) when it is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.latents import LATENT_PREFIX

DEAD_TOLERANCE = 1e-6  # |z| at or below this counts as zero; relu-dead units are exactly 0.0
MOSTLY_ZERO = 0.5  # share of windows with z exactly 0 from which a (relu) unit counts as half dead
ACTIVE_VARIANCE = 0.01  # Burda et al. 2016: a unit is active when Var(z) > 0.01
DUPLICATE_CORRELATION = 0.98  # |corr| from which two dimensions say the same thing
SCALE_LIMIT = 100.0  # std of a dimension fed z-scored inputs; beyond it distances are dominated by it


def dimension_stats(z: np.ndarray) -> pd.DataFrame:
    """Per dimension: min, max, mean, std, fraction of exact zeros, variance, share of total variance,
    and whether it is an active unit."""
    z = np.asarray(z, dtype=np.float64)
    var = z.var(axis=0)
    total = var.sum()
    return pd.DataFrame({
        "dimension": [f"{LATENT_PREFIX}{d}" for d in range(z.shape[1])],
        "min": z.min(axis=0),
        "max": z.max(axis=0),
        "mean": z.mean(axis=0),
        "std": np.sqrt(var),
        "zero_fraction": (z == 0).mean(axis=0),
        "variance": var,
        "variance_share": var / total if total > 0 else np.zeros_like(var),
        "active": var > ACTIVE_VARIANCE,
    })


def participation_ratio(z: np.ndarray) -> float:
    """tr(C)^2 / tr(C^2) of the covariance C: how many dimensions the variance is effectively spread over
    (1 when one direction holds it all, k when k dimensions share it equally); 0 for constant latents."""
    c = np.atleast_2d(np.cov(np.asarray(z, dtype=np.float64), rowvar=False))
    denom = float(np.trace(c @ c))
    return float(np.trace(c) ** 2 / denom) if denom > 0 else 0.0


def correlations(z: np.ndarray) -> pd.DataFrame:
    """|corr| of every pair of non-constant dimensions, strongest first (columns a, b, abs_correlation)."""
    z = np.asarray(z, dtype=np.float64)
    varying = np.flatnonzero(z.std(axis=0) > DEAD_TOLERANCE)
    rows = []
    if len(varying) >= 2:
        corr = np.abs(np.corrcoef(z[:, varying], rowvar=False))
        for i in range(len(varying)):
            for j in range(i + 1, len(varying)):
                rows.append((f"{LATENT_PREFIX}{varying[i]}", f"{LATENT_PREFIX}{varying[j]}", float(corr[i, j])))
    frame = pd.DataFrame(rows, columns=["a", "b", "abs_correlation"])
    return frame.sort_values("abs_correlation", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class TrainingFacts:
    """What is known about how the latents were made; None where unknown."""

    architecture: str | None = None
    scaling: str | None = None


@dataclass
class DimensionIssue:
    """Something wrong with latent dimensions: an error (blocks) or a warning."""

    kind: str  # non_finite | dead | constant | mostly_zero | inactive | duplicate | scale
    dimensions: list[str]
    text: str


@dataclass
class LatentVerdict:
    windows: int
    stats: pd.DataFrame
    pairs: pd.DataFrame  # |corr| of dimension pairs, strongest first
    participation_ratio: float
    errors: list[DimensionIssue]  # ERROR: blocks
    warnings: list[DimensionIssue]  # WARN: reported
    facts: TrainingFacts = field(default_factory=TrainingFacts)

    @property
    def dead(self) -> list[str]:
        """Dimensions zero or constant for every window."""
        return [d for f in self.errors if f.kind in ("dead", "constant") for d in f.dimensions]

    @property
    def non_finite(self) -> bool:
        return any(f.kind == "non_finite" for f in self.errors)

    @property
    def passed(self) -> bool:
        return not self.errors

    @property
    def healthy(self) -> bool:
        return not self.warnings

    @property
    def max_abs_correlation(self) -> float:
        return float(self.pairs["abs_correlation"].iloc[0]) if len(self.pairs) else float("nan")

    def summary(self) -> dict:
        """Scalars for metadata and tables."""
        return {
            "windows": self.windows,
            "dead_dimensions": ", ".join(self.dead) or "none",
            "non_finite": self.non_finite,
            "warned_dimensions": ", ".join(sorted({d for f in self.warnings for d in f.dimensions},
                                                  key=lambda c: _dimension_number(c))) or "none",
            "active_units": int(self.stats["active"].sum()),
            "participation_ratio": round(self.participation_ratio, 3),
            "max_abs_correlation": round(self.max_abs_correlation, 4),
        }

    def explanation(self) -> str:
        if self.passed:
            return (f"all {len(self.stats)} latent dimensions vary across the {self.windows} windows "
                    f"(participation ratio {self.participation_ratio:.2f} of {len(self.stats)})")
        what = " ".join(f.text for f in self.errors)
        if self.non_finite:
            return (f"{what} NaN or infinite latents cannot be compared or plotted, and the model that made "
                    "them is broken. Cause: the training diverged (its loss became NaN or infinite) or a "
                    "reading too large for float32 reached the model. Remedy: give the sensors a range in the "
                    "contract (min/max) so such readings are refused at validation, check the readings of the "
                    "training span, and retrain, with a lower learning_rate if it recurs.")
        return (f"{what} A dimension that never changes carries no information: the latent space has only "
                f"{len(self.stats) - len(self.dead)} useful dimension(s) of {len(self.stats)}. "
                f"{_cause(self.facts, dead=True)}")

    def warning_text(self) -> str:
        if self.healthy:
            return (f"no half-dead, inactive, duplicate or blown-up latent dimensions "
                    f"({int(self.stats['active'].sum())} of {len(self.stats)} units active)")
        return " ".join(f.text for f in self.warnings) + " " + _cause(self.facts, dead=False)


def _cause(facts: TrainingFacts, dead: bool) -> str:
    """The likely cause and the remedy, as specific as the training facts allow."""
    unscaled = facts.scaling == "none"
    effect = ("the reconstruction loss is dominated by the sensors with the largest values, so the latent "
              "space describes them and little else" if facts.architecture == "default" else
              "this pushes the units far from zero, which kills relu units and inflates the latent scale")
    scaling_note = (" The inputs were not scaled (scaling 'none'): sensors are in their raw units (hundreds of "
                    f"volts, degrees, rpm), and {effect}." if unscaled else "")
    scaling_fix = " and set training_windows scaling to 'zscore'" if unscaled else ""
    if facts.architecture == "seed":
        return ("Cause: the `seed` architecture puts relu on the latent LSTM, whose output o*relu(c) is "
                "exactly 0 whenever the unit's cell state c is at or below 0; a unit that is 0 for most or all "
                "windows gets little or no gradient, so training does not revive it." + scaling_note +
                f" Remedy: set the autoencoder's architecture to 'default' (its latent layer is linear and "
                f"cannot be clamped at zero){scaling_fix}.")
    if facts.architecture == "default":
        if dead:
            return ("Cause: the `default` architecture's latent layer is linear, so no activation clamps it; "
                    "a constant dimension means the layer's weights for it are zero (a damaged or edited model) "
                    "or the encoder gives the same output for every window (flat inputs)." + scaling_note +
                    f" Remedy: retrain the autoencoder{scaling_fix}; if it recurs, check that the sensors "
                    "vary in the training span.")
        return ("With the linear latent layer of the `default` architecture this usually means more latent "
                "dimensions than the data needs: the variance concentrates in fewer directions." + scaling_note +
                f" Remedy: lower latent_dim, or train longer{scaling_fix}.")
    return ("Likely cause: a relu activation on the latent layer (its output is exactly 0 whenever the unit's "
            "input is negative), made worse by unscaled inputs. Remedy: use the default architecture (linear "
            "latent layer) and scaling 'zscore'.")


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _non_finite(z: np.ndarray, names: list[str], errors: np.ndarray | None) -> list[DimensionIssue]:
    """NaN or infinite latents, or reconstruction errors: every other statistic is meaningless then."""
    bad = ~np.isfinite(z)
    bad_errors = 0 if errors is None else int((~np.isfinite(np.asarray(errors, dtype=np.float64))).sum())
    if not bad.any() and not bad_errors:
        return []
    dims = [names[d] for d in np.flatnonzero(bad.any(axis=0))]
    parts = [f"{d} in {int(bad[:, k].sum())} of {len(z)} windows" for d, k in
             zip(dims, np.flatnonzero(bad.any(axis=0)), strict=True)]
    if bad_errors:
        parts.append(f"reconstruction_error in {bad_errors} of {len(z)} windows")
    return [DimensionIssue("non_finite", dims, f"Non-finite values (NaN or infinite): {', '.join(parts)}.")]


def judge_latents(z: np.ndarray, facts: TrainingFacts | None = None, tolerance: float = DEAD_TOLERANCE,
                  reconstruction_errors: np.ndarray | None = None) -> LatentVerdict:
    """Diagnose Z (and the windows' `reconstruction_errors`, if given) and sort what is wrong into errors
    (non-finite values, dead or constant dimensions) and warnings."""
    z = np.asarray(z)
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"expected a non-empty (windows, dims) latent matrix, got shape {z.shape}")
    n = len(z)
    stats = dimension_stats(z)
    broken = _non_finite(z, stats["dimension"].tolist(), reconstruction_errors)
    if broken:  # the other diagnostics would compare NaNs: this is the verdict
        return LatentVerdict(n, stats, correlations(np.nan_to_num(z)), 0.0, broken, [], facts or TrainingFacts())
    zero = np.abs(z) <= tolerance
    spread = z.max(axis=0).astype(np.float64) - z.min(axis=0)
    scale = np.maximum(1.0, np.abs(z).max(axis=0))
    names = stats["dimension"].tolist()
    dead = [names[d] for d in np.flatnonzero(zero.all(axis=0))]
    constant = [names[d] for d in np.flatnonzero(spread <= tolerance * scale) if names[d] not in dead]

    errors = []
    if dead:
        errors.append(DimensionIssue("dead", dead, f"Dead latent dimension(s) {', '.join(dead)}: zero "
                                            f"(|z| <= {tolerance:g}) in all {n} windows."))
    if constant:
        values = ", ".join(f"{d} = {stats.set_index('dimension').at[d, 'mean']:.4g}" for d in constant)
        errors.append(DimensionIssue("constant", constant, f"Constant latent dimension(s) {', '.join(constant)}: "
                                                    f"the same value in all {n} windows ({values})."))

    out = set(dead) | set(constant)
    s = stats.set_index("dimension")
    warnings = []
    half = [d for d in names if d not in out and s.at[d, "zero_fraction"] >= MOSTLY_ZERO]
    if half:
        shares = ", ".join(f"{d} in {_pct(s.at[d, 'zero_fraction'])}" for d in half)
        warnings.append(DimensionIssue("mostly_zero", half, f"Mostly-zero latent dimension(s): exactly 0 {shares} of "
                                                     f"the {n} windows, so they tell windows apart only by "
                                                     "whether they fire (half-dead relu units)."))
    inactive = [d for d in names if d not in out and not s.at[d, "active"]]
    if inactive:
        variances = ", ".join(f"{d} {s.at[d, 'variance']:.2g}" for d in inactive)
        warnings.append(DimensionIssue("inactive", inactive, f"Inactive latent unit(s): variance {variances}, at or "
                                                      f"below {ACTIVE_VARIANCE:g} (Burda et al. 2016), so they "
                                                      "barely move from window to window."))
    pairs = correlations(z)
    dup = pairs[pairs["abs_correlation"] >= DUPLICATE_CORRELATION]
    if len(dup):
        text = ", ".join(f"{a} and {b} (|corr| {c:.3f})" for a, b, c in dup.itertuples(index=False))
        dims = sorted(set(dup["a"]) | set(dup["b"]), key=lambda c: _dimension_number(c))
        warnings.append(DimensionIssue("duplicate", dims, f"Near-duplicate latent dimensions: {text} move together "
                                                   f"(|corr| >= {DUPLICATE_CORRELATION}), so one of each pair "
                                                   "adds nothing."))
    big = [d for d in names if s.at[d, "std"] > SCALE_LIMIT]
    if big:
        text = ", ".join(f"{d} std {s.at[d, 'std']:.3g}" for d in big)
        warnings.append(DimensionIssue("scale", big, f"Latent scale blow-up: {text} (above {SCALE_LIMIT:g}), so "
                                              "distances in the latent space are dominated by these dimensions."))
    return LatentVerdict(n, stats, pairs, participation_ratio(z), errors, warnings, facts or TrainingFacts())


def _dimension_number(name: str) -> int:
    return int(name[len(LATENT_PREFIX):])
