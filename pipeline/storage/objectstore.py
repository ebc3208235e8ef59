"""A data root on an object store: any fsspec URL (`s3://bucket/prefix`, `gs://...`, `abfs://...`).

An object store has no rename, no hard link, no symlink and no file lock; a single PUT of one object is atomic
(a reader gets the old object or the new one). So on a store every artifact folder `X` is

    X/<write id>/...       the artifact's files, uploaded first, never changed afterwards (a new write, a new id)
    X/manifest.json        {"kind", "write"}: the pointer, written last, so a reader finds a complete write or none

a copy of an artifact is a new write copied inside the store, the published pointer is the object
`<name>.json` holding {"version": <name>}, and a lock is an object created with a conditional PUT
(If-None-Match), which the store refuses when the object exists. Readers download a write once into this
machine's cache (writes are immutable, so a cached copy never goes stale) and memory-map it from there as on a
local root.

The lock (pipeline.storage.store_lock) is judged abandoned by the store's clock, never by what it holds.

A store that does not answer, or that this machine has no credentials for, is a StorageError naming the store
and what to do, not the client library's traceback; every call to it is bounded (CONNECT_TIMEOUT_S, a few
attempts), not botocore's default minute per connection.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pipeline.storage.base import (
    ABANDONED_AFTER,
    MANIFEST,
    ArtifactMissing,
    Backend,
    Pointer,
    StoreUnreachable,
    manifest_kind,
    manifest_text,
    missing,
    unreachable_reason,
)
from pipeline.storage.local import atomic_file, atomic_folder
from pipeline.storage.store_lock import modified_time, store_lock

CACHE_ENV = "PIPELINE_CACHE_DIR"  # this machine's cache of a remote data root (downloads, parse cache)
# fsspec caches directory listings per process; other machines write the same prefixes, so list afresh
FRESH_LISTINGS = {"s3", "s3a", "gs", "gcs", "abfs", "az", "adl"}
DOWNLOADS = "downloads"  # <cache>/downloads/<hash of a write's URL>/: one immutable write, as downloaded
POINTER_SUFFIX = ".json"  # the pointer `<root>/published` is the object `<root>/published.json`
CONNECT_TIMEOUT_S = 10


def store_location(url: str, timeout_s: float | None = None):
    """The UPath of `url`. On S3 every call is bounded: botocore would otherwise wait 60 s per connection and
    retry for minutes; `timeout_s` (a probe's) bounds it tighter, with one attempt and a client of its own."""
    from upath import UPath

    protocol, options = url.split("://", 1)[0], {}
    if protocol in FRESH_LISTINGS:
        options["use_listings_cache"] = False
    if protocol in ("s3", "s3a"):
        connect, attempts = (timeout_s, 1) if timeout_s else (CONNECT_TIMEOUT_S, 3)
        options["config_kwargs"] = {"connect_timeout": connect, "read_timeout": 2 * connect if timeout_s else 60,
                                    "retries": {"max_attempts": attempts, "mode": "standard"}}
        if timeout_s:
            options["skip_instance_cache"] = True
    return UPath(url, **options)


def _answering(method):
    """A store that cannot be reached becomes a StorageError naming what was asked for."""
    @functools.wraps(method)
    def call(self, path, *args, **kwargs):
        try:
            return method(self, path, *args, **kwargs)
        except Exception as exc:
            line = unreachable_reason(exc)
            if line is None:
                raise
            raise StoreUnreachable(path, line) from None
    return call


def cache_root() -> Path:
    """`$PIPELINE_CACHE_DIR`, else `$XDG_CACHE_HOME/sensor-latents` (default `~/.cache/sensor-latents`)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sensor-latents"


def _hash(remote) -> str:
    return hashlib.sha256(str(remote).encode()).hexdigest()[:20]


def download_name(write) -> str:
    """The folder under `<cache>/downloads/` that holds this machine's copy of the write `write`."""
    return _hash(write)


def root_cache(root) -> Path:
    """This machine's cache folder for a remote folder: a root's parse cache and day index, a raw mirror."""
    return cache_root() / "roots" / _hash(root)


def new_write_id() -> str:
    """Sorts by time; unique across machines."""
    return f"w{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"


def _read_json(path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


class ObjectStoreBackend(Backend):
    # -- files ----------------------------------------------------------------------------------------------
    @_answering
    def write_file(self, path, fill):
        try:
            with tempfile.TemporaryDirectory(prefix=".upload-") as tmp:
                local = Path(tmp) / path.name
                fill(local)
                path.fs.put_file(str(local), path.path)  # one PUT: atomic
        except OSError as exc:
            raise self.error(path, exc) from None
        return path

    read_text = _answering(Backend.read_text)

    @_answering
    def delete(self, path):
        path.unlink(missing_ok=True)

    @_answering
    def files(self, folder, suffix):
        try:
            entries = folder.fs.ls(folder.path, detail=True)
        except FileNotFoundError:
            return []
        return sorted((folder / e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries
                       if e["type"] != "directory" and e["name"].endswith(suffix)), key=str)

    @_answering
    def files_under(self, folder):
        return sorted(key[len(folder.path):].lstrip("/") for key in folder.fs.find(folder.path))

    @_answering
    def children(self, folder):
        try:
            entries = folder.fs.ls(folder.path, detail=True)
        except FileNotFoundError:
            return []
        return [folder / e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e["type"] == "directory"]

    @_answering
    def exists(self, path):
        return path.fs.exists(path.path)

    @_answering
    def remove(self, folder):
        try:
            folder.fs.rm(folder.path, recursive=True)
        except FileNotFoundError:
            pass

    @_answering
    def changed_at(self, folder):
        """The time of the newest object under `folder`."""
        try:
            found = folder.fs.find(folder.path, detail=True)
        except FileNotFoundError:
            return None
        times = [modified_time(folder.fs, key, info) for key, info in found.items() if info.get("type") != "directory"]
        return max(times) if times else None

    def relative(self, path, root):
        return str(path)[len(str(root)):].lstrip("/")

    @_answering
    def root_problem(self, root):
        try:  # `exists` would answer False for a store that cannot be reached: a listing raises instead
            root.fs.ls(root.path.split("/", 1)[0])
        except FileNotFoundError:
            return f"the bucket of {root} does not exist: create it, or fix PIPELINE_DATA_DIR"
        return None

    # -- this machine's copies ------------------------------------------------------------------------------
    def cache_dir(self, root):
        return root_cache(root) / "cache"

    @_answering
    def local_view(self, folder):
        """Make this machine's mirror hold what `folder` holds: a file is downloaded when it is new or its size
        or time changed, and takes the object's time, so that the parse cache and the day index, keyed by size
        and time, see an unchanged object as unchanged; files gone from `folder` are removed."""
        local = root_cache(folder) / "raw"
        seen = set()
        for key, info in folder.fs.find(folder.path, detail=True).items():
            name = key[len(folder.path):].lstrip("/")
            if not name or info.get("type") == "directory":
                continue
            seen.add(name)
            target, stamp = local / name, modified_time(folder.fs, key, info)
            try:
                st = target.stat()
                if st.st_size == info["size"] and abs(st.st_mtime - stamp) < 1e-3:
                    continue
            except FileNotFoundError:
                pass

            def download(tmp: Path, key=key, stamp=stamp) -> None:
                folder.fs.get_file(key, str(tmp))
                os.utime(tmp, (stamp, stamp))

            atomic_file(target, download)
        for path in sorted(local.rglob("*")) if local.is_dir() else ():
            if path.is_file() and path.relative_to(local).as_posix() not in seen:
                path.unlink(missing_ok=True)
        local.mkdir(parents=True, exist_ok=True)
        return local

    def released(self):
        """Drop cached downloads no run has used for a day (a memory-mapped file stays readable until it is
        closed)."""
        root, now = cache_root() / DOWNLOADS, time.time()
        for entry in root.iterdir() if root.is_dir() else ():
            try:
                if not entry.name.startswith(".") and now - entry.stat().st_mtime > ABANDONED_AFTER.total_seconds():
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue

    def _download(self, write) -> Path:
        """The local copy of an immutable write, downloaded into the cache once (then reused)."""
        local = cache_root() / DOWNLOADS / download_name(write)
        if local.is_dir():
            os.utime(local)  # recently used: kept by `released`
            return local

        def fetch(tmp: Path) -> None:
            files = write.fs.find(write.path)
            if not files:
                raise FileNotFoundError(f"{write} holds no files")
            for key in files:
                target = tmp / key[len(write.path):].lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                write.fs.get_file(key, str(target))

        return atomic_folder(local, fetch, replace=False)  # another process's download of it is the same

    # -- artifacts ------------------------------------------------------------------------------------------
    @_answering
    def put_artifact(self, folder, kind, fill):
        """Upload a new immutable write, then point the manifest at it (one PUT), then drop the older writes."""
        write, downloads = folder / new_write_id(), cache_root() / DOWNLOADS
        downloads.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".artifact-", dir=downloads))
        try:
            fill(tmp)
            for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
                write.fs.put_file(str(path), f"{write.path}/{path.relative_to(tmp).as_posix()}")
            self._point(folder, kind, write.name)
            # the files uploaded are the write: kept as this machine's copy of it, reading it back costs nothing
            os.rename(tmp, downloads / download_name(write))
        except OSError as exc:
            self.remove(write)  # never pointed at: nobody reads it
            raise self.error(folder, exc) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return write

    def _point(self, folder, kind: str, write: str) -> None:
        """Make the artifact `folder` the write `write` (the manifest, last), then delete its other writes; a
        reader that read the old manifest just before finds its files gone and reads the manifest again."""
        (folder / MANIFEST).write_text(manifest_text(kind, write))
        for old in self.children(folder):
            if old.name != write:
                self.remove(old)

    @_answering
    def is_complete(self, folder):
        return (folder / MANIFEST).is_file()

    @_answering
    def files_of(self, folder):
        manifest = _read_json(folder / MANIFEST)
        if manifest is None:
            raise missing(folder)
        return folder / manifest["write"]

    @_answering
    def open_artifact(self, folder):
        for _ in range(3):
            text = self.read_text(folder / MANIFEST)
            if text is None:
                raise missing(folder)
            kind, write = manifest_kind(text, folder), json.loads(text).get("write", "")
            try:
                return kind, self._download(folder / write)
            except FileNotFoundError:  # replaced between reading the manifest and downloading: read it again
                continue
        raise ArtifactMissing(f"{folder} kept changing while it was being read")

    @_answering
    def copy_artifact(self, source, target, replace):
        """A new write of `target` copied from `source`'s current write inside the store (its objects are
        immutable, so the copy is the artifact as it was when its manifest was read)."""
        if not replace and self.is_complete(target):
            return
        manifest = _read_json(source / MANIFEST)
        if manifest is None:
            raise missing(source)
        write, current = target / new_write_id(), source / manifest["write"]
        try:
            for key in current.fs.find(current.path):
                current.fs.copy(key, f"{write.path}/{key[len(current.path):].lstrip('/')}")
            self._point(target, manifest["kind"], write.name)
        except FileNotFoundError as exc:  # `source` replaced while it was copied: the caller may try again
            self.remove(write)
            raise ArtifactMissing(f"{source} changed while it was being copied ({exc})") from None
        except OSError as exc:
            self.remove(write)
            raise self.error(target, exc) from None

    @_answering
    def withdraw(self, folder):
        try:
            (folder / MANIFEST).unlink(missing_ok=True)  # first: readers find no artifact, not a partial one
            self.remove(folder)
        except OSError as exc:
            raise self.error(folder, exc) from None

    # -- the lock -------------------------------------------------------------------------------------------
    def lock(self, path, purpose, wait_s):
        return store_lock(path, purpose, wait_s, self.read_text)

    # -- the pointer ----------------------------------------------------------------------------------------
    def write_pointer(self, link, target):
        self.write_text(link.with_name(link.name + POINTER_SUFFIX), json.dumps({"version": target.name}))

    @_answering
    def read_pointer(self, link, base):
        where = link.with_name(link.name + POINTER_SUFFIX)
        pointer = Pointer(where, f'rewrite {where} as {{"version": "<name>"}} naming a published version under '
                                 f"{base}, or delete it")
        text = self.read_text(where)
        if text is None:
            return pointer
        try:
            name = json.loads(text)["version"]
        except (ValueError, KeyError, TypeError, IndexError):
            name = None
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            return Pointer(where, pointer.repair,
                           corrupt=f'it holds {text[:80]!r}, not {{"version": "<version name>"}}')
        return Pointer(where, pointer.repair, target=base / name)
