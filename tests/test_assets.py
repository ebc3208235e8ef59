"""In-process materialisation of the real chain on small sample files."""

import numpy as np
import pandas as pd
import pytest

from pipeline.alignment import COMPARABLE
from pipeline.synthetic import SENSORS
from pipeline.usefulness import MARGIN
from pipeline.versions import VersionStore
from tests.helpers import (
    MODEL_ASSETS,
    SAMPLE_DAYS,
    TINY_RUN_CONFIG,
    day_latents,
    latest_autoencoder,
    latest_latents,
    materialize,
    materialized_keys,
    published_latents,
    store_autoencoder,
)

CHAIN = {"raw_readings", "validated_readings", "training_windows", "autoencoder", "audit_latents", "latent_regimes",
         "latent_view", "published_model", "latent_vectors", "anomaly_events", "day_latent_view"}
AUDIT = ["audit_latents", "published_model"]  # audit and publish the latest model, no training


def checks(result) -> dict:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def edit_latent_layer(data_root, edit) -> None:
    """Store, as the latest autoencoder, the latest one with its latent Dense layer changed by
    `edit(kernel, bias)` in place."""
    trained = latest_autoencoder(data_root)
    layer = trained.model.get_layer("latent")
    kernel, bias = layer.get_weights()
    edit(kernel, bias)
    layer.set_weights([kernel, bias])
    store_autoencoder(data_root, trained, run_id=edit.__name__)


def test_whole_chain_materialises_and_check_passes(data_root):
    result = materialize(data_root)
    assert result.success
    assert materialized_keys(result) == CHAIN
    alive = checks(result)["latent_dimensions_alive"]
    assert alive.passed and alive.metadata["dead_dimensions"].value == "none"
    assert [r.data["dimension"] for r in alive.metadata["dimensions"].value.records] == ["z_0", "z_1", "z_2"]
    table = pd.read_parquet(latest_latents(data_root))
    pd.testing.assert_frame_equal(pd.read_parquet(published_latents(data_root)), table)
    [audit] = result.asset_materializations_for_node("audit_latents")
    by_sensor = audit.metadata["reconstruction_error_by_sensor"].value.records
    assert len(by_sensor) == 9 and all(r.data["all_windows"] > 0 for r in by_sensor)
    assert list(table.columns) == ["window_start", "window_end", "z_0", "z_1", "z_2", "reconstruction_error",
                                   "anomaly_score", "is_anomaly", *(f"error_{s}" for s in SENSORS),
                                   *(f"score_{s}" for s in SENSORS), "detector"]
    assert (table["detector"] == "level").all()  # the default detector
    # 2 daily files of 1440 rows at 60 s; windows of 12 rows never cross a file: 1429 windows per file
    assert len(table) == 2 * (1440 - 12 + 1)
    version = VersionStore(data_root).published().name
    for day in SAMPLE_DAYS:  # each day scored with the published model, the version on every row
        scored = pd.read_parquet(day_latents(data_root, day))
        assert list(scored.columns) == [*table.columns, "regime", "regime_distance", "off_regime", "model_version"]
        assert len(scored) == 1440 - 12 + 1
        assert (scored["model_version"] == version).all()
        assert (scored["window_end"] - scored["window_start"] == pd.Timedelta(minutes=11)).all()
        assert scored["window_start"].is_monotonic_increasing and (scored["reconstruction_error"] > 0).all()
        assert (scored["window_end"].dt.strftime("%Y-%m-%d") == day).all()
    [days] = result.asset_materializations_for_node("published_model")
    assert days.metadata["days_used"].value == list(SAMPLE_DAYS) and days.metadata["days_skipped"].value == {}
    first = checks(result)["latent_space_comparable"]
    assert first.passed and "no published version to align with" in first.description

    # a retrain (another seed) is expressed in the published version's frame, and says how well the map fits
    ops = {**TINY_RUN_CONFIG["ops"], "autoencoder": {"config": {**TINY_RUN_CONFIG["ops"]["autoencoder"]["config"],
                                                                "seed": 1}}}
    retrain = materialize(data_root, list(MODEL_ASSETS), {"ops": ops})
    assert retrain.success
    aligned = checks(retrain)["latent_space_comparable"]
    figures = {k: v.value for k, v in aligned.metadata.items()}
    assert figures["aligned_to"] == version and figures["alignment_windows"] == 2000
    assert figures["alignment_agreement"] >= figures["unaligned_agreement"]
    assert aligned.passed is (figures["alignment_agreement"] >= COMPARABLE)
    assert ("not comparable" in aligned.description) is not aligned.passed
    [audit] = retrain.asset_materializations_for_node("audit_latents")
    assert audit.metadata["aligned_to"].value == version
    assert latest_autoencoder(data_root).alignment.reference_version == version

    # the retrain's regimes keep the published ids of the regimes holding the same windows: scored again, most
    # windows of the days are in the regime of the same id as before (measured here: 85 %)
    [regimes] = retrain.asset_materializations_for_node("latent_regimes")
    assert regimes.metadata["matched_to"].value == version
    before = {day: pd.read_parquet(day_latents(data_root, day))["regime"].to_numpy() for day in SAMPLE_DAYS}
    assert materialize(data_root, ["latent_vectors"]).success
    same = np.mean([np.mean(pd.read_parquet(day_latents(data_root, day))["regime"].to_numpy() == regime)
                    for day, regime in before.items()])
    assert same >= 0.6, f"only {same:.0%} of the windows kept their regime id across the retrain"


