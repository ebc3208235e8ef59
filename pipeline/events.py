"""Anomaly events: flagged windows merged into stretches of time, with the sensors behind them.

A window is flagged when its anomaly_score exceeds 1 (its reconstruction error is above the model's
threshold, pipeline.threshold). An event is the union of the flagged windows' spans [window_start,
window_end]: overlapping windows always merge, and windows whose spans are at most `merge_gap_s` apart merge
too; events shorter than `min_duration_s` are dropped. Each sensor's share of an event is its part of the
reconstruction error summed over the event's flagged windows (errors in the windows' scaled units, z-scores by
default, so sensors in different units compare).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.detectors import Detector
from pipeline.latents import ANOMALY_SCORE, DETECTOR, MODEL_VERSION, SENSOR_ERROR_PREFIX, SENSOR_SCORE_PREFIX

EVENTS_FILE = "events.parquet"
EVENT_COLUMNS = ["start", "end", "duration_s", "windows", "peak_score", "mean_score", "peak_at"]


@dataclass(frozen=True)
class EventSettings:
    """How flagged windows become events (the defaults of the `anomaly_events` asset)."""

    merge_gap_s: float = 0.0  # flagged windows at most this far apart belong to one event
    min_duration_s: float = 0.0  # shorter events are dropped
    top_sensors: int = 3  # sensors named per event, by share of its error

    def __post_init__(self):
        if self.merge_gap_s < 0 or self.min_duration_s < 0:
            raise ValueError(f"merge_gap_s and min_duration_s must be >= 0, got {self.merge_gap_s}, "
                             f"{self.min_duration_s}")
        if self.top_sensors < 1:
            raise ValueError(f"top_sensors must be at least 1, got {self.top_sensors}")


@dataclass
class EventTable:
    """A day's events as stored (pipeline.store writes it to events.parquet; it reads back as the frame)."""

    frame: pd.DataFrame


def event_columns(top_sensors: int) -> list[str]:
    return EVENT_COLUMNS + [c for k in range(1, top_sensors + 1) for c in (f"sensor_{k}", f"share_{k}")]


def find_events(window_start, window_end, scores, sensor_errors: np.ndarray | None = None,
                sensors: list[str] | tuple[str, ...] = (), settings: EventSettings = EventSettings()) -> pd.DataFrame:
    """The events of windows in time order: one row per event (columns `event_columns`), earliest first.
    `sensor_errors` is (windows, sensors): each window's reconstruction error per sensor."""
    start = np.asarray(window_start, dtype="datetime64[ns]")
    end = np.asarray(window_end, dtype="datetime64[ns]")
    scores = np.asarray(scores, dtype=np.float64)
    sensor_errors = np.asarray(sensor_errors) if sensor_errors is not None and len(sensors) else None
    flagged = np.flatnonzero(scores > 1.0)
    columns = event_columns(settings.top_sensors)
    if not len(flagged):
        return _empty(columns)
    s, e = start[flagged], end[flagged]
    reach = np.maximum.accumulate(e)  # the end of the event so far
    gap = np.timedelta64(int(settings.merge_gap_s * 1e9), "ns")
    firsts = np.flatnonzero(np.concatenate([[True], s[1:] > reach[:-1] + gap]))  # where each event begins
    rows = []
    for lo, hi in zip(firsts, np.append(firsts[1:], len(flagged)), strict=True):
        members = flagged[lo:hi]
        first, last = s[lo], reach[hi - 1]
        duration = (last - first) / np.timedelta64(1, "s")
        if duration < settings.min_duration_s:
            continue
        peak = members[np.argmax(scores[members])]
        row = {"start": first, "end": last, "duration_s": float(duration), "windows": len(members),
               "peak_score": float(scores[peak]), "mean_score": float(scores[members].mean()), "peak_at": end[peak]}
        row.update(_top_sensors(sensor_errors, members, sensors, settings.top_sensors))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns) if rows else _empty(columns)


def latent_events(latents: pd.DataFrame, settings: EventSettings = EventSettings(),
                  day: str | None = None) -> pd.DataFrame:
    """The events of a latent table as stored (pipeline.latents columns: window times, anomaly_score,
    error_<sensor> or another detector's score_<sensor>, detector, model_version), each labelled with its
    `day`, the model version that scored it and the detector whose figures raised it (so a file read alone says
    where it came from). Refuses a table without anomaly scores (its model was saved without a threshold) or
    with windows whose score is NaN."""
    if ANOMALY_SCORE not in latents.columns:
        raise ValueError("the latents have no anomaly_score: the model that scored them was saved before "
                         "thresholds existed")
    unscored = int(latents[ANOMALY_SCORE].isna().sum())
    if unscored:  # NaN compares as "not above the threshold": such windows would pass as normal
        first = latents["window_start"][latents[ANOMALY_SCORE].isna()].iloc[0]
        raise ValueError(f"{unscored} of {len(latents)} windows have no anomaly_score (NaN), the first starting "
                         f"{first}: the model's reconstruction of them is not finite, so they cannot be judged")
    # each sensor's part: the detector's own figures when it is not the autoencoder
    prefix = SENSOR_SCORE_PREFIX if any(c.startswith(SENSOR_SCORE_PREFIX) for c in latents.columns) \
        else SENSOR_ERROR_PREFIX
    sensors = [c[len(prefix):] for c in latents.columns if c.startswith(prefix)]
    errors = latents[[prefix + s for s in sensors]].to_numpy() if sensors else None
    events = find_events(latents["window_start"], latents["window_end"], latents[ANOMALY_SCORE], errors, sensors,
                         settings)
    version = latents[MODEL_VERSION].iloc[0] if MODEL_VERSION in latents.columns and len(latents) else None
    detector = str(latents[DETECTOR].iloc[0]) if DETECTOR in latents.columns and len(latents) else \
        Detector.autoencoder.value
    events.insert(0, DETECTOR, pd.Series([detector] * len(events), index=events.index, dtype=object))
    events.insert(0, MODEL_VERSION, pd.Series([version] * len(events), index=events.index, dtype=object))
    events.insert(0, "day", pd.Series([day] * len(events), index=events.index, dtype=object))
    return events


def _top_sensors(sensor_errors, members: np.ndarray, sensors, k: int) -> dict:
    out = {}
    if sensor_errors is not None:
        total = sensor_errors[members].sum(axis=0, dtype=np.float64)
        shares = total / total.sum() if total.sum() > 0 else np.zeros_like(total)
        for rank, i in enumerate(np.argsort(-shares, kind="stable")[:k], start=1):
            out[f"sensor_{rank}"], out[f"share_{rank}"] = sensors[i], float(shares[i])
    return out


def _empty(columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    for c in ("start", "end", "peak_at"):
        frame[c] = frame[c].astype("datetime64[ns]")
    frame["windows"] = frame["windows"].astype("int64")
    for c in columns:
        if c.startswith("sensor_"):
            frame[c] = frame[c].astype(object)
    return frame


def flagged_points(timestamps, events: pd.DataFrame) -> np.ndarray:
    """Whether each timestamp lies within an event: the point-wise view of the events (for labelled data)."""
    ts = np.asarray(timestamps, dtype="datetime64[ns]")
    out = np.zeros(len(ts), dtype=bool)
    for first, last in zip(events["start"].to_numpy(), events["end"].to_numpy(), strict=True):
        out |= (ts >= first) & (ts <= last)
    return out
