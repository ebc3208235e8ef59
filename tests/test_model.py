"""The architectures, trained for real on tiny windows, and the latent export."""

import numpy as np
import pandas as pd
import pytest

from pipeline.latents import encode_windows, latent_table, latents_of
from pipeline.model import TrainingConfig, build_autoencoder
from pipeline.novelty import EncoderStart
from pipeline.store import load_artifact, save_artifact
from pipeline.synthetic import SENSORS, generate
from pipeline.train import TrainingDiverged, WindowBatches, evenly_spaced, train_autoencoder
from pipeline.windows import gather_windows, make_training_windows


@pytest.fixture(scope="module")
def windows():
    frame = generate(days=0.5, period_s=60, seed=5)
    return make_training_windows(frame[list(SENSORS)].to_numpy(), frame["timestamp"].to_numpy(), list(SENSORS),
                                 window_length=10, validation_fraction=0.25)


def test_seed_architecture_is_the_classic_one_layer_for_layer():
    model = build_autoencoder(TrainingConfig(architecture="seed", latent_dim=3), 30, 9)
    layers = [(type(l).__name__, getattr(l, "units", None), getattr(getattr(l, "activation", None), "__name__",
                                                                    None)) for l in model.layers[1:]]
    assert layers == [("LSTM", 9, "relu"), ("Dropout", None, None), ("LSTM", 3, "relu"),
                      ("RepeatVector", None, None), ("LSTM", 3, "relu"), ("Dropout", None, None),
                      ("LSTM", 9, "relu"), ("TimeDistributed", None, None)]
    assert [l.rate for l in model.layers if type(l).__name__ == "Dropout"] == [0.3, 0.3]
    assert model.loss == "mae" and model.get_layer("latent").return_sequences is False


@pytest.mark.parametrize("encoder", ["novelty", "linear", "lstm"])
def test_default_architecture_has_a_linear_latent_layer(encoder):
    pca = EncoderStart(np.zeros(30 * 9), np.eye(30 * 9)[:, :3 if encoder == "novelty" else 4])
    model = build_autoencoder(TrainingConfig(encoder=encoder, latent_dim=4, units=16), 30, 9, pca=pca)
    latent = model.get_layer("latent")
    assert type(latent).__name__ == "Dense" and latent.activation.__name__ == "linear"
    assert latent.units == 4 and model.output_shape == (None, 30, 9)
    lstms = [l for l in model.layers if type(l).__name__ == "LSTM"]
    assert all(l.activation.__name__ == "tanh" for l in lstms) and len(lstms) == (2 if encoder == "lstm" else 1)


def test_bad_training_config_is_explained():
    with pytest.raises(ValueError, match="architecture must be one of"):
        TrainingConfig(architecture="relu")
    with pytest.raises(ValueError, match="latent_dim must be at least 1"):
        TrainingConfig(latent_dim=0)
    with pytest.raises(ValueError, match=r"windows_per_epoch must be 0 \(all\) or positive, got -1"):
        TrainingConfig(windows_per_epoch=-1)


def test_training_that_diverges_stops_with_a_clear_failure():
    # float32 readings of 1e30, unscaled: the squared error in their units overflows on the first batch
    values = np.random.default_rng(0).normal(1e30, 1e29, size=(400, 3))
    huge = make_training_windows(values, np.arange(400), ["a", "b", "c"], window_length=10, scaling="none")
    with pytest.raises(TrainingDiverged, match=r"loss became non-finite at epoch 1, batch 1 \(loss (inf|nan)\)"):
        train_autoencoder(huge, TrainingConfig(epochs=3, units=4, batch_size=64))


def test_training_is_seeded_and_stops_early(windows):
    config = TrainingConfig(epochs=3, units=8, batch_size=64, seed=3)
    h1 = train_autoencoder(windows, config).history
    h2 = train_autoencoder(windows, config).history
    np.testing.assert_allclose(h1["val_loss"], h2["val_loss"], rtol=1e-5)
    assert h1["epochs_run"] == 3 and h1["monitor"] == "val_loss"
    # A learning rate far below float32 resolution leaves the weights, and so the validation loss, unchanged:
    # no epoch improves on the first, so early stopping must end training after 1 + patience epochs.
    h3 = train_autoencoder(windows, TrainingConfig(epochs=50, units=8, batch_size=64, learning_rate=1e-30,
                                                   patience=2)).history
    assert h3["epochs_run"] == 3 and h3["best_epoch"] == 1


