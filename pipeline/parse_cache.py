"""Cache of parsed raw files, so a nightly run re-parses only the files that are new or changed.

A file's entry is keyed by its absolute path, size, modification time and the settings that shape its parse
(separator, timestamp column, time zone); it holds the file's table as read, its timestamps already parsed
to UTC, as Parquet. Only files that parsed cleanly are cached; entries of files no longer read are pruned.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.storage.local import atomic_file


class ParseCache:
    def __init__(self, folder: Path | None):
        self.folder = Path(folder) if folder else None
        self.used: set[str] = set()
        self.hits = 0
        self.problem: str | None = None  # why entries could not be written (the cache is an optimisation)

    def key(self, path: Path, settings: tuple) -> str:
        st = Path(path).stat()
        text = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{settings!r}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def get(self, key: str) -> pa.Table | None:
        if self.folder is None:
            return None
        self.used.add(key)
        entry = self.folder / f"{key}.parquet"
        try:
            table = pq.read_table(entry)
        except (OSError, ValueError, pa.ArrowException):  # absent, or unreadable: parse the file again
            return None
        self.hits += 1
        return table

    def put(self, key: str, table: pa.Table) -> None:
        if self.folder is None or self.problem:
            return
        repeating = [f.name for f in table.schema if not (pa.types.is_floating(f.type) or
                                                          pa.types.is_timestamp(f.type))]
        try:  # dictionaries of readings cost time for little
            atomic_file(self.folder / f"{key}.parquet",
                        lambda tmp: pq.write_table(table, tmp, use_dictionary=repeating))
        except OSError as exc:  # read-only or full: reading goes on without the cache
            self.problem = f"{self.folder}: {exc.strerror or exc}"
        except (ValueError, pa.ArrowException):  # a table Parquet cannot hold is simply not cached
            pass

    def prune(self) -> None:
        """Drop entries not used by this read (files deleted or changed since)."""
        if self.folder is None or not self.folder.is_dir():
            return
        for entry in self.folder.glob("*.parquet"):
            if entry.stem not in self.used:
                try:
                    entry.unlink(missing_ok=True)
                except OSError:  # read-only: stale entries stay, and are never used
                    pass
