"""From reconstruction error to decisions: the threshold rule, events, attribution and drift, on constructed
inputs and on a real model trained on the generator's healthy readings."""

import numpy as np
import pandas as pd
import pytest

from pipeline.drift import DriftLimits, drift_report
from pipeline.events import EVENTS_FILE, EventSettings, find_events, flagged_points, latent_events
from pipeline.formats import LATENTS_FILE
from pipeline.latents import LatentTable, encode_windows, latent_table
from pipeline.model import TrainingConfig
from pipeline.store import load_artifact, save_artifact
from pipeline.synthetic import SENSORS, generate, write_daily_files
from pipeline.threshold import Calibration, ThresholdRule, calibrate, psi
from pipeline.windows import make_training_windows, scoring_windows
from tests.helpers import DAY_ASSETS, MODEL_ASSETS, SCORE_ASSETS, SHIPPED_CONTRACT, materialize

T0 = np.datetime64("2026-11-01T00:00:00", "ns")


def minutes(*m) -> np.ndarray:
    return T0 + np.asarray(m, dtype="timedelta64[m]").astype("timedelta64[ns]")


def test_threshold_is_margin_times_quantile_of_the_calibration_errors():
    errors = np.arange(1, 101, dtype=np.float64) / 100  # 0.01 .. 1.00
    z = np.column_stack([errors, -errors])
    cal = calibrate(errors, z, ThresholdRule(quantile=0.9, margin=2.0))
    assert cal.threshold == pytest.approx(2.0 * np.quantile(errors, 0.9))
    assert cal.windows == 100 and cal.source == "validation"
    assert cal.error_quantiles["p50"] == pytest.approx(np.median(errors))
    assert len(cal.latent_edges) == 2 and len(cal.latent_edges[0]) == 9
    scores = cal.scores(np.array([0.0, cal.threshold * 0.99, cal.threshold * 1.01, cal.threshold * 3]))
    assert np.allclose(scores, [0.0, 0.99, 1.01, 3.0]) and (scores > 1).tolist() == [False, False, True, True]
    # NaN errors do not move the threshold; the calibration round-trips through its dict (params.json)
    assert calibrate(np.append(errors, np.nan), np.vstack([z, z[:1]]), ThresholdRule(0.9, 2.0)).threshold == \
        pytest.approx(cal.threshold)
    assert Calibration.from_dict(cal.to_dict()) == cal


@pytest.mark.parametrize("quantile, margin", [(0.0, 1.5), (1.2, 1.5), (0.99, 0.0)])
def test_a_bad_threshold_rule_is_refused_naming_the_setting(quantile, margin):
    with pytest.raises(ValueError, match="threshold_quantile" if margin else "threshold_margin"):
        TrainingConfig(threshold_quantile=quantile, threshold_margin=margin)


def test_a_model_that_reconstructs_exactly_still_gets_a_positive_threshold():
    cal = calibrate(np.zeros(50), np.zeros((50, 2)))
    assert type(cal.threshold) is float and cal.threshold > 0  # a plain float: it goes into JSON and metadata
    assert cal.scores(np.array([0.0]))[0] == 0.0


def test_no_finite_error_cannot_be_calibrated():
    with pytest.raises(ValueError, match="no finite reconstruction error"):
        calibrate(np.array([np.nan, np.inf]), np.zeros((2, 1)))


def windows_at(ends_min, length_min=5):
    """Windows of `length_min` minutes ending at the given minutes."""
    ends = minutes(*ends_min)
    return ends - np.timedelta64(length_min, "m"), ends


