"""The real command line: what CI and a user type, on a temporary data root."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.helpers import (
    PROJECT_ROOT,
    TINY_RUN_CONFIG,
    force_dead_seed_autoencoder,
    latest_latents,
    published_latents,
)

DAGSTER = str(Path(sys.executable).with_name("dagster"))


def dagster(*args: str, data_root: Path) -> subprocess.CompletedProcess:
    home = data_root.parent / "dagster_home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "PIPELINE_DATA_DIR": str(data_root), "DAGSTER_HOME": str(home)}
    return subprocess.run([DAGSTER, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def test_workspace_loads(data_root):
    run = dagster("definitions", "validate", "-w", "workspace.yaml", data_root=data_root)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "All code locations passed validation" in run.stderr + run.stdout


def test_materialize_all_then_a_dead_latent_fails_the_cli_and_blocks_publishing(data_root):
    run = dagster("asset", "materialize", "-m", "assets.definitions", "--select", "*",
                  "--config-json", json.dumps(TINY_RUN_CONFIG), data_root=data_root)
    assert run.returncode == 0, run.stderr[-3000:]
    latents, published = latest_latents(data_root), published_latents(data_root)
    assert f"wrote latent_vectors: {latents}" in run.stderr and f"published version {latents.parent.parent.name}: "\
        f"{published}" in run.stderr
    assert list(pd.read_parquet(latents).columns) == ["window_start", "window_end", "z_0", "z_1", "z_2",
                                                      "reconstruction_error"]
    before = published.read_bytes()

    force_dead_seed_autoencoder(data_root, unit=1)
    run = dagster("asset", "materialize", "-m", "assets.definitions", "--select", "latent_vectors*",
                  data_root=data_root)
    assert run.returncode != 0
    assert "Asset check 'latent_dimensions_alive' on 'latent_vectors' did not pass" in run.stderr
    assert "z_1" in run.stderr and "zero (|z| <= 1e-06) in all" in run.stderr
    assert "`seed` architecture puts relu on the latent LSTM" in run.stderr
    # the check blocks what is downstream of it: the latents are written, the published ones are not touched
    latents = latest_latents(data_root)
    assert f"wrote latent_vectors: {latents}" in run.stderr and "published version" not in run.stderr
    assert (pd.read_parquet(latents)["z_1"] == 0.0).all()
    assert published.read_bytes() == before
