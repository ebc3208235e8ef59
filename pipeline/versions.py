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
never goes back to an older version than the one published. It marks the version `published` before it moves
the pointer, so a reader that follows the pointer always finds a version whose status says so.

The pointer is believed only when it is what it claims (`published`): a pointer at a version whose status is not
`published` (failed, say), a corrupt pointer, or one at a version that no longer exists raises
`PublishedStateError`, naming what is wrong and what to do; only a data root with no pointer at all has
"nothing published". Publishing again (the retrain job) replaces a broken pointer.

The lock. On a local root it is a flock(2) on `versions/.lock`, which dies with its process. On an object store
it is the object `versions/.lock`, created only if absent (a conditional PUT), holding who took it (holder id,
host, pid, what for, and the holder's own clock `at`, for people only). A process that died holding it cannot
release it, so a lock object is abandoned, and deleted by the next process that wants it, once it is older than
STALE_LOCK_S **by the store's clock**: its age is the store's time now minus the LastModified time the store
reports for it. The store's time now is measured by writing a probe object and reading its LastModified
(once per wait, then carried forward with this machine's monotonic clock); S3 keeps whole seconds, so the age
is known to within a second. Neither the holder's clock nor this
machine's nor the lock's content enters the rule, so a holder whose clock runs ahead, a lock holding garbage or
no time at all, or this machine's own clock being wrong can neither block every run forever nor rob a live
holder. (Before deleting an abandoned lock the waiter checks that it is still the same object, by its ETag and
time.) A wait for the lock is bounded (LOCK_WAIT_S); when it runs out, `LockTimeout` names the lock object, who
holds it, since when, and what to do. A step about to do expensive work takes its version first (`claim`), so
that it fails within that bounded wait, not after the work.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline.objects import children, create_exclusive, is_remote, location, relative, remove, stat_object
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
STALE_LOCK_S = 600  # a lock object older than this, by the store's clock, was left by a process that died holding it
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


class LockTimeout(TimeoutError):
    """The version lock could not be taken within LOCK_WAIT_S; `metadata` says which lock, who holds it, since
    when (by the store's clock) and when it counts as abandoned."""

    def __init__(self, message: str, metadata: dict):
        super().__init__(message)
        self.metadata = metadata


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
        atomic_write_text(location(folder) / STATUS_FILE, json.dumps(record, indent=2, default=str))

    @contextmanager
    def lock(self, purpose: str = ""):
        """One status change or publication at a time, across processes and runs (and machines: on an object
        store the lock is an object created only if absent; see the module's notes for when it is abandoned)."""
        if self.remote:
            with self._store_lock(purpose):
                yield
            return
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.base / LOCK, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextmanager
    def _store_lock(self, purpose: str):
        lock, deadline = self.base / LOCK, time.monotonic() + LOCK_WAIT_S
        mine = {"holder": uuid.uuid4().hex, "at": time.time(), "host": socket.gethostname(), "pid": os.getpid(),
                "purpose": purpose}
        text = json.dumps(mine)
        store_clock = None  # (the store's time, this machine's monotonic time) when measured
        pause = 0.05
        # a store that ignored the condition would let a second writer replace the object: read it back
        while not (create_exclusive(lock, text) and _read_text(lock) == text):
            seen = stat_object(lock)
            if seen is not None:
                if store_clock is None:
                    store_clock = (self._store_now(), time.monotonic())
                age = store_clock[0] + (time.monotonic() - store_clock[1]) - seen["modified"]
                if age > STALE_LOCK_S:  # its holder died: nobody else can release it
                    if stat_object(lock) == seen:  # still the object judged abandoned, not a new holder's
                        lock.unlink(missing_ok=True)
                    continue
                if time.monotonic() > deadline:
                    raise self._timeout(lock, seen, age)
            elif time.monotonic() > deadline:  # released and taken again, over and over
                raise LockTimeout(f"{lock} could not be taken within {LOCK_WAIT_S} s: other runs kept taking it",
                                  {"lock": str(lock)})
            time.sleep(pause)
            pause = min(pause * 1.5, 0.5)
        try:
            yield
        finally:
            if _read_text(lock) == text:
                lock.unlink(missing_ok=True)

    def _store_now(self) -> float:
        """The store's time now (seconds since the epoch): the LastModified of a probe object written now.
        Falls back on this machine's clock when the store refuses the probe."""
        probe = self.base / f"{LOCK}-clock-{uuid.uuid4().hex}"
        try:
            probe.fs.pipe_file(probe.path, b"")
            stamp = stat_object(probe)
            # whole seconds on S3, rounded down as the lock's own time is: their difference is within 1 s
            return stamp["modified"] if stamp else time.time()
        except OSError:
            return time.time()
        finally:
            try:
                probe.unlink(missing_ok=True)
            except OSError:
                pass

    def _timeout(self, lock, seen: dict, age: float) -> LockTimeout:
        content = _read_text(lock)
        try:
            held = json.loads(content) if content is not None else None
        except ValueError:
            held = None
        if isinstance(held, dict) and held.get("holder"):
            who = ", ".join(f"{k} {held[k]}" for k in ("host", "pid", "purpose", "holder") if held.get(k) not in
                            (None, ""))
        else:
            who = f"an unknown holder (the lock holds {content[:80]!r})" if content is not None else "another run"
        since = datetime.fromtimestamp(seen["modified"], UTC).isoformat(timespec="seconds")
        abandoned = datetime.fromtimestamp(seen["modified"] + STALE_LOCK_S, UTC).isoformat(timespec="seconds")
        message = (f"{lock} has been held for {age:.0f} s (since {since} by the store's clock) by {who}; waited "
                   f"{LOCK_WAIT_S} s for it. It counts as abandoned {STALE_LOCK_S} s after it was written (from "
                   f"{abandoned}), when the next run breaks it. If no run is changing a version's status or "
                   f"publishing on this data root now, delete it ({lock}) and rerun; otherwise rerun once that run "
                   "has finished")
        return LockTimeout(message, {"lock": str(lock), "holder": content, "held_since": since,
                                     "held_for_s": round(age, 1), "abandoned_from": abandoned})

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
        """The published version, None when nothing has ever been published. Raises PublishedStateError when
        the pointer is not what it claims: corrupt, at a missing version, or at one whose status is not
        `published` (see the module's notes)."""
        version, problem = self._pointed()
        if problem:
            raise PublishedStateError(problem)
        return version

    def _pointed(self) -> tuple[Path | None, str | None]:
        """The version the published pointer names, and what is wrong with it (None when nothing is)."""
        if self.remote:
            where = self.root / PUBLISHED_POINTER
            repair = (f'rewrite {where} as {{"version": "<name>"}} naming a published version under {self.base}, '
                      "or delete it")
        else:
            where = self.root / PUBLISHED
            repair = f"re-link {where} to a published version under {self.base}, or delete it"
        fix = f"run the retrain job to publish a new version (publishing replaces the pointer), or {repair}"
        if self.remote:
            text = _read_text(where)
            if text is None:
                return None, None
            try:
                name = json.loads(text)["version"]
            except (ValueError, KeyError, TypeError, IndexError):
                name = None
            if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
                return None, (f"the published pointer {where} is corrupt (it holds {text[:80]!r}, not "
                              f'{{"version": "<version name>"}}), so no model can be trusted as published: {fix}')
            version = self.base / name
            exists = (version / STATUS_FILE).exists()
        else:
            if not where.is_symlink():
                if where.exists():
                    return None, (f"the published pointer {where} is corrupt: not a symlink to a version, so no "
                                  f"model can be trusted as published: {fix}")
                return None, None
            version = Path(os.path.realpath(where))
            name, exists = version.name, version.is_dir()
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
        return artifact_file(version / asset, name) if self.remote else self.root / PUBLISHED / asset / name

    def list(self) -> list[Path]:
        return sorted((p for p in children(self.base) if not p.name.startswith(".")), key=lambda p: p.name)

    def publish(self, folder: Path, keep: int, required: tuple[str, ...] = ()) -> Publication:
        """Point `published` at `folder` atomically if its status, read again under the lock, is audited and
        no newer version is published; then prune to the newest `keep` versions. Refuses a failed, unaudited
        or incomplete version (missing one of `required`)."""
        folder = location(folder) if self.remote else Path(folder).resolve()
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
            if self.remote:  # one PUT: readers see the old pointer or the new one
                atomic_write_text(self.root / PUBLISHED_POINTER, json.dumps({"version": folder.name}))
                return Publication(folder, True, folder, self._prune(keep, folder))
            tmp = self.root / f".{PUBLISHED}.tmp-{uuid.uuid4().hex}"
            try:
                os.symlink(os.path.relpath(folder, self.root), tmp)
                os.replace(tmp, self.root / PUBLISHED)  # rename(2) is atomic: readers see the old or the new one
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise storage_error(self.root / PUBLISHED, exc) from None
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


def _read_text(path) -> str | None:
    """An object's or file's text (bytes that are not UTF-8 replaced), None when it does not exist."""
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return None


def read_published(data_root: str | Path, asset: str = "audit_latents"):
    """What a consumer reads of the published version, on a local data root or an object store alike: its audit
    latents table (a DataFrame) by default, or `asset="autoencoder"` for the model. Raises FileNotFoundError
    when nothing has been published under `data_root`, PublishedStateError when the pointer is broken or names a
    version that is not published."""
    version = VersionStore(data_root).published()
    if version is None:
        raise FileNotFoundError(f"nothing has been published under {data_root}: run the retrain job first")
    return load_artifact(version / asset)
