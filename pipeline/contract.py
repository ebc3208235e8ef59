"""The sensor contract: which columns are sensors, their units and valid ranges, and the sampling period.

A contract is a YAML file kept next to the raw files it describes (`sensors.yaml` in the raw folder):

    sampling_period_s: 20
    labels: [regime]            # columns that are not sensors; read and ignored
    sensors:
      bearing_temperature: {unit: degC, min: -20, max: 120}

Without a contract file, the sensors are inferred: every numeric column other than the timestamp and the
excluded columns, with no ranges. The contract's `source` says which of the two happened.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

CONTRACT_FILE = "sensors.yaml"


class ContractError(ValueError):
    """A contract file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Sensor:
    name: str
    unit: str = ""
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Contract:
    sensors: tuple[Sensor, ...]
    sampling_period_s: float | None = None
    labels: tuple[str, ...] = ()
    source: str = "inferred"  # the contract file's path, or "inferred"
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sensors]

    @property
    def inferred(self) -> bool:
        return self.source == "inferred"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Contract:
        d = json.loads(text)
        return cls(
            sensors=tuple(Sensor(**s) for s in d["sensors"]),
            sampling_period_s=d.get("sampling_period_s"),
            labels=tuple(d.get("labels", ())),
            source=d.get("source", "inferred"),
            notes=tuple(d.get("notes", ())),
        )


def _number(value, where: str) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ContractError(f"{where}: expected a number, got {value!r}") from None
    if math.isnan(out):
        raise ContractError(f"{where}: expected a number, got NaN")
    return out


def load_contract(path: Path) -> Contract:
    """Read a contract file; every problem is reported with the file and the key that holds it."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sensors"), dict) or not doc["sensors"]:
        raise ContractError(f"{path}: expected a mapping with a non-empty 'sensors' mapping")
    sensors = []
    for name, spec in doc["sensors"].items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise ContractError(f"{path}: sensors.{name}: expected a mapping of unit/min/max")
        unknown = set(spec) - {"unit", "min", "max"}
        if unknown:
            raise ContractError(f"{path}: sensors.{name}: unknown keys {sorted(unknown)}")
        lo = _number(spec.get("min"), f"{path}: sensors.{name}.min")
        hi = _number(spec.get("max"), f"{path}: sensors.{name}.max")
        if lo is not None and hi is not None and lo > hi:
            raise ContractError(f"{path}: sensors.{name}: min {lo} is greater than max {hi}")
        sensors.append(Sensor(str(name), str(spec.get("unit", "")), lo, hi))
    period = _number(doc.get("sampling_period_s"), f"{path}: sampling_period_s")
    if period is not None and period <= 0:
        raise ContractError(f"{path}: sampling_period_s must be positive, got {period}")
    labels = doc.get("labels") or []
    if not isinstance(labels, list):
        raise ContractError(f"{path}: labels: expected a list of column names")
    return Contract(tuple(sensors), period, tuple(str(c) for c in labels), source=str(path))


def infer_contract(numeric_columns: list[str], other_columns: list[str]) -> Contract:
    """Without a contract file: every numeric column is a sensor, without units or ranges."""
    notes = [(f"sensors inferred: {len(numeric_columns)} numeric columns, no units or ranges "
              f"(no {CONTRACT_FILE} in the raw folder)")]
    if other_columns:
        notes.append(f"non-numeric columns ignored: {', '.join(other_columns)}")
    return Contract(tuple(Sensor(c) for c in numeric_columns), None, tuple(other_columns), notes=tuple(notes))
