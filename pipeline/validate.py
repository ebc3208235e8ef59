"""Validate readings against their contract: a Great Expectations 1.x suite per source file, plus the
checks that span files (overlap) and the findings that only warn (unexpected columns, flat-lined sensors).

Two engines give the same verdict: `gx` runs GX on every file; `fast` (the default) evaluates every
expectation vectorised (pipeline.expectations) and hands GX only the files and expectations that failed,
so GX writes the report of every failure while clean data costs numpy time, not GX time.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from pipeline.contract import Contract
from pipeline.days import ValidatedDay
from pipeline.expectations import (
    INTERVAL,
    SAMPLE_SIZE,
    Outcome,
    Rule,
    contract_rules,
    evaluate,
    with_intervals,
)
from pipeline.readings import TIMESTAMP, RawFile, SensorReadings, file_rows, sensor_frame
from pipeline.segments import SEGMENT_COLUMN, assign_segments, segment_bounds


class Engine(StrEnum):
    fast = "fast"  # every expectation vectorised; GX reports the failures
    gx = "gx"  # GX evaluates every expectation (slower, same verdict)


ENGINES = tuple(Engine)


@dataclass(frozen=True)
class ValidationSettings:
    """How readings are validated (the defaults of the `validated_readings` asset)."""

    engine: str = Engine.fast.value


@dataclass(frozen=True)
class Finding:
    file: str
    column: str
    expectation: str
    problem: str
    bad_rows: int
    sample: str = ""
    first_bad_timestamp: str = ""


@dataclass
class ValidationReport:
    files: int
    rows: int
    expectations_run: int
    engine: str
    failures: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failures

    def headline(self) -> str:
        """The verdict in one line."""
        if self.success:
            warn = f", {len(self.warnings)} warning(s)" if self.warnings else ""
            return (f"validation passed: {self.expectations_run} expectations on {self.rows} rows "
                    f"in {self.files} file(s){warn}")
        f = self.failures[0]
        bad_files = len({x.file for x in self.failures})
        return (f"validation failed: {len(self.failures)} failed expectation(s) in {bad_files} file(s); first: "
                f"{f.file}, column {f.column!r}: {f.problem} ({f.bad_rows} bad row(s))")

    def to_markdown(self, findings: list[Finding] | None = None) -> str:
        rows = self.failures if findings is None else findings
        lines = ["| file | column | problem | expectation | bad rows | sample values | first bad timestamp |",
                 "|---|---|---|---|---|---|---|"]
        lines += [f"| {x.file} | {x.column} | {x.problem} | {x.expectation} | {x.bad_rows} | {x.sample} | "
                  f"{x.first_bad_timestamp} |" for x in rows]
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"summary": self.headline(), "success": self.success,
                           **{k: v for k, v in asdict(self).items()}}, indent=2, default=str)


class _GX:
    """One ephemeral GX context per validation; a suite per distinct set of expectations."""

    def __init__(self):
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.ctx = gx.get_context(mode="ephemeral")
        self.ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.batch = (self.ctx.data_sources.add_pandas("readings").add_dataframe_asset("sensor_file")
                      .add_batch_definition_whole_dataframe("whole_file"))
        self._definitions = {}

    def run(self, rules: list[Rule], frame: pd.DataFrame) -> dict[Rule, dict]:
        """GX's result for each rule (SUMMARY format), on this frame."""
        key = tuple(rules)
        if key not in self._definitions:
            name = f"sensor_contract_{len(self._definitions)}"
            suite = self.ctx.suites.add(self.gx.ExpectationSuite(name=name, expectations=[r.to_gx() for r in rules]))
            ids = {e.id: rule for e, rule in zip(suite.expectations, rules, strict=True)}
            self._definitions[key] = (self.gx.ValidationDefinition(name=name, data=self.batch, suite=suite), ids)
        definition, ids = self._definitions[key]
        result = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
        return {ids[r.expectation_config.id]: {"success": bool(r.success), **(r.result or {})}
                for r in result.results}


def _sample(values) -> str:
    return ", ".join(str(v) for v in list(values)[:SAMPLE_SIZE])


def _finding(name: str, rule: Rule, outcome: Outcome, gx_result: dict | None, part: pd.DataFrame,
             hint: str = "") -> Finding:
    bad_rows, sample = outcome.bad_rows, _sample(outcome.sample)
    if gx_result is not None and not gx_result["success"]:  # GX's own account of the failure
        bad_rows = int(gx_result.get("unexpected_count") or bad_rows)
        sample = _sample(gx_result.get("partial_unexpected_list") or outcome.sample)
    if outcome.observed is not None and not sample:
        sample = f"observed {outcome.observed:.6g}" if isinstance(outcome.observed, float) else str(outcome.observed)
    first = "" if outcome.first_bad is None else str(part[TIMESTAMP].iloc[outcome.first_bad])
    return Finding(name, rule.column, rule.type, rule.problem + hint, bad_rows, sample, first)


def _unexpected_columns(info: RawFile, contract: Contract) -> list[str]:
    known = {contract.timestamp_column, *contract.names, *contract.labels}
    return [c for c in info.columns if c not in known]


def _flatlines(name: str, part: pd.DataFrame, contract: Contract) -> list[Finding]:
    """Sensors that hold one value for longer than the contract's flat-line limit (reported, not failed)."""
    limit, period = contract.flatline_limit_s, contract.sampling_period_s
    if not limit or not period or len(part) < 2:
        return []
    out = []
    for s in contract.names:  # counted in readings, so a pause between two equal readings is no flat line
        x = part[s].to_numpy()
        run_start = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
        run_rows = np.diff(np.r_[run_start, len(x)])
        i = int(np.argmax(run_rows))
        seconds = (run_rows[i] - 1) * period
        if seconds > limit and not np.isnan(x[run_start[i]]):
            out.append(Finding(name, s, "flat_line", f"constant at {x[run_start[i]]:g} for {run_rows[i]} readings "
                               f"(~{seconds:.0f} s, limit {limit:g} s)", int(run_rows[i]),
                               f"{x[run_start[i]]:g}", str(part[TIMESTAMP].iloc[run_start[i]])))
    return out