def test_default_architecture_standardises_with_the_training_span_statistics():
    mean, std = np.arange(9.0) * 100, np.arange(1.0, 10.0) * 10
    model = build_autoencoder(TrainingConfig(encoder="lstm", units=4), 5, 9, mean=mean, std=std)
    x = np.random.default_rng(0).normal(size=(2, 5, 9)) * std + mean
    inner = model.get_layer("standardise")(x.astype(np.float32))
    np.testing.assert_allclose(np.asarray(inner), (x - mean) / std, rtol=1e-4, atol=1e-4)
    back = model.get_layer("unstandardise")(inner)
    np.testing.assert_allclose(np.asarray(back), x, rtol=1e-4)


def test_latent_table_has_one_row_per_window(windows, tmp_path):
    trained = train_autoencoder(windows, TrainingConfig(epochs=1, units=8, latent_dim=2))
    model = trained.model
    assert trained.window_length == windows.index.window_length and trained.sensors == windows.sensors
    enc = encode_windows(model, windows, batch_size=100)  # several batches, a ragged last one
    z = enc.z
    # written row group by row group, with the model's threshold
    save_artifact(latent_table(windows, enc, calibration=trained.calibration), tmp_path / "latents")
    table = load_artifact(tmp_path / "latents")
    errors = [f"error_{s}" for s in windows.sensors]
    assert list(table.columns) == ["window_start", "window_end", "z_0", "z_1", "reconstruction_error",
                                   "anomaly_score", "is_anomaly", *errors]
    np.testing.assert_allclose(table["anomaly_score"], table["reconstruction_error"] / trained.calibration.threshold,
                               rtol=1e-6)
    assert (table["is_anomaly"] == (table["anomaly_score"] > 1)).all()
    assert len(table) == len(windows.index.starts) == 720 - 10 + 1
    assert (table["window_end"] - table["window_start"] == pd.Timedelta(minutes=9)).all()
    assert (table["reconstruction_error"] > 0).all() and np.isfinite(z).all()
    np.testing.assert_array_equal(table[["z_0", "z_1"]].to_numpy(), z)
    # batching gives the same answer as encoding everything at once
    z_all = encode_windows(model, windows, batch_size=10_000).z
    np.testing.assert_allclose(z, z_all, rtol=1e-4, atol=1e-5)
    # errors: mean |x - x_hat| over each window's rows, checked against a direct prediction of every window
    x = gather_windows(windows.values, windows.index.starts, windows.index.window_length)
    direct = np.abs(x - model.predict_on_batch(x)).mean(axis=1)  # (windows, sensors)
    np.testing.assert_allclose(table["reconstruction_error"], direct.mean(axis=1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(table[errors].to_numpy(), direct, rtol=1e-4, atol=1e-6)  # each sensor's part
    validation = windows.index.starts >= windows.index.split_row
    for only, rows in ((False, slice(None)), (True, validation)):
        by_sensor = enc.error_by_sensor(windows.sensors, validation_only=only)
        assert list(by_sensor) == list(windows.sensors)
        np.testing.assert_allclose(list(by_sensor.values()), direct[rows].mean(axis=0), rtol=1e-4)


def test_an_epoch_is_a_fresh_seeded_sample_of_the_training_windows():
    values = np.arange(1000 * 2, dtype=np.float32).reshape(1000, 2)
    starts = np.arange(0, 990, dtype=np.int64)

    def epochs(seed, n=3):
        data = WindowBatches(values, starts, 10, batch_size=64, shuffle=True, seed=seed, sample=200)
        seen = []
        for _ in range(n):
            firsts = np.concatenate([data[i][0][:, 0, 0] for i in range(len(data))]) / 2
            seen.append(firsts.astype(np.int64))
            data.on_epoch_end()
        return seen

    a, b = epochs(seed=1), epochs(seed=1)
    assert len(a[0]) == 200 and len(set(a[0])) == 200 and set(a[0]) <= set(starts)  # no window twice
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))  # seeded
    assert not np.array_equal(np.sort(a[0]), np.sort(a[1]))  # each epoch draws anew
    everything = WindowBatches(values, starts, 10, batch_size=64, shuffle=True, sample=0)
    assert everything.size == len(starts) and len(everything) == 16


def test_validation_windows_are_evenly_spaced_in_time():
    starts = np.arange(0, 10_000, 3)
    picked = evenly_spaced(starts, 100)
    assert len(picked) == 100 and picked[0] == starts[0] and picked[-1] == starts[-1]
    assert np.ptp(np.diff(picked)) <= 3 * 2  # gaps differ by at most a rounding step
    assert evenly_spaced(starts, 0) is starts and len(evenly_spaced(starts[:50], 100)) == 50


