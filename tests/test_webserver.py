"""The Dagster UI's own server: the code location loads, the job runs when launched through GraphQL, and what
the UI shows (plots, numbers, tables, the epoch-by-epoch run log) is recorded."""

from pathlib import Path

import pandas as pd
import pytest

from pipeline.synthetic import SENSORS
from tests.helpers import SAMPLE_DAYS, TINY_RUN_CONFIG
from tests.test_assets import CHAIN
from tests.webserver import ASSETS_AND_CHECKS, LOCATION, Webserver

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

PNG = "data:image/png;base64,iVBORw0KGgo"  # a data URI whose bytes start with the PNG signature
KINDS = {"raw_readings": {"numpy"}, "validated_readings": {"great_expectations", "numpy"},
         "training_windows": {"numpy"}, "autoencoder": {"tensorflow", "keras"}, "audit_latents": {"parquet"},
         "published_model": {"keras"}, "latent_vectors": {"parquet"}, "anomaly_events": {"parquet"},
         "latent_regimes": {"json"}, "latent_view": {"html"}, "day_latent_view": {"html"}}


def test_webserver_loads_runs_and_records_plots_and_metadata(tmp_path, data_root):
    with Webserver(data_root, tmp_path / "dagster_home", tmp_path / "webserver.log") as server:
        server.wait_until_loaded(timeout=90)

        nodes = {"/".join(n["assetKey"]["path"]): n for n in server.graphql(ASSETS_AND_CHECKS)["assetNodes"]}
        assert set(nodes) == CHAIN
        for name, node in nodes.items():
            assert node["repository"]["location"]["name"] == LOCATION
            assert node["groupName"] == "latent_pipeline" and node["description"], name
            assert set(node["kinds"]) == KINDS[name], name
            assert node["opVersion"], f"{name} has no code version"
            assert node["owners"] == [{"__typename": "TeamAssetOwner", "team": "sensor-analytics"}]
        assert sorted(c["name"] for c in nodes["audit_latents"]["assetChecksOrError"]["checks"]) == [
            "latent_dimensions_alive", "latent_space_comparable", "latent_space_healthy", "latent_space_informative"]
        assert sorted(c["name"] for c in nodes["latent_vectors"]["assetChecksOrError"]["checks"]) == [
            "day_latents_alive", "no_drift"]

        # a bad day, as the nightly run would launch it: its partition fails, the other succeeds
        bad = data_root / "raw" / "machine01_2026-11-02.csv"
        frame = pd.read_csv(bad)
        frame.loc[9, "oil_pressure"] = 99.0  # the contract allows 0..10 bar
        frame.to_csv(bad, index=False)
        for day, outcome in zip(SAMPLE_DAYS, ("SUCCESS", "FAILURE"), strict=True):
            run_id = server.launch_job("ingest_days", {}, {"dagster/partition": day})
            assert server.wait_for_run(run_id, timeout=120) == outcome, server.log_tail()
        assert server.partition_stats("validated_readings") | {"numPartitions": 0} == {
            "numMaterialized": 1, "numFailed": 1, "numMaterializing": 0, "numPartitions": 0}

        train_run = server.launch_job("retrain", TINY_RUN_CONFIG)
        assert server.wait_for_run(train_run, timeout=240) == "SUCCESS", server.log_tail()
        run_id = server.launch_job("score_days", {}, {"dagster/partition": SAMPLE_DAYS[0]})
        assert server.wait_for_run(run_id, timeout=120) == "SUCCESS", server.log_tail()
        assert server.partition_stats("latent_vectors")["numMaterialized"] == 1
        assert server.partition_stats("anomaly_events")["numMaterialized"] == 1  # score_days finds events too

        # live progress: each epoch is in the run log of the training step
        messages = server.run_messages(train_run)
        epochs = [m for step, m in messages if step == "autoencoder" and m.startswith("epoch ")]
        assert [m.split()[1] for m in epochs] == ["1/2", "2/2"], epochs
        assert all("val_loss=" in m and "eta<=" in m for m in epochs)

        model = server.latest_metadata("autoencoder")
        assert model["loss_curve"]["mdStr"].startswith("![loss curve](" + PNG)
        for number in ("final_training_loss", "final_validation_loss", "best_val_loss", "training_seconds"):
            assert model[number]["floatValue"] > 0, number
        assert model["epochs_run"]["intValue"] == 2 and model["parameters"]["intValue"] > 0

        latents = server.latest_metadata("audit_latents")
        for plot in ("latent_space_by_time", "latent_space_by_error"):
            assert PNG in latents[plot]["mdStr"], plot
        assert latents["dagster/row_count"]["intValue"] == 1429  # the valid day at 60 s, windows of 12
        assert [c["name"] for c in latents["dagster/column_schema"]["schema"]["columns"]] == [
            "window_start", "window_end", "z_0", "z_1", "z_2", "reconstruction_error", "anomaly_score", "is_anomaly",
            *(f"error_{s}" for s in SENSORS), *(f"score_{s}" for s in SENSORS), "detector"]
        assert model["anomaly_threshold"]["floatValue"] > 0 and "validation windows" in \
            model["anomaly_threshold_rule"]["text"]
        events = server.latest_metadata("anomaly_events")
        assert PNG in events["timeline"]["mdStr"] and "events_table" in events
        # the interactive views are linked from their pages, as files to open
        for asset in ("latent_view", "day_latent_view"):
            link = server.latest_metadata(asset)["view"]["url"]
            assert link.startswith("file://") and link.endswith("view.html") and Path(link[7:]).is_file(), asset
        day = server.latest_metadata("day_latent_view")
        assert day["points"]["intValue"] == 1429 and PNG in day["regime_timeline"]["mdStr"]
        assert len(latents["dimension_stats"]["table"]["records"]) == 3

        raw = server.latest_metadata("raw_readings")
        assert raw["rows"]["intValue"] == 1440 and raw["time_span_hours"]["floatValue"] > 23
        assert len(raw["sensor_summary"]["table"]["records"]) == raw["sensors"]["intValue"] == 9
        windows = server.latest_metadata("training_windows")
        assert windows["windows"]["intValue"] == 1429 and windows["window_length"]["intValue"] == 12
        assert windows["training_windows"]["intValue"] > windows["validation_windows"]["intValue"] > 0
        assert windows["days_used"]["intValue"] == 1  # the quarantined day skipped, and said so
        assert server.latest_metadata("validated_readings")["failed_expectations"]["intValue"] == 0
        assert server.latest_metadata("latent_vectors")["dagster/row_count"]["intValue"] == 1429
