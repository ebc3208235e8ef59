"""Cache of parsed raw files, so a nightly run re-parses only the files that are new or changed.

A file's entry is keyed by its absolute path, size, modification time and the settings that shape its parse
(separator, timestamp column, time zone); it holds the file's table as read, its timestamps already parsed
to UTC, as Parquet. Only files that parsed cleanly are cached; entries of files no longer read are pruned.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pandas as pd


class ParseCache:
    def __init__(self, folder: Path | None):
        self.folder = Path(folder) if folder else None
        self.used: set[str] = set()
        self.hits = 0

    def key(self, path: Path, settings: tuple) -> str:
        st = path.stat()
        text = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{settings!r}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def get(self, key: str) -> pd.DataFrame | None:
        if self.folder is None:
            return None
        self.used.add(key)
        entry = self.folder / f"{key}.parquet"
        try:
            frame = pd.read_parquet(entry)
        except (OSError, ValueError):  # absent, or unreadable: parse the file again
            return None
        self.hits += 1
        return frame

    def put(self, key: str, frame: pd.DataFrame) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.tmp-{uuid.uuid4().hex}"
        try:
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, self.folder / f"{key}.parquet")
        except (OSError, ValueError):  # a frame Parquet cannot hold is simply not cached
            pass
        finally:
            tmp.unlink(missing_ok=True)

    def prune(self) -> None:
        """Drop entries not used by this read (files deleted or changed since)."""
        if self.folder is None or not self.folder.is_dir():
            return
        for entry in self.folder.glob("*.parquet"):
            if entry.stem not in self.used:
                entry.unlink(missing_ok=True)