def _overlaps(frame: pd.DataFrame, rows: dict, files: list[str]) -> list[Finding]:
    """Files (in order of first reading) whose readings start before an earlier file has ended."""
    out, latest_end, latest_file = [], None, None
    for name in files:
        ts = frame[TIMESTAMP].iloc[rows[name]]
        first, last = ts.min(), ts.max()
        if latest_end is not None and first <= latest_end:
            out.append(Finding(name, TIMESTAMP, "files_do_not_overlap",
                               f"overlaps {latest_file}, which runs until {latest_end}", int((ts <= latest_end).sum()),
                               "", str(first)))
        if latest_end is None or last > latest_end:
            latest_end, latest_file = last, name
    return out


def validate_readings(readings: SensorReadings, engine: str = ValidationSettings.engine,
                      log=lambda msg: None) -> ValidationReport:
    """Run the contract's suite on every file and the cross-file checks; collect failures and warnings."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {tuple(map(str, ENGINES))}, got {engine!r}")
    engine = str(engine)
    contract, frame = readings.contract, readings.frame
    rules = contract_rules(contract)
    gx = _GX() if engine == "gx" else None
    report = ValidationReport(len(readings.files), len(frame), 0, engine)
    rows = file_rows(frame)  # each file's rows: a slice of the frame, not a copy
    for info in readings.files:
        part = with_intervals(frame.iloc[rows[info.name]])
        unexpected = _unexpected_columns(info, contract)
        # Sensors the file lacks are left out of its batch, so GX's column-exists expectation sees them missing.
        batch = part[[TIMESTAMP, *[s for s in contract.names if s in info.columns], INTERVAL]]
        applicable = [r for r in rules if r.column in batch.columns or r.expectation == "ExpectColumnToExist"]
        if len(part) < 2:  # a single reading has no interval: its sampling cannot be checked, only reported
            applicable = [r for r in applicable if r.column != INTERVAL]
            report.warnings.append(Finding(info.name, TIMESTAMP, "sampling_period", f"{len(part)} reading(s): too "
                                           "few to check the sampling period; gives no window", len(part)))
        report.expectations_run += len(applicable)
        outcomes = {r: evaluate(r, batch) for r in applicable}
        failed, gx_results = [r for r, o in outcomes.items() if not o.success], {}
        if engine == "gx":
            gx_results = gx.run(applicable, batch)
            failed = [r for r in applicable if not gx_results[r]["success"]]
        elif failed:
            gx = gx or _GX()
            needed = [c for c in batch.columns if c == TIMESTAMP or c in {r.column for r in failed}]
            gx_results = gx.run(failed, batch[needed])
        hint = f" (the file has unexpected column(s) {unexpected}: renamed?)" if unexpected else ""
        for r in failed:
            report.failures.append(_finding(info.name, r, outcomes[r], gx_results.get(r), part,
                                            hint if r.expectation == "ExpectColumnToExist" else ""))
        report.warnings += [Finding(info.name, c, "known_columns", "unexpected column (not a sensor or label in "
                                    "the contract); ignored", info.rows) for c in unexpected]
        report.warnings += _flatlines(info.name, part, contract)
        log(f"validated {info.name}: {len(part)} rows, {len(failed)} failed expectation(s)")
    report.expectations_run += max(len(readings.files) - 1, 0)
    report.failures += _overlaps(frame, rows, [f.name for f in readings.files])
    return report


def interpolate_and_segment(readings: SensorReadings) -> SensorReadings:
    """Validated readings ready for windowing: allowed nulls interpolated in time within each file, and the
    continuous segment of every row (a new one at each file and each gap beyond the contract's limit)."""
    frame = readings.frame.copy(deep=False)  # copy-on-write: the readings' own frame is never changed
    if any(frame[s].hasnans for s in readings.sensors):
        frame = _interpolated(frame, readings.sensors)
    segments = assign_segments(frame, readings.contract.gap_s)
    frame[SEGMENT_COLUMN] = pd.Series(segments, index=frame.index, copy=False)  # a Series is not copied
    return readings.with_frame(frame)


def validated_day(day: str, readings: SensorReadings) -> ValidatedDay:
    """A day's readings that passed validation, ready for windowing: allowed nulls interpolated (only then
    are the readings new arrays; otherwise they stay the stored ones) and its continuous segments."""
    frame = readings.frame
    if any(frame[s].hasnans for s in readings.sensors):
        readings = readings.with_frame(_interpolated(frame, readings.sensors))
    return ValidatedDay(day, readings, segment_bounds(assign_segments(readings.frame, readings.contract.gap_s)))


def _interpolated(frame: pd.DataFrame, sensors: list[str]) -> pd.DataFrame:
    """The frame with new sensor values: each file's nulls interpolated in time (files without nulls copied)."""
    values = np.array(frame[sensors].to_numpy(np.float64).T, order="C")  # sensors x rows, as ingestion lays out
    for where in file_rows(frame).values():
        part = frame.iloc[where]
        if part[sensors].isna().to_numpy().any():
            filled = part[[TIMESTAMP, *sensors]].set_index(TIMESTAMP).interpolate(method="time",
                                                                                    limit_direction="both")
            values[:, where] = filled.to_numpy().T
    others = {c: frame[c] for c in frame.columns if c not in sensors}
    return sensor_frame(values, sensors, others, list(frame.columns), frame.index)
