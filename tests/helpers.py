"""Helpers shared by the tests: running the real assets in process, reading run results."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import dagster as dg

from assets.definitions import ASSETS, CHECKS, build_resources
from pipeline.model import build_autoencoder
from pipeline.store import LATENTS_FILE, load_artifact, save_artifact
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


def materialize(data_root: Path, selection: str | list[str] = "*", run_config: dict | None = None):
    """Materialise the real assets and check in process against `data_root`; failures are returned."""
    return dg.materialize(
        [*ASSETS, *CHECKS],
        selection=selection,
        resources=build_resources(str(data_root)),
        run_config=run_config if run_config is not None else TINY_RUN_CONFIG,
        raise_on_error=False,
    )


def materialized_keys(result) -> set[str]:
    return {e.event_specific_data.materialization.asset_key.to_user_string()
            for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}


def make_sample_root(base: Path) -> Path:
    """A data root under `base` holding two days of sample files at 60 s (2 x 1440 rows) and the shipped
    contract, its sampling period set to 60 s and its gap limit to 3 periods."""
    raw = base / "data" / "raw"
    write_daily_files(generate(days=2, period_s=60, seed=11), raw)
    contract = SHIPPED_CONTRACT.read_text()
    for old, new in [("sampling_period_s: 20\n", "sampling_period_s: 60\n"), ("max_gap_s: 60 ", "max_gap_s: 180 ")]:
        assert old in contract
        contract = contract.replace(old, new)
    (raw / "sensors.yaml").write_text(contract)
    return base / "data"


def published_latents(root: Path) -> Path:
    """Where consumers read the latents."""
    return root / PUBLISHED / "latent_vectors" / LATENTS_FILE


def latest_latents(root: Path) -> Path:
    """The latents most recently written, checked or not."""
    return VersionStore(root).latest("latent_vectors") / LATENTS_FILE


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