def test_overlapping_flagged_windows_merge_and_a_gap_splits_them():
    start, end = windows_at(range(10, 40))  # one window a minute, each 5 minutes long
    scores = np.full(30, 0.5)
    scores[2:6] = 2.0  # windows ending 12..15: one event 07..15
    scores[8] = 1.5  # ending 18, starting 13: overlaps the first event's reach, so merges into it
    scores[20:23] = 3.0  # ending 30..32, starting 25: 10 minutes after 15 -> a second event
    events = find_events(start, end, scores)
    assert len(events) == 2
    first, second = events.iloc[0], events.iloc[1]
    assert first.start == minutes(7)[0] and first.end == minutes(18)[0] and first.windows == 5
    assert first.duration_s == 11 * 60 and first.peak_score == 2.0 and first.mean_score == pytest.approx(1.9)
    assert second.start == minutes(25)[0] and second.end == minutes(32)[0] and second.peak_score == 3.0
    # a merge gap of 10 minutes joins them; a minimum duration of 8 minutes drops the 7-minute second event
    assert len(find_events(start, end, scores, settings=EventSettings(merge_gap_s=600))) == 1
    kept = find_events(start, end, scores, settings=EventSettings(min_duration_s=480))
    assert len(kept) == 1 and kept.iloc[0].start == minutes(7)[0]
    # nothing flagged: an empty table with the same columns
    none = find_events(start, end, np.zeros(30))
    assert len(none) == 0 and list(none.columns) == list(events.columns)


def test_points_within_an_event_are_flagged():
    start, end = windows_at([20, 21])
    events = find_events(start, end, np.array([2.0, 2.0]))
    flags = flagged_points(minutes(14, 15, 18, 21, 22), events)
    assert flags.tolist() == [False, True, True, True, False]


def test_each_events_sensors_are_ranked_by_their_share_of_the_error():
    start, end = windows_at(range(10, 20), length_min=1)
    scores = np.zeros(10)
    scores[[1, 2, 7]] = 2.0
    errors = np.full((10, 3), 0.1)
    errors[1:3, 2] = 2.0  # first event: sensor c
    errors[7, 0] = 1.0  # second event: a, then the rest equally
    events = find_events(start, end, scores, errors, ["a", "b", "c"], EventSettings(top_sensors=2))
    assert events.sensor_1.tolist() == ["c", "a"]
    assert events.share_1.iloc[0] == pytest.approx(4.0 / 4.4)
    assert events.share_1.iloc[1] == pytest.approx(1.0 / 1.2) and events.sensor_2.iloc[1] == "b"
    assert "sensor_3" not in events.columns


def test_psi_is_zero_on_the_reference_and_large_on_a_shift():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=20_000)
    edges = np.quantile(ref, np.linspace(0.1, 0.9, 9))
    assert psi(rng.normal(size=5000), edges) < 0.02
    assert psi(rng.normal(1.0, 1.0, size=5000), edges) > 0.25


@pytest.fixture(scope="module")
def healthy_model():
    """A real autoencoder fit on two healthy days of the generator at 60 s, and a third healthy day it never
    saw (the generator's bearing fault is moved beyond the recording: it would start at day 3 of 3)."""
    from pipeline.train import train_autoencoder

    frame = generate(days=3, period_s=60, seed=5, fault_start_fraction=1.0, repair_fraction=2.0)
    values, times = frame[list(SENSORS)].to_numpy(), frame["timestamp"].to_numpy()
    fit = make_training_windows(values[:2880], times[:2880], list(SENSORS), window_length=20)
    trained = train_autoencoder(fit, TrainingConfig(epochs=8, units=16, seed=0))
    return trained, values[2880:], times[2880:]


def score(trained, values, times):
    windows = scoring_windows(values, times, trained.sensors, trained.scaler, trained.window_length)
    enc = encode_windows(trained.model, windows)
    return windows, enc


def test_the_model_carries_its_calibration_through_params_json(healthy_model, tmp_path):
    trained = healthy_model[0]
    assert trained.calibration.source == "validation" and trained.calibration.threshold > 0
    save_artifact(trained, tmp_path / "model")
    assert '"calibration"' in (tmp_path / "model" / "params.json").read_text()
    assert load_artifact(tmp_path / "model").calibration == trained.calibration


