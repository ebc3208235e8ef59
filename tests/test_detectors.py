"""The `detector` setting: each detector's figures on constructed windows, the latent table and events it
gives, and a real model trained with the pca detector, saved and loaded with its fitted state."""

import numpy as np
import pandas as pd
import pytest

from pipeline.detectors import WindowScorer, fit_scorer
from pipeline.events import latent_events
from pipeline.latents import DETECTOR, LatentTable, encode_windows, latent_table
from pipeline.model import TrainingConfig
from pipeline.storage import ArtifactDamaged
from pipeline.store import load_artifact, save_artifact
from pipeline.synthetic import SENSORS, generate
from pipeline.threshold import ThresholdRule, calibrate
from pipeline.windows import make_training_windows, scoring_windows
from tests.helpers import SAMPLE_DAYS, TINY_RUN_CONFIG, day_latents, materialize

RNG = np.random.default_rng(0)


def test_zscore_figure_is_each_sensors_mean_absolute_z_and_the_window_takes_the_largest():
    x = np.zeros((2, 4, 3), np.float32)
    x[0, :, 0] = [1, -1, 1, -1]  # mean |z| 1, mean z 0: swinging about the mean is as far as sitting off it
    x[1, :, 2] = 3.0
    scorer = WindowScorer("zscore")
    per_sensor = scorer.sensor_figures(x)
    np.testing.assert_allclose(per_sensor, [[1, 0, 0], [0, 0, 3]])
    np.testing.assert_allclose(scorer.window_figures(per_sensor), [1, 3])


