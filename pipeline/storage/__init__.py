"""Storage: the one place that knows whether a data root is a local folder or an object store.

`location(path)` turns a path or URL into the path object its backend works with (a plain `Path` for a local
folder, a `UPath` for a URL with a remote protocol); `backend(path)` is the Backend (pipeline.storage.base)
that writes, reads, locks and points there. Everything above (the artifact layer, versions, the catalog, the
assets) asks these, never which kind of root it has.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from pipeline.storage.base import (
    ABANDONED_AFTER,
    MANIFEST,
    ArtifactDamaged,
    ArtifactMissing,
    Backend,
    LockTimeout,
    StorageError,
    StoreUnreachable,
)
from pipeline.storage.local import LocalBackend, link_or_copy
from pipeline.storage.objectstore import ObjectStoreBackend, store_location

__all__ = ["ABANDONED_AFTER", "MANIFEST", "ArtifactDamaged", "ArtifactMissing", "Backend", "LockTimeout",
           "StorageError", "StoreUnreachable", "backend", "link_or_copy", "location", "write_text"]

_LOCAL, _STORE = LocalBackend(), ObjectStoreBackend()


def _is_url(text: str) -> bool:
    return "://" in text and not text.startswith(("file://", "local://"))


def location(path: str | os.PathLike, timeout_s: float | None = None):
    """A local `Path`, or a `UPath` for a URL with a remote protocol (its calls bounded by `timeout_s` where
    given: a probe's). Local folders stay plain `Path`s, so a local data root behaves exactly as a folder does."""
    if isinstance(path, PurePath) or not _is_url(str(path)):
        return Path(str(path).removeprefix("file://"))
    from upath import UPath

    if isinstance(path, UPath) and timeout_s is None:
        return path
    return store_location(str(path), timeout_s)


def backend(path) -> Backend:
    """The backend holding `path` (a location, or anything `location` takes)."""
    return _LOCAL if isinstance(path, PurePath) or not _is_url(str(path)) else _STORE


def write_text(path, text: str):
    """Write `text` as the file `path`, atomically (a temporary file and a rename, or one PUT); returns the path
    written. StorageError when the storage refuses it."""
    path = location(path)
    return backend(path).write_text(path, text)
