"""A data root in a local (or mounted) folder.

Every file is written to a temporary sibling, fsynced, then renamed over its name; every artifact is built in a
temporary sibling folder and swapped into place by renames; copies of artifacts are hard links (copies where
the file system has none), so they cost no space and stay whole when their source is replaced. The lock is a
flock(2), which dies with its process; the published pointer is a relative symlink, replaced by rename(2).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from pipeline.storage.base import (
    MANIFEST,
    ArtifactMissing,
    Backend,
    LockTimeout,
    Pointer,
    manifest_kind,
    manifest_text,
    missing,
)


def link_or_copy(src: str, dst: str) -> None:
    """A hard link of `src` at `dst`, or a copy on a file system without hard links (or across two)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _temporary(path: Path, what: str = "tmp") -> Path:
    return path.with_name(f".{path.name}.{what}-{uuid.uuid4().hex}")


def atomic_file(path: Path, fill: Callable[[Path], None]) -> Path:
    """`fill(tmp)` writes a temporary file beside `path`; it is fsynced and renamed over `path`. The one
    atomic file write of the project (on an object store the file is then uploaded: one PUT)."""
    path = Path(path)
    tmp = _temporary(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fill(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
    return path


def atomic_folder(path: Path, fill: Callable[[Path], None], replace: bool = True) -> Path:
    """`fill(tmp)` builds a temporary folder beside `path`, which then takes `path`'s place by renames (the
    previous folder renamed aside first, then deleted), so a reader sees the old folder or the new one whole.
    With `replace` False a folder already at `path` is kept (the new one is dropped)."""
    path = Path(path)
    tmp = _temporary(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fill(tmp)
        if path.exists() and replace:
            old = _temporary(path, "old")
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.rename(tmp, path)
            except OSError:  # made meanwhile by another process: theirs stands
                if not path.is_dir():
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


class _Expired(Exception):
    pass


def _flock_within(fh, wait_s: float) -> bool:
    """Take an exclusive flock on `fh` within `wait_s`; False when it stays held. In the main thread the wait is
    the kernel's (a blocked flock, listed as a waiter in /proc/locks, granted in turn) cut short by a timer
    signal; in other threads, where signals cannot be caught, it is polled."""
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    if threading.current_thread() is threading.main_thread():
        def expired(signum, frame):
            raise _Expired

        previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, wait_s)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX)
            return True
        except _Expired:
            return False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    deadline, pause = time.monotonic() + wait_s, 0.01
    while time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 1.5, 0.2)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            continue
    return False


class LocalBackend(Backend):
    def write_file(self, path, fill):
        try:
            return atomic_file(path, fill)
        except OSError as exc:
            raise self.error(path, exc) from None

    def delete(self, path) -> None:
        Path(path).unlink(missing_ok=True)

    def files(self, folder, suffix):
        folder = Path(folder)
        return sorted(p for p in folder.iterdir() if p.name.endswith(suffix) and p.is_file()) if folder.is_dir() else []

    def files_under(self, folder):
        folder = Path(folder)
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())

    def children(self, folder):
        folder = Path(folder)
        return [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []

    def exists(self, path):
        return Path(path).exists()

    def remove(self, folder):
        shutil.rmtree(folder, ignore_errors=True)

    def changed_at(self, folder):
        try:
            return Path(folder).stat().st_mtime
        except OSError:
            return None

    def root_problem(self, root):
        root = Path(root)
        if root.is_dir():
            return None
        above = next(p for p in root.parents if p.exists())
        what = f"{above} is a file, not a folder" if not above.is_dir() else "it does not exist"
        return f"{root} cannot be the data root: {what}; point PIPELINE_DATA_DIR at a folder (or create it)"

    def make_folder(self, folder):
        Path(folder).mkdir(parents=True, exist_ok=True)

    def canonical(self, path):
        return Path(path).resolve()

    def relative(self, path, root):
        return os.path.relpath(path, root)

    def cache_dir(self, root):
        return Path(root) / "cache"

    def local_view(self, folder):
        return Path(folder)

    # -- artifacts ------------------------------------------------------------------------------------------
    def put_artifact(self, folder, kind, fill):
        def build(tmp: Path) -> None:
            tmp.mkdir()
            fill(tmp)
            (tmp / MANIFEST).write_text(manifest_text(kind))  # last: the folder is complete

        try:
            return atomic_folder(folder, build)
        except OSError as exc:
            raise self.error(folder, exc) from None

    def is_complete(self, folder):
        return (Path(folder) / MANIFEST).is_file()

    def files_of(self, folder):
        if not self.is_complete(folder):
            raise missing(folder)
        return Path(folder)

    def open_artifact(self, folder):
        text = self.read_text(Path(folder) / MANIFEST)
        if text is None:
            raise missing(folder)
        return manifest_kind(text, folder), Path(folder)

    def copy_artifact(self, source, target, replace):
        source, target = Path(source), Path(target)
        if not replace and self.is_complete(target):
            return
        if not self.is_complete(source):
            raise missing(source)
        try:
            atomic_folder(target, lambda tmp: shutil.copytree(source, tmp, copy_function=link_or_copy), replace)
        except FileNotFoundError as exc:  # `source` replaced while it was linked: the caller may try again
            raise ArtifactMissing(f"{source} changed while it was being linked ({exc})") from None
        except OSError as exc:
            raise self.error(target, exc) from None

    def withdraw(self, folder):
        aside = _temporary(Path(folder), "old")
        try:
            os.rename(folder, aside)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self.error(folder, exc) from None
        shutil.rmtree(aside, ignore_errors=True)

    # -- locks and pointers ---------------------------------------------------------------------------------
    @contextmanager
    def lock(self, path, purpose, wait_s):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as fh:  # closing it releases the flock, also when the process dies
            if not _flock_within(fh, wait_s):
                raise LockTimeout(
                    f"{path} is held by another process; waited {wait_s:g} s for it (to {purpose}). A flock dies "
                    f"with its holder, so a run is using it now: rerun once it has finished (`fuser {path}` shows "
                    "the holder)", {"lock": str(path)})
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def write_pointer(self, link, target):
        link = Path(link)
        tmp = _temporary(link)
        try:
            os.symlink(os.path.relpath(target, link.parent), tmp)
            os.replace(tmp, link)  # rename(2) is atomic: readers see the old link or the new one
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise self.error(link, exc) from None

    def read_pointer(self, link, base):
        link = Path(link)
        pointer = Pointer(link, f"re-link {link} to a published version under {base}, or delete it")
        if link.is_symlink():
            return Pointer(pointer.where, pointer.repair, target=Path(os.path.realpath(link)))
        if link.exists():
            return Pointer(pointer.where, pointer.repair, corrupt="not a symlink to a version")
        return pointer

    def through_pointer(self, link, target):
        return link  # the symlink: a path that stays the published version's while it is published

    def space_note(self, path):
        path = Path(path)
        try:
            free = shutil.disk_usage(path.parent if path.parent.exists() else path.anchor).free
        except OSError:
            return ""
        return f" ({free / 2**20:.0f} MB free there)"