def test_attribution_names_the_sensor_that_was_perturbed(healthy_model):
    trained, values, times = healthy_model
    values = values.copy()
    i = SENSORS.index("oil_pressure")
    values[600:660, i] += 8 * values[:, i].std()  # one hour of oil pressure far off its normal level
    windows, enc = score(trained, values, times)
    table = latent_table(windows, enc, calibration=trained.calibration)
    scores = trained.calibration.scores(enc.errors)
    events = find_events(table.window_start, table.window_end, scores, enc.sensor_errors, trained.sensors)
    hit = events[(events.start <= times[630]) & (events.end >= times[630])]
    assert len(hit) == 1, events
    assert hit.sensor_1.iloc[0] == "oil_pressure" and hit.share_1.iloc[0] > 1.5 * hit.share_2.iloc[0], hit.T
    # window by window too: every window holding the perturbation has oil pressure as its largest error
    inside = (table.window_start >= times[600]) & (table.window_end < times[660])
    assert inside.sum() > 30 and (enc.sensor_errors[inside].argmax(axis=1) == i).all()
    assert "error_oil_pressure" in table.columns and "is_anomaly" in table.columns


def test_drift_warns_on_a_shifted_day_and_not_on_an_unshifted_one(healthy_model):
    trained, values, times = healthy_model
    day2 = generate(days=3, period_s=60, seed=5, fault_start_fraction=1.0, repair_fraction=2.0).iloc[1440:2880]
    day2_values, day2_times = day2[list(SENSORS)].to_numpy(), day2["timestamp"].to_numpy()
    _, enc = score(trained, day2_values, day2_times)  # a day as the model knows them
    quiet = drift_report(trained.calibration, enc.z, enc.errors)
    assert not quiet.drifted, quiet.text()
    assert quiet.text().startswith("no drift")
    shifted = day2_values * np.array([1.0] * 3 + [1.3] + [1.0] * 5)  # motor current reads 30% high all day
    _, enc = score(trained, shifted, day2_times)
    loud = drift_report(trained.calibration, enc.z, enc.errors, DriftLimits())
    assert loud.drifted and loud.worse and "retraining" in loud.text(), loud.text()
    assert set(loud.table()["figure"]) >= {"PSI z_0", "error p50 / reference"}
    # a healthy day the model never saw: whatever its operating mix, the model still reconstructs it
    _, enc = score(trained, values, times)
    assert not drift_report(trained.calibration, enc.z, enc.errors).worse


def test_events_frame_reads_back_from_its_parquet(tmp_path):
    from pipeline.events import EventTable

    start, end = windows_at(range(10, 20))
    events = find_events(start, end, np.r_[np.zeros(5), np.full(5, 2.0)], np.ones((10, 2)), ["a", "b"])
    save_artifact(EventTable(events), tmp_path / "events")
    back = load_artifact(tmp_path / "events")
    pd.testing.assert_frame_equal(back, events)


FAULT_DAYS = ("2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04")


