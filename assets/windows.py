"""Stage 3: scaling fit on the training span, windows by index within continuous segments
(`training_windows`)."""

import dagster as dg
from pydantic import Field

from assets.metadata import GROUP, OWNERS, frame_table, stage_tags
from pipeline.readings import TIMESTAMP, SensorReadings
from pipeline.segments import SEGMENT_COLUMN, files_at_rows, segment_bounds, segment_summary, segment_table
from pipeline.windows import TooFewRows, TrainingWindows, make_training_windows

CODE_VERSION = "2"  # bump when what this module computes changes (assets/metadata.py)


class TrainingWindowsConfig(dg.Config):
    window_length: int = Field(30, description="Rows per window (time steps the LSTM sees)")
    stride: int = Field(1, description="Rows between the starts of consecutive windows")
    validation_fraction: float = Field(0.2, description="Last fraction of the rows held out for validation")
    scaling: str = Field("zscore", description="'zscore' (fit on the training span only) or 'none'")


@dg.asset(group_name=GROUP, kinds={"numpy"}, code_version=CODE_VERSION, owners=OWNERS, tags=stage_tags("windows"),
          description="The scaled series and the index of its sliding windows, which never cross a gap or a "
                      "file boundary, split by time into training and validation.")
def training_windows(context: dg.AssetExecutionContext, config: TrainingWindowsConfig,
                     validated_readings: SensorReadings) -> TrainingWindows:
    readings = validated_readings  # stored readings stream from Parquet: the frame is never loaded here
    try:
        windows = make_training_windows(
            readings.sensor_chunks, readings.column(TIMESTAMP), readings.sensors, config.window_length,
            config.stride, config.validation_fraction, config.scaling,
            segment_bounds(readings.column(SEGMENT_COLUMN)),
        )
    except TooFewRows as exc:
        longest = segment_summary(readings.frame).nlargest(3, "rows")
        where = ", ".join(f"{r.file} ({r.rows} rows from {r.start})" for r in longest.itertuples())
        raise dg.Failure(description=f"{exc}. Longest continuous segments: {where}") from None
    except ValueError as exc:  # a bad setting, or readings that cannot be scaled
        raise dg.Failure(description=f"training_windows: {exc}") from None
    per_segment = windows.windows_per_segment()
    bounds = windows.segments
    segments = segment_table(bounds, windows.timestamps, files_at_rows(readings.files, bounds[:, 0]))
    segments = segments.assign(windows=per_segment)
    segments[["start", "end"]] = segments[["start", "end"]].astype(str)
    context.log.info(f"{len(segments)} continuous segment(s) gave {int(per_segment.sum())} windows; "
                     f"{int((per_segment == 0).sum())} segment(s) shorter than one window")
    context.add_output_metadata({**windows.summary(), "windows_per_segment": frame_table(segments.head(500))})
    return windows
