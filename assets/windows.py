"""Stage 3: scaling fit on the training span, windows by index (`training_windows`)."""

import dagster as dg
from pydantic import Field

from pipeline.ingest import TIMESTAMP, SensorReadings
from pipeline.windows import TrainingWindows, make_training_windows


class TrainingWindowsConfig(dg.Config):
    window_length: int = Field(30, description="Rows per window (time steps the LSTM sees)")
    stride: int = Field(1, description="Rows between the starts of consecutive windows")
    validation_fraction: float = Field(0.2, description="Last fraction of the time span held out for validation")
    scaling: str = Field("zscore", description="'zscore' (fit on the training span only) or 'none'")


@dg.asset(group_name="latent_pipeline", kinds={"numpy"},
          description="The scaled series and the index of its sliding windows, split by time into training "
                      "and validation.")
def training_windows(context: dg.AssetExecutionContext, config: TrainingWindowsConfig,
                     validated_readings: SensorReadings) -> TrainingWindows:
    frame = validated_readings.frame
    try:
        windows = make_training_windows(
            frame[validated_readings.sensors].to_numpy(), frame[TIMESTAMP].to_numpy(),
            validated_readings.sensors, config.window_length, config.stride, config.validation_fraction,
            config.scaling,
        )
    except ValueError as exc:
        raise dg.Failure(description=str(exc)) from None
    context.add_output_metadata(windows.summary())
    return windows
