"""Model versions and the published pointer: write, audit, then publish.

Every training run writes its artifacts into a version folder of its own,

    <data root>/versions/<UTC time>_<run id prefix>/   autoencoder/, latent_vectors/, status.json

named so that versions sort by time and trace back to their run. Consumers read only

    <data root>/published/                             a symlink to the published version folder

which is switched atomically (a new symlink renamed over the old one), under a lock, and only ever to a
version newer than the one published. A version whose audit failed stays on disk, marked failed, and is
never published. Old versions are pruned, never the published one nor any still in use.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

VERSIONS = "versions"
PUBLISHED = "published"
STATUS_FILE = "status.json"
STATUSES = ("written", "failed", "published")


class PublishError(RuntimeError):
    pass


def version_folder(root: Path, run_id: str, now: datetime | None = None) -> Path:
    """The version folder of a run: the one it already started, else a new one named by the time now."""
    base = Path(root) / VERSIONS
    tag = run_id[:8]
    existing = sorted(base.glob(f"*_{tag}")) if base.is_dir() else []
    if existing:
        return existing[-1]
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    folder = base / f"{stamp}_{tag}"
    folder.mkdir(parents=True, exist_ok=True)
    write_status(folder, "written", run_id=run_id)
    return folder


def write_status(folder: Path, status: str, **details) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    path = Path(folder) / STATUS_FILE
    previous = read_status(folder)
    record = {**previous, **details, "status": status, f"{status}_at": datetime.now(UTC).isoformat()}
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    tmp.write_text(json.dumps(record, indent=2, default=str))
    os.replace(tmp, path)


def read_status(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def published_version(root: Path) -> Path | None:
    link = Path(root) / PUBLISHED
    return Path(os.path.realpath(link)) if link.is_symlink() and link.exists() else None


def list_versions(root: Path) -> list[Path]:
    base = Path(root) / VERSIONS
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")) if base.is_dir() else []


@contextmanager
def publish_lock(root: Path):
    """One publisher at a time, across processes and runs."""
    path = Path(root) / VERSIONS / ".publish.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def publish(root: Path, folder: Path, keep: int, in_use: set[Path] = frozenset()) -> list[Path]:
    """Point `published` at `folder` atomically, then prune to the newest `keep` versions (never the published
    one nor those `in_use`). Returns the pruned folders. Refuses a failed version or an older one."""
    root, folder = Path(root), Path(folder).resolve()
    with publish_lock(root):
        status = read_status(folder).get("status")
        if status == "failed":
            raise PublishError(f"version {folder.name} failed its audit and cannot be published")
        current = published_version(root)
        if current is not None and current.name > folder.name:
            raise PublishError(f"version {current.name} is already published and newer than {folder.name}")
        tmp = root / f".{PUBLISHED}.tmp-{uuid.uuid4().hex}"
        os.symlink(os.path.relpath(folder, root), tmp)
        os.replace(tmp, root / PUBLISHED)  # rename(2) is atomic: readers see the old or the new version
        write_status(folder, "published")
        return prune(root, keep, {folder, *[Path(p).resolve() for p in in_use]})


def prune(root: Path, keep: int, protected: set[Path]) -> list[Path]:
    versions = list_versions(root)
    doomed = [v for v in versions[: max(len(versions) - keep, 0)] if v.resolve() not in protected]
    for v in doomed:
        shutil.rmtree(v, ignore_errors=True)
    return doomed
