"""The catalog of one data root: where each piece of stored state lives, and the rules for reading it.

    <root>/raw/                          the raw files (and the contract), never written by the pipeline
    <root>/store/<asset>/<day>/          a day partition of a per-day asset (readings, validated, latents, events)
    <root>/store/quarantine/<day>.json   a day whose latest delivery failed (ingestion or validation)
    <root>/store/<asset>/                a shared, unpartitioned artifact (the training span)
    <root>/versions/, published          model versions and the published pointer (pipeline.versions)
    <root>/reports/<kind>/<day>.json     readable reports (validation)
    <root>/views/<first>_<last>.html     the latent view of a run's scored days (each day's is in its store folder)
    cache                                parse cache and day index: `<root>/cache/`, or this machine's cache
                                         for a root on an object store

Assets, the nightly schedule, `pipeline.list_days` and the benchmarks find stored state through a `Catalog`, so
the layout is written down once, here. The day time zone is worked out here too, for the partitions and the
listing alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.contract import CONTRACT_FILES, ContractError, load_contract
from pipeline.days import DayClock, DayFiles, ValidatedDay, span_days
from pipeline.ingest import IngestSettings, raw_days
from pipeline.quarantine import QUARANTINE, Quarantine
from pipeline.storage import ArtifactMissing, backend, location, write_text
from pipeline.store import (
    is_artifact,
    load_artifact,
    read_fingerprint,
    release_run,
    run_folder,
    save_artifact,
    save_for_run,
    withdraw,
)
from pipeline.versions import VersionStore

DATA_DIR_ENV = "PIPELINE_DATA_DIR"
DAY_TIMEZONE_ENV = "PIPELINE_DAY_TIMEZONE"  # overrides the contract's day_timezone
PROJECT_DATA = Path(__file__).resolve().parents[1] / "data"
# What a day's delivery produced, newest stage last: all of it is withdrawn when a new delivery of the day fails.
DAY_OUTPUTS = ("raw_readings", "validated_readings", "latent_vectors", "anomaly_events", "day_latent_view")


def default_data_root() -> str:
    """`$PIPELINE_DATA_DIR` if set, else the project's `data/` folder (independent of the working folder)."""
    return os.environ.get(DATA_DIR_ENV) or str(PROJECT_DATA)


@dataclass
class Span:
    """The days a model trains on, oldest first, and the quarantined days in its range that were skipped."""

    days: list[ValidatedDay]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [d.day for d in self.days]


