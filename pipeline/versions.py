"""Model versions and the published pointer: write, audit, then publish, each step on its own run's version.

Every run that trains or encodes writes its artifacts into a version folder of its own,

    <data root>/versions/<UTC time>_<run id prefix>/   autoencoder/, audit_latents/, status.json

named so that versions sort by time and trace back to their run. Consumers read only

    <data root>/published/                             a symlink to the published version folder
    <data root>/published.json                         on an object store (no symlinks): {"version": <name>}

`read_published` is the one way for a consumer to read it on either.

A version's status only moves forward, under a lock shared by every process on the data root:

    written -> audited -> published        (the blocking latent check passed, then the run published it)
    written -> failed                      (the check failed: final, it can never be audited or published)

Every step finds its own work by its run id (`for_run`, `find`), never by "the latest written", so two runs
that interleave cannot audit or publish each other's version. A run that encodes with a model it did not
train pins that model into its own version first (`pin`, hard links), so a version always holds the model
that made its latents. Publishing re-reads the status under the lock, switches the symlink atomically, and
never goes back to an older version than the one published.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline.objects import children, create_exclusive, is_remote, location, read_json, relative, remove
from pipeline.store import (
    ABANDONED_AFTER,
    MANIFEST,
    artifact_file,
    atomic_write_text,
    link_artifact,
    load_artifact,
    storage_error,
)

VERSIONS = "versions"
PUBLISHED = "published"
PUBLISHED_POINTER = "published.json"  # the published pointer on an object store
LOCK_WAIT_S = 120  # how long a status change waits for the lock on an object store
STALE_LOCK_S = 600  # a lock object older than this was left by a process that died holding it
STATUS_FILE = "status.json"
# status -> the statuses it may move to (audited: the blocking latent check passed)
TRANSITIONS = {None: ("written",), "written": ("audited", "failed"), "audited": ("audited", "published"),
               "failed": ("failed",), "published": ("published",)}


@dataclass(frozen=True)
class PublishSettings:
    """How versions are kept (the defaults of the `published_model` asset)."""

    keep_versions: int = 5  # never the published one, nor one a run may still be writing


class PublishError(RuntimeError):
    """A version that may not be published (failed its audit, never audited, or incomplete)."""


class StatusError(RuntimeError):
    """A status change that would break the order written -> audited/failed -> published."""


@dataclass(frozen=True)
class Publication:
    """What publishing did: `published` is False when a newer version was already published (`current`)."""

    version: Path
    published: bool
    current: Path
    pruned: list[Path] = field(default_factory=list)


class VersionStore:
    """The version folders and the published pointer under one data root."""

    def __init__(self, root: Path):
        self.root = location(root)
        self.base = self.root / VERSIONS
        self.remote = is_remote(self.root)

    # -- a run's own version ------------------------------------------------------------------------------
    def find(self, run_id: str) -> Path | None:
        """The version folder a run has started, if any."""
        existing = sorted((p for p in children(self.base) if p.name.endswith(f"_{run_id[:8]}")), key=str)
        return existing[-1] if existing else None

    def for_run(self, run_id: str, now: datetime | None = None) -> Path:
        """The version folder of a run: the one it already started, else a new one named by the time now."""
        existing = self.find(run_id)
        if existing is not None:
            return existing
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
        folder = self.base / f"{stamp}_{run_id[:8]}"
        if not self.remote:  # on an object store a folder is its objects: the status below
            folder.mkdir(parents=True, exist_ok=True)
        self.advance(folder, "written", run_id=run_id)
        return folder

    def holds(self, folder: Path | None, asset: str) -> bool:
        """Whether `folder` holds a complete artifact of `asset`."""
        return folder is not None and (location(folder) / asset / MANIFEST).is_file()

    def pin(self, run_id: str, asset: str) -> Path:
        """The run's own copy of `asset`: what it wrote, else the latest written by another run, hard-linked
        into the run's version (a copy where links are impossible), so the version holds what it used even
        if the other version is pruned or replaced meanwhile."""
        own = self.for_run(run_id)
        if self.holds(own, asset):
            return own / asset
        source = self.latest(asset)
        if not self.holds(source and source.parent, asset):
            raise FileNotFoundError(f"no {asset} has been written under {self.base}: materialise it first")
        link_artifact(source, own / asset)
        self.advance(own, "written", **{f"{asset}_from": source.parent.name})
        return own / asset

    # -- status -------------------------------------------------------------------------------------------
    def status(self, folder: Path) -> dict:
        try:
            return json.loads((location(folder) / STATUS_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def advance(self, folder: Path, status: str, **details) -> None:
        """Move `folder` to `status` (or record details under the same status), refusing any step back."""
        with self.lock():
            self._advance(folder, status, **details)

    def audit(self, folder: Path, passed: bool, reason: str) -> None:
        """Record the blocking latent check's verdict on the run's own version."""
        if passed:
            self.advance(folder, "audited", audit=reason)
        else:
            self.advance(folder, "failed", reason=reason)

    def _advance(self, folder: Path, status: str, **details) -> None:
        previous = self.status(folder)
        old = previous.get("status")
        if status != old and status not in TRANSITIONS.get(old, ()):
            raise StatusError(f"version {location(folder).name} is {old or 'without a status'} and cannot become "
                              f"{status}")
        record = {**previous, **details, "status": status}
        if status != old:
            record[f"{status}_at"] = datetime.now(UTC).isoformat()
        atomic_write_text(location(folder) / STATUS_FILE, json.dumps(record, indent=2, default=str))

    @contextmanager
    def lock(self):
        """One status change or publication at a time, across processes and runs (and machines: on an object
        store the lock is an object created only if absent)."""
        if self.remote:
            with self._store_lock():
                yield
            return
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.base / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextmanager
    def _store_lock(self):
        lock, deadline = self.base / ".lock", time.monotonic() + LOCK_WAIT_S
        holder = json.dumps({"holder": uuid.uuid4().hex, "at": time.time()})
        # a store that ignored the condition would let a second writer replace the object: read it back
        while not (create_exclusive(lock, holder) and read_json(lock) == json.loads(holder)):
            held = read_json(lock)
            if held is not None and time.time() - held.get("at", 0) > STALE_LOCK_S:
                lock.unlink(missing_ok=True)  # its holder died: nobody else can release it
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"{lock} has been held for over {LOCK_WAIT_S} s by another run ({held}); if "
                                   "no run is publishing, delete it")
            time.sleep(0.05)
        try:
            yield
        finally:
            if read_json(lock) == json.loads(holder):
                lock.unlink(missing_ok=True)

    # -- the latest written, for runs that use another run's work ----------------------------------------
    def record_latest(self, asset: str, folder: Path) -> None:
        """Remember where an asset was last written (`<data root>/store/<asset>.json`), atomically."""
        atomic_write_text(self.root / "store" / f"{asset}.json",
                          json.dumps({"path": relative(folder, self.root)}))

    def latest(self, asset: str) -> Path | None:
        """Where an asset was last written, by whichever run."""
        try:
            return self.root / json.loads((self.root / "store" / f"{asset}.json").read_text())["path"]
        except (OSError, ValueError, KeyError):
            return None

    # -- publishing ---------------------------------------------------------------------------------------
    def published(self) -> Path | None:
        if self.remote:
            pointer = read_json(self.root / PUBLISHED_POINTER)
            return self.base / pointer["version"] if pointer else None
        link = self.root / PUBLISHED
        return Path(os.path.realpath(link)) if link.is_symlink() and link.exists() else None

    def published_file(self, asset: str, name: str):
        """Where consumers find the file `name` of the published `asset`: under `published/` on a local root,
        in the published version itself on an object store (which has no symlink)."""
        version = self.published()
        if version is None:
            raise FileNotFoundError(f"nothing has been published under {self.root}: run the retrain job first")
        return artifact_file(version / asset, name) if self.remote else self.root / PUBLISHED / asset / name

    def list(self) -> list[Path]:
        return sorted((p for p in children(self.base) if not p.name.startswith(".")), key=lambda p: p.name)

    def publish(self, folder: Path, keep: int, required: tuple[str, ...] = ()) -> Publication:
        """Point `published` at `folder` atomically if its status, read again under the lock, is audited and
        no newer version is published; then prune to the newest `keep` versions. Refuses a failed, unaudited
        or incomplete version (missing one of `required`)."""
        folder = location(folder) if self.remote else Path(folder).resolve()
        with self.lock():
            status = self.status(folder).get("status")
            if status == "failed":
                raise PublishError(f"version {folder.name} failed its audit and cannot be published")
            if status not in ("audited", "published"):
                raise PublishError(f"version {folder.name} is {status or 'incomplete'}: its latents have not "
                                   "passed the latent check, so it cannot be published")
            missing = [a for a in required if not self.holds(folder, a)]
            if missing:
                raise PublishError(f"version {folder.name} lacks {', '.join(missing)}: it cannot be published")
            current = self.published()
            if current is not None and current.name > folder.name:
                return Publication(folder, False, current)
            if self.remote:  # one PUT: readers see the old pointer or the new one
                atomic_write_text(self.root / PUBLISHED_POINTER, json.dumps({"version": folder.name}))
                self._advance(folder, "published")
                return Publication(folder, True, folder, self._prune(keep, folder))
            tmp = self.root / f".{PUBLISHED}.tmp-{uuid.uuid4().hex}"
            try:
                os.symlink(os.path.relpath(folder, self.root), tmp)
                os.replace(tmp, self.root / PUBLISHED)  # rename(2) is atomic: readers see the old or the new one
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise storage_error(self.root / PUBLISHED, exc) from None
            self._advance(folder, "published")
            return Publication(folder, True, folder, self._prune(keep, folder))

    def _prune(self, keep: int, published: Path) -> list[Path]:
        """Delete all but the newest `keep` versions, never the published one nor a `written` one young
        enough to belong to a run still in progress."""
        versions = self.list()
        now = datetime.now(UTC)
        doomed = [v for v in versions[: max(len(versions) - keep, 0)]
                  if v.name != published.name and not self._maybe_running(v, now)]
        for v in doomed:
            remove(v) if self.remote else shutil.rmtree(v, ignore_errors=True)
        return doomed

    def _maybe_running(self, folder: Path, now: datetime) -> bool:
        status = self.status(folder)
        if status.get("status") != "written":
            return False
        try:
            return now - datetime.fromisoformat(status["written_at"]) < ABANDONED_AFTER
        except (KeyError, ValueError):
            return False



def read_published(data_root: str | Path, asset: str = "audit_latents"):
    """What a consumer reads of the published version, on a local data root or an object store alike: its audit
    latents table (a DataFrame) by default, or `asset="autoencoder"` for the model. Raises FileNotFoundError
    when nothing has been published under `data_root`."""
    version = VersionStore(data_root).published()
    if version is None:
        raise FileNotFoundError(f"nothing has been published under {data_root}: run the retrain job first")
    return load_artifact(version / asset)
