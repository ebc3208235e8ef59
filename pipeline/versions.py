"""Model versions and the published pointer: write, audit, then publish.

Every training run writes its artifacts into a version folder of its own,

    <data root>/versions/<UTC time>_<run id prefix>/   autoencoder/, latent_vectors/, status.json

named so that versions sort by time and trace back to their run. Consumers read only

    <data root>/published/                             a symlink to the published version folder

which is switched atomically (a new symlink renamed over the old one), under a lock, and only ever to a
version newer than the one published, and only after the blocking latent check marked it audited. A version
whose audit failed stays on disk, marked failed, and is never published. Old versions are pruned, never the published one nor any still in use.
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
STATUSES = ("written", "audited", "failed", "published")  # audited: the blocking latent check passed


class PublishError(RuntimeError):
    pass


def find_version(root: Path, run_id: str) -> Path | None:
    """The version folder a run has started, if any."""
    base = Path(root) / VERSIONS
    existing = sorted(base.glob(f"*_{run_id[:8]}")) if base.is_dir() else []
    return existing[-1] if existing else None


def version_folder(root: Path, run_id: str, now: datetime | None = None) -> Path:
    """The version folder of a run: the one it already started, else a new one named by the time now."""
    existing = find_version(root, run_id)
    if existing is not None:
        return existing
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    folder = Path(root) / VERSIONS / f"{stamp}_{run_id[:8]}"
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


def record_latest(root: Path, asset: str, folder: Path) -> None:
    """Remember where an asset was last written (`<data root>/store/<asset>.json`), atomically."""
    path = Path(root) / "store" / f"{asset}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    tmp.write_text(json.dumps({"path": os.path.relpath(folder, root)}))
    os.replace(tmp, path)


def latest(root: Path, asset: str) -> Path | None:
    """Where an asset was last written, if it was."""
    try:
        return Path(root) / json.loads((Path(root) / "store" / f"{asset}.json").read_text())["path"]
    except (OSError, ValueError, KeyError):
        return None


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
        if status not in ("audited", "published"):
            raise PublishError(f"version {folder.name} is {status or 'incomplete'}: its latents have not passed "
                               "the latent check, so it cannot be published")
        current = published_version(root)
        if current is not None and current.name > folder.name:
            raise PublishError(f"version {current.name} is already published and newer than {folder.name}")
        tmp = root / f".{PUBLISHED}.tmp-{uuid.uuid4().hex}"
        os.symlink(os.path.relpath(folder, root), tmp)
        os.replace(tmp, root / PUBLISHED)  # rename(2) is atomic: readers see the old or the new version
        write_status(folder, "published")
        return prune(root, keep, {folder, *[Path(p).resolve() for p in in_use]})


def complete_version(root: Path, folder: Path, asset: str) -> bool:
    """Give a version that lacks `asset` (latents re-exported with an earlier model) the latest one, as hard
    links: a published version holds everything its consumers need. True if it had to."""
    target, source = Path(folder) / asset, latest(root, asset)
    if target.exists() or source is None or not source.exists():
        return False
    shutil.copytree(source, target, copy_function=os.link)
    return True


def prune(root: Path, keep: int, protected: set[Path]) -> list[Path]:
    versions = list_versions(root)
    doomed = [v for v in versions[: max(len(versions) - keep, 0)] if v.resolve() not in protected]
    for v in doomed:
        shutil.rmtree(v, ignore_errors=True)
    return doomed