def test_autoencoder_figures_are_the_reconstruction_errors_and_need_the_reconstruction():
    x, x_hat = RNG.normal(size=(5, 6, 3)), RNG.normal(size=(5, 6, 3))
    scorer = WindowScorer()
    per_sensor = scorer.sensor_figures(x, x_hat)
    np.testing.assert_allclose(per_sensor, np.abs(x - x_hat).mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(scorer.window_figures(per_sensor), per_sensor.mean(axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="reconstruction"):
        scorer.sensor_figures(x)


def test_pca_reconstructs_windows_of_its_subspace_and_names_the_sensor_that_leaves_it():
    # windows made of two patterns: a 2-component PCA holds them exactly
    patterns = RNG.normal(size=(2, 8 * 3))
    train = (RNG.normal(size=(400, 2)) @ patterns).reshape(400, 8, 3)
    scorer = fit_scorer("pca", train, components=2)
    assert scorer.pca_basis.shape == (24, 2)
    assert scorer.window_figures(scorer.sensor_figures(train)).max() < 1e-6
    odd = train[:1].copy()
    odd[0, :, 1] += 2.0  # sensor 1 off the patterns
    per_sensor = scorer.sensor_figures(odd)
    assert per_sensor.argmax() == 1 and scorer.window_figures(per_sensor)[0] > 0.1
    assert set(scorer.arrays()) == {"pca_mean", "pca_basis"}
    assert fit_scorer("pca", train[:3], components=10).pca_basis.shape[1] == 3  # no more components than windows


def _span(rows: int, drift_per_row: float, rng) -> np.ndarray:
    """Two sensors over `rows` rows: a creeping one (a slow trend plus a little noise, like a temperature)
    and a noisy one that does not drift; both scaled to unit spread, as the windows' z-scoring does."""
    t = np.arange(rows)
    creeping = drift_per_row * t + 0.05 * rng.normal(size=rows)
    noisy = rng.normal(size=rows)
    x = np.column_stack([creeping, noisy])
    return (x - x.mean(axis=0)) / x.std(axis=0)


def _windows(series: np.ndarray, length: int = 30) -> np.ndarray:
    return np.stack([series[i : i + length] for i in range(len(series) - length + 1)])


def test_level_detector_lets_a_slow_drift_pass_and_still_flags_a_real_fault():
    rng = np.random.default_rng(1)
    span = _span(400, 0.01, rng)
    scorer = fit_scorer("level", _windows(span[:320]), train_rows=320)
    # the creeping sensor's levels persist for hundreds of rows: few independent levels, a wide interval
    assert scorer.level_tolerance[0] > 10 * scorer.level_tolerance[1]
    later = np.tile(span[-30:], (1, 1))  # a window long after, the creep gone on: 4 of its spans' spreads away
    drifted = later.copy()
    drifted[:, 0] += 4.0
    fault = later.copy()
    fault[:, 1] += 4.0  # the fast sensor's level 4 spreads off for a whole window
    figures = scorer.sensor_figures(np.stack([drifted, fault]))
    assert figures[0, 0] < 1.0 < figures[1, 1]  # drift inside its interval; the fault far outside its own
    assert scorer.window_figures(figures)[1] == figures[1].max()
    # the z-score of the same windows sees the drift as far as the fault: it would flag both
    z = WindowScorer("zscore").sensor_figures(np.stack([drifted, fault]))
    assert z[0, 0] > 3.0 and z[1, 1] > 3.0


def test_level_detector_on_a_long_span_is_a_plain_level_test():
    rng = np.random.default_rng(2)
    span = _span(40_000, 0.0, rng)  # no drift, many levels
    scorer = fit_scorer("level", _windows(span[:20_000])[::7], train_rows=20_000)
    spread = _windows(span[:20_000]).mean(axis=1).std(axis=0)
    np.testing.assert_allclose(scorer.level_tolerance / spread, 2.576, rtol=0.01)  # the normal's 99 % interval


def test_unknown_or_unfitted_detectors_are_refused_naming_the_setting():
    with pytest.raises(ValueError, match="detector must be one of"):
        TrainingConfig(detector="isolation_forest")
    with pytest.raises(ValueError, match="detector must be one of"):
        WindowScorer("median")
    with pytest.raises(ValueError, match="pca detector needs its fitted state: pca_mean, pca_basis missing"):
        WindowScorer("pca")
    with pytest.raises(ValueError, match="level detector needs its fitted state: level_tolerance missing"):
        WindowScorer("level", level_centre=np.zeros(2))
    for detector in ("pca", "level"):
        with pytest.raises(ValueError, match="at least 2 training windows"):
            fit_scorer(detector, np.zeros((1, 4, 2)), components=2)


def _table(detector: str) -> LatentTable:
    """Ten overlapping windows of two sensors: `a` has the larger reconstruction error, `b` the larger detector
    figure, above the threshold (1.0) in the last five."""
    times = np.datetime64("2026-11-01T00:00", "ns") + np.arange(10) * np.timedelta64(60, "s")
    figures = np.r_[np.full(5, 0.5), np.full(5, 3.0)].astype(np.float32)
    sensor_figures = np.column_stack([np.full(10, 0.1), figures]).astype(np.float32)
    errors = np.column_stack([np.full(10, 0.9), np.full(10, 0.1)]).astype(np.float32)
    calibration = calibrate(np.full(50, 1.0), np.zeros((50, 1)), ThresholdRule(1.0, 1.0), detector=detector)
    table = LatentTable(times, times + np.timedelta64(90, "s"), np.zeros((10, 1), np.float32), errors.mean(axis=1),
                        "v1", calibration, ("a", "b"), errors)
    if detector != "autoencoder":
        table.figures, table.sensor_figures = figures, sensor_figures
    return table


def test_another_detectors_scores_make_the_anomaly_score_and_name_the_events_sensors(tmp_path):
    table = _table("zscore")
    assert table.calibration.rule_text().startswith("1 x the 1 quantile of the largest per-sensor mean |z-scores|")
    save_artifact(table, tmp_path / "latents")
    stored = load_artifact(tmp_path / "latents")
    assert {"score_a", "score_b", DETECTOR, "error_a"} <= set(stored.columns)
    np.testing.assert_allclose(stored["anomaly_score"], table.figures)  # threshold 1.0
    events = latent_events(stored, day="2026-11-01")
    assert len(events) == 1 and events.windows.iloc[0] == 5
    # the sensors behind the event are the detector's, not the autoencoder's (sensor a errs more)
    assert events.sensor_1.iloc[0] == "b" and (events.detector == "zscore").all()
    empty = LatentTable.empty(1, ("a", "b"), "v1", table.calibration)
    assert empty.columns == table.columns


def test_the_autoencoder_detector_keeps_the_table_as_it_was(tmp_path):
    table = _table("autoencoder")
    assert DETECTOR not in table.columns and not any(c.startswith("score_") for c in table.columns)
    save_artifact(table, tmp_path / "latents")
    events = latent_events(load_artifact(tmp_path / "latents"))
    assert len(events) == 0 or (events.detector == "autoencoder").all()
    assert list(events.columns[:3]) == ["day", "model_version", "detector"]


def test_a_model_trained_with_the_pca_detector_calibrates_on_it_and_keeps_it_through_its_files(tmp_path):
    from pipeline.train import train_autoencoder

    frame = generate(days=2, period_s=60, seed=5, fault_start_fraction=1.0, repair_fraction=2.0)
    values, times = frame[list(SENSORS)].to_numpy(), frame["timestamp"].to_numpy()
    fit = make_training_windows(values[:1440], times[:1440], list(SENSORS), window_length=20)
    trained = train_autoencoder(fit, TrainingConfig(epochs=2, units=8, seed=0, detector="pca"))
    assert trained.scorer.detector == "pca" and trained.calibration.detector == "pca"
    assert trained.scorer.pca_basis.shape == (20 * len(SENSORS), 3)
    save_artifact(trained, tmp_path / "model")
    back = load_artifact(tmp_path / "model")
    np.testing.assert_array_equal(back.scorer.pca_basis, trained.scorer.pca_basis)
    assert back.calibration == trained.calibration and back.config.detector == "pca"
    save_artifact(trained, tmp_path / "damaged")
    next((tmp_path / "damaged").rglob("pca_basis.npy")).unlink()  # its fitted state lost
    with pytest.raises(ArtifactDamaged, match="pca_basis missing") as refused:
        load_artifact(tmp_path / "damaged")
    assert "damaged" in str(refused.value)  # the folder is named

    later = values[1440:].copy()
    i = SENSORS.index("oil_pressure")
    later[600:660, i] += 8 * values[:, i].std()  # one hour of oil pressure far off its normal level
    windows = scoring_windows(later, times[1440:], back.sensors, back.scaler, back.window_length)
    enc = encode_windows(back.model, windows, scorer=back.scorer)
    table = latent_table(windows, enc, "v1", calibration=back.calibration)
    # the score is the PCA's, not the model's reconstruction error
    assert not np.allclose(enc.figures, enc.errors)
    np.testing.assert_allclose(table.anomaly_scores(), enc.figures / back.calibration.threshold, rtol=1e-5)
    save_artifact(table, tmp_path / "latents")
    events = latent_events(load_artifact(tmp_path / "latents"))
    hit = events[(events.start <= pd.Timestamp(times[1440 + 630])) & (events.end >= pd.Timestamp(times[1440 + 630]))]
    assert len(hit) == 1 and hit.sensor_1.iloc[0] == "oil_pressure" and hit.detector.iloc[0] == "pca", events


@pytest.mark.slow
def test_the_chain_scores_days_with_the_detector_set_on_the_autoencoder_and_says_which(data_root):
    ops = {**TINY_RUN_CONFIG["ops"], "autoencoder": {"config": {**TINY_RUN_CONFIG["ops"]["autoencoder"]["config"],
                                                                "detector": "zscore"}}}
    result = materialize(data_root, run_config={"ops": ops})
    assert result.success
    [model] = result.asset_materializations_for_node("autoencoder")
    assert "largest per-sensor mean |z-scores|" in model.metadata["anomaly_threshold_rule"].value
    day = SAMPLE_DAYS[-1]
    scored = pd.read_parquet(day_latents(data_root, day))
    assert (scored[DETECTOR] == "zscore").all()
    figures = scored[[f"score_{s}" for s in SENSORS]].to_numpy()
    np.testing.assert_allclose(scored["anomaly_score"], figures.max(axis=1), rtol=1e-5)  # the largest sensor's
    pages = {e.partition: e.metadata for e in result.asset_materializations_for_node("anomaly_events")}
    assert pages[day]["detector"].value == "zscore"
    events = pd.read_parquet(data_root / "store" / "anomaly_events" / day / "events.parquet")
    assert (events.detector == "zscore").all()
