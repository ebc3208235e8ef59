"""Model versions and the published pointer: write, audit, then publish, each step on its own run's version.

Every run that trains or encodes writes its artifacts into a version folder of its own,

    <data root>/versions/<UTC time>_<run id prefix>/   autoencoder/, audit_latents/, latent_regimes/, latent_view/,
                                                       status.json

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
never goes back to an older version than the one published. It marks the version `published` before it moves
the pointer, so a reader that follows the pointer always finds a version whose status says so.

The pointer is believed only when it is what it claims (`published`): a pointer at a version whose status is not
`published` (failed, say), a corrupt pointer, or one at a version that no longer exists raises
`PublishedStateError`, naming what is wrong and what to do; only a data root with no pointer at all has
"nothing published". Publishing again (the retrain job) replaces a broken pointer.

The lock is the storage backend's (pipeline.storage): on a local root a flock(2) on `versions/.lock`, which
dies with its process; on an object store an object created only if absent, abandoned once it is older than
STALE_LOCK_S by the store's clock (pipeline.storage.store_lock says why that rule cannot block forever). A
wait for the lock is bounded (LOCK_WAIT_S); when it runs out, `LockTimeout` names the lock, who holds it where
known, and what to do. A step about to do expensive work takes its version first (`claim`), so that it fails
within that bounded wait, not after the work.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline.storage import ABANDONED_AFTER, LockTimeout, backend, location
from pipeline.storage.objectstore import POINTER_SUFFIX
from pipeline.store import artifact_file, is_artifact, link_artifact, load_artifact

__all__ = ["LockTimeout", "PublishError", "PublishSettings", "PublishedStateError", "StatusError", "VersionStore",
           "read_published"]

VERSIONS = "versions"
PUBLISHED = "published"
PUBLISHED_POINTER = PUBLISHED + POINTER_SUFFIX  # the published pointer on an object store (which has no symlinks)
LOCK_WAIT_S = 120  # how long a status change waits for the lock
LOCK = ".lock"
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


class PublishedStateError(RuntimeError):
    """The published pointer is not what it claims: corrupt, at a version that does not exist, or at a version
    whose status is not `published`. Consumers must not score with it."""


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
        self.storage = backend(self.root)

    # -- a run's own version ------------------------------------------------------------------------------
    def find(self, run_id: str) -> Path | None:
        """The version folder a run has started, if any."""
        existing = sorted((p for p in self.storage.children(self.base) if p.name.endswith(f"_{run_id[:8]}")), key=str)
        return existing[-1] if existing else None

    def for_run(self, run_id: str, now: datetime | None = None) -> Path:
        """The version folder of a run: the one it already started, else a new one named by the time now."""
        existing = self.find(run_id)
        if existing is not None:
            return existing
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
        folder = self.base / f"{stamp}_{run_id[:8]}"
        self.storage.make_folder(folder)
        self.advance(folder, "written", run_id=run_id)
        return folder

    def claim(self, run_id: str) -> Path:
        """The run's version, created now if it is new, taking the version lock either way: a step calls this
        before expensive work (training), so that a lock it cannot take fails it within LOCK_WAIT_S, before
        the work rather than at its first versioned write after it."""
        existing = self.find(run_id)
        if existing is None:
            return self.for_run(run_id)
        with self.lock(f"check the lock for {existing.name}"):
            pass
        return existing

    def holds(self, folder: Path | None, asset: str) -> bool:
        """Whether `folder` holds a complete artifact of `asset`."""
        return folder is not None and is_artifact(location(folder) / asset)

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
        text = self.storage.read_text(location(folder) / STATUS_FILE)
        try:
            return json.loads(text) if text is not None else {}
        except ValueError:
            return {}

    def advance(self, folder: Path, status: str, **details) -> None:
        """Move `folder` to `status` (or record details under the same status), refusing any step back."""
        with self.lock(f"{status} {location(folder).name}"):
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
        self.storage.write_text(location(folder) / STATUS_FILE, json.dumps(record, indent=2, default=str))

    @contextmanager
    def lock(self, purpose: str = "", wait_s: float | None = None):
        """One status change or publication at a time, across processes, runs and machines (the storage
        backend's lock on `versions/.lock`); LockTimeout after `wait_s` (LOCK_WAIT_S)."""
        with self.storage.lock(self.base / LOCK, purpose, LOCK_WAIT_S if wait_s is None else wait_s):
            yield

    # -- the latest written, for runs that use another run's work ----------------------------------------
    def record_latest(self, asset: str, folder: Path) -> None:
        """Remember where an asset was last written (`<data root>/store/<asset>.json`), atomically."""
        self.storage.write_text(self.root / "store" / f"{asset}.json",
                                json.dumps({"path": self.storage.relative(folder, self.root)}))

    def latest(self, asset: str) -> Path | None:
        """Where an asset was last written, by whichever run."""
        try:
            return self.root / json.loads(self.storage.read_text(self.root / "store" / f"{asset}.json"))["path"]
        except (TypeError, ValueError, KeyError):  # none recorded, or unreadable
            return None

    # -- publishing ---------------------------------------------------------------------------------------
    def published(self) -> Path | None:
        """The published version, None when nothing has ever been published. Raises PublishedStateError when
        the pointer is not what it claims: corrupt, at a missing version, or at one whose status is not
        `published` (see the module's notes)."""
        version, problem = self._pointed()
        if problem:
            raise PublishedStateError(problem)
        return version

    def _pointed(self) -> tuple[Path | None, str | None]:
        """The version the published pointer names, and what is wrong with it (None when nothing is)."""
        pointer = self.storage.read_pointer(self.root / PUBLISHED, self.base)
        where = pointer.where
        fix = f"run the retrain job to publish a new version (publishing replaces the pointer), or {pointer.repair}"
        if pointer.corrupt:
            return None, (f"the published pointer {where} is corrupt ({pointer.corrupt}), so no model can be trusted "
                          f"as published: {fix}")
        if pointer.target is None:
            return None, None
        version, name = pointer.target, pointer.target.name
        exists = self.storage.exists(version)
        if not exists:
            return None, (f"the published pointer {where} names version {name}, which does not exist under "
                          f"{self.base} (pruned or deleted?): {fix}")
        status = self.status(version).get("status")
        if status != "published":
            return None, (f"the published pointer {where} names version {name}, whose status is "
                          f"{status or 'missing or unreadable'}, not published: it must not be scored with; {fix}")
        return version, None

    def published_file(self, asset: str, name: str):
        """Where consumers find the file `name` of the published `asset`: under `published/` on a local root,
        in the published version itself on an object store (which has no symlink)."""
        version = self.published()
        if version is None:
            raise FileNotFoundError(f"nothing has been published under {self.root}: run the retrain job first")
        return artifact_file(self.storage.through_pointer(self.root / PUBLISHED, version) / asset, name)

    def list(self) -> list[Path]:
        return sorted((p for p in self.storage.children(self.base) if not p.name.startswith(".")), key=lambda p: p.name)

    def publish(self, folder: Path, keep: int, required: tuple[str, ...] = ()) -> Publication:
        """Point `published` at `folder` atomically if its status, read again under the lock, is audited and
        no newer version is published; then prune to the newest `keep` versions. Refuses a failed, unaudited
        or incomplete version (missing one of `required`)."""
        folder = self.storage.canonical(location(folder))
        with self.lock(f"publish {folder.name}"):
            status = self.status(folder).get("status")
            if status == "failed":
                raise PublishError(f"version {folder.name} failed its audit and cannot be published")
            if status not in ("audited", "published"):
                raise PublishError(f"version {folder.name} is {status or 'incomplete'}: its latents have not "
                                   "passed the latent check, so it cannot be published")
            missing = [a for a in required if not self.holds(folder, a)]
            if missing:
                raise PublishError(f"version {folder.name} lacks {', '.join(missing)}: it cannot be published")
            current, _ = self._pointed()  # a broken pointer counts as none: publishing replaces it
            if current is not None and current.name > folder.name:
                return Publication(folder, False, current)
            self._advance(folder, "published")  # first: the pointer only ever names a published version
            self.storage.write_pointer(self.root / PUBLISHED, folder)  # atomic: readers see the old or the new
            return Publication(folder, True, folder, self._prune(keep, folder))

    def _prune(self, keep: int, published: Path) -> list[Path]:
        """Delete all but the newest `keep` versions, never the published one nor a `written` one young
        enough to belong to a run still in progress."""
        versions = self.list()
        now = datetime.now(UTC)
        doomed = [v for v in versions[: max(len(versions) - keep, 0)]
                  if v.name != published.name and not self._maybe_running(v, now)]
        for v in doomed:
            self.storage.remove(v)
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
    when nothing has been published under `data_root`, PublishedStateError when the pointer is broken or names a
    version that is not published."""
    version = VersionStore(data_root).published()
    if version is None:
        raise FileNotFoundError(f"nothing has been published under {data_root}: run the retrain job first")
    return load_artifact(version / asset)
