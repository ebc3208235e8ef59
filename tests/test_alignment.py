"""Latents that survive retraining (pipeline.alignment): the map on constructed rotations, baked into a real
model without changing what it reconstructs, and between two real trainings."""

import numpy as np
import pytest
from scipy.stats import ortho_group

from pipeline.alignment import COMPARABLE, align_with_published, bake_alignment, fit_alignment
from pipeline.latents import encode_windows, latents_of
from pipeline.model import TrainingConfig, build_autoencoder
from pipeline.novelty import EncoderStart
from pipeline.store import load_artifact, save_artifact
from pipeline.synthetic import SENSORS, generate
from pipeline.train import train_autoencoder
from pipeline.windows import gather_windows, make_training_windows

CONFIG = TrainingConfig(epochs=4, units=8, batch_size=64, latent_dim=3)


@pytest.fixture(scope="module")
def windows():
    frame = generate(days=0.5, period_s=60, seed=5)
    return make_training_windows(frame[list(SENSORS)].to_numpy(), frame["timestamp"].to_numpy(), list(SENSORS),
                                 window_length=10, validation_fraction=0.25)


@pytest.fixture(scope="module")
def first(windows):
    return train_autoencoder(windows, CONFIG)


def test_a_rotated_scaled_shifted_copy_is_mapped_back_exactly():
    rng = np.random.default_rng(0)
    old = rng.normal(size=(500, 3)) * [3.0, 1.0, 0.2]
    rotation = ortho_group.rvs(3, random_state=1)
    new = (old @ rotation.T) * 0.37 + [5.0, -2.0, 1.0]  # another frame of the same points
    fit = fit_alignment(new, old, "v1")
    assert np.allclose(fit.apply(new), old, atol=1e-9)
    assert fit.agreement == pytest.approx(1.0) and fit.cka == pytest.approx(1.0) and fit.comparable
    assert fit.unaligned_agreement < 0.5  # the frames differ before the map
    assert fit.scale == pytest.approx(1 / 0.37)
    assert np.allclose(np.asarray(fit.rotation) @ np.asarray(fit.rotation).T, np.eye(3))
    assert "comparable with the published version" in fit.text()


def test_the_novelty_dimension_is_only_scaled_and_shifted_never_turned_into_the_others():
    rng = np.random.default_rng(5)
    old = rng.normal(size=(500, 3)) * [3.0, 1.0, 1.5]
    turned = np.eye(3)
    turned[:2, :2] = ortho_group.rvs(2, random_state=3)  # the linear code turned, the novelty kept
    new = (old @ turned.T) * 0.5 + [1.0, 2.0, -1.0]
    fit = fit_alignment(new, old, "v1", keep_last=True)
    assert np.allclose(fit.apply(new), old, atol=1e-9) and fit.scale == pytest.approx(2.0)
    assert np.allclose(np.asarray(fit.rotation)[-1], [0, 0, 1]) and np.allclose(np.asarray(fit.rotation)[:, -1],
                                                                                    [0, 0, 1])
    # a map that would carry the novelty into another dimension is not made: the fit says it does not agree
    swapped = old[:, [0, 2, 1]]
    assert fit_alignment(swapped, old, "v1").agreement == pytest.approx(1.0)
    assert fit_alignment(swapped, old, "v1", keep_last=True).agreement < COMPARABLE


def test_a_reflection_is_undone_and_noise_costs_agreement_in_proportion():
    rng = np.random.default_rng(2)
    old = rng.normal(size=(800, 3))
    mirrored = old * [1.0, -1.0, 1.0]
    assert fit_alignment(mirrored, old, "v1").agreement == pytest.approx(1.0)
    noisy = old + rng.normal(scale=0.2, size=old.shape)  # 4% of the spread is noise
    assert 0.93 < fit_alignment(noisy, old, "v1").agreement < 0.98


def test_a_different_structure_is_said_not_to_be_comparable():
    rng = np.random.default_rng(3)
    old, other = rng.normal(size=(600, 3)), rng.normal(size=(600, 3))  # unrelated spaces
    fit = fit_alignment(other, old, "20261101T020000Z-abcd1234")
    assert fit.agreement < COMPARABLE and not fit.comparable
    assert "not comparable with the published version" in fit.text()
    assert "different structure" in fit.text() and "20261101T020000Z-abcd1234" in fit.text()
    with pytest.raises(ValueError, match="the same windows and dimensions"):
        fit_alignment(old[:10], old[:11], "v1")


