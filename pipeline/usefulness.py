"""Whether the latent space means something, measured against the linear baseline of the same windows.

A latent space worth looking at keeps neighbours: windows that are alike stay close in it (trustworthiness:
no false neighbours in the latent space) and close windows are not torn apart (continuity: no lost
neighbours). Both are measured on a sample of windows, for the model's latents and for a PCA of the same
windows (flattened) with the same number of dimensions, computed in the same call, so the comparison is of the
same data. 1.0 is perfect; a random projection scores about 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.windows import TrainingWindows, gather_windows

NEIGHBOURS = 10  # the neighbourhood size judged
SAMPLE = 2000  # windows measured (pairwise distances: SAMPLE^2 floats)
MARGIN = 0.02  # worse than PCA by more than this is worth a warning (sampling noise at 2000 windows ~0.005)


@dataclass(frozen=True)
class Usefulness:
    """Neighbourhood preservation of the latents and of PCA on the same windows."""

    windows: int
    dimensions: int
    neighbours: int
    trustworthiness: float
    continuity: float
    pca_trustworthiness: float
    pca_continuity: float

    @property
    def worse_than_pca(self) -> bool:
        return (self.trustworthiness < self.pca_trustworthiness - MARGIN
                or self.continuity < self.pca_continuity - MARGIN)

    def figures(self) -> dict[str, float | int]:
        return {"trustworthiness": round(self.trustworthiness, 4), "continuity": round(self.continuity, 4),
                "pca_trustworthiness": round(self.pca_trustworthiness, 4),
                "pca_continuity": round(self.pca_continuity, 4), "usefulness_windows": self.windows,
                "usefulness_neighbours": self.neighbours}

    def text(self) -> str:
        said = (f"on {self.windows} windows, {self.neighbours} neighbours each: latent space trustworthiness "
                f"{self.trustworthiness:.3f} and continuity {self.continuity:.3f}, a {self.dimensions}-component "
                f"PCA of the same windows {self.pca_trustworthiness:.3f} and {self.pca_continuity:.3f}")
        if not self.worse_than_pca:
            return said
        return (f"the latent space keeps neighbouring windows together worse than a plain PCA of the same "
                f"windows ({said}): windows that look alike are farther apart in it than in a linear "
                "projection, so clusters and paths in the latent plots are less reliable than the PCA's")


def pca_basis(flat: np.ndarray, dimensions: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the rows of `flat` and its first `dimensions` principal directions (columns; SVD): rows are
    projected with `(rows - mean) @ basis`."""
    mean = flat.mean(axis=0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    return mean, vt[:dimensions].T


def pca_codes(flat: np.ndarray, dimensions: int) -> np.ndarray:
    """The rows of `flat` on their own first `dimensions` principal components."""
    mean, basis = pca_basis(flat, dimensions)
    return (flat - mean) @ basis


def evenly_spaced_positions(n: int, limit: int) -> np.ndarray:
    """At most `limit` of the positions 0..n-1, spread evenly (all of them when n <= limit)."""
    return np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(np.int64)) if n else np.zeros(0, np.int64)


def audit_usefulness(windows: TrainingWindows, starts: np.ndarray, z: np.ndarray) -> Usefulness:
    """`measure_usefulness` of the windows at `starts` (their latents `z`, in the same order): only the sampled
    windows are gathered from the (memory-mapped) readings."""
    keep = evenly_spaced_positions(len(starts), SAMPLE)
    return measure_usefulness(gather_windows(windows.values, starts[keep], windows.index.window_length), z[keep])


def measure_usefulness(windows: np.ndarray, z: np.ndarray, neighbours: int = NEIGHBOURS,
                       sample: int = SAMPLE) -> Usefulness:
    """`windows` (n, window_length, sensors) as the model saw them, `z` (n, k) their latents. At most `sample`
    windows, evenly spaced in the given order (time), are measured."""
    from sklearn.manifold import trustworthiness

    n = len(z)
    if n != len(windows):
        raise ValueError(f"{len(windows)} windows but {n} latent vectors")
    if n <= 2 * neighbours + 1:
        raise ValueError(f"{n} windows: too few to judge neighbourhoods of {neighbours}")
    keep = evenly_spaced_positions(n, sample)
    flat = np.asarray(windows[keep], dtype=np.float64).reshape(len(keep), -1)
    codes = np.asarray(z[keep], dtype=np.float64)
    pca = pca_codes(flat, codes.shape[1])
    # continuity is trustworthiness with the two spaces' roles swapped
    return Usefulness(len(keep), codes.shape[1], neighbours,
                      float(trustworthiness(flat, codes, n_neighbors=neighbours)),
                      float(trustworthiness(codes, flat, n_neighbors=neighbours)),
                      float(trustworthiness(flat, pca, n_neighbors=neighbours)),
                      float(trustworthiness(pca, flat, n_neighbors=neighbours)))


def linear_cka(a: np.ndarray, b: np.ndarray) -> float:
    """Linear centred kernel alignment of two representations of the same rows (1: the same up to rotation
    and scale; independent of the number of columns)."""
    a = np.asarray(a, dtype=np.float64) - np.mean(a, axis=0)
    b = np.asarray(b, dtype=np.float64) - np.mean(b, axis=0)
    cross = np.linalg.norm(a.T @ b) ** 2
    norm = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    return float(cross / norm) if norm > 0 else 0.0
