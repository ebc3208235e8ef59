"""Days: the unit the pipeline ingests, validates and scores, so a night touches only what is new.

A day is a calendar day in the day time zone (UTC unless the contract's `day_timezone` says otherwise), and
holds the readings whose timestamps fall in [00:00, next 00:00) there. A raw file may hold readings of
several days: each day takes its rows. Which days a file holds (those of its timestamps, not every day from
its first to its last: a logger paused for a week adds no empty days) is learnt once per version of the file
(its size and modification time) and kept in the day index, so listing the days of a folder of a year of
files costs a `stat` per file, not a parse.

A day's fingerprint is a digest of the names, sizes and modification times of its files: the nightly run
compares it with the fingerprint recorded when the day was last ingested to find the days that are new or
whose files changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from pipeline.readings import SensorReadings
from pipeline.storage.local import atomic_file

DAY_FORMAT = "%Y-%m-%d"


class DayError(ValueError):
    """A day key or a day time zone that cannot be used."""


@dataclass(frozen=True)
class DayClock:
    """Day boundaries in one time zone; instants are naive UTC nanoseconds, as the pipeline stores them."""

    timezone: str = "UTC"

    def __post_init__(self):
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise DayError(f"day time zone: unknown time zone {self.timezone!r}") from None

    def bounds(self, day: str) -> tuple[int, int]:
        """[start, end) of `day` as naive UTC nanoseconds (a DST day is 23 or 25 hours long)."""
        try:
            first = date.fromisoformat(day)
        except (TypeError, ValueError):
            raise DayError(f"not a day: {day!r} (expected YYYY-MM-DD)") from None
        start = pd.Timestamp(first).tz_localize(self.timezone)
        end = pd.Timestamp(first + timedelta(days=1)).tz_localize(self.timezone)
        return start.tz_convert("UTC").value, end.tz_convert("UTC").value

    def days_between(self, first_ns: int, last_ns: int) -> list[str]:
        """Every day from the one holding `first_ns` to the one holding `last_ns`."""
        first, last = (pd.Timestamp(v, tz="UTC").tz_convert(self.timezone).date() for v in (first_ns, last_ns))
        return [(first + timedelta(days=i)).strftime(DAY_FORMAT) for i in range((last - first).days + 1)]

    def days_of(self, ns: np.ndarray) -> list[str]:
        """The days holding the instants `ns` (naive UTC nanoseconds), sorted, each once."""
        ns = np.asarray(ns, dtype="int64")
        if not len(ns):
            return []
        if self.timezone == "UTC":
            days = np.unique(ns // 86_400_000_000_000).astype("datetime64[D]")
        else:
            local = pd.DatetimeIndex(ns.view("datetime64[ns]"), tz="UTC").tz_convert(self.timezone)
            days = np.unique(local.tz_localize(None).to_numpy().astype("datetime64[D]"))
        return [str(d) for d in days]

    def previous(self, day: str) -> str:
        return (date.fromisoformat(day) - timedelta(days=1)).strftime(DAY_FORMAT)


def file_fingerprint(path: Path) -> str:
    st = Path(path).stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def day_fingerprint(files: dict[str, str]) -> str:
    """Digest of a day's files (relative name -> file fingerprint): changes when a file is added, removed,
    or rewritten."""
    text = "\n".join(f"{name}|{files[name]}" for name in sorted(files))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_day(value) -> bool:
    """Whether `value` is a day key, YYYY-MM-DD."""
    if not (isinstance(value, str) and len(value) == 10):
        return False
    try:
        return date.fromisoformat(value).strftime(DAY_FORMAT) == value
    except ValueError:
        return False


def _are_days(value) -> bool:
    """Whether `value` is a list of day keys, sorted, each once (what DayClock.days_of gives)."""
    return isinstance(value, list) and all(is_day(d) for d in value) and value == sorted(set(value))


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass(frozen=True)
class IndexLookup:
    """What the day index says of one version of a file."""

    days: list[str] | None  # the days it holds, from a sound entry; None: the file is to be indexed
    fault: str | None = None  # why the entry there was not used; None: there was none, or one of an older form
    claimed: list[str] | None = None  # the days an entry claimed, where it listed days (to compare with the file)


class DayIndex:
    """Which days each raw file holds (the day keys of its timestamps), keyed by the file's name, fingerprint,
    the read settings and the day time zone; and, by name, the days each file held when it was last read (where
    a file rewritten unreadable, or refused, is reported). A JSON file under the cache folder, rewritten
    atomically; entries of files no longer present are dropped on save. A missing index is rebuilt (it is only
    an optimisation).

    What it holds is checked before it is believed, since the file may have been edited, damaged, or copied
    from elsewhere: an entry is used only when it is well formed (its days a sorted list of distinct
    YYYY-MM-DD keys), names the file it is looked up for, records that file's fingerprint, and matches its
    check (a digest of the file's name, fingerprint, read settings and days, written with it, so an entry edited
    by hand or bit-flipped does not match). Any other entry is not used and its file is indexed again; `lookup`
    says why, for the caller to warn. An index that is not one (not JSON, or not of this shape) is rebuilt and
    `problems` says so; a damaged record of a file's last days is dropped, also in `problems`. Entries of an
    older form (without a check; or a file's first and last reading, from which every day between was listed)
    are not used either: their files are indexed again, and only where the file disagrees with them is that
    said."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path else None
        self.entries: dict[str, dict] = {}
        self.last_days: dict[str, list[str]] = {}
        self.used: set[str] = set()
        self.problem: str | None = None  # why the index could not be saved
        self.problems: list[str] = []  # what was wrong with the index as read (it was rebuilt, or partly)
        if self.path is None:
            return
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            self.problems.append(f"the day index {self.path} could not be read ({_short(str(exc))}): every file "
                                 "is indexed again")
            return
        if not (isinstance(doc, dict) and isinstance(doc.get("entries"), dict)
                and isinstance(doc.get("last_days"), dict)):
            self.problems.append(f"the day index {self.path} is not a day index (expected an object of "
                                 f"'entries' and 'last_days', found {_short(doc)}): every file is indexed again")
            return
        self.entries = dict(doc["entries"])
        for name, days in doc["last_days"].items():
            if _are_days(days) and days:
                self.last_days[name] = days
            else:
                self.problems.append(f"the day index's record of the days {name} held when last read is not a "
                                     f"list of days ({_short(days)}): not used")

    @staticmethod
    def key(name: str, fingerprint: str, settings: str) -> str:
        return hashlib.sha256(f"{name}|{fingerprint}|{settings}".encode()).hexdigest()[:32]

    @staticmethod
    def check(name: str, fingerprint: str, settings: str, days: list[str]) -> str:
        return hashlib.sha256(json.dumps([name, fingerprint, settings, days]).encode()).hexdigest()[:16]

    def lookup(self, key: str, name: str, fingerprint: str, settings: str) -> IndexLookup:
        """The days the file `name`, at `fingerprint`, read with `settings`, holds per its entry under `key`,
        when that entry is sound; else why not (an entry not used is dropped: put the file's days again)."""
        self.used.add(key)
        if key not in self.entries:
            return IndexLookup(None)
        entry = self.entries.pop(key)
        claimed = entry.get("days") if isinstance(entry, dict) and _are_days(entry.get("days")) else None
        if isinstance(entry, dict) and entry.get("file") == name and (set(entry) == {"file", "days"} and claimed
                                                                      or set(entry) == {"file", "first", "last"}):
            return IndexLookup(None, claimed=claimed)  # an older form: not used, no fault
        fault = self._fault(entry, name, fingerprint, settings)
        if fault is not None:
            return IndexLookup(None, fault, claimed)
        self.entries[key] = entry
        return IndexLookup(list(claimed), claimed=claimed)

    @staticmethod
    def _fault(entry, name: str, fingerprint: str, settings: str) -> str | None:
        """What is wrong with `entry` as the entry of `name` at `fingerprint` read with `settings`, if anything."""
        if not isinstance(entry, dict):
            return f"its entry is not an index entry but {_short(entry)}"
        if not isinstance(entry.get("file"), str):
            return f"its entry names no file: {_short(entry)}"
        if entry["file"] != name:
            return f"its entry names another file, {entry['file']}"
        if not _are_days(entry.get("days")):
            return f"its entry's days are not a sorted list of distinct days YYYY-MM-DD: {_short(entry.get('days'))}"
        if entry.get("fingerprint") != fingerprint:
            return (f"its entry is for another version of the file (size:mtime {_short(entry.get('fingerprint'))}, "
                    f"the file's is {fingerprint})")
        if entry.get("check") != DayIndex.check(name, fingerprint, settings, entry["days"]):
            return "its entry does not match its check (edited, or damaged)"
        return None

    def put(self, key: str, name: str, fingerprint: str, settings: str, days: list[str]) -> None:
        self.used.add(key)
        days = list(days)
        self.entries[key] = {"file": name, "fingerprint": fingerprint, "days": days,
                             "check": self.check(name, fingerprint, settings, days)}

    def save(self) -> None:
        if self.path is None:
            return
        keep = {k: v for k, v in self.entries.items() if k in self.used}
        names = {v["file"] for v in keep.values()} | set(self.last_days)
        text = json.dumps({"entries": keep, "last_days": {n: d for n, d in self.last_days.items() if n in names}})
        try:
            atomic_file(self.path, lambda tmp: tmp.write_text(text))
            self.problem = None
        except OSError as exc:  # read-only or full: the index is rebuilt next time
            self.problem = f"{self.path}: {exc.strerror or exc}"


DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def days_of_unreadable(name: str, last_days: list[str] | None) -> list[str]:
    """The days a file whose timestamps cannot be read (or are refused: out of time order, a row far from the
    rest) is reported on, so that the day's ingest fails with the file's error: those it held when it was last
    read, else the date in its name (e.g. machine01_2026-11-05.csv); none if neither is known."""
    if last_days:
        return list(last_days)
    found = DATE_IN_NAME.search(Path(name).name)
    if found:
        try:
            date.fromisoformat(found.group(1))
            return [found.group(1)]
        except ValueError:
            return []
    return []


@dataclass(frozen=True)
class DayFiles:
    """The raw files of each day, and each day's fingerprint; files whose days are unknown because their
    timestamps cannot be read (or, a dangling symbolic link, they cannot be opened), with why; for each file, its
    fingerprint when listed and the days it was placed on; and what was said of the listing's problems (a day
    index that disagreed with a file, a dangling link), as logged."""

    files: dict[str, list[Path]]  # day -> files holding readings of that day
    fingerprints: dict[str, str]  # day -> day_fingerprint of its files
    unplaced: tuple[tuple[str, str], ...] = ()  # (file, why) of unreadable files with no known day
    placed: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # file -> (fingerprint, days)
    warnings: tuple[str, ...] = ()

    def of(self, day: str) -> list[Path]:
        return self.files.get(day, [])

    @property
    def days(self) -> list[str]:
        return sorted(self.files)


def changed_days(current: DayFiles, ingested: dict[str, str]) -> list[str]:
    """Days whose files are new or changed since they were ingested (`ingested`: day -> fingerprint then)."""
    return [d for d in current.days if ingested.get(d) != current.fingerprints[d]]


def span_days(stored: list[str], quarantined: dict[str, str], has_readings: Callable[[str], bool],
              training_days: int, last_day: str | None) -> tuple[list[str], dict[str, str]]:
    """The span: the latest `training_days` stored days with readings up to `last_day`; and the quarantined days
    from its first day on (up to last_day), with why, which it skips. `has_readings` is asked of the days from
    the latest back, only until the span is full, so older days are never opened."""
    if training_days < 1:
        raise ValueError(f"training_days must be at least 1, got {training_days}")
    used: list[str] = []
    for day in sorted((d for d in stored if last_day is None or d <= last_day), reverse=True):
        if len(used) == training_days:
            break
        if has_readings(day):
            used.insert(0, day)
    first = used[0] if used else "0000"
    skipped = {d: why for d, why in quarantined.items() if d >= first and (last_day is None or d <= last_day)}
    return used, skipped


@dataclass
class ValidatedDay:
    """A day's readings that passed validation (allowed nulls interpolated), with its continuous segments as
    (segments, 2) row bounds. Stored without copying the readings (pipeline.store links the day's arrays)."""

    day: str
    readings: SensorReadings
    segments: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.segments[-1, 1]) if len(self.segments) else 0

    def summary(self) -> dict:
        return {"day": self.day, "rows": self.rows, "segments": len(self.segments),
                "sensors": len(self.readings.sensors)}
