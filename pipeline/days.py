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
from dataclasses import dataclass
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


class DayIndex:
    """Which days each raw file holds (the day keys of its timestamps), keyed by the file's name, fingerprint,
    the read settings and the day time zone; and, by name, the days each file held when it was last read (where
    a file rewritten unreadable, or refused, is reported). Entries of an older form (a file's first and last
    reading, from which every day between was listed) are not used: their files are indexed again.
    A JSON file under the cache folder, rewritten atomically; entries of files no longer present are dropped
    on save. A missing or unreadable index is rebuilt (it is only an optimisation)."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path else None
        self.entries: dict[str, dict] = {}
        self.last_days: dict[str, list[str]] = {}
        self.used: set[str] = set()
        self.problem: str | None = None  # why the index could not be saved
        if self.path is not None:
            try:
                doc = json.loads(self.path.read_text())
                self.entries, self.last_days = dict(doc["entries"]), dict(doc["last_days"])
            except (OSError, ValueError, KeyError, TypeError):
                self.entries, self.last_days = {}, {}

    @staticmethod
    def key(name: str, fingerprint: str, settings: str) -> str:
        return hashlib.sha256(f"{name}|{fingerprint}|{settings}".encode()).hexdigest()[:32]

    def get(self, key: str) -> dict | None:
        """The entry {"file": name, "days": [day, ...]}, or None when the file is to be indexed."""
        self.used.add(key)
        entry = self.entries.get(key)
        return entry if isinstance(entry, dict) and isinstance(entry.get("days"), list) else None

    def put(self, key: str, name: str, days: list[str]) -> None:
        self.used.add(key)
        self.entries[key] = {"file": name, "days": list(days)}

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
    timestamps cannot be read, with why."""

    files: dict[str, list[Path]]  # day -> files holding readings of that day
    fingerprints: dict[str, str]  # day -> day_fingerprint of its files
    unplaced: tuple[tuple[str, str], ...] = ()  # (file, why) of unreadable files with no known day

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
