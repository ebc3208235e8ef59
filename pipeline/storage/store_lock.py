"""The lock of a data root on an object store: an object created only if absent (a conditional PUT).

The lock object holds who took it (holder id, host, pid, what for, and the holder's own clock `at`, for people
only). A process that died holding it cannot release it, so a lock object is abandoned, and deleted by the next
process that wants it, once it is older than STALE_LOCK_S **by the store's clock**: its age is the store's time
now minus the LastModified time the store reports for it. The store's time now is measured by writing a probe
object and reading its LastModified (once per wait, then carried forward with this machine's monotonic clock);
S3 keeps whole seconds, so the age is known to within a second. Neither the holder's clock nor this machine's
nor the lock's content enters the rule, so a holder whose clock runs ahead, a lock holding garbage or no time
at all, or this machine's own clock being wrong can neither block every run forever nor rob a live holder.
(Before deleting an abandoned lock the waiter checks that it is still the same object, by its ETag and time.)
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

from pipeline.storage.base import LockTimeout, StorageError, StoreUnreachable, unreachable_reason

STALE_LOCK_S = 600  # a lock object older than this, by the store's clock, was left by a process that died holding it


def modified_time(fs, key: str, info: dict) -> float:
    """An object's time from its listing entry (S3: LastModified; GCS: updated), else asked for."""
    stamp = info.get("LastModified") or info.get("last_modified") or info.get("updated") or info.get("mtime")
    if isinstance(stamp, datetime):
        return stamp.timestamp()
    if isinstance(stamp, (int, float)):
        return float(stamp)
    return fs.modified(key).timestamp()


def stat_object(path) -> dict | None:
    """One object's `modified` time (seconds since the epoch, by the store's own clock: S3's LastModified) and
    its `tag` (ETag, where the store has one); None when it does not exist."""
    try:
        info = path.fs.info(path.path)
    except FileNotFoundError:
        return None
    return {"modified": modified_time(path.fs, path.path, info),
            "tag": info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("generation")}


def create_exclusive(path, text: str) -> bool:
    """Create the object `path` only if it does not exist (a conditional PUT): False when it exists."""
    try:
        path.fs.pipe_file(path.path, text.encode(), mode="create")
    except FileExistsError:
        return False
    return True


@contextmanager
def store_lock(path, purpose: str, wait_s: float, read_text):
    """Hold the lock object `path` for the block (see the module's notes); LockTimeout after `wait_s`."""
    try:
        mine = _take(path, purpose, wait_s, read_text)
    except (StorageError, LockTimeout):
        raise
    except Exception as exc:
        line = unreachable_reason(exc)
        if line is None:
            raise
        raise StoreUnreachable(path, line) from None
    try:
        yield
    finally:
        if read_text(path) == mine:
            path.unlink(missing_ok=True)

def _take(lock, purpose: str, wait_s: float, read_text) -> str:
    """Create the lock object, breaking an abandoned one; returns what it holds (this holder's id)."""
    deadline = time.monotonic() + wait_s
    text = json.dumps({"holder": uuid.uuid4().hex, "at": time.time(), "host": socket.gethostname(),
                                    "pid": os.getpid(), "purpose": purpose})
    store_clock = None  # (the store's time, this machine's monotonic time) when measured
    pause = 0.05
    # a store that ignored the condition would let a second writer replace the object: read it back
    while not (create_exclusive(lock, text) and read_text(lock) == text):
        seen = stat_object(lock)
        if seen is not None:
            if store_clock is None:
                store_clock = (_store_now(lock), time.monotonic())
            age = store_clock[0] + (time.monotonic() - store_clock[1]) - seen["modified"]
            if age > STALE_LOCK_S:  # its holder died: nobody else can release it
                if stat_object(lock) == seen:  # still the object judged abandoned, not a new holder's
                    lock.unlink(missing_ok=True)
                continue
            if time.monotonic() > deadline:
                raise _timeout(lock, seen, age, wait_s, read_text(lock))
        elif time.monotonic() > deadline:  # released and taken again, over and over
            raise LockTimeout(f"{lock} could not be taken within {wait_s:g} s: other runs kept taking it",
                              {"lock": str(lock)})
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)
    return text

def _store_now(lock) -> float:
    """The store's time now (seconds since the epoch): the LastModified of a probe object written now.
    Falls back on this machine's clock when the store refuses the probe."""
    probe = lock.with_name(f"{lock.name}-clock-{uuid.uuid4().hex}")
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

def _timeout(lock, seen: dict, age: float, wait_s: float, content: str | None) -> LockTimeout:
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
               f"{wait_s:g} s for it. It counts as abandoned {STALE_LOCK_S} s after it was written (from "
               f"{abandoned}), when the next run breaks it. If no run is changing a version's status or "
               f"publishing on this data root now, delete it ({lock}) and rerun; otherwise rerun once that run "
               "has finished")
    return LockTimeout(message, {"lock": str(lock), "holder": content, "held_since": since,
                                 "held_for_s": round(age, 1), "abandoned_from": abandoned})

