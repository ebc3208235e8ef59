"""Operating regimes: clusters of the latent space, fitted once per model version on its audit latents and
applied to every scored day.

A regime is one component of a Gaussian mixture (scikit-learn, full covariances) over the latents; the number of
regimes is the one with the lowest BIC among 1..MAX_REGIMES (a stated criterion: BIC rewards fit and charges
each component's parameters, so it does not simply grow with the count). Each window gets the regime of highest
posterior and its Mahalanobis distance to that regime's centre; a window farther from every regime than
OFF_QUANTILE of the audit windows were is `off_regime` (the space it sits in was not seen in training).

Regimes keep their identity across retrains, by the windows they hold rather than by where they sit: the new
regimes are fitted afresh, the same windows are assigned to the published version's regimes through the
published model's own latents of them, and each new regime takes the id of the published regime that holds most
of its windows (at least MATCH_SHARE of them; each id once, by Hungarian assignment on the shared windows). A
regime without such a partner gets a new id: the retrain found a state the published version did not separate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.usefulness import evenly_spaced_positions

MAX_REGIMES = 8
FIT_WINDOWS = 5000  # audit windows the mixture is fitted on, evenly spaced (fitting cost grows with windows)
OFF_QUANTILE = 0.995  # audit windows nearer their regime than this quantile are in it; farther ones are off regime
MATCH_SHARE = 0.5  # a fresh regime keeps a published id when that regime holds at least this share of its windows
MIN_WINDOWS_PER_REGIME = 20  # a count that leaves fewer windows than this per component is not tried
REGIME = "regime"
REGIME_DISTANCE = "regime_distance"
OFF_REGIME = "off_regime"


@dataclass
class Assignment:
    """Each window's regime id, its Mahalanobis distance to that regime's centre, and whether it is off
    every regime."""

    regime: np.ndarray  # (windows,) int
    distance: np.ndarray  # (windows,) float
    off: np.ndarray  # (windows,) bool

    def shares(self, ids) -> dict[int, float]:
        """The fraction of windows in each regime (ids with no window included, at 0)."""
        n = max(len(self.regime), 1)
        return {int(i): float((self.regime == i).sum()) / n for i in ids}


@dataclass
class LatentRegimes:
    """A fitted mixture with stable regime ids. `bic` maps each count tried to its BIC; `matched_to` names the
    version whose ids were kept, `matches` maps each kept id
    to the share of the regime's windows that that version's regime of the same id holds."""

    ids: np.ndarray  # (k,) int: the regime id of each component
    weights: np.ndarray  # (k,)
    means: np.ndarray  # (k, d)
    covariances: np.ndarray  # (k, d, d)
    off_distance: float  # Mahalanobis distance beyond which a window is off every regime
    bic: dict[int, float] = field(default_factory=dict)
    matched_to: str | None = None
    matches: dict[int, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.ids)

    def _mixture(self):
        from sklearn.mixture import GaussianMixture

        gm = GaussianMixture(len(self.ids), covariance_type="full")
        gm.weights_, gm.means_, gm.covariances_ = self.weights, self.means, self.covariances
        gm.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(self.covariances))
        return gm

    def distances(self, z: np.ndarray) -> np.ndarray:
        """(windows, k) Mahalanobis distance of each window to each regime's centre."""
        z = np.asarray(z, dtype=np.float64)
        out = np.empty((len(z), self.count))
        for j, (mean, cov) in enumerate(zip(self.means, self.covariances, strict=True)):
            d = z - mean
            out[:, j] = np.sqrt(np.einsum("ij,ij->i", d @ np.linalg.inv(cov), d))
        return out

    def assign(self, z: np.ndarray) -> Assignment:
        if not len(z):
            return Assignment(np.empty(0, np.int64), np.empty(0), np.empty(0, bool))
        component = self._mixture().predict(np.asarray(z, dtype=np.float64))
        distance = self.distances(z)[np.arange(len(z)), component]
        return Assignment(self.ids[component], distance, distance > self.off_distance)

    def text(self) -> str:
        if self.matched_to is None:
            return f"{self.count} regime(s), the count of lowest BIC among 1..{max(self.bic) if self.bic else '?'}"
        new = sorted(set(map(int, self.ids)) - set(self.matches))
        return (f"{self.count} regime(s), {len(self.matches)} with the ids of version {self.matched_to}"
                + (f", new: {', '.join(map(str, new))}" if new else ""))

    def to_dict(self) -> dict:
        return {"ids": self.ids.tolist(), "weights": self.weights.tolist(), "means": self.means.tolist(),
                "covariances": self.covariances.tolist(), "off_distance": self.off_distance,
                "bic": {str(k): v for k, v in self.bic.items()}, "matched_to": self.matched_to,
                "matches": {str(k): v for k, v in self.matches.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> LatentRegimes:
        return cls(np.asarray(d["ids"], np.int64), np.asarray(d["weights"]), np.asarray(d["means"]),
                   np.asarray(d["covariances"]), float(d["off_distance"]),
                   {int(k): float(v) for k, v in d.get("bic", {}).items()}, d.get("matched_to"),
                   {int(k): float(v) for k, v in d.get("matches", {}).items()})


def fit_regimes(z: np.ndarray, max_regimes: int = MAX_REGIMES, seed: int = 0,
                fit_windows: int = FIT_WINDOWS) -> LatentRegimes:
    """A Gaussian mixture over latents `z` (windows, dims), its count chosen by BIC, on at most `fit_windows`
    evenly spaced windows. Refuses fewer windows than one regime needs."""
    from sklearn.mixture import GaussianMixture

    z = np.asarray(z, dtype=np.float64)
    if len(z) < MIN_WINDOWS_PER_REGIME:
        raise ValueError(f"{len(z)} windows: too few to find regimes (at least {MIN_WINDOWS_PER_REGIME})")
    if not np.isfinite(z).all():
        raise ValueError("latents are not all finite")
    sample = z[evenly_spaced_positions(len(z), fit_windows)]
    counts = range(1, max(1, min(max_regimes, len(sample) // MIN_WINDOWS_PER_REGIME)) + 1)
    best, bic = None, {}
    for k in counts:
        gm = GaussianMixture(k, covariance_type="full", reg_covar=1e-6, random_state=seed).fit(sample)
        bic[k] = round(float(gm.bic(sample)), 1)
        if best is None or bic[k] < bic[best.n_components]:
            best = gm
    regimes = LatentRegimes(np.arange(best.n_components), best.weights_, best.means_, best.covariances_, 0.0, bic)
    regimes.off_distance = float(np.quantile(regimes.assign(sample).distance, OFF_QUANTILE))
    return regimes


def keep_ids(regimes: LatentRegimes, z: np.ndarray, previous: LatentRegimes, previous_assignment: Assignment,
             version: str) -> LatentRegimes:
    """`regimes` with the ids of the `previous` version's where one of its regimes holds at least MATCH_SHARE of
    a new regime's windows. `z` are windows' new latents, `previous_assignment` the previous version's regimes of
    the same windows (from its own model's latents of them); windows off every previous regime say nothing of
    identity and are left out. Ids go to the pairs that share the most windows (Hungarian assignment)."""
    from scipy.optimize import linear_sum_assignment

    new = np.searchsorted(regimes.ids, regimes.assign(z).regime)  # component index (ids are 0..k-1 when fitted)
    old = {int(i): c for c, i in enumerate(previous.ids)}
    known = ~previous_assignment.off
    shared = np.zeros((regimes.count, previous.count))
    np.add.at(shared, (new[known], [old[int(r)] for r in previous_assignment.regime[known]]), 1)
    share = shared / np.maximum(shared.sum(axis=1, keepdims=True), 1)
    ids, matches = np.full(regimes.count, -1), {}
    for r, c in zip(*linear_sum_assignment(-shared), strict=True):
        if share[r, c] >= MATCH_SHARE:
            ids[r] = previous.ids[c]
            matches[int(ids[r])] = round(float(share[r, c]), 3)
    fresh = iter(range(int(previous.ids.max()) + 1, int(previous.ids.max()) + 1 + regimes.count))
    ids = np.array([i if i >= 0 else next(fresh) for i in ids])
    return LatentRegimes(ids, regimes.weights, regimes.means, regimes.covariances, regimes.off_distance,
                         regimes.bic, version, matches)