def test_the_linear_encoder_starts_as_the_training_windows_pca(windows):
    from pipeline.train import encoder_start
    from pipeline.usefulness import pca_codes
    from pipeline.windows import fit_scaler_chunks

    config = TrainingConfig(encoder="linear", latent_dim=3, units=8)
    stats = fit_scaler_chunks(lambda: iter([windows.values]), windows.index.split_row, "zscore")
    start = encoder_start(windows, stats, 3)
    model = build_autoencoder(config, 10, len(SENSORS), stats.mean, stats.std, start)
    assert [type(l).__name__ for l in model.layers[1:4]] == ["Normalization", "Flatten", "Dense"]
    x = gather_windows(windows.values, windows.index.train_starts, 10)
    z = encode_windows(model, windows, starts=windows.index.train_starts).z
    flat = ((x - np.asarray(stats.mean)) / np.asarray(stats.std)).reshape(len(x), -1)
    assert np.allclose(z, pca_codes(flat, 3), atol=1e-3)  # before any training: the PCA's own codes
    trained = train_autoencoder(windows, TrainingConfig(encoder="linear", epochs=2, units=8, batch_size=64))
    assert trained.config.encoder == "linear" and np.isfinite(trained.history["loss"]).all()
    with pytest.raises(ValueError, match="encoder must be one of"):
        TrainingConfig(encoder="cnn")
    unstarted = build_autoencoder(config, 10, len(SENSORS))  # a random start, as for timing a model
    assert [type(l).__name__ for l in unstarted.layers[1:4]] == ["Normalization", "Flatten", "Dense"]


def test_the_novelty_encoder_keeps_how_far_a_window_lies_outside_the_training_windows(windows, tmp_path):
    import keras

    from pipeline.novelty import WEIGHT, log_residual
    from pipeline.train import encoder_start
    from pipeline.usefulness import pca_codes
    from pipeline.windows import fit_scaler_chunks

    config = TrainingConfig(encoder="novelty", latent_dim=3, units=8)
    stats = fit_scaler_chunks(lambda: iter([windows.values]), windows.index.split_row, "zscore")
    start = encoder_start(windows, stats, 3, novelty=True)
    model = build_autoencoder(config, 10, len(SENSORS), stats.mean, stats.std, start)
    x = gather_windows(windows.values, windows.index.train_starts, 10)
    z = encode_windows(model, windows, starts=windows.index.train_starts).z
    flat = ((x - np.asarray(stats.mean)) / np.asarray(stats.std)).reshape(len(x), -1)
    # before any training: the PCA's first two codes, and the novelty scaled to their spread
    assert np.allclose(z[:, :2], pca_codes(flat, 2), atol=1e-3)
    novelty = (log_residual(flat, start.centre, start.basis) - start.residual_mean) / start.residual_std
    assert np.allclose(z[:, 2], novelty * start.spread, atol=1e-3)
    assert abs(z[:, 2].mean()) < 1e-3 and np.isclose(z[:, 2].std(), WEIGHT * z[:, :2].std(axis=0).mean(), rtol=1e-3)
    # a window unlike every training one (one sensor stuck far from its usual relation to the others) is far out
    # on the novelty coordinate, though the principal directions may put it among the others
    odd = x[:50].copy()
    odd[:, :, 3] += 4 * np.asarray(stats.std)[3]
    z_odd = latents_of(model, odd)
    assert (z_odd[:, 2] > z[:, 2].max()).all()
    trained = train_autoencoder(windows, TrainingConfig(epochs=2, units=8, batch_size=64))
    assert trained.config.encoder == "novelty" and np.isfinite(trained.history["loss"]).all()
    # training moved the code, but never mixed the window into the novelty nor the novelty into the others
    kernel = trained.model.get_layer("latent").get_weights()[0]
    assert not kernel[:-1, -1].any() and not kernel[-1, :-1].any() and kernel[-1, -1] > 0
    novelty = keras.Model(trained.model.inputs[0], trained.model.get_layer("novelty").output)
    both = np.c_[latents_of(trained.model, odd)[:, 2], np.asarray(novelty(odd))[:, 0]]
    assert np.corrcoef(both.T)[0, 1] == pytest.approx(1.0, abs=1e-5)
    assert trained.code_text.startswith("z_2 is the window's novelty")  # what the views say of it
    save_artifact(trained, tmp_path / "m")  # the novelty layer and its fixed directions saved with the model
    loaded = load_artifact(tmp_path / "m")
    assert np.allclose(latents_of(loaded.model, odd), latents_of(trained.model, odd), atol=1e-5)
    unstarted = build_autoencoder(config, 10, len(SENSORS))  # a random start, as for timing a model
    assert np.isfinite(latents_of(unstarted, odd)).all()
