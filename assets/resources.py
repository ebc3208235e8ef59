"""Where the pipeline reads and writes: one data root, and an IO manager that stores artifacts under it."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from pipeline.store import load_artifact, save_artifact
from pipeline.versions import find_version, latest, record_latest, version_folder

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR_ENV = "PIPELINE_DATA_DIR"


def default_data_root() -> str:
    """`$PIPELINE_DATA_DIR` if set, else the project's `data/` folder (independent of the working folder)."""
    return os.environ.get(DATA_DIR_ENV) or str(PROJECT_ROOT / "data")


class DataRoot(dg.ConfigurableResource):
    """The data root: raw files under `raw/`; the pipeline writes `store/`, `versions/`, `published`,
    `reports/` and `cache/` beside them."""

    path: str

    @property
    def raw_dir(self) -> Path:
        return Path(self.path) / "raw"

    @property
    def store_dir(self) -> Path:
        return Path(self.path) / "store"

    def path_of(self, *parts: str) -> Path:
        return Path(self.path).joinpath(*parts)


VERSIONED = "sensor_latents/versioned"  # asset metadata: write into the run's version folder


class ArtifactIOManager(dg.ConfigurableIOManager):
    """Each asset is one artifact folder, replaced atomically (see pipeline.store): `<data root>/store/<asset>/`,
    or, for assets marked versioned, `<data root>/versions/<version of this run>/<asset>/` with
    `<data root>/store/<asset>.json` pointing at the latest one (see pipeline.versions)."""

    data_root: DataRoot

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        name, root = context.asset_key.to_user_string(), Path(self.data_root.path)
        versioned = bool((context.definition_metadata or {}).get(VERSIONED))
        folder = (version_folder(root, context.run_id) if versioned else self.data_root.store_dir) / name
        path = save_artifact(obj, folder)
        metadata = {"path": dg.MetadataValue.path(str(path))}
        if versioned:
            record_latest(root, name, folder)
            metadata["version"] = folder.parent.name
        context.add_output_metadata(metadata)
        context.log.info(f"wrote {name}: {path}")

    def load_input(self, context: dg.InputContext):
        """What this run wrote, else the latest written (by whichever run), so a run that trains always
        encodes with its own model even if another run trained in between."""
        name, root = context.asset_key.to_user_string(), Path(self.data_root.path)
        own = find_version(root, context.step_context.run_id)
        if own is not None and (own / name).is_dir():
            return load_artifact(own / name)
        return load_artifact(latest(root, name) or self.data_root.store_dir / name)
