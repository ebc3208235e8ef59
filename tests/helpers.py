"""Helpers shared by the tests: running the real assets in process, reading run results."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from assets.definitions import ASSETS, CHECKS, build_resources
from pipeline.formats import LATENTS_FILE
from pipeline.latents import LatentTable
from pipeline.model import build_autoencoder
from pipeline.store import load_artifact, save_artifact
from pipeline.synthetic import generate, write_daily_files
from pipeline.versions import PUBLISHED, VersionStore

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_CONTRACT = PROJECT_ROOT / "data" / "raw" / "sensors.yaml"
SKAB = PROJECT_ROOT.parent / "shared" / "data" / "skab"

# Small enough to train in seconds on 2 cores, big enough for real windows and a real validation span.
TINY_RUN_CONFIG = {
    "ops": {
        "training_windows": {"config": {"window_length": 12}},
        "autoencoder": {"config": {"epochs": 2, "units": 8, "batch_size": 128}},
    }
}


SAMPLE_DAYS = ("2026-11-01", "2026-11-02")  # the days of make_sample_root
DAY_ASSETS = ("raw_readings", "validated_readings")  # one run per day
MODEL_ASSETS = ("training_windows", "autoencoder", "audit_latents", "latent_regimes", "latent_view",
                "published_model")  # one run
SCORE_ASSETS = ("latent_vectors", "anomaly_events", "day_latent_view")  # one run over the days


class PipelineResult:
    """The runs of one pass of the pipeline (as scripts/pipeline.sh and the nightly run do it), read as one."""

    def __init__(self, results: list):
        self.results = results

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def run_id(self) -> str:
        """The last run's id (the model run's, when there is one and no scoring followed)."""
        return self.results[-1].run_id

    @property
    def all_events(self) -> list:
        return [e for r in self.results for e in r.all_events]

    def get_asset_check_evaluations(self) -> list:
        return [c for r in self.results for c in r.get_asset_check_evaluations()]

    def asset_materializations_for_node(self, node: str) -> list:
        return [m for r in self.results for m in r.asset_materializations_for_node(node)]


def run_assets(data_root: Path, selection: list[str], run_config: dict | None = None, **kwargs):
    """One in-process run of the real assets (and their checks) against `data_root`; failures are returned."""
    return dg.materialize([*ASSETS, *CHECKS], selection=selection, resources=build_resources(str(data_root)),
                          run_config=run_config or {}, raise_on_error=False, **kwargs)


def materialize(data_root: Path, selection: str | list[str] = "*", run_config: dict | None = None,
                days: tuple[str, ...] = SAMPLE_DAYS) -> PipelineResult:
    """The selected assets for `days`, in the pipeline's order: each day ingested and validated in its own run
    (a failing day does not stop the others), the model trained, audited and published in one run, then the
    days scored in one run over their range."""
    wanted = set(DAY_ASSETS + MODEL_ASSETS + SCORE_ASSETS) if selection == "*" else set(selection)
    config = TINY_RUN_CONFIG if run_config is None else run_config
    results = []

    def phase(assets: tuple[str, ...]) -> tuple[list[str], dict]:
        picked = [a for a in assets if a in wanted]
        ops = {k: v for k, v in config.get("ops", {}).items() if k in picked}
        return picked, {"ops": ops} if ops else {}

    picked, cfg = phase(DAY_ASSETS)
    for day in days if picked else ():
        results.append(run_assets(data_root, picked, cfg, partition_key=day))
    picked, cfg = phase(MODEL_ASSETS)
    if picked:
        results.append(run_assets(data_root, picked, cfg))
    picked, cfg = phase(SCORE_ASSETS)
    if picked:
        tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
        results.append(run_assets(data_root, picked, cfg, tags=tags) if len(days) > 1
                       else run_assets(data_root, picked, cfg, partition_key=days[0]))
    return PipelineResult(results)


DAGSTER = str(Path(sys.executable).with_name("dagster"))


def dagster(*args: str, data_root: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real `dagster` command on `data_root`, with a Dagster home beside it."""
    home = data_root.parent / "dagster_home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "PIPELINE_DATA_DIR": str(data_root), "DAGSTER_HOME": str(home), **(env or {})}
    return subprocess.run([DAGSTER, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def materialized_keys(result) -> set[str]:
    return {e.event_specific_data.materialization.asset_key.to_user_string()
            for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}


def make_sample_root(base: Path, days: int = 2) -> Path:
    """A data root under `base` holding `days` days of sample files at 60 s (1440 rows a day) from 2026-11-01 and
    the shipped contract, its sampling period set to 60 s and its gap limit to 3 periods."""
    raw = base / "data" / "raw"
    write_daily_files(generate(days=days, period_s=60, seed=11), raw)
    contract = SHIPPED_CONTRACT.read_text()
    for old, new in [("sampling_period_s: 20\n", "sampling_period_s: 60\n"), ("max_gap_s: 60 ", "max_gap_s: 180 ")]:
        assert old in contract
        contract = contract.replace(old, new)
    (raw / "sensors.yaml").write_text(contract)
    return base / "data"


def published_latents(root: Path) -> Path:
    """The published version's audit latents (those the blocking check passed)."""
    return root / PUBLISHED / "audit_latents" / LATENTS_FILE


def day_latents(root: Path, day: str = SAMPLE_DAYS[-1]) -> Path:
    """Where consumers read a day's latents."""
    return root / "store" / "latent_vectors" / day / LATENTS_FILE


def latest_latents(root: Path) -> Path:
    """The audit latents most recently written, checked or not."""
    return VersionStore(root).latest("audit_latents") / LATENTS_FILE


def latest_autoencoder(root: Path):
    return load_artifact(VersionStore(root).latest("autoencoder"))


def store_autoencoder(root: Path, trained, run_id: str = "ffffffff-forced") -> Path:
    """Make `trained` the latest autoencoder, in a version folder of its own, as a training run would."""
    versions = VersionStore(root)
    folder = versions.for_run(run_id) / "autoencoder"
    save_artifact(trained, folder)
    versions.record_latest("autoencoder", folder)
    return folder


def force_dead_seed_autoencoder(data_root: Path, unit: int) -> None:
    """Store, as the latest autoencoder, the `seed` architecture with latent unit `unit` dead by construction:
    its relu candidate input is -1 for every window, so its cell state stays 0 and o*relu(0) = 0 exactly."""
    trained = latest_autoencoder(data_root)
    config = replace(trained.config, architecture="seed")
    model = build_autoencoder(config, trained.window_length, len(trained.sensors))
    latent = model.get_layer("latent")
    kernel, recurrent, bias = latent.get_weights()
    candidate = 2 * config.latent_dim + unit  # Keras gate order: input, forget, candidate, output
    kernel[:, candidate], recurrent[:, candidate], bias[candidate] = 0.0, 0.0, -1.0
    latent.set_weights([kernel, recurrent, bias])
    store_autoencoder(data_root, replace(trained, model=model, config=config))


def latent_table(rows: int, start: str = "2026-01-01") -> LatentTable:
    """A small latent table of `rows` windows, one per second from `start`."""
    times = pd.date_range(start, periods=rows, freq="s").to_numpy()
    z = np.random.default_rng(0).normal(size=(rows, 3)).astype(np.float32)
    return LatentTable(times, times, z, np.abs(z[:, 0]))


def process_state(pid: int) -> str:
    """A process's state letter from /proc (T: stopped, e.g. by a SIGSTOP)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
