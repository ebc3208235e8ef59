"""Stage 1: raw sensor files -> one day of typed readings (`raw_readings`, partitioned by day)."""


import dagster as dg
import pandas as pd
from pydantic import Field

from assets.metadata import GROUP, ONE_DAY_PER_RUN, OWNERS, frame_table, stage_tags
from assets.partitions import DAY_CLOCK, DAYS
from assets.resources import DataRoot, storage_failures
from pipeline.contract import CONTRACT_FILES, ContractError
from pipeline.days import DayError, DayFiles
from pipeline.ingest import IngestError, IngestSettings, read_raw_files
from pipeline.readings import SensorReadings
from pipeline.storage import StorageError

CODE_VERSION = "4"  # bump when what this module computes changes (assets/metadata.py)


_D = IngestSettings  # defaults live in one place: the core's settings


class RawReadingsConfig(dg.Config):
    raw_dir: str | None = Field(None, description="Folder of raw CSV/Parquet files; unset means <data root>/raw")
    pattern: str = Field(_D.pattern, description="Glob, relative to raw_dir, of the files to read (.csv, "
                                                 ".csv.gz/.bz2/.zst/.lz4, .parquet, .pq); hidden files are never read")
    contract: str | None = Field(_D.contract, description=f"Sensor contract (YAML), which must exist; unset means "
                                                          f"{' or '.join(CONTRACT_FILES)} in raw_dir if there is "
                                                          "one, else sensors are inferred")
    timestamp_column: str | None = Field(_D.timestamp_column, description="Timestamp column in the raw files; "
                                         "unset means the contract's, else 'timestamp'")
    timestamp_format: str | None = Field(_D.timestamp_format, description="strptime format of the timestamps, "
                                         "e.g. '%d/%m/%Y %H:%M:%S'; unset means the contract's, else ISO 8601 only "
                                         "(dates are never guessed)")
    timestamp_unit: str | None = Field(_D.timestamp_unit, description="Unit of epoch-number timestamps: s, ms, us "
                                       "or ns; unset means the contract's (numbers are refused without one)")
    separator: str | None = Field(_D.separator, description="CSV field separator, e.g. ';'; unset means the "
                                  "contract's, else ','")
    exclude_columns: list[str] = Field(list(_D.exclude_columns), description="Columns that are not sensors "
                                       "(labels, ids), besides the contract's exclude_columns")

    def settings(self) -> IngestSettings:
        return IngestSettings(**{**self.model_dump(exclude={"raw_dir"}),
                                 "exclude_columns": tuple(self.exclude_columns)})


def day_files(config: RawReadingsConfig, data_root: DataRoot) -> DayFiles:
    """The days the configured raw folder holds, with their files and fingerprints (the nightly schedule's
    question: which days are new or changed)."""
    return data_root.catalog.raw_days(config.settings(), config.raw_dir, DAY_CLOCK)


def _quarantine(context, catalog, day: str, why: str) -> bool:
    """Quarantine a day whose delivery was refused; whether it could be recorded."""
    try:
        catalog.quarantine_day(day, f"ingestion refused the day's files: {why}", [{"stage": "ingest", "problem": why}],
                               failed="raw_readings")
    except StorageError as exc:
        context.log.error(f"the quarantine of {day} could not be recorded: {exc}")
        return False
    context.log.warning(f"{day} quarantined; its earlier readings, latents and events were withdrawn")
    return True


@dg.asset(group_name=GROUP, kinds={"numpy"}, code_version=CODE_VERSION, owners=OWNERS,
          tags=stage_tags("ingest"), partitions_def=DAYS, backfill_policy=ONE_DAY_PER_RUN,
          description="One day of readings: the rows of every raw file that fall on the day, in time order, "
                      "each with its source file, stored as memory-mappable arrays. A day without files is "
                      "empty. Metadata: files, rows, time span, a per-sensor summary and the files' "
                      "fingerprint (what the nightly run compares to find changed days).")
@storage_failures
def raw_readings(context: dg.AssetExecutionContext, config: RawReadingsConfig,
                 data_root: DataRoot) -> SensorReadings:
    catalog, day = data_root.catalog, context.partition_key
    raw_dir = config.raw_dir or catalog.raw_dir
    try:
        local = catalog.local_raw_dir(config.raw_dir)
        if str(local) != str(raw_dir):
            context.log.info(f"raw files of {raw_dir} mirrored to {local} (new or changed files downloaded)")
        readings = read_raw_files(local, config.settings(), catalog.cache_dir, log=context.log.info, day=day,
                                  clock=DAY_CLOCK)
    except (IngestError, ContractError) as exc:  # this delivery of the day is refused: so are its earlier outputs
        held = _quarantine(context, catalog, day, str(exc))
        raise dg.Failure(description=f"{day} {'quarantined' if held else 'refused (quarantine not recorded)'}: "
                                     f"{exc}", metadata={"quarantined": held}) from None
    except DayError as exc:
        raise dg.Failure(description=str(exc)) from None
    except OSError as exc:  # e.g. the object store of a remote raw folder did not answer
        raise dg.Failure(description=f"the raw files of {raw_dir} could not be read: {exc}") from None
    for note in readings.contract.notes:
        context.log.info(note)
    skipped = pd.DataFrame(readings.skipped_files, columns=["file", "why not read"])
    if len(skipped):
        context.log.warning(f"{len(skipped)} file(s) of the raw folder not read (listed in the metadata), e.g. "
                            f"{skipped.iloc[0, 0]}: {skipped.iloc[0, 1]}")
    context.add_output_metadata({
        "files_not_read": frame_table(skipped.head(500)),
        "empty_rows_dropped": sum(f.empty_rows for f in readings.files),
        **readings.summary(),
        "raw_dir": dg.MetadataValue.path(str(raw_dir)),
        "time_span_hours": round(readings.time_span_hours(), 2),
        "sensor_summary": frame_table(readings.sensor_summary()),
        "contract_notes": dg.MetadataValue.text("; ".join(readings.contract.notes) or "from file"),
        "dagster/row_count": len(readings.frame),
        "day": day, "day_timezone": DAY_CLOCK.timezone, "fingerprint": readings.fingerprint,
    })
    return readings
