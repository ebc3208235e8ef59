"""Where the pipeline reads and writes: one data root, and an IO manager that stores artifacts under it."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

import dagster as dg

from assets.metadata import file_link
from pipeline.catalog import Catalog
from pipeline.storage import ArtifactDamaged, LockTimeout, StorageError, StoreUnreachable
from pipeline.store import load_artifact
from pipeline.versions import VersionStore


class DataRoot(dg.ConfigurableResource):
    """The data root, a local folder or an object-store URL (`s3://bucket/prefix`, any fsspec URL). Where
    everything lives under it is the catalog's to say (pipeline.catalog)."""

    path: str

    @property
    def catalog(self) -> Catalog:
        return Catalog(self.path)

    @property
    def root(self):
        return self.catalog.root

    @property
    def store_dir(self):
        return self.catalog.store_dir

    @property
    def versions(self) -> VersionStore:
        return self.catalog.versions

    def day_folder(self, asset: str, day: str):
        """Where a day partition of `asset` is stored: `<data root>/store/<asset>/<day>/`."""
        return self.catalog.day_folder(asset, day)


def storage_failures(body):
    """An asset (or check) body whose data root cannot be reached (an object store without credentials, or not
    answering) fails as a dagster.Failure naming the store and what to do, not as the client's traceback."""
    if inspect.isgeneratorfunction(body):  # a body that yields its outputs
        @functools.wraps(body)
        def guarded_steps(*args, **kwargs):
            try:
                yield from body(*args, **kwargs)
            except StoreUnreachable as exc:
                raise dg.Failure(description=str(exc)) from None
        return guarded_steps

    @functools.wraps(body)
    def guarded(*args, **kwargs):
        try:
            return body(*args, **kwargs)
        except StoreUnreachable as exc:
            raise dg.Failure(description=str(exc)) from None
    return guarded


def lock_failure(exc: LockTimeout, what: str) -> dg.Failure:
    """The step's failure when the version lock could not be taken: which lock, who holds it, since when, and
    what to do, in the text and as metadata."""
    return dg.Failure(description=f"{what}: {exc}",
                      metadata={k: v for k, v in exc.metadata.items() if v is not None})


def claim_version(context: dg.AssetExecutionContext, data_root: DataRoot) -> Path:
    """The run's own version, taken (with the version lock) before a step's expensive work, so that a lock the
    step cannot take fails it now, within the lock's bounded wait, not at its first versioned write after the
    work."""
    try:
        return data_root.versions.claim(context.run.run_id)
    except LockTimeout as exc:
        raise lock_failure(exc, "the run's version could not be taken before the work began") from None
    except StorageError as exc:
        raise dg.Failure(description=f"the run's version could not be created: {exc}") from None


VERSIONED = "sensor_latents/versioned"  # asset metadata: write into the run's version folder
PINNED = "sensor_latents/pinned"  # input metadata: the run uses, and keeps in its version, this exact artifact


class ArtifactIOManager(dg.ConfigurableIOManager):
    """Each asset is one artifact folder, replaced atomically (see pipeline.store): a day partition in
    `<data root>/store/<asset>/<day>/` (a run over a range writes each day's folder); else
    `<data root>/store/<asset>/` (shared; the run keeps its own copy for its later steps), or, for assets marked
    versioned,
    `<data root>/versions/<version of this run>/<asset>/` with `<data root>/store/<asset>.json` pointing at the
    latest one (see pipeline.versions). A run always reads what it wrote itself, never another run's
    artifact written meanwhile."""

    data_root: DataRoot

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        name, catalog = context.asset_key.to_user_string(), self.data_root.catalog
        if context.has_asset_partitions:  # a day partition (or each day of a range): its own folder
            days = context.asset_partition_keys
            objs = obj if isinstance(obj, dict) else {days[0]: obj}
            try:
                paths = [catalog.save_day(name, day, objs[day]) for day in days]
            except StorageError as exc:
                raise dg.Failure(description=f"{name} could not be stored: {exc}") from None
            if len(days) == 1:  # a range asset names each day's own folder itself (assets.metadata.per_day)
                context.add_output_metadata({"path": dg.MetadataValue.path(str(paths[0].parent))})
            context.log.info(f"wrote {name} for {', '.join(days)}: {catalog.store_dir / name}")
            return
        versioned = bool((context.definition_metadata or {}).get(VERSIONED))
        try:
            if versioned:
                path, version = catalog.save_versioned(name, context.run_id, obj)
            else:
                path = catalog.save_for_run(name, context.run_id, obj)
        except StorageError as exc:
            raise dg.Failure(description=f"{name} could not be stored: {exc}") from None
        except LockTimeout as exc:
            raise lock_failure(exc, f"{name} could not be stored in this run's version") from None
        metadata = {"path": dg.MetadataValue.path(str(path))}
        if str(path).endswith(".html"):  # a page to open (pipeline.view)
            metadata["view"] = file_link(path)
        if versioned:
            metadata["version"] = version
        context.add_output_metadata(metadata)
        context.log.info(f"wrote {name}: {path}")

    def load_input(self, context: dg.InputContext):
        """What this run wrote, else the latest written (by whichever run; Catalog.for_run). An input marked
        pinned is first linked into this run's version, so every later step of the run, and the published
        version, see exactly the artifact this run used."""
        name, catalog = context.asset_key.to_user_string(), self.data_root.catalog
        run_id = context.step_context.run_id
        if context.has_asset_partitions:
            days = context.asset_partition_keys
            try:
                loaded = {day: catalog.day(name, day) for day in days}
            except ArtifactDamaged as exc:
                raise dg.Failure(description=f"{name}: {exc}") from None
            except StorageError as exc:
                raise dg.Failure(description=f"{name} could not be read: {exc}") from None
            missing = [d for d, v in loaded.items() if v is None]
            if missing:
                raise dg.Failure(description=f"{name} is needed for {', '.join(missing)} but missing: materialise "
                                             "it for those days first")
            return loaded if len(days) > 1 else loaded[days[0]]
        try:
            if (context.definition_metadata or {}).get(PINNED):
                return load_artifact(catalog.versions.pin(run_id, name))
            return load_artifact(catalog.for_run(name, run_id))
        except FileNotFoundError as exc:  # never materialised under this data root (ArtifactMissing included)
            raise dg.Failure(description=f"{name} is needed but missing: {exc}") from None
        except ArtifactDamaged as exc:
            raise dg.Failure(description=f"{name}: {exc}") from None
        except StorageError as exc:
            raise dg.Failure(description=f"{name} could not be read or pinned into this run's version: {exc}") \
                from None
        except LockTimeout as exc:
            raise lock_failure(exc, f"{name} could not be pinned into this run's version") from None
