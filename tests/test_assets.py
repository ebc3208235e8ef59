"""In-process materialisation of the real chain on small sample files."""

import pandas as pd

from pipeline.store import load_artifact, save_artifact
from tests.helpers import materialize, materialized_keys

LATENTS = ("store", "latent_vectors", "latents.parquet")


def test_whole_chain_materialises_and_check_passes(data_root):
    result = materialize(data_root)
    assert result.success
    assert materialized_keys(result) == {"raw_readings", "validated_readings", "training_windows",
                                         "autoencoder", "latent_vectors"}
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "latent_dimensions_alive" and check.passed
    table = pd.read_parquet(data_root.joinpath(*LATENTS))
    assert list(table.columns) == ["window_start", "window_end", "z_0", "z_1", "z_2", "reconstruction_error"]
    # 2 daily files of 1440 rows at 60 s; windows of 12 rows never cross a file: 1429 windows per file
    assert len(table) == 2 * (1440 - 12 + 1)
    assert (table["window_end"] - table["window_start"] == pd.Timedelta(minutes=11)).all()
    assert table["window_start"].is_monotonic_increasing
    assert (table["reconstruction_error"] > 0).all()


def test_bad_file_stops_the_run_before_any_model_work(data_root):
    assert materialize(data_root).success
    latents = data_root.joinpath(*LATENTS)
    before = latents.read_bytes()

    day = data_root / "raw" / "machine01_2026-11-02.csv"
    frame = pd.read_csv(day)
    frame.loc[100, "motor_current"] = 250.0  # the contract allows 0..80 A
    frame.to_csv(day, index=False)

    result = materialize(data_root)
    assert not result.success
    assert materialized_keys(result) == {"raw_readings"}
    assert result.get_asset_check_evaluations() == []
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert "machine01_2026-11-02.csv" in message and "motor_current" in message
    assert "expect_column_values_to_be_between" in message and "1 bad row" in message
    assert latents.read_bytes() == before


def test_dead_latent_dimension_fails_the_check_and_names_it(data_root):
    assert materialize(data_root).success
    # Force dimension z_1 dead: zero its weights and bias in the stored latent layer.
    folder = data_root / "store" / "autoencoder"
    trained = load_artifact(folder)
    layer = trained.model.get_layer("latent")
    kernel, bias = layer.get_weights()
    kernel[:, 1], bias[1] = 0.0, 0.0
    layer.set_weights([kernel, bias])
    save_artifact(trained, folder)

    result = materialize(data_root, selection="latent_vectors", run_config={})
    assert not result.success
    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    assert check.metadata["dead_dimensions"].value == "z_1"
    assert "z_1" in check.description and "relu" in check.description
    rows = {r.data["dimension"]: r.data for r in check.metadata["dimensions"].value.records}
    assert rows["z_1"]["zero_fraction"] == 1.0 and rows["z_1"]["std"] == 0.0
    assert rows["z_0"]["std"] > 0
