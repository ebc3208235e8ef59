"""Data roots on an object store: any fsspec URL (`s3://bucket/prefix`, `gs://...`, `abfs://...`).

An object store has no rename, no hard link, no symlink and no file lock; a single PUT of one object is atomic
(a reader gets the old object or the new one). So on a store every artifact folder `X` is

    X/<write id>/...       the artifact's files, uploaded first, never changed afterwards (a new write, a new id)
    X/manifest.json        {"kind", "write"}: the pointer, written last, so a reader finds a complete write or none

and the store's locks are objects created with a conditional PUT (If-None-Match), which the store refuses when
the object exists. Readers download a write once into this machine's cache (writes are immutable, so a cached
copy never goes stale) and memory-map it from there as on a local root.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path, PurePath

CACHE_ENV = "PIPELINE_CACHE_DIR"  # this machine's cache of a remote data root (downloads, parse cache)
# fsspec caches directory listings per process; other machines write the same prefixes, so list afresh
_FRESH_LISTINGS = {"s3", "s3a", "gs", "gcs", "abfs", "az", "adl"}
DOWNLOADS = "downloads"  # <cache>/downloads/<hash of a write's URL>/: one immutable write, as downloaded


def location(path: str | os.PathLike):
    """A local `Path`, or a `UPath` for a URL with a remote protocol. Local folders stay plain `Path`s, so a
    local data root behaves exactly as it always has."""
    if isinstance(path, PurePath) or not is_remote(path):
        text = str(path)
        return Path(text.removeprefix("file://"))
    from upath import UPath

    if isinstance(path, UPath):
        return path
    protocol = str(path).split("://", 1)[0]
    return UPath(str(path), **({"use_listings_cache": False} if protocol in _FRESH_LISTINGS else {}))


def is_remote(path) -> bool:
    if isinstance(path, PurePath):
        return False
    text = str(path)
    return "://" in text and not text.startswith(("file://", "local://"))


def cache_root() -> Path:
    """`$PIPELINE_CACHE_DIR`, else `$XDG_CACHE_HOME/sensor-latents` (default `~/.cache/sensor-latents`)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sensor-latents"


def _hash(remote) -> str:
    return hashlib.sha256(str(remote).encode()).hexdigest()[:20]


def root_cache(root) -> Path:
    """This machine's cache folder for a remote data root: its parse cache, day index and raw file mirror."""
    return cache_root() / "roots" / _hash(root)


def new_write_id() -> str:
    """Sorts by time; unique across machines."""
    return f"w{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"


def put_folder(local: Path, remote) -> None:
    """Upload every file under `local` to the prefix `remote`."""
    for path in sorted(p for p in Path(local).rglob("*") if p.is_file()):
        remote.fs.put_file(str(path), f"{remote.path}/{path.relative_to(local).as_posix()}")


def fetch_folder(remote) -> Path:
    """The local copy of an immutable remote prefix, downloaded into the cache once (then reused)."""
    local = cache_root() / DOWNLOADS / _hash(remote)
    if local.is_dir():
        os.utime(local)  # recently used: kept by `prune_cache`
        return local
    tmp = local.with_name(f".{local.name}.tmp-{uuid.uuid4().hex}")
    try:
        files = remote.fs.find(remote.path)
        if not files:
            raise FileNotFoundError(f"{remote} holds no files")
        for key in files:
            target = tmp / key[len(remote.path):].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            remote.fs.get_file(key, str(target))
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, local)
        except OSError:  # another process fetched it meanwhile: theirs is the same
            if not local.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return local


def prune_cache(older_than_s: float) -> None:
    """Drop cached downloads not used for a while (a memory-mapped file stays readable until it is closed)."""
    root, now = cache_root() / DOWNLOADS, time.time()
    for entry in root.iterdir() if root.is_dir() else ():
        try:
            if not entry.name.startswith(".") and now - entry.stat().st_mtime > older_than_s:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def copy_prefix(source, target) -> None:
    """Copy every object under `source` to `target` inside the store (server-side where the store can)."""
    for key in source.fs.find(source.path):
        source.fs.copy(key, f"{target.path}/{key[len(source.path):].lstrip('/')}")


def remove(remote) -> None:
    """Delete every object under the prefix `remote` (nothing if there is none)."""
    try:
        remote.fs.rm(remote.path, recursive=True)
    except FileNotFoundError:
        pass


def children(folder) -> list:
    """The sub-folders of a local or remote folder (none if it does not exist)."""
    if not is_remote(folder):
        return [p for p in Path(folder).iterdir() if p.is_dir()] if Path(folder).is_dir() else []
    try:
        entries = folder.fs.ls(folder.path, detail=True)
    except FileNotFoundError:
        return []
    return [folder / e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e["type"] == "directory"]


def newest_change(remote) -> float | None:
    """Seconds since the epoch of the newest object under `remote`, None if there is none."""
    try:
        found = remote.fs.find(remote.path, detail=True)
    except FileNotFoundError:
        return None
    times = [_modified(remote.fs, key, info) for key, info in found.items() if info.get("type") != "directory"]
    return max(times) if times else None


def _modified(fs, key: str, info: dict) -> float:
    """An object's time from its listing entry (S3: LastModified; GCS: updated), else asked for."""
    stamp = info.get("LastModified") or info.get("last_modified") or info.get("updated") or info.get("mtime")
    if isinstance(stamp, datetime):
        return stamp.timestamp()
    if isinstance(stamp, (int, float)):
        return float(stamp)
    return fs.modified(key).timestamp()


def read_json(path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def stat_object(path) -> dict | None:
    """One object's `modified` time (seconds since the epoch, by the store's own clock: S3's LastModified) and
    its `tag` (ETag, where the store has one); None when it does not exist."""
    try:
        info = path.fs.info(path.path)
    except FileNotFoundError:
        return None
    return {"modified": _modified(path.fs, path.path, info),
            "tag": info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("generation")}


def create_exclusive(path, text: str) -> bool:
    """Create the object `path` only if it does not exist (a conditional PUT): False when it exists."""
    try:
        path.fs.pipe_file(path.path, text.encode(), mode="create")
    except FileExistsError:
        return False
    return True


def relative(path, root) -> str:
    """`path` relative to `root`, both local or both remote."""
    if not is_remote(path):
        return os.path.relpath(path, root)
    return str(path)[len(str(root)):].lstrip("/")


def mirror_folder(remote, local: Path) -> Path:
    """Make `local` hold what `remote` holds (the raw files of a remote data root): a file is downloaded when it
    is new or its size or time changed, and takes the object's time, so that the parse cache and the day index,
    keyed by size and time, see an unchanged object as unchanged; files gone from `remote` are removed."""
    local = Path(local)
    seen = set()
    for key, info in remote.fs.find(remote.path, detail=True).items():
        name = key[len(remote.path):].lstrip("/")
        if not name or info.get("type") == "directory":
            continue
        seen.add(name)
        target = local / name
        stamp = _modified(remote.fs, key, info)
        try:
            st = target.stat()
            if st.st_size == info["size"] and abs(st.st_mtime - stamp) < 1e-3:
                continue
        except FileNotFoundError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
        try:
            remote.fs.get_file(key, str(tmp))
            os.utime(tmp, (stamp, stamp))
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    for path in sorted(local.rglob("*")) if local.is_dir() else ():
        if path.is_file() and path.relative_to(local).as_posix() not in seen:
            path.unlink(missing_ok=True)
    local.mkdir(parents=True, exist_ok=True)
    return local
