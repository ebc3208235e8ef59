"""The sensor contract: what a dataset's files must look like.

A contract is a YAML file, by default `sensors.yaml` in the raw folder it describes (see the README):

    timestamp_column: timestamp  # name of the time column in the raw files
    timestamp_format: "%d/%m/%Y %H:%M:%S"  # strptime format; default: ISO 8601 only, nothing is guessed
    timestamp_unit: s            # for epoch numbers (s, ms, us, ns); epoch times are UTC
    timezone: UTC                # zone of timestamps written without a UTC offset
    day_timezone: UTC            # where a day partition starts and ends (PIPELINE_DAY_TIMEZONE overrides)
    ambiguous_times: raise       # local times a DST change repeats: raise, infer, earliest or latest
    sampling_period_s: 20        # expected time between readings
    max_gap_s: 60                # a longer pause starts a new continuous segment (default 3 periods)
    on_gap: split                # split: window each segment; fail: a gap fails validation
    max_null_fraction: 0.0       # per sensor and file; allowed nulls are interpolated in time
    flatline_s: 7200             # report a sensor stuck at one value for longer (default 100 periods)
    labels: [regime]             # columns that are not sensors; read and ignored
    separator: ","               # CSV field separator (the run config's `separator` overrides it)
    exclude_columns: [anomaly]   # columns that are neither the timestamp nor sensors, like labels
    sensors:
      bearing_temperature: {unit: degC, min: -20, max: 120}

Sensor names are text: quote names YAML would read as something else ('NO', 'on', '1'). The pipeline's own
column names (`source_file`, `segment`, `interval_s`, and `timestamp` unless it is the timestamp column) cannot
be sensors.

Without a contract file, the sensors are inferred (every numeric column other than the timestamp, the labels
and the excluded columns, with no units or ranges) and the sampling period is the median interval; `source`
and `notes` say so.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from pipeline.storage import location

CONTRACT_FILE = "sensors.yaml"
CONTRACT_FILES = (CONTRACT_FILE, "sensors.yml")  # looked for in the raw folder when none is configured
GAP_POLICIES = ("split", "fail")
TIMESTAMP_UNITS = ("s", "ms", "us", "ns")
# Local times that a daylight-saving change repeats: fail, infer from the order of the readings, or take the
# first (summer time) or the second (standard time) occurrence.
AMBIGUOUS_TIMES = ("raise", "infer", "earliest", "latest")
_KEYS = {"timestamp_column", "timestamp_format", "timestamp_unit", "timezone", "day_timezone", "ambiguous_times",
         "sampling_period_s", "max_gap_s", "on_gap", "max_null_fraction", "flatline_s", "labels", "sensors",
         "separator", "exclude_columns"}
DEFAULT_SEPARATOR = ","
# A CSV field separator is one character, and not one that ends a row or quotes a field.
_NOT_SEPARATORS = {"\n": "a line break", "\r": "a line break", '"': "the quote character"}


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
    timestamp_column: str = "timestamp"
    timezone: str = "UTC"
    day_timezone: str = "UTC"  # where a day partition starts and ends
    timestamp_format: str | None = None  # strptime format of text timestamps; None: ISO 8601 only
    timestamp_unit: str | None = None  # unit of epoch numbers; None: numbers are refused as timestamps
    ambiguous_times: str = "raise"
    max_gap_s: float | None = None
    on_gap: str = "split"
    max_null_fraction: float = 0.0
    flatline_s: float | None = None
    separator: str = DEFAULT_SEPARATOR  # CSV field separator
    exclude_columns: tuple[str, ...] = ()  # neither the timestamp nor sensors (labels, ids)
    source: str = "inferred"  # the contract file's path, or "inferred"
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sensors]

    @property
    def inferred(self) -> bool:
        return self.source == "inferred"

    @property
    def gap_s(self) -> float | None:
        """Longest pause that still counts as continuous sampling."""
        if self.max_gap_s is not None:
            return self.max_gap_s
        return 3 * self.sampling_period_s if self.sampling_period_s else None

    @property
    def flatline_limit_s(self) -> float | None:
        if self.flatline_s is not None:
            return self.flatline_s
        return 100 * self.sampling_period_s if self.sampling_period_s else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Contract:
        d = json.loads(text)
        d["sensors"] = tuple(Sensor(**s) for s in d["sensors"])
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _number(value, where: str, positive: bool = False) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ContractError(f"{where}: expected a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ContractError(f"{where}: expected a number, got {value!r}") from None
    if math.isnan(out):
        raise ContractError(f"{where}: expected a number, got NaN")
    if positive and out <= 0:
        raise ContractError(f"{where} must be positive, got {out:g}")
    return out


def _text(value, where: str) -> str:
    """A name or format: YAML reads unquoted NO, on, yes, 1 or 1.5 as booleans and numbers, not as text."""
    if not isinstance(value, str):
        raise ContractError(f"{where}: {value!r} is not text (YAML reads unquoted NO, yes, on, off, true and "
                            f"numbers as such): quote it, e.g. '{value}'")
    return value


def check_separator(value, where: str) -> str:
    """A CSV field separator: one character (a tab is "\\t" in YAML and JSON), not a line break or a quote."""
    if not isinstance(value, str) or len(value) != 1:
        raise ValueError(f"{where}: expected one character (e.g. ';', or \"\\t\" for a tab), got {value!r}")
    if value in _NOT_SEPARATORS:
        raise ValueError(f"{where}: {value!r} is {_NOT_SEPARATORS[value]}, not a field separator")
    return value


def _columns(doc: dict, key: str, path: Path) -> tuple[str, ...]:
    """A list of column names (labels, exclude_columns); none when the key is absent or empty."""
    names = doc.get(key) or []
    if not isinstance(names, list):
        raise ContractError(f"{path}: {key}: expected a list of column names, got {names!r}")
    return tuple(_text(c, f"{path}: {key}") for c in names)


def _choice(value, where: str, choices: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        raise ContractError(f"{where} must be one of {choices}, got {value!r}")
    return value


def _sensor(path: Path, name, spec) -> Sensor:
    name = _text(name, f"{path}: sensors")
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
    return Sensor(name, str(spec.get("unit", "")), lo, hi)


def load_contract(path: Path) -> Contract:
    """Read a contract file (local, or on an object store); every problem is reported with the file and the key
    that holds it."""
    path = location(path)
    if not path.is_file():
        raise ContractError(f"contract {path} does not exist" if not path.exists() else
                            f"contract {path} is not a file")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sensors"), dict) or not doc["sensors"]:
        raise ContractError(f"{path}: expected a mapping with a non-empty 'sensors' mapping")
    unknown = set(doc) - _KEYS
    if unknown:
        raise ContractError(f"{path}: unknown keys {sorted(unknown, key=str)} (known: {sorted(_KEYS)})")
    try:
        separator = check_separator(DEFAULT_SEPARATOR if doc.get("separator") is None else doc["separator"],
                                    f"{path}: separator")
    except ValueError as exc:
        raise ContractError(str(exc)) from None
    timezone = _text(doc.get("timezone", "UTC"), f"{path}: timezone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ContractError(f"{path}: timezone: unknown time zone {timezone!r}") from None
    day_timezone = _text(doc.get("day_timezone", "UTC"), f"{path}: day_timezone")
    try:
        ZoneInfo(day_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ContractError(f"{path}: day_timezone: unknown time zone {day_timezone!r}") from None
    on_gap = _choice(doc.get("on_gap", "split"), f"{path}: on_gap", GAP_POLICIES)
    null_fraction = _number(doc.get("max_null_fraction"), f"{path}: max_null_fraction") or 0.0
    if not 0 <= null_fraction < 1:
        raise ContractError(f"{path}: max_null_fraction must be in [0, 1), got {null_fraction:g}")
    fmt = doc.get("timestamp_format")
    return Contract(
        sensors=tuple(_sensor(path, n, s) for n, s in doc["sensors"].items()),
        sampling_period_s=_number(doc.get("sampling_period_s"), f"{path}: sampling_period_s", positive=True),
        labels=_columns(doc, "labels", path),
        timestamp_column=_text(doc.get("timestamp_column", "timestamp"), f"{path}: timestamp_column"),
        timezone=timezone,
        day_timezone=day_timezone,
        timestamp_format=None if fmt is None else _text(fmt, f"{path}: timestamp_format"),
        timestamp_unit=_choice(doc.get("timestamp_unit"), f"{path}: timestamp_unit", TIMESTAMP_UNITS),
        ambiguous_times=_choice(doc.get("ambiguous_times", "raise"), f"{path}: ambiguous_times", AMBIGUOUS_TIMES),
        max_gap_s=_number(doc.get("max_gap_s"), f"{path}: max_gap_s", positive=True),
        on_gap=on_gap,
        max_null_fraction=null_fraction,
        flatline_s=_number(doc.get("flatline_s"), f"{path}: flatline_s", positive=True),
        separator=separator,
        exclude_columns=_columns(doc, "exclude_columns", path),
        source=str(path),
    )


def infer_contract(numeric_columns: list[str], other_columns: list[str], timestamp_column: str,
                   sampling_period_s: float | None) -> Contract:
    """Without a contract file: every numeric column is a sensor, without units or ranges."""
    notes = [(f"sensors inferred: {len(numeric_columns)} numeric columns, no units or ranges "
              f"(no {CONTRACT_FILE} found)")]
    if sampling_period_s:
        notes.append(f"sampling period inferred: {sampling_period_s:g} s (median interval)")
    if other_columns:
        notes.append(f"non-numeric columns ignored: {', '.join(other_columns)}")
    return Contract(tuple(Sensor(c) for c in numeric_columns), sampling_period_s, tuple(other_columns),
                    timestamp_column=timestamp_column, notes=tuple(notes))


def with_timestamp_settings(contract: Contract, column: str | None = None, fmt: str | None = None,
                            unit: str | None = None) -> Contract:
    """The contract with the timestamp column, format and unit a user configured, where configured."""
    given = {"timestamp_column": column, "timestamp_format": fmt, "timestamp_unit": unit}
    return replace(contract, **{k: v for k, v in given.items() if v})
