"""Stage 3: scaling fit on the training span, windows by index within continuous segments
(`training_windows`)."""

import dagster as dg
from pydantic import Field

from assets.metadata import GROUP, OWNERS, frame_table, stage_tags
from pipeline.readings import SensorReadings
from pipeline.segments import files_at_rows, segment_summary, segment_table
from pipeline.windows import Scaling, TooFewRows, TrainingWindows, WindowSettings, windows_from_readings

CODE_VERSION = "2"  # bump when what this module computes changes (assets/metadata.py)

_D = WindowSettings  # defaults live in one place: the core's settings


class TrainingWindowsConfig(dg.Config):
    window_length: int = Field(_D.window_length, description="Rows per window (time steps the LSTM sees)")
    stride: int = Field(_D.stride, description="Rows between the starts of consecutive windows")
    validation_fraction: float = Field(_D.validation_fraction, description="Last fraction of the rows held out "
                                                                           "for validation")
    scaling: Scaling = Field(Scaling(_D.scaling), description="'zscore' (fit on the training span only) or "
                                                              "'none'")


@dg.asset(group_name=GROUP, kinds={"numpy"}, code_version=CODE_VERSION, owners=OWNERS, tags=stage_tags("windows"),
          description="The scaled series and the index of its sliding windows, which never cross a gap or a "
                      "file boundary, split by time into training and validation.")
def training_windows(context: dg.AssetExecutionContext, config: TrainingWindowsConfig,
                     validated_readings: SensorReadings) -> TrainingWindows:
    readings = validated_readings  # stored readings stream from Parquet: the frame is never loaded here
    try:
        windows = windows_from_readings(readings, WindowSettings(**config.model_dump()))
    except TooFewRows as exc:
        longest = segment_summary(readings.frame).nlargest(3, "rows")
        where = ", ".join(f"{r.file} ({r.rows} rows from {r.start})" for r in longest.itertuples())
        raise dg.Failure(description=f"{exc}. Longest continuous segments: {where}") from None
    except (TypeError, ValueError) as exc:  # a bad setting, or readings that cannot be scaled
        raise dg.Failure(description=f"training_windows: {exc}") from None
    index = windows.index
    per_segment = index.per_segment()
    segments = segment_table(index.segments, windows.timestamps,
                             files_at_rows(readings.files, index.segments[:, 0])).assign(windows=per_segment)
    segments[["start", "end"]] = segments[["start", "end"]].astype(str)
    context.log.info(f"{len(segments)} continuous segment(s) gave {int(per_segment.sum())} windows; "
                     f"{int((per_segment == 0).sum())} segment(s) shorter than one window")
    context.add_output_metadata({**windows.summary(), "windows_per_segment": frame_table(segments.head(500))})
    return windows
