"""Stage 3: the training span (`training_windows`): the latest `training_days` valid days, scaled on their
training rows, windows indexed across the days' memory-mapped arrays (never gathered into one frame)."""

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.metadata import GROUP, OWNERS, frame_table, stage_tags
from assets.resources import DataRoot, storage_failures
from assets.validate import validated_readings
from pipeline.days import ValidatedDay
from pipeline.span import span_windows
from pipeline.storage import ArtifactDamaged
from pipeline.windows import Scaling, TooFewRows, WindowSettings

CODE_VERSION = "3"  # bump when what this module computes changes (assets/metadata.py)
SKIPPED_CHECK = "no_days_skipped"

_D = WindowSettings  # defaults live in one place: the core's settings


class TrainingWindowsConfig(dg.Config):
    training_days: int = Field(28, description="Valid days with readings the model trains on: the latest ones "
                                               "up to last_day")
    last_day: str | None = Field(None, description="Last day of the span (YYYY-MM-DD); unset means the latest "
                                                   "validated day")
    strict: bool = Field(False, description="Refuse to train while a quarantined (failed) day lies in the span, "
                                            "instead of skipping it with a warning")
    window_length: int = Field(_D.window_length, description="Rows per window (time steps the LSTM sees)")
    stride: int = Field(_D.stride, description="Rows between the starts of consecutive windows")
    validation_fraction: float = Field(_D.validation_fraction, description="Last fraction of the span's rows "
                                                                           "held out for validation")
    scaling: Scaling = Field(Scaling(_D.scaling), description="'zscore' (fit on the training span only) or "
                                                              "'none'")

    def settings(self) -> WindowSettings:
        return WindowSettings(**self.model_dump(include={"window_length", "stride", "validation_fraction",
                                                         "scaling"}))


@dg.asset(group_name=GROUP, kinds={"numpy"}, code_version=CODE_VERSION, owners=OWNERS, tags=stage_tags("windows"),
          deps=[validated_readings],
          check_specs=[dg.AssetCheckSpec(SKIPPED_CHECK, asset="training_windows",
                                         description="WARN: a quarantined day (failed validation) lies in the "
                                                     "training span and was skipped")],
          description="The training span: the latest training_days validated days (quarantined and empty days "
                      "skipped), scaled on the training rows, split by time into training and validation. Stored "
                      "as hard links to the days' arrays; windows never cross a gap, a file or midnight.")
@storage_failures
def training_windows(context: dg.AssetExecutionContext, config: TrainingWindowsConfig, data_root: DataRoot):
    try:  # only the span's days are read (and, on an object store, downloaded)
        span = data_root.catalog.span(config.training_days, config.last_day)
    except ArtifactDamaged as exc:
        raise dg.Failure(description=f"validated_readings: {exc}") from None
    except ValueError as exc:
        raise dg.Failure(description=f"training_windows: {exc}") from None
    used, skipped = span.names, span.skipped
    if skipped:
        listed = "; ".join(f"{d}: {why}" for d, why in skipped.items())
        if config.strict:
            raise dg.Failure(description=f"strict: {len(skipped)} quarantined day(s) in the training span, so no "
                                         f"training tonight: {listed}")
        context.log.warning(f"skipping {len(skipped)} quarantined day(s): {listed}")
    if not used:
        raise dg.Failure(description=f"no validated day with readings under {data_root.store_dir}: materialise "
                                     "raw_readings and validated_readings for some days first")
    try:
        windows = span_windows(span.days, config.settings())
    except TooFewRows as exc:
        longest = _longest_segments(span.days)
        raise dg.Failure(description=f"{exc} (days {used[0]} to {used[-1]}). Longest continuous segments: "
                                     f"{longest}") from None
    except (TypeError, ValueError) as exc:  # a bad setting, mismatched sensors, or readings that cannot be scaled
        raise dg.Failure(description=f"training_windows: {exc}") from None
    windows.skipped = skipped
    per_day = [{"day": d.day, "rows": d.rows, "segments": len(d.segments)} for d in span.days]
    context.log.info(f"training span: {len(used)} day(s) {used[0]} to {used[-1]}, {windows.summary()['windows']} "
                     f"windows; {len(skipped)} quarantined day(s) skipped")
    yield dg.Output(windows, metadata={
        **windows.summary(), "days_used": len(used), "first_day": used[0], "last_day": used[-1],
        "days_skipped": dg.MetadataValue.json(skipped), "per_day": frame_table(pd.DataFrame(per_day)),
    })
    yield dg.AssetCheckResult(check_name=SKIPPED_CHECK, passed=not skipped, severity=dg.AssetCheckSeverity.WARN,
                              description=("quarantined day(s) skipped: " + ", ".join(skipped)) if skipped
                              else "no quarantined day in the span",
                              metadata={"days_skipped": dg.MetadataValue.json(skipped)})


def _longest_segments(days: list[ValidatedDay], n: int = 3) -> str:
    """The `n` longest continuous segments of the days: file, rows and first reading, for a too-few-rows error."""
    rows = []
    for day in days:
        frame = day.readings.frame
        for lo, hi in day.segments:
            rows.append((int(hi - lo), str(frame["source_file"].iloc[lo]), str(frame["timestamp"].iloc[lo])))
    return ", ".join(f"{f} ({r} rows from {t})" for r, f, t in sorted(rows, reverse=True)[:n])
