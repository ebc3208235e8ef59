"""Stage 2: the Great Expectations suite from the sensor contract (`validated_readings`)."""

import dagster as dg

from pipeline.ingest import SensorReadings
from pipeline.validate import validate_readings


@dg.asset(group_name="latent_pipeline", kinds={"great_expectations", "parquet"},
          description="Readings that passed the contract's GX suite; a failure stops the run before any model work.")
def validated_readings(context: dg.AssetExecutionContext, raw_readings: SensorReadings) -> SensorReadings:
    report = validate_readings(raw_readings.frame, raw_readings.contract, log=context.log.info)
    if not report.success:
        raise dg.Failure(
            description=f"{report.summary()}\n\n{report.to_markdown()}",
            metadata={"failures": dg.MetadataValue.md(report.to_markdown()),
                      "failed_expectations": len(report.failures)},
        )
    context.log.info(report.summary())
    context.add_output_metadata({"expectations_run": report.expectations_run, "files": report.files,
                                 "rows": report.rows, "contract": raw_readings.contract.source})
    return raw_readings
