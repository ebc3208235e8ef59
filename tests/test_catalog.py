"""The catalog of a data root, through the real assets and the real listing command: the days a root holds
(in the day time zone, on a folder or an object store), a re-delivered day that is refused, and a training
span that reads only its own days."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pipeline.catalog import Catalog
from tests.helpers import PROJECT_ROOT, materialize, run_assets

TRAIN_ONLY = {"ops": {"training_windows": {"config": {"window_length": 12, "training_days": 1}}}}


def list_days(root, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m pipeline.list_days ROOT`, as scripts/pipeline.sh runs it."""
    env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "PIPELINE_DAY_TIMEZONE"}
    return subprocess.run([sys.executable, "-m", "pipeline.list_days", str(root)], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_days_of_a_root_on_an_object_store_are_listed(s3_root):
    from tests.objectstore import s3_env

    run = list_days(s3_root, {**s3_env(os.environ["AWS_ENDPOINT_URL"]),
                              "PIPELINE_CACHE_DIR": os.environ["PIPELINE_CACHE_DIR"]})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["2026-11-01", "2026-11-02"]


def test_the_days_are_listed_in_the_contracts_day_time_zone(data_root):
    contract = data_root / "raw" / "sensors.yaml"
    contract.write_text(contract.read_text().replace("day_timezone: UTC", "day_timezone: Europe/Berlin")
                        if "day_timezone:" in contract.read_text() else
                        contract.read_text() + "day_timezone: Europe/Berlin\n")
    assert Catalog(data_root).day_timezone() == "Europe/Berlin"
    run = list_days(data_root)
    assert run.returncode == 0, run.stderr
    # the UTC readings of 11-02 from 23:00 on fall on 11-03 in Berlin (UTC+1 in November)
    assert run.stdout.split() == ["2026-11-01", "2026-11-02", "2026-11-03"]


def test_a_redelivered_day_that_ingestion_refuses_is_quarantined_and_its_old_outputs_withdrawn(data_root):
    assert materialize(data_root, ["raw_readings", "validated_readings"]).success
    catalog = Catalog(data_root)
    assert catalog.has("validated_readings", "2026-11-02")
    path = data_root / "raw" / "machine01_2026-11-02.csv"
    lines = path.read_text().splitlines()
    lines[100] = "," + lines[100].split(",", 1)[1]  # one empty timestamp cell
    path.write_text("\n".join(lines) + "\n")

    refused = run_assets(data_root, ["raw_readings", "validated_readings"], partition_key="2026-11-02")
    assert not refused.success
    record = json.loads((data_root / "store" / "quarantine" / "2026-11-02.json").read_text())
    assert "machine01_2026-11-02.csv" in record["reason"]
    assert not catalog.has("validated_readings", "2026-11-02") and not catalog.has("raw_readings", "2026-11-02")

    trained = run_assets(data_root, ["training_windows"], {"ops": {"training_windows": {"config": {
        "window_length": 12}}}})
    assert trained.success
    meta = trained.asset_materializations_for_node("training_windows")[0].metadata
    assert meta["last_day"].value == "2026-11-01"  # the refused day is not trained on
    assert "2026-11-02" in meta["days_skipped"].value
    check = next(c for c in trained.get_asset_check_evaluations() if c.check_name == "no_days_skipped")
    assert not check.passed


def test_the_training_span_reads_only_its_own_days(data_root):
    assert materialize(data_root, ["raw_readings", "validated_readings"]).success
    older = data_root / "store" / "validated_readings" / "2026-11-01"
    (older / "segments.npy").unlink()  # an older day that cannot be read any more
    trained = run_assets(data_root, ["training_windows"], TRAIN_ONLY)
    assert trained.success  # the span of one day never opened it
    meta = trained.asset_materializations_for_node("training_windows")[0].metadata
    assert meta["first_day"].value == meta["last_day"].value == "2026-11-02"
