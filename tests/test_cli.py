"""The real command line: what CI and a user type, on a temporary data root."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from pipeline.store import load_artifact, save_artifact
from tests.helpers import PROJECT_ROOT, TINY_RUN_CONFIG

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


def test_materialize_all_then_a_forced_dead_latent_fails_the_cli(data_root):
    run = dagster("asset", "materialize", "-m", "assets.definitions", "--select", "*",
                  "--config-json", json.dumps(TINY_RUN_CONFIG), data_root=data_root)
    assert run.returncode == 0, run.stderr[-3000:]
    latents = data_root / "store" / "latent_vectors" / "latents.parquet"
    assert f"wrote latent_vectors: {latents}" in run.stderr
    assert list(pd.read_parquet(latents).columns) == ["window_start", "window_end", "z_0", "z_1", "z_2",
                                                      "reconstruction_error"]

    folder = data_root / "store" / "autoencoder"
    trained = load_artifact(folder)
    layer = trained.model.get_layer("latent")
    kernel, bias = layer.get_weights()
    kernel[:, 0], bias[0] = 0.0, 0.0
    layer.set_weights([kernel, bias])
    save_artifact(trained, folder)

    run = dagster("asset", "materialize", "-m", "assets.definitions", "--select", "latent_vectors",
                  data_root=data_root)
    assert run.returncode != 0
    assert "Asset check 'latent_dimensions_alive' on 'latent_vectors' did not pass" in run.stderr
    assert "dead latent dimension(s) z_0" in run.stderr