@pytest.mark.parametrize("encoder", ["novelty", "linear", "lstm"])
def test_a_baked_map_moves_the_latents_and_leaves_the_reconstructions_unchanged(windows, encoder):
    pca = EncoderStart(np.zeros(10 * len(SENSORS)), np.eye(10 * len(SENSORS))[:, :2 if encoder == "novelty" else 3])
    model = build_autoencoder(TrainingConfig(encoder=encoder, latent_dim=3, units=8), 10, len(SENSORS), pca=pca)
    x = gather_windows(windows.values, windows.index.starts[:300], 10)
    z, x_hat = latents_of(model, x), model.predict(x, verbose=0)
    rotation = ortho_group.rvs(3, random_state=4)
    fit = fit_alignment(z, (z @ rotation) * 2.5 + 1.0, "v1")
    bake_alignment(model, fit)
    assert np.allclose(latents_of(model, x), fit.apply(z), atol=1e-4)
    assert np.allclose(model.predict(x, verbose=0), x_hat, atol=1e-4)


def test_the_seed_architecture_is_not_baked(windows):
    model = build_autoencoder(TrainingConfig(architecture="seed", latent_dim=3), 10, len(SENSORS))
    fit = fit_alignment(np.eye(3), np.eye(3), "v1")
    with pytest.raises(ValueError, match="only a Dense latent layer"):
        bake_alignment(model, fit)


def test_a_retrain_is_expressed_in_the_published_models_frame(windows, first, tmp_path):
    second = train_autoencoder(windows, TrainingConfig(**{**CONFIG.to_dict(), "seed": 1}), published=("v1", first))
    fit = second.alignment
    assert fit is not None and fit.reference_version == "v1" and fit.windows == len(windows.index.starts)
    z_first, z_second = (encode_windows(m.model, windows).z for m in (first, second))
    # the baked map is the fitted one, and it brings the second model's latents closer to the first's
    residual = np.square(z_second - z_first).sum() / np.square(z_first - z_first.mean(0)).sum()
    assert 1 - residual == pytest.approx(fit.agreement, abs=1e-3)
    assert fit.agreement > fit.unaligned_agreement
    # the drift reference is calibrated in the aligned frame
    deciles = np.quantile(z_second, np.linspace(0.1, 0.9, 9), axis=0).T
    assert np.allclose(deciles, second.calibration.latent_edges, atol=0.05 * z_second.std())
    save_artifact(second, tmp_path / "m")
    loaded = load_artifact(tmp_path / "m")
    assert loaded.alignment == fit and loaded.alignment_text == fit.text()
    assert np.allclose(encode_windows(loaded.model, windows).z, z_second, atol=1e-5)


def test_models_that_cannot_be_aligned_say_why(windows, first):
    alone = train_autoencoder(windows, CONFIG)
    assert alone.alignment is None and "no published version" in alone.alignment_text
    shorter_data = make_training_windows(np.asarray(windows.values)[:, :5], windows.timestamps,
                                         list(SENSORS)[:5], window_length=10, validation_fraction=0.25)
    fewer = train_autoencoder(shorter_data, CONFIG)
    alignment, note = align_with_published(fewer, shorter_data, first, "v1")
    assert alignment is None and "trained on sensors" in note and "v1" in note
    linear = train_autoencoder(windows, TrainingConfig(**{**CONFIG.to_dict(), "encoder": "linear"}))
    alignment, note = align_with_published(linear, windows, first, "v1")
    assert alignment is None and "only one of them has a novelty dimension" in note


def test_a_model_saved_before_encoders_alignment_and_detectors_loads_as_what_it_was(windows, tmp_path):
    import json

    old = train_autoencoder(windows, TrainingConfig(**{**CONFIG.to_dict(), "encoder": "lstm",
                                                        "detector": "autoencoder"}))
    save_artifact(old, tmp_path / "m")
    params_file = next((tmp_path / "m").rglob("params.json"))
    params = json.loads(params_file.read_text())
    del params["config"]["encoder"], params["alignment"], params["alignment_note"]
    del params["config"]["detector"], params["calibration"]["detector"]
    params["config"]["threshold_margin"] = 1.5  # a margin was always set then
    params_file.write_text(json.dumps(params))
    loaded = load_artifact(tmp_path / "m")
    assert loaded.config.encoder == "lstm" and loaded.alignment is None
    assert "saved before latents were aligned" in loaded.alignment_text
    # its threshold is on the reconstruction errors, as it was calibrated: not the level detector's
    assert loaded.config.detector == loaded.scorer.detector == loaded.calibration.detector == "autoencoder"
    assert loaded.calibration == old.calibration
