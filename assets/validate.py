"""Stage 2: the contract's Great Expectations suite (`validated_readings`)."""

from dataclasses import asdict, fields

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.metadata import GROUP, OWNERS, frame_table, stage_tags
from assets.resources import DataRoot
from pipeline.readings import SensorReadings
from pipeline.segments import segment_summary
from pipeline.store import StorageError, atomic_write_text
from pipeline.validate import Engine, Finding, ValidationSettings, interpolate_and_segment, validate_readings

CODE_VERSION = "1"  # bump when what this module computes changes (assets/metadata.py)


class ValidatedReadingsConfig(dg.Config):
    engine: Engine = Field(Engine(ValidationSettings.engine), description="'fast': every expectation vectorised, "
                           "GX reports the failures; 'gx': GX evaluates every expectation (slower, same verdict)")


def _table(findings: list[Finding]) -> dg.MetadataValue:
    return frame_table(pd.DataFrame([asdict(f) for f in findings], columns=[f.name for f in fields(Finding)]))


@dg.asset(group_name=GROUP, kinds={"great_expectations", "parquet"}, code_version=CODE_VERSION, owners=OWNERS,
          tags=stage_tags("validate"),
          description="Readings that passed the contract's GX suite, split into continuous segments; a failure "
                      "stops the run before any model work. The report is also `<data root>/reports/validation.json`.")
def validated_readings(context: dg.AssetExecutionContext, config: ValidatedReadingsConfig, data_root: DataRoot,
                       raw_readings: SensorReadings) -> SensorReadings:
    try:
        report = validate_readings(raw_readings, config.engine, log=context.log.info)
    except (TypeError, ValueError) as exc:
        raise dg.Failure(description=f"validated_readings config: {exc}") from None
    try:
        report_path = atomic_write_text(data_root.path_of("reports", "validation.json"), report.to_json())
    except StorageError as exc:
        raise dg.Failure(description=f"the validation report could not be written: {exc}") from None
    for w in report.warnings:
        context.log.warning(f"{w.file}, column {w.column!r}: {w.problem}")
    common = {"report": dg.MetadataValue.path(str(report_path)), "expectations_run": report.expectations_run,
              "warnings": _table(report.warnings)}
    if not report.success:
        raise dg.Failure(description=f"{report.headline()}\n\n{report.to_markdown()}",
                         metadata={**common, "failures": _table(report.failures),
                                   "failed_expectations": len(report.failures)})
    context.log.info(report.headline())
    validated = interpolate_and_segment(raw_readings)
    segments = segment_summary(validated.frame)
    context.add_output_metadata({**common, "files": report.files, "rows": report.rows, "segments": len(segments),
                                 "failed_expectations": len(report.failures), "warning_count": len(report.warnings),
                                 "engine": report.engine,
                                 "contract": raw_readings.contract.source, "summary": report.headline()})
    return validated
