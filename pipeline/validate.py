"""Validate readings against their contract with a Great Expectations 1.x suite, one batch per source file.

Running the suite per file lets every failure name the file it came from, and makes "timestamps unique and
strictly increasing" a per-file promise (files are allowed to be recorded by different loggers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from pipeline.contract import Contract
from pipeline.ingest import SOURCE_COLUMN, TIMESTAMP

NUMERIC_TYPES = ["float64", "float32", "int64", "int32"]


@dataclass(frozen=True)
class ExpectationFailure:
    file: str
    column: str
    expectation: str
    bad_rows: int
    sample: tuple = ()


@dataclass
class ValidationReport:
    files: int
    rows: int
    expectations_run: int
    failures: list[ExpectationFailure] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        if self.success:
            return (f"validation passed: {self.expectations_run} expectations on {self.rows} rows "
                    f"in {self.files} files")
        first = self.failures[0]
        bad_files = len({f.file for f in self.failures})
        return (f"validation failed: {len(self.failures)} failed expectation(s) in {bad_files} file(s); first: "
                f"{first.file}, column {first.column!r}, {first.expectation}, {first.bad_rows} bad row(s)")

    def failure_records(self) -> list[dict]:
        return [{**asdict(f), "sample": ", ".join(map(str, f.sample))} for f in self.failures]

    def to_markdown(self) -> str:
        lines = ["| file | column | expectation | bad rows | sample values |", "|---|---|---|---|---|"]
        lines += [f"| {r['file']} | {r['column']} | {r['expectation']} | {r['bad_rows']} | {r['sample']} |"
                  for r in self.failure_records()]
        return "\n".join(lines)


def build_expectations(contract: Contract) -> list:
    """The suite's expectations, derived from the contract alone."""
    import great_expectations as gx  # imported here: GX takes seconds to import, code locations load fast

    ex = gx.expectations
    out = [ex.ExpectColumnToExist(column=TIMESTAMP),
           ex.ExpectColumnValuesToBeUnique(column=TIMESTAMP),
           ex.ExpectColumnValuesToBeIncreasing(column=TIMESTAMP, strictly=True)]
    for s in contract.sensors:
        out += [ex.ExpectColumnToExist(column=s.name),
                ex.ExpectColumnValuesToBeInTypeList(column=s.name, type_list=NUMERIC_TYPES),
                ex.ExpectColumnValuesToNotBeNull(column=s.name)]
        if s.min is not None or s.max is not None:
            out.append(ex.ExpectColumnValuesToBeBetween(column=s.name, min_value=s.min, max_value=s.max))
    return out


def _validation_definition(contract: Contract):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (ctx.data_sources.add_pandas("readings").add_dataframe_asset("sensor_file")
             .add_batch_definition_whole_dataframe("whole_file"))
    suite = ctx.suites.add(gx.ExpectationSuite(name="sensor_contract", expectations=build_expectations(contract)))
    return gx.ValidationDefinition(name="sensor_contract", data=batch, suite=suite), len(suite.expectations)


def validate_readings(frame: pd.DataFrame, contract: Contract, log=lambda msg: None) -> ValidationReport:
    """Run the contract's suite on each source file; collect every failed expectation."""
    definition, n_expectations = _validation_definition(contract)
    files = list(dict.fromkeys(frame[SOURCE_COLUMN]))
    report = ValidationReport(files=len(files), rows=len(frame), expectations_run=n_expectations * len(files))
    for name, part in frame.groupby(SOURCE_COLUMN, sort=False):
        result = definition.run(batch_parameters={"dataframe": part.drop(columns=SOURCE_COLUMN)},
                                result_format="SUMMARY")
        failed = [r for r in result.results if not r.success]
        for r in failed:
            cfg = r.expectation_config
            res = r.result or {}
            report.failures.append(ExpectationFailure(
                file=name,
                column=cfg.kwargs.get("column", ""),
                expectation=cfg.type,
                bad_rows=int(res.get("unexpected_count") or (len(part) if cfg.type.endswith("exist") else 0)),
                sample=tuple(str(v) for v in (res.get("partial_unexpected_list") or [])[:5]),
            ))
        log(f"validated {name}: {len(part)} rows, {len(failed)} failed expectation(s)")
    return report