@pytest.mark.slow
def test_a_bad_day_is_quarantined_and_the_night_trains_on_the_valid_days(data_root):
    day = data_root / "raw" / "machine01_2026-11-02.csv"
    frame = pd.read_csv(day)
    frame.loc[100, "motor_current"] = 250.0  # the contract allows 0..80 A
    frame.to_csv(day, index=False)

    result = materialize(data_root)
    good, bad, model, scoring = result.results
    assert good.success and not bad.success and model.success and not scoring.success
    assert materialized_keys(bad) == {"raw_readings"}  # the bad day's partition failed at validation
    failure = next(e for e in bad.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("2026-11-02 quarantined: ")
    assert "machine01_2026-11-02.csv" in message and "motor_current" in message
    assert "expect_column_values_to_be_between" in message and "1 bad row" in message
    [record] = failure.step_failure_data.user_failure_data.metadata["failures"].value.records
    assert record.data["file"] == "machine01_2026-11-02.csv" and record.data["column"] == "motor_current"
    assert record.data["bad_rows"] == 1 and record.data["first_bad_timestamp"] == "2026-11-02 01:40:00"

    # the night went on: trained on the valid day, the skipped day named in the version, the UI and a WARN check
    version = VersionStore(data_root).published()
    status = VersionStore(data_root).status(version)
    assert status["days_used"] == ["2026-11-01"] and "motor_current" in status["days_skipped"]["2026-11-02"]
    skipped = checks(model)["no_days_skipped"]
    assert not skipped.passed and skipped.severity.value == "WARN" and "2026-11-02" in skipped.description
    assert len(pd.read_parquet(latest_latents(data_root))) == 1429
    scoring_failure = next(e for e in scoring.all_events if e.event_type_value == "STEP_FAILURE")
    assert scoring_failure.step_failure_data.user_failure_data.description.startswith(
        "2026-11-02 has no validated readings: quarantined (validation failed: ")  # a range with it fails whole
    assert materialize(data_root, ["latent_vectors"], days=("2026-11-01",)).success
    assert day_latents(data_root, "2026-11-01").is_file() and not day_latents(data_root, "2026-11-02").exists()

    strict = materialize(data_root, ["training_windows"], {"ops": {"training_windows": {"config": {"strict": True}}}})
    assert not strict.success
    failure = next(e for e in strict.all_events if e.event_type_value == "STEP_FAILURE")
    assert "strict: 1 quarantined day(s)" in failure.step_failure_data.user_failure_data.description

    frame.loc[100, "motor_current"] = 25.0  # repaired: the day validates again and leaves quarantine
    frame.to_csv(day, index=False)
    assert materialize(data_root, ["raw_readings", "validated_readings"], days=("2026-11-02",)).success
    again = materialize(data_root, ["training_windows"], {"ops": {"training_windows": {"config": {"strict": True}}}})
    assert again.success and checks(again)["no_days_skipped"].passed


@pytest.mark.slow
def test_duplicate_dimension_warns_without_blocking_then_a_dead_one_blocks_publishing(data_root):
    assert materialize(data_root).success  # one trained model for both cases

    def copy_z0_into_z2(kernel, bias):  # z_2 = z_0 for every window
        kernel[:, 2], bias[2] = kernel[:, 0], bias[0]
    edit_latent_layer(data_root, copy_z0_into_z2)

    result = materialize(data_root, selection=AUDIT, run_config={})
    assert result.success
    assert materialized_keys(result) == {"audit_latents", "published_model"}
    found = checks(result)
    assert found["latent_dimensions_alive"].passed
    warn = found["latent_space_healthy"]
    assert not warn.passed and warn.severity.value == "WARN"
    assert "z_0 and z_2" in warn.description and "Near-duplicate" in warn.description
    assert warn.metadata["max_abs_correlation"].value == 1.0
    assert len(warn.metadata["dimensions"].value.records) == 3
    # measured beside a PCA of the same windows in the same step; its verdict follows its own figures
    informative = found["latent_space_informative"]
    figures = {k: v.value for k, v in informative.metadata.items()}
    assert informative.severity.value == "WARN" and figures["usefulness_windows"] > 100
    assert 0.5 < figures["pca_trustworthiness"] <= 1.0 and 0.0 < figures["trustworthiness"] <= 1.0
    behind = figures["trustworthiness"] < figures["pca_trustworthiness"] - MARGIN or \
        figures["continuity"] < figures["pca_continuity"] - MARGIN
    assert informative.passed is not behind and ("worse than a plain PCA" in informative.description) is behind
    published = published_latents(data_root).read_bytes()

    def kill_z1(kernel, bias):  # the linear latent unit z_1 now outputs 0 for every window
        kernel[:, 1], bias[1] = 0.0, 0.0
    edit_latent_layer(data_root, kill_z1)

    result = materialize(data_root, selection=AUDIT, run_config={})
    assert not result.success
    assert materialized_keys(result) == {"audit_latents"}
    assert published_latents(data_root).read_bytes() == published
    check = checks(result)["latent_dimensions_alive"]
    assert not check.passed and check.severity.value == "ERROR"
    assert check.metadata["dead_dimensions"].value == "z_1"
    assert check.metadata["architecture"].value == "default"
    # the default architecture has no relu to blame: the text says what a constant linear unit means
    assert "z_1" in check.description and "linear" in check.description and "relu" not in check.description
    rows = {r.data["dimension"]: r.data for r in check.metadata["dimensions"].value.records}
    assert rows["z_1"]["zeros %"] == 100.0 and rows["z_1"]["std"] == 0.0 and not rows["z_1"]["active"]
    assert rows["z_0"]["std"] > 0


@pytest.mark.slow
def test_non_finite_latents_block_publishing(data_root):
    assert materialize(data_root).success
    published = published_latents(data_root).read_bytes()

    def nan_into_z1(kernel, bias):  # e.g. a model whose training diverged
        kernel[:, 1] = np.nan
    edit_latent_layer(data_root, nan_into_z1)

    result = materialize(data_root, selection=AUDIT, run_config={})
    assert not result.success and materialized_keys(result) == {"audit_latents"}
    check = checks(result)["latent_dimensions_alive"]
    assert not check.passed and check.metadata["non_finite"].value is True
    assert "Non-finite values (NaN or infinite): z_1 in 2858 of 2858 windows" in check.description
    assert published_latents(data_root).read_bytes() == published


@pytest.mark.slow
def test_a_stage_whose_input_was_never_made_says_which_and_what_to_do(data_root):
    for selection, says in ((["training_windows"], "no validated day with readings under "),
                            (["audit_latents"], "autoencoder is needed but missing: "),
                            (["latent_vectors"], "no published model under "),
                            (["validated_readings"], "raw_readings is needed for 2026-11-01 but missing")):
        result = materialize(data_root, selection=selection, run_config={}, days=("2026-11-01",))
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        description = failure.step_failure_data.user_failure_data.description
        assert description.startswith(says) and "materialise" in description or "retrain" in description
