"""The real command line: what CI and a user type, on a temporary data root."""

import json

import pandas as pd
import pytest

from pipeline.versions import VersionStore
from tests.helpers import (
    SAMPLE_DAYS,
    TINY_RUN_CONFIG,
    dagster,
    day_latents,
    force_dead_seed_autoencoder,
    latest_latents,
    published_latents,
)

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

MODEL = "training_windows,autoencoder,audit_latents,published_model"


def test_workspace_loads(data_root):
    run = dagster("definitions", "validate", "-w", "workspace.yaml", data_root=data_root)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "All code locations passed validation" in run.stderr + run.stdout


def test_days_then_training_then_a_scored_range_and_a_dead_latent_fails_the_cli_and_blocks_publishing(data_root):
    for day in SAMPLE_DAYS:  # one day per run, as the README and the nightly schedule do it
        run = dagster("asset", "materialize", "-m", "assets.definitions", "--select", "raw_readings,validated_readings",
                      "--partition", day, data_root=data_root)
        assert run.returncode == 0, run.stderr[-3000:]
    run = dagster("asset", "materialize", "-m", "assets.definitions", "--select", MODEL,
                  "--config-json", json.dumps(TINY_RUN_CONFIG), data_root=data_root)
    assert run.returncode == 0, run.stderr[-3000:]
    latents, published = latest_latents(data_root), published_latents(data_root)
    assert f"wrote audit_latents: {latents}" in run.stderr and f"published version {latents.parent.parent.name}: "\
        f"{published}" in run.stderr
    run = dagster("asset", "materialize", "-m", "assets.definitions", "--select", "latent_vectors",
                  "--partition-range", f"{SAMPLE_DAYS[0]}...{SAMPLE_DAYS[-1]}", data_root=data_root)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"wrote latent_vectors for {', '.join(SAMPLE_DAYS)}" in run.stderr
    version = VersionStore(data_root).published().name
    assert all((pd.read_parquet(day_latents(data_root, d))["model_version"] == version).all() for d in SAMPLE_DAYS)
    before = published.read_bytes()

    force_dead_seed_autoencoder(data_root, unit=1)
    run = dagster("asset", "materialize", "-m", "assets.definitions", "--select", "audit_latents,published_model",
                  data_root=data_root)
    assert run.returncode != 0
    assert "Asset check 'latent_dimensions_alive' on 'audit_latents' did not pass" in run.stderr
    assert "z_1" in run.stderr and "zero (|z| <= 1e-06) in all" in run.stderr
    assert "`seed` architecture puts relu on the latent LSTM" in run.stderr
    # the check blocks what is downstream of it: the audit latents are written, the published ones untouched
    latents = latest_latents(data_root)
    assert f"wrote audit_latents: {latents}" in run.stderr
    assert f"published version {latents.parent.parent.name}" not in run.stderr
    assert (pd.read_parquet(latents)["z_1"] == 0.0).all()
    assert published.read_bytes() == before


def test_the_main_command_runs_on_an_object_store_root(s3_root, tmp_path):
    """scripts/pipeline.sh with PIPELINE_DATA_DIR=s3://...: every day ingested and scored, a model published."""
    import os
    import subprocess

    from pipeline.catalog import Catalog
    from pipeline.versions import read_published
    from tests.helpers import PROJECT_ROOT

    env = {**os.environ, "PIPELINE_DATA_DIR": s3_root, "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    run = subprocess.run(["scripts/pipeline.sh", "--config-json", json.dumps(TINY_RUN_CONFIG)], cwd=PROJECT_ROOT,
                         env=env, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    catalog = Catalog(s3_root)
    assert all(catalog.has(asset, day) for asset in ("validated_readings", "latent_vectors", "anomaly_events")
               for day in SAMPLE_DAYS)
    assert len(read_published(s3_root)) > 0
    assert f"published model: {s3_root}/versions/" in run.stdout  # where it is on this root, not a local path
