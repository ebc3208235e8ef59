"""What the pipeline asks of the place its data root lives in, whatever holds it.

Two backends answer: a local folder (pipeline.storage.local: a temporary file or folder, then a rename; hard
links; flock(2); a symlink as the published pointer) and an object store (pipeline.storage.objectstore:
immutable write prefixes with a manifest written last, conditional-PUT locks, a JSON pointer). `backend(path)`
picks one from the path itself; nothing outside pipeline/storage asks which kind of root it has.

An *artifact* is a folder whose `manifest.json` says it is complete (and, on a store, which write it is).
"""

from __future__ import annotations

import errno
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

MANIFEST = "manifest.json"
# What a run left this long ago is abandoned (the run ended or died) and may be pruned: its own store copies,
# a version still `written` (pipeline.versions), this machine's downloads of a store.
ABANDONED_AFTER = timedelta(days=1)


class StorageError(RuntimeError):
    """A write or read the storage refused (no space, read-only, no permission, a store that does not answer);
    names the path and the reason. What was there before is left in place."""


class StoreUnreachable(StorageError):
    """An object store that does not answer, or refuses this machine; `reason` says which and what to do."""

    def __init__(self, path, reason: str):
        super().__init__(f"cannot reach {path}: {reason}")
        self.reason = reason


def unreachable_reason(exc: BaseException) -> str | None:
    """One line for a store that does not answer or refuses this machine; None for any other error."""
    names = {c.__name__ for c in type(exc).__mro__}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"
    if "NoCredentialsError" in names:
        return "no credentials for the object store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
    if "ConnectTimeoutError" in names:
        return f"the object store at {endpoint} did not answer in time: check AWS_ENDPOINT_URL and the network"
    if "EndpointConnectionError" in names:
        return f"cannot connect to the object store at {endpoint}: start it, or fix AWS_ENDPOINT_URL"
    return None


class ArtifactMissing(FileNotFoundError):
    pass


class ArtifactDamaged(RuntimeError):
    """A complete artifact (its manifest is there) whose files cannot be read: truncated or corrupted after it
    was written. Names the artifact and what to do."""


def damaged(folder, why: str) -> ArtifactDamaged:
    return ArtifactDamaged(f"{folder} is damaged and cannot be read ({why}): "
                           "materialise it again (for a day: that day's partition) to replace it")


def manifest_text(kind: str, write: str | None = None) -> str:
    return json.dumps({"kind": kind, **({"write": write} if write else {})})


def manifest_kind(text: str, folder) -> str:
    """The kind a manifest records."""
    try:
        return json.loads(text)["kind"]
    except (ValueError, KeyError, TypeError):
        raise damaged(folder, f"{MANIFEST} holds {text[:60]!r}, not a manifest") from None


class LockTimeout(TimeoutError):
    """A lock could not be taken within its wait; `metadata` says which lock and, where known, who holds it and
    since when."""

    def __init__(self, message: str, metadata: dict):
        super().__init__(message)
        self.metadata = metadata


def missing(folder) -> ArtifactMissing:
    return ArtifactMissing(f"no complete artifact at {folder}: materialise the upstream asset first")


@dataclass(frozen=True)
class Pointer:
    """What a pointer (the published one) says: `target` the folder it names (None when it names none),
    `corrupt` what is wrong with it when it cannot be read as a pointer, `where` the pointer itself and
    `repair` how a person mends it by hand."""

    where: object
    repair: str
    target: object = None
    corrupt: str | None = None


