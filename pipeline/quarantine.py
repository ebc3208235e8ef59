"""Quarantined days: days whose readings failed validation. Each holds a record (the day, when, the
headline and the failures) at `<store>/quarantine/<day>.json`; a day that validates again is released.
Training skips quarantined days and says so; a strict training refuses to run while one is in its span."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pipeline.storage import backend, location

QUARANTINE = "quarantine"


class Quarantine:
    def __init__(self, folder: Path):
        self.folder = location(folder)
        self.storage = backend(self.folder)

    def hold(self, day: str, headline: str, failures: list[dict]) -> Path:
        record = {"day": day, "quarantined_at": datetime.now(UTC).isoformat(), "reason": headline,
                  "failures": failures}
        return self.storage.write_text(self.folder / f"{day}.json", json.dumps(record, indent=2, default=str))

    def release(self, day: str) -> None:
        self.storage.delete(self.folder / f"{day}.json")

    def days(self) -> dict[str, str]:
        """Quarantined day -> why."""
        out = {}
        for path in self.storage.files(self.folder, ".json"):
            try:
                out[path.stem] = json.loads(self.storage.read_text(path))["reason"]
            except (TypeError, ValueError, KeyError):
                out[path.stem] = "quarantined (record unreadable)"
        return out