@pytest.mark.slow
def test_the_chain_raises_an_event_for_a_fault_outside_the_training_span_and_none_on_a_healthy_day(tmp_path):
    """Four days from the generator at 60 s: its bearing fault starts at 06:00 on the fourth and grows. The
    model trains on the first two days; the third (healthy, never seen) and the fourth are scored."""

    raw = tmp_path / "data" / "raw"
    write_daily_files(generate(days=4, period_s=60, seed=11, fault_start_fraction=3.25 / 4, repair_fraction=1.0),
                      raw)
    (raw / "sensors.yaml").write_text(SHIPPED_CONTRACT.read_text().replace("sampling_period_s: 20\n",
                                                                           "sampling_period_s: 60\n")
                                      .replace("max_gap_s: 60 ", "max_gap_s: 180 "))
    root = tmp_path / "data"
    config = {"ops": {"training_windows": {"config": {"window_length": 20, "last_day": "2026-11-02"}},
                      "autoencoder": {"config": {"epochs": 15, "units": 16, "seed": 0}}}}
    assert materialize(root, [*DAY_ASSETS, *MODEL_ASSETS], config, days=FAULT_DAYS).success
    scored = materialize(root, list(SCORE_ASSETS), days=FAULT_DAYS[2:])
    assert scored.success
    events = {d: pd.read_parquet(root / "store" / "anomaly_events" / d / EVENTS_FILE) for d in FAULT_DAYS[2:]}
    assert len(events["2026-11-03"]) == 0, events["2026-11-03"]
    fault = events["2026-11-04"]
    assert len(fault) >= 1
    assert fault.start.min() >= pd.Timestamp("2026-11-04 06:00", tz="UTC")  # nothing before the fault begins
    assert (fault.day == "2026-11-04").all() and fault.model_version.nunique() == 1  # the file says its origin
    vibration = {"vibration_x", "vibration_y", "vibration_z"}
    biggest = fault.loc[fault.duration_s.idxmax()]
    assert biggest.sensor_1 in vibration | {"bearing_temperature", "motor_current"}, fault
    latents = pd.read_parquet(root / "store" / "latent_vectors" / "2026-11-04" / LATENTS_FILE)
    assert latents.is_anomaly.any() and (latents.anomaly_score > 1).sum() == latents.is_anomaly.sum()
    # one run over both days: each day's materialisation carries its own figures, not the range's or the last's
    pages = {m.partition: m.metadata for m in scored.asset_materializations_for_node("anomaly_events")}
    assert sorted(pages) == list(FAULT_DAYS[2:])
    for day, page in pages.items():
        assert page["events"].value == len(events[day]) and page["day"].value == day
        assert page["path"].value.endswith(f"anomaly_events/{day}")
    assert "timeline" in pages["2026-11-04"]
    scored_pages = {m.partition: m.metadata for m in scored.asset_materializations_for_node("latent_vectors")}
    assert scored_pages["2026-11-04"]["anomalous_windows"].value == int(latents.is_anomaly.sum())
    assert scored_pages["2026-11-03"]["anomalous_windows"].value < scored_pages["2026-11-04"]["anomalous_windows"].value
    assert scored_pages["2026-11-03"]["path"].value.endswith("latent_vectors/2026-11-03")


def test_events_come_from_a_stored_latent_table_and_not_from_one_without_scores(healthy_model, tmp_path):
    trained, values, times = healthy_model
    values = values.copy()
    values[600:660, SENSORS.index("flow_rate")] += 8 * values[:, SENSORS.index("flow_rate")].std()
    windows, enc = score(trained, values, times)
    save_artifact(latent_table(windows, enc, calibration=trained.calibration), tmp_path / "latents")
    stored = load_artifact(tmp_path / "latents")
    events = latent_events(stored)
    hit = events[(events.start <= times[630]) & (events.end >= times[630])]
    assert len(hit) == 1 and hit.sensor_1.iloc[0] == "flow_rate"
    with pytest.raises(ValueError, match="no anomaly_score: the model that scored them was saved before"):
        latent_events(stored.drop(columns=["anomaly_score", "is_anomaly"]))


def test_a_day_without_windows_stores_every_column_and_has_no_event(healthy_model, tmp_path):
    trained = healthy_model[0]
    save_artifact(LatentTable.empty(3, trained.sensors, "v1", trained.calibration), tmp_path / "latents")
    stored = load_artifact(tmp_path / "latents")
    assert len(stored) == 0 and {"anomaly_score", "is_anomaly", "model_version", "error_flow_rate"} <= set(stored)
    assert len(latent_events(stored)) == 0


@pytest.mark.parametrize("name", ["psi", "day_factor", "error_ratio"])
def test_a_drift_limit_that_is_not_positive_is_refused_naming_it(name):
    with pytest.raises(ValueError, match=f"drift_{name} must be positive"):
        DriftLimits(**{name: 0.0})
