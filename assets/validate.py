"""Stage 2: the contract's Great Expectations suite, day by day (`validated_readings`); a failing day is
quarantined."""

from dataclasses import asdict, fields

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.metadata import GROUP, ONE_DAY_PER_RUN, OWNERS, frame_table, stage_tags
from assets.partitions import DAYS
from assets.resources import DataRoot, storage_failures
from pipeline.days import ValidatedDay
from pipeline.readings import SensorReadings
from pipeline.storage import StorageError
from pipeline.validate import Engine, Finding, ValidationSettings, validate_readings, validated_day

CODE_VERSION = "2"  # bump when what this module computes changes (assets/metadata.py)


class ValidatedReadingsConfig(dg.Config):
    engine: Engine = Field(Engine(ValidationSettings.engine), description="'fast': every expectation vectorised, "
                           "GX reports the failures; 'gx': GX evaluates every expectation (slower, same verdict)")


def _table(findings: list[Finding]) -> dg.MetadataValue:
    return frame_table(pd.DataFrame([asdict(f) for f in findings], columns=[f.name for f in fields(Finding)]))


@dg.asset(group_name=GROUP, kinds={"great_expectations", "numpy"}, code_version=CODE_VERSION, owners=OWNERS,
          tags=stage_tags("validate"), partitions_def=DAYS, backfill_policy=ONE_DAY_PER_RUN,
          description="A day of readings that passed the contract's GX suite, split into continuous segments. "
                      "Stores no second copy: the day's arrays are hard links to raw_readings' (a new array only "
                      "where allowed nulls were interpolated). A failing day is a failed partition, quarantined "
                      "(`<data root>/store/quarantine/<day>.json`): training skips it and says so. The report is "
                      "also `<data root>/reports/validation/<day>.json`.")
@storage_failures
def validated_readings(context: dg.AssetExecutionContext, config: ValidatedReadingsConfig, data_root: DataRoot,
                       raw_readings: SensorReadings) -> ValidatedDay:
    day = context.partition_key
    try:
        report = validate_readings(raw_readings, config.engine, log=context.log.info)
    except (TypeError, ValueError) as exc:
        raise dg.Failure(description=f"validated_readings config: {exc}") from None
    try:
        report_path = data_root.catalog.save_report("validation", day, report.to_json())
    except StorageError as exc:
        raise dg.Failure(description=f"the validation report could not be written: {exc}") from None
    for w in report.warnings:
        context.log.warning(f"{w.file}, column {w.column!r}: {w.problem}")
    common = {"report": dg.MetadataValue.path(str(report_path)), "expectations_run": report.expectations_run,
              "warnings": _table(report.warnings)}
    if not report.success:
        try:  # the day's earlier outputs, if any, must not be trained on or scored any more
            data_root.catalog.quarantine_day(day, report.headline(), [asdict(f) for f in report.failures],
                                            failed="validated_readings")
        except StorageError as exc:
            context.log.error(f"the quarantine of {day} could not be recorded: {exc}")
        raise dg.Failure(description=f"{day} quarantined: {report.headline()}\n\n{report.to_markdown()}",
                         metadata={**common, "failures": _table(report.failures),
                                   "failed_expectations": len(report.failures), "quarantined": True})
    context.log.info(report.headline())
    validated = validated_day(day, raw_readings)
    data_root.catalog.quarantine.release(day)
    context.add_output_metadata({**common, "files": report.files, "rows": report.rows,
                                 "segments": len(validated.segments), "day": day,
                                 "failed_expectations": len(report.failures), "warning_count": len(report.warnings),
                                 "engine": report.engine,
                                 "contract": raw_readings.contract.source, "summary": report.headline()})
    return validated
