"""Stage 7: a day's anomaly events (`anomaly_events`, partitioned), from the windows its published model flagged.

Downstream of `latent_vectors`, which only the published (audited) model scores: an unaudited model never
raises an event."""

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.metadata import GROUP, OWNERS, RANGE_IN_ONE_RUN, frame_table, image, per_day, stage_tags
from assets.partitions import DAYS
from assets.resources import DataRoot
from pipeline.detectors import Detector
from pipeline.events import EventSettings, EventTable, latent_events
from pipeline.latents import ANOMALY_SCORE, DETECTOR, MODEL_VERSION
from pipeline.plots import anomaly_timeline_png

CODE_VERSION = "2"  # bump when what this module computes changes (assets/metadata.py)

_D = EventSettings  # defaults live in one place: the core's settings


class AnomalyEventsConfig(dg.Config):
    merge_gap_s: float = Field(_D.merge_gap_s, description="Flagged windows at most this many seconds apart "
                                                           "belong to one event (overlapping ones always do)")
    min_duration_s: float = Field(_D.min_duration_s, description="Events shorter than this (seconds) are dropped")
    top_sensors: int = Field(_D.top_sensors, description="Sensors named per event, by their share of its error")


def day_events(day: str, latents: pd.DataFrame, settings: EventSettings) -> pd.DataFrame:
    try:
        return latent_events(latents, settings, day)
    except ValueError as exc:
        raise dg.Failure(description=f"{day}: {exc}. Run the retrain job, then score the day again "
                                     "(latent_vectors)") from None


def _shown(events: pd.DataFrame) -> pd.DataFrame:
    """The events as the day's page shows them, narrow enough for the UI's metadata column (wider tables are
    cut at its edge): times of day (the page is the day's; past midnight "+1d"), minutes, the peak score, and
    the top sensors with their share of the event's error in one column. The file keeps every column."""
    out = pd.DataFrame(index=events.index)
    day_start = events["start"].dt.normalize()
    for c in ("start", "end"):
        times = events[c].dt.strftime("%H:%M:%S")
        out[c] = times.where((events[c] - day_start) < pd.Timedelta(days=1), times + " +1d")
    out["minutes"] = (events["duration_s"] / 60).round(1)
    out["peak_score"] = events["peak_score"].round(2)
    ranks = range(1, 1 + sum(c.startswith("sensor_") for c in events.columns))
    out["top_sensors"] = [", ".join(f"{row[f'sensor_{k}']} {100 * row[f'share_{k}']:.0f} %" for k in ranks
                                    if isinstance(row[f"sensor_{k}"], str)) for _, row in events.iterrows()]
    return out


def _version(latents: pd.DataFrame) -> str:
    """The model version that scored a day's latents ("none" for a day without windows)."""
    return str(latents[MODEL_VERSION].iloc[0]) if len(latents) and MODEL_VERSION in latents else "none"


def _detector(latents: pd.DataFrame) -> str:
    """The detector whose figures made a day's anomaly scores (a table without the column: the autoencoder)."""
    return str(latents[DETECTOR].iloc[0]) if len(latents) and DETECTOR in latents else Detector.autoencoder.value


def _day_metadata(day: str, latents: pd.DataFrame, events: pd.DataFrame, folder) -> dict:
    """What one day's page shows: its own events, table, timeline and folder."""
    metadata = {
        "events": len(events), "dagster/row_count": len(events), "path": dg.MetadataValue.path(str(folder)),
        "model_version": _version(latents), "detector": _detector(latents),
        "anomalous_windows": int(latents[ANOMALY_SCORE].gt(1.0).sum()) if len(latents) else 0,
        "events_table": frame_table(_shown(events)),
    }
    if len(latents):
        metadata["timeline"] = image(anomaly_timeline_png(latents["window_end"], latents[ANOMALY_SCORE].to_numpy(),
                                                          events, f"Anomaly score, {day}"),
                                     "anomaly score over time, threshold and events")
    return metadata


@dg.asset(group_name=GROUP, kinds={"parquet"}, code_version=CODE_VERSION, owners=OWNERS, tags=stage_tags("events"),
          partitions_def=DAYS, backfill_policy=RANGE_IN_ONE_RUN,
          description="A day's anomaly events: windows whose detector figure (the reconstruction error by default) "
                      "exceeds the published model's threshold (anomaly_score > 1), merged into events (start, end, "
                      "duration_s, windows, peak_score, mean_score, peak_at, the top sensors with their share of "
                      "the figure, the detector and model version that raised it). In "
                      "`<data root>/store/anomaly_events/<day>/events.parquet`; the events table and a timeline "
                      "plot on the materialisation.")
def anomaly_events(context: dg.AssetExecutionContext, config: AnomalyEventsConfig, data_root: DataRoot,
                   latent_vectors):
    try:
        settings = EventSettings(**config.model_dump())
    except ValueError as exc:
        raise dg.Failure(description=f"anomaly_events config: {exc}") from None
    days = context.partition_keys
    tables = latent_vectors if isinstance(latent_vectors, dict) else {days[0]: latent_vectors}
    out = {}
    for day in days:
        latents = tables[day]
        events = day_events(day, latents, settings)
        out[day] = EventTable(events)
        context.log.info(f"{day}: {len(events)} event(s) in {len(latents)} windows scored by model "
                         f"{_version(latents)}, detector {_detector(latents)}")
    per_day(context, {day: _day_metadata(day, tables[day], out[day].frame,
                                         data_root.day_folder("anomaly_events", day)) for day in days})
    context.add_output_metadata({"days_in_run": len(days)})
    return out if len(days) > 1 else out[days[0]]
