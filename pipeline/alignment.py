"""Coordinates that survive retraining: a new model's latents expressed in the published model's frame.

A latent space is only defined up to a rotation, reflection, shift and scale: two trainings that find the same
structure put it in different frames, so Monday's plot and Tuesday's would not be comparable. When a new model
is trained while another is published, both encode the same reference windows (the new span's, evenly spaced
in time) and an orthogonal Procrustes map with one scale and a shift is fitted from the new latents to the
published ones (the novelty dimension, which means the same in both, kept as it is: only scaled and
shifted). The map is a similarity (distances scale uniformly), so neighbourhoods and every quality figure of
the new space are unchanged.

The map is baked into the new model (`bake_alignment`): its latent layer outputs the aligned coordinates and
the decoder's first layer undoes the map, so reconstructions are unchanged and every later use of the model
(calibration, the audit, the scoring of each day) sees the aligned frame. The fit is kept with the model
(params.json): which version it was aligned to, on how many windows, and how well it fits:

- `agreement`: the share of the published latents' spread that the mapped new latents reproduce, 1 -
  ||map(z_new) - z_old||^2 / ||z_old - mean||^2 (1: the same space; `unaligned_agreement` is the same figure
  before the map, and can be negative);
- `cka`: linear CKA of the two, which no rotation or scale changes: how alike the two structures are at all.

Below COMPARABLE agreement the retrain found a different structure: no similarity maps one space onto the other,
and the new version's day latents are not comparable with the previous version's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pipeline.usefulness import linear_cka

COMPARABLE = 0.9  # agreement from which two versions' latents are comparable point by point
REFERENCE_WINDOWS = 2000  # windows both models encode to fit the map


@dataclass(frozen=True)
class Alignment:
    """z_aligned = (z - source_mean) @ rotation * scale + target_mean, fitted on `windows` reference windows."""

    reference_version: str  # the published version whose frame the latents are expressed in
    windows: int
    rotation: list[list[float]]  # (k, k) orthogonal
    scale: float
    source_mean: list[float]
    target_mean: list[float]
    agreement: float
    unaligned_agreement: float
    cka: float

    @property
    def comparable(self) -> bool:
        return self.agreement >= COMPARABLE

    def apply(self, z: np.ndarray) -> np.ndarray:
        centred = np.asarray(z, dtype=np.float64) - np.asarray(self.source_mean)
        return centred @ np.asarray(self.rotation) * self.scale + np.asarray(self.target_mean)

    def figures(self) -> dict[str, float | int | str]:
        return {"aligned_to": self.reference_version, "alignment_windows": self.windows,
                "alignment_agreement": round(self.agreement, 4),
                "unaligned_agreement": round(self.unaligned_agreement, 4),
                "latent_cka_with_published": round(self.cka, 4)}

    def text(self) -> str:
        said = (f"on {self.windows} windows of the training span, the latents mapped into version "
                f"{self.reference_version}'s frame reproduce {self.agreement:.1%} of its latents' spread "
                f"({self.unaligned_agreement:.1%} before the map; linear CKA {self.cka:.3f})")
        if self.comparable:
            return f"comparable with the published version: {said}"
        return (f"not comparable with the published version: {said}. The retrain found a different structure: "
                f"no rotation and scale maps one space onto the other (agreement below {COMPARABLE:.0%}), so this "
                f"version's day latents cannot be compared point by point with version {self.reference_version}'s")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Alignment:
        return cls(**d)


def agreement(mapped: np.ndarray, target: np.ndarray) -> float:
    """1 - the squared distance between two sets of points over the target's spread about its mean."""
    target = np.asarray(target, dtype=np.float64)
    spread = np.square(target - target.mean(axis=0)).sum()
    return float(1.0 - np.square(np.asarray(mapped) - target).sum() / spread) if spread > 0 else 0.0


