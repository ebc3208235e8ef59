"""Where the pipeline reads and writes: one data root, and an IO manager that stores artifacts under it."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from pipeline.store import load_artifact, save_artifact

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR_ENV = "PIPELINE_DATA_DIR"


def default_data_root() -> str:
    """`$PIPELINE_DATA_DIR` if set, else the project's `data/` folder (independent of the working folder)."""
    return os.environ.get(DATA_DIR_ENV) or str(PROJECT_ROOT / "data")


class DataRoot(dg.ConfigurableResource):
    """The data root: raw files under `raw/`, everything the pipeline writes under `store/`."""

    path: str

    @property
    def raw_dir(self) -> Path:
        return Path(self.path) / "raw"

    @property
    def store_dir(self) -> Path:
        return Path(self.path) / "store"

    def path_of(self, *parts: str) -> Path:
        return Path(self.path).joinpath(*parts)


class ArtifactIOManager(dg.ConfigurableIOManager):
    """Each asset is one folder `<data root>/store/<asset>/`, replaced atomically (see pipeline.store)."""

    data_root: DataRoot

    def _folder(self, key: dg.AssetKey) -> Path:
        return self.data_root.store_dir.joinpath(*key.path)

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        path = save_artifact(obj, self._folder(context.asset_key))
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})
        context.log.info(f"wrote {context.asset_key.to_user_string()}: {path}")

    def load_input(self, context: dg.InputContext):
        return load_artifact(self._folder(context.asset_key))
