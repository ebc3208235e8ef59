"""Quarantined days: days whose readings failed validation. Each holds a record (the day, when, the
headline and the failures) at `<store>/quarantine/<day>.json`; a day that validates again is released.
Training skips quarantined days and says so; a strict training refuses to run while one is in its span."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pipeline.objects import location
from pipeline.store import atomic_write_text

QUARANTINE = "quarantine"


class Quarantine:
    def __init__(self, folder: Path):
        self.folder = location(folder)

    def hold(self, day: str, headline: str, failures: list[dict]) -> Path:
        record = {"day": day, "quarantined_at": datetime.now(UTC).isoformat(), "reason": headline,
                  "failures": failures}
        return atomic_write_text(self.folder / f"{day}.json", json.dumps(record, indent=2, default=str))

    def release(self, day: str) -> None:
        (self.folder / f"{day}.json").unlink(missing_ok=True)

    def days(self) -> dict[str, str]:
        """Quarantined day -> why."""
        out = {}
        for path in sorted(self.folder.glob("*.json"), key=str) if self.folder.is_dir() else ():
            try:
                out[path.stem] = json.loads(path.read_text())["reason"]
            except (OSError, ValueError, KeyError):
                out[path.stem] = "quarantined (record unreadable)"
        return out