def fit_alignment(z_new: np.ndarray, z_old: np.ndarray, reference_version: str,
                  keep_last: bool = False) -> Alignment:
    """The similarity map from `z_new` to `z_old`, latents of the same windows (rows) by two models with the
    same number of dimensions (orthogonal Procrustes with scale). `keep_last`: the last dimension means the same
    in both (the novelty), so it is only scaled and shifted, never turned into the others."""
    a, b = np.asarray(z_new, dtype=np.float64), np.asarray(z_old, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"latents of {a.shape} and {b.shape}: the same windows and dimensions are needed")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    a0, b0 = a - mean_a, b - mean_b
    turned = a.shape[1] - 1 if keep_last else a.shape[1]
    u, _, vt = np.linalg.svd(a0[:, :turned].T @ b0[:, :turned])
    rotation = np.eye(a.shape[1])
    rotation[:turned, :turned] = u @ vt  # argmin over orthogonal R of ||a0 R - b0||
    norm = np.square(a0).sum()
    scale = float(np.sum((a0 @ rotation) * b0) / norm) if norm > 0 else 1.0
    mapped = a0 @ rotation * scale + mean_b
    return Alignment(reference_version, len(a), rotation.tolist(), scale, mean_a.tolist(), mean_b.tolist(),
                     agreement(mapped, b), agreement(a, b), linear_cka(a, b))


def bake_alignment(model, alignment: Alignment) -> None:
    """Make `model` (the default architecture: a Dense latent layer, then RepeatVector and an LSTM) output the
    aligned latents, its decoder undoing the map so that its reconstructions are unchanged."""
    from pipeline.model import LATENT_LAYER

    names = [layer.name for layer in model.layers]
    latent = model.get_layer(LATENT_LAYER)
    after = model.layers[names.index(LATENT_LAYER) + 1:]
    decoder = next((layer for layer in after if type(layer).__name__ == "LSTM"), None)
    if type(latent).__name__ != "Dense" or decoder is None:
        raise ValueError(f"model {model.name}: only a Dense latent layer followed by an LSTM decoder can be aligned")
    r, s = np.asarray(alignment.rotation), alignment.scale
    mu_a, mu_b = np.asarray(alignment.source_mean), np.asarray(alignment.target_mean)
    w, b = (np.asarray(v, dtype=np.float64) for v in latent.get_weights())
    latent.set_weights([w @ r * s, (b - mu_a) @ r * s + mu_b])
    # the decoder saw z = (z' - mu_b) @ r.T / s + mu_a: its input kernel and bias take that in
    kernel, recurrent, bias = (np.asarray(v, dtype=np.float64) for v in decoder.get_weights())
    decoder.set_weights([r.T @ kernel / s, recurrent, bias + (mu_a - mu_b @ r.T / s) @ kernel])


def align_with_published(trained, windows, published, version: str) -> tuple[Alignment | None, str]:
    """Fit the map from `trained`'s latents to the `published` model's (both TrainedAutoencoder) on reference
    windows of `windows` (the new model's span) and bake it into `trained.model`. Returns the alignment, or
    None and why the two cannot be aligned."""
    from pipeline.latents import latents_by, latents_of
    from pipeline.usefulness import evenly_spaced_positions
    from pipeline.windows import gather_windows

    differs = _why_not_alignable(trained, published)
    if differs:
        return None, f"not aligned with the published version {version}: {differs}"
    index = windows.index
    starts = index.nth(evenly_spaced_positions(index.count("all"), REFERENCE_WINDOWS), "all")
    if len(starts) < 2:
        return None, f"not aligned with the published version {version}: fewer than 2 windows to fit the map on"
    x = gather_windows(windows.values, starts, index.window_length)
    # the published model reads readings scaled with its own training span's scaler
    alignment = fit_alignment(latents_of(trained.model, x), latents_by(published, x, trained.scaler), version,
                              keep_last=trained.config.encoder == "novelty")
    bake_alignment(trained.model, alignment)
    return alignment, alignment.text()


def _why_not_alignable(trained, published) -> str:
    if trained.config.architecture != "default":
        return "only a model of the default architecture is aligned (the seed one's latent layer is an LSTM)"
    if tuple(trained.sensors) != tuple(published.sensors):
        return f"it was trained on sensors {list(published.sensors)}, this model on {list(trained.sensors)}"
    if trained.window_length != published.window_length:
        return f"it reads windows of {published.window_length} rows, this model {trained.window_length}"
    if trained.config.latent_dim != published.config.latent_dim:
        return f"it has {published.config.latent_dim} latent dimensions, this model {trained.config.latent_dim}"
    novelty = [m.config.encoder == "novelty" for m in (published, trained)]
    if novelty[0] != novelty[1]:
        return (f"it has the {published.config.encoder} encoder, this model the {trained.config.encoder} one: only "
                "one of them has a novelty dimension, so their dimensions mean different things")
    return ""