class Backend(ABC):
    # -- files (a file is written whole or not at all) -------------------------------------------------------
    @abstractmethod
    def write_file(self, path, fill: Callable[[Path], None]):
        """Make `path` the file that `fill(tmp)` writes at a local temporary path, atomically; returns `path`."""

    def write_text(self, path, text: str):
        return self.write_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def read_text(self, path) -> str | None:
        """The file's text (bytes that are not UTF-8 replaced), None when it does not exist."""
        try:
            return path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return None

    @abstractmethod
    def delete(self, path) -> None:
        """Delete one file (nothing if it is not there)."""

    @abstractmethod
    def files(self, folder, suffix: str) -> list:
        """The files directly in `folder` whose names end with `suffix`, sorted (none if it does not exist)."""

    @abstractmethod
    def files_under(self, folder) -> list[str]:
        """The relative names of every file under `folder`."""

    @abstractmethod
    def children(self, folder) -> list:
        """The sub-folders of `folder` (none if it does not exist)."""

    @abstractmethod
    def exists(self, path) -> bool:
        """Whether a file, or a folder holding anything, is at `path`."""

    @abstractmethod
    def remove(self, folder) -> None:
        """Delete `folder` and everything under it (nothing if it is not there)."""

    @abstractmethod
    def changed_at(self, folder) -> float | None:
        """When `folder` last changed (seconds since the epoch), None when it does not exist."""

    @abstractmethod
    def root_problem(self, root) -> str | None:
        """What makes `root` unusable as a data root (not a folder, a bucket that does not exist), else None."""

    def make_folder(self, folder) -> None:
        """Make `folder` exist (a store has no folders: nothing to do there)."""

    def canonical(self, path):
        """The path that names `path`'s target independently of links."""
        return path

    @abstractmethod
    def relative(self, path, root) -> str:
        """`path` relative to `root` (both on this backend)."""

    # -- this machine's copies ------------------------------------------------------------------------------
    @abstractmethod
    def cache_dir(self, root) -> Path:
        """Where this machine keeps its parse cache and day index of `root` (always a local folder)."""

    @abstractmethod
    def local_view(self, folder) -> Path:
        """`folder` as a local folder to read (a store's is mirrored into this machine's cache: only new or
        changed files are downloaded)."""

    def released(self) -> None:
        """A run let go of what it read: this machine's copies no run has used for long may be dropped."""

    # -- artifacts ------------------------------------------------------------------------------------------
    @abstractmethod
    def put_artifact(self, folder, kind: str, fill: Callable[[Path], None]):
        """Make `folder` the complete artifact of `kind` whose files `fill(local)` writes into a local folder,
        replacing any previous one atomically; returns where its files are now."""

    @abstractmethod
    def is_complete(self, folder) -> bool:
        """Whether `folder` is a complete artifact."""

    @abstractmethod
    def files_of(self, folder):
        """Where the files of the complete artifact at `folder` are (ArtifactMissing when there is none)."""

    @abstractmethod
    def open_artifact(self, folder) -> tuple[str, Path]:
        """The kind of the complete artifact at `folder` and a local folder holding its files, to read from
        (ArtifactMissing when there is none)."""

    @abstractmethod
    def copy_artifact(self, source, target, replace: bool) -> None:
        """Make `target` a complete artifact with `source`'s files as they are now, atomically, costing no space
        where the backend can share files; an artifact already at `target` is kept unless `replace`.
        ArtifactMissing when `source` is not complete (or changed while it was copied: try again)."""

    @abstractmethod
    def withdraw(self, folder) -> None:
        """Take the artifact at `folder` away atomically: a reader finds it whole or not at all."""

    # -- locks and pointers ---------------------------------------------------------------------------------
    @abstractmethod
    def lock(self, path, purpose: str, wait_s: float) -> AbstractContextManager:
        """Hold the lock `path` (shared by every process using this root) for the block; LockTimeout when it
        cannot be taken within `wait_s`."""

    @abstractmethod
    def write_pointer(self, link, target) -> None:
        """Make the pointer `link` name the folder `target`, atomically: readers see the old or the new one."""

    @abstractmethod
    def read_pointer(self, link, base) -> Pointer:
        """What the pointer `link` names (a folder under `base`)."""

    def through_pointer(self, link, target):
        """The folder consumers read `target` through while `link` names it."""
        return target

    # -- errors ---------------------------------------------------------------------------------------------
    def space_note(self, path) -> str:
        return ""

    def error(self, path, exc: OSError) -> StorageError:
        """A refused write of `path` as one line: what, why and what to check."""
        reason = exc.strerror or str(exc)
        if getattr(exc, "filename", None) and str(exc.filename) != str(path):
            reason += f": {exc.filename}"
        code = getattr(exc, "errno", None) or next((int(m) for m in re.findall(r"\[errno (\d+)\]", reason)), None)
        if code == errno.ENOSPC:
            reason += self.space_note(path)
        elif code is None and re.search(r"\d+ requested and \d+ written", reason):  # numpy's short write
            reason += " (a short write: the disk is full or a file size limit was reached)"
        elif code in (errno.EACCES, errno.EROFS, errno.EPERM):
            reason += " (is the data root writable?)"
        return StorageError(f"cannot write {path}: {reason}; what was there before is unchanged")