class Catalog:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = location(root if root is not None else default_data_root())
        self.storage = backend(self.root)

    # -- the layout ---------------------------------------------------------------------------------------
    @property
    def raw_dir(self):
        return self.root / "raw"

    @property
    def store_dir(self):
        return self.root / "store"

    @property
    def cache_dir(self) -> Path:
        """This machine's parse cache and day index of the root (on this machine even for a remote root)."""
        return self.storage.cache_dir(self.root)

    def range_view(self, first: str, last: str):
        """The latent view of a run's scored days (pipeline.view): `<root>/views/<first>_<last>.html`."""
        return self.root / "views" / f"{first}_{last}.html"

    def day_folder(self, asset: str, day: str):
        return self.store_dir / asset / day

    def report(self, kind: str, day: str):
        return self.root / "reports" / kind / f"{day}.json"

    def save_report(self, kind: str, day: str, text: str):
        """Write the day's readable report of `kind` (e.g. validation), atomically; returns where."""
        return write_text(self.report(kind, day), text)

    @property
    def quarantine(self) -> Quarantine:
        return Quarantine(self.store_dir / QUARANTINE)

    @property
    def versions(self) -> VersionStore:
        return VersionStore(self.root)

    def local_raw_dir(self, raw_dir: str | None = None) -> Path:
        """The raw folder to read (`raw_dir`, else `<root>/raw`) on this machine: a remote one is mirrored into
        this machine's cache first (only new or changed files are downloaded)."""
        raw = location(raw_dir) if raw_dir else self.raw_dir
        return backend(raw).local_view(raw)

    # -- days ---------------------------------------------------------------------------------------------
    def day_timezone(self) -> str:
        """`$PIPELINE_DAY_TIMEZONE`, else the `day_timezone` of the raw folder's contract, else UTC."""
        if os.environ.get(DAY_TIMEZONE_ENV):
            return os.environ[DAY_TIMEZONE_ENV]
        for name in CONTRACT_FILES:
            path = self.raw_dir / name
            if self.storage.exists(path):
                try:
                    return load_contract(path).day_timezone
                except ContractError:  # reported, with its file and key, when the readings are ingested
                    return "UTC"
        return "UTC"

    def raw_days(self, settings: IngestSettings | None = None, raw_dir: str | None = None,
                 clock: DayClock | None = None) -> DayFiles:
        """The days the raw folder holds readings of (read with `settings`, by default the asset's defaults),
        with their files and fingerprints, in the day time zone."""
        return raw_days(self.local_raw_dir(raw_dir), settings or IngestSettings(), self.cache_dir,
                        clock or DayClock(self.day_timezone()))

    def has(self, asset: str, day: str) -> bool:
        return is_artifact(self.day_folder(asset, day))

    def stored_days(self, asset: str) -> list[str]:
        """The days holding a complete artifact of `asset`, sorted (a listing: no artifact is read)."""
        return sorted(p.name for p in self.storage.children(self.store_dir / asset)
                      if not p.name.startswith(".") and is_artifact(p))

    def ingested_fingerprint(self, day: str) -> str | None:
        """The fingerprint of the raw files the day's stored readings were read from (None: not ingested)."""
        return read_fingerprint(self.day_folder("raw_readings", day))

    def day(self, asset: str, day: str):
        """The stored artifact of `asset` for `day`, or None when there is none (one read: no check first)."""
        try:
            return load_artifact(self.day_folder(asset, day))
        except ArtifactMissing:
            return None

    def save_day(self, asset: str, day: str, obj):
        """Store `obj` as the day partition `day` of `asset`; returns its main file."""
        return save_artifact(obj, self.day_folder(asset, day))

    # -- what a run writes and reads (unpartitioned assets) ---------------------------------------------------
    def save_for_run(self, asset: str, run_id: str, obj):
        """Store `obj` as `<store>/<asset>`, keeping the run's own copy for its later steps; returns its main
        file."""
        return save_for_run(obj, self.store_dir, run_id, asset)

    def save_versioned(self, asset: str, run_id: str, obj) -> tuple[object, str]:
        """Store `obj` in the run's own version (pipeline.versions) and record it as the latest `asset`;
        returns its main file and the version's name."""
        folder = self.versions.for_run(run_id) / asset
        path = save_artifact(obj, folder)
        self.versions.record_latest(asset, folder)
        return path, folder.parent.name

    def for_run(self, asset: str, run_id: str):
        """The artifact of `asset` a run reads: what it wrote itself (in its version, else its own store copy),
        else the latest written by any run, else the shared one in the store."""
        versions = self.versions
        own = versions.find(run_id)
        if versions.holds(own, asset):
            return own / asset
        own_store = run_folder(self.store_dir, run_id, asset)
        if is_artifact(own_store):
            return own_store
        return versions.latest(asset) or self.store_dir / asset

    def release_run(self, run_id: str) -> None:
        """The run has no later step: its own store copies can go (the shared artifacts stay)."""
        release_run(self.store_dir, run_id)

    def quarantine_day(self, day: str, headline: str, failures: list[dict], failed: str) -> None:
        """The day's latest delivery failed at the stage `failed` (an asset of DAY_OUTPUTS): record why, and
        withdraw what earlier deliveries produced at that stage and after it, so that nothing trains on or
        scores readings that are no longer the day's (the record first: a reader that misses a withdrawn
        output finds the reason)."""
        self.quarantine.hold(day, headline, failures)
        for asset in DAY_OUTPUTS[DAY_OUTPUTS.index(failed):]:
            withdraw(self.day_folder(asset, day))

    def span(self, training_days: int, last_day: str | None = None) -> Span:
        """The latest `training_days` validated days with readings up to `last_day`, and the quarantined days
        from the span's first day on (which it skips). Reads only the days it needs: walking back from the
        latest, an empty day is read and passed over, and older days are never opened."""
        read: dict[str, ValidatedDay | None] = {}

        def has_readings(name: str) -> bool:
            read[name] = self.day("validated_readings", name)
            return read[name] is not None and read[name].rows > 0

        used, skipped = span_days(self.stored_days("validated_readings"), self.quarantine.days(), has_readings,
                                  training_days, last_day)
        return Span([read[d] for d in used], skipped)
