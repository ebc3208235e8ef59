"""Model versions and the published pointer: write, audit, then publish, each step on its own run's version.

Every run that trains or encodes writes its artifacts into a version folder of its own,

    <data root>/versions/<UTC time>_<run id prefix>/   autoencoder/, audit_latents/, status.json

named so that versions sort by time and trace back to their run. Consumers read only

    <data root>/published/                             a symlink to the published version folder

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
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline.store import ABANDONED_AFTER, MANIFEST, atomic_write_text, link_artifact, storage_error

VERSIONS = "versions"
PUBLISHED = "published"
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
        self.root = Path(root)
        self.base = self.root / VERSIONS

    # -- a run's own version ------------------------------------------------------------------------------
    def find(self, run_id: str) -> Path | None:
        """The version folder a run has started, if any."""
        existing = sorted(self.base.glob(f"*_{run_id[:8]}")) if self.base.is_dir() else []
        return existing[-1] if existing else None

    def for_run(self, run_id: str, now: datetime | None = None) -> Path:
        """The version folder of a run: the one it already started, else a new one named by the time now."""
        existing = self.find(run_id)
        if existing is not None:
            return existing
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
        folder = self.base / f"{stamp}_{run_id[:8]}"
        folder.mkdir(parents=True, exist_ok=True)
        self.advance(folder, "written", run_id=run_id)
        return folder

    def holds(self, folder: Path | None, asset: str) -> bool:
        """Whether `folder` holds a complete artifact of `asset`."""
        return folder is not None and (Path(folder) / asset / MANIFEST).is_file()

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
            return json.loads((Path(folder) / STATUS_FILE).read_text())
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
            raise StatusError(f"version {Path(folder).name} is {old or 'without a status'} and cannot become "
                              f"{status}")
        record = {**previous, **details, "status": status}
        if status != old:
            record[f"{status}_at"] = datetime.now(UTC).isoformat()
        atomic_write_text(Path(folder) / STATUS_FILE, json.dumps(record, indent=2, default=str))

    @contextmanager
    def lock(self):
        """One status change or publication at a time, across processes and runs."""
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.base / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- the latest written, for runs that use another run's work ----------------------------------------
    def record_latest(self, asset: str, folder: Path) -> None:
        """Remember where an asset was last written (`<data root>/store/<asset>.json`), atomically."""
        atomic_write_text(self.root / "store" / f"{asset}.json",
                          json.dumps({"path": os.path.relpath(folder, self.root)}))

    def latest(self, asset: str) -> Path | None:
        """Where an asset was last written, by whichever run."""
        try:
            return self.root / json.loads((self.root / "store" / f"{asset}.json").read_text())["path"]
        except (OSError, ValueError, KeyError):
            return None

    # -- publishing ---------------------------------------------------------------------------------------
    def published(self) -> Path | None:
        link = self.root / PUBLISHED
        return Path(os.path.realpath(link)) if link.is_symlink() and link.exists() else None

    def list(self) -> list[Path]:
        return sorted(p for p in self.base.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if self.base.is_dir() else []

    def publish(self, folder: Path, keep: int, required: tuple[str, ...] = ()) -> Publication:
        """Point `published` at `folder` atomically if its status, read again under the lock, is audited and
        no newer version is published; then prune to the newest `keep` versions. Refuses a failed, unaudited
        or incomplete version (missing one of `required`)."""
        folder = Path(folder).resolve()
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
                  if v.resolve() != published and not self._maybe_running(v, now)]
        for v in doomed:
            shutil.rmtree(v, ignore_errors=True)
        return doomed

    def _maybe_running(self, folder: Path, now: datetime) -> bool:
        status = self.status(folder)
        if status.get("status") != "written":
            return False
        try:
            return now - datetime.fromisoformat(status["written_at"]) < ABANDONED_AFTER
        except (KeyError, ValueError):
            return False

