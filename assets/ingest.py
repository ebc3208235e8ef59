"""Stage 1: raw sensor files -> one typed table (`raw_readings`)."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from assets.metadata import GROUP, OWNERS, frame_table, stage_tags
from assets.resources import DataRoot
from pipeline.contract import CONTRACT_FILE, ContractError
from pipeline.ingest import IngestError, read_raw_files
from pipeline.readings import SensorReadings

CODE_VERSION = "2"  # bump when what this module computes changes (assets/metadata.py)


class RawReadingsConfig(dg.Config):
    raw_dir: str | None = Field(None, description="Folder of raw CSV/Parquet files; unset means <data root>/raw")
    pattern: str = Field("**/*", description="Glob, relative to raw_dir, of the files to read (.csv, .parquet)")
    contract: str | None = Field(None, description=f"Sensor contract (YAML); unset means {CONTRACT_FILE} in "
                                                   "raw_dir if there is one, else sensors are inferred")
    timestamp_column: str | None = Field(None, description="Timestamp column in the raw files; unset means "
                                                           "the contract's, else 'timestamp'")
    separator: str = Field(",", description="CSV field separator, e.g. ';'")
    exclude_columns: list[str] = Field([], description="Columns that are not sensors (labels, ids)")


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version=CODE_VERSION, owners=OWNERS,
          tags=stage_tags("ingest"),
          description="Every raw sensor file of the machine, read into one typed table in time order, each row "
                      "with its source file. Metadata: files, rows, time span and a per-sensor summary.")
def raw_readings(context: dg.AssetExecutionContext, config: RawReadingsConfig,
                 data_root: DataRoot) -> SensorReadings:
    raw_dir = Path(config.raw_dir) if config.raw_dir else data_root.raw_dir
    try:
        readings = read_raw_files(raw_dir, config.pattern, config.timestamp_column, config.separator,
                                  tuple(config.exclude_columns), config.contract,
                                  cache_dir=data_root.path_of("cache", "parsed_files"), log=context.log.info)
    except (IngestError, ContractError) as exc:
        raise dg.Failure(description=str(exc)) from None
    for note in readings.contract.notes:
        context.log.info(note)
    context.add_output_metadata({
        **readings.summary(),
        "raw_dir": dg.MetadataValue.path(str(raw_dir)),
        "time_span_hours": round(readings.time_span_hours(), 2),
        "sensor_summary": frame_table(readings.sensor_summary()),
        "contract_notes": dg.MetadataValue.text("; ".join(readings.contract.notes) or "from file"),
        "dagster/row_count": len(readings.frame),
    })
    return readings
