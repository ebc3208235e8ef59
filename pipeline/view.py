"""The interactive latent-space view: one self-contained HTML file (Plotly's JavaScript bundled, so it opens
offline from the data root) of a sample of windows, their latents, scores, regimes and sensor traces.

The page (pipeline.view_page) rotates and zooms the 3-D space (or any pair of dimensions, where points can be
box- or lasso-selected), colours it by time, day, anomaly score, reconstruction error, regime or one sensor's
mean, and shows on hover a window's start, end, score, regime and top sensor. Clicking a point, or an event in
the events table, shows that window's readings and their reconstruction.

Size is bounded: at most `max_points` windows (evenly spaced in time, plus the peaks of the events and the
highest-scored windows, which the page says), and the traces of each are stored as 16-bit steps between each
sensor's least and greatest value (a step is 1/65,535 of that range), so that a page stays under VIEW_BUDGET
bytes whatever the window length and sensor count.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.usefulness import evenly_spaced_positions
from pipeline.view_page import PAGE

VIEW_FILE = "view.html"
MAX_POINTS = 5000
TOP_WINDOWS = 200  # the highest-scored windows are always shown
TRACE_BUDGET = 12 * 2**20  # bytes of the traces (readings and reconstructions) in one page
POINT_BYTES = 260  # about what one window's latents, times and labels take in the page, without its traces


@dataclass
class ViewWindows:
    """The windows a view shows, in time order: what each point is, and the readings behind it (raw units)."""

    start: np.ndarray  # (n,) datetime64[ns], naive UTC
    end: np.ndarray
    z: np.ndarray  # (n, k)
    error: np.ndarray  # (n,) reconstruction error, scaled units
    sensor_errors: np.ndarray  # (n, sensors): each sensor's figure of the detector (reconstruction error by default)
    readings: np.ndarray  # (n, window_length, sensors), raw units
    reconstruction: np.ndarray  # (n, window_length, sensors), raw units
    score: np.ndarray | None = None  # (n,) anomaly score (figure / threshold), when the model has a threshold
    regime: np.ndarray | None = None  # (n,) regime id
    off_regime: np.ndarray | None = None  # (n,) bool


    def take(self, rows: np.ndarray) -> ViewWindows:
        """These windows at `rows` only."""
        return ViewWindows(**{name: None if value is None else value[rows] for name, value in vars(self).items()})

    @classmethod
    def joined(cls, parts: list[ViewWindows]) -> ViewWindows:
        """Several views' windows as one (in the order given); a field some part lacks is left out."""
        fields = {}
        for name in cls.__dataclass_fields__:
            values = [getattr(p, name) for p in parts]
            fields[name] = None if any(v is None for v in values) else np.concatenate(values)
        return cls(**fields)


def max_points(window_length: int, sensors: int, limit: int = MAX_POINTS) -> int:
    """How many windows a view can show within the trace budget (two 16-bit traces per window and sensor,
    base64 in the page)."""
    per_window = window_length * sensors * 2 * 2 * 4 / 3 + POINT_BYTES
    return int(max(1, min(limit, TRACE_BUDGET // per_window)))


def view_sample(n: int, limit: int, scores: np.ndarray | None = None, must: np.ndarray | None = None) -> np.ndarray:
    """Indices (sorted) of at most `limit` of `n` windows: the `must` ones (event peaks), the TOP_WINDOWS of
    highest score, and the rest evenly spaced in time."""
    keep = [np.asarray(must if must is not None else [], dtype=np.int64)]
    if scores is not None and len(scores):
        keep.append(np.argsort(-np.asarray(scores), kind="stable")[: min(TOP_WINDOWS, limit // 4)])
    chosen = np.unique(np.concatenate(keep))[:limit]
    rest = limit - len(chosen)
    if rest > 0:
        spaced = evenly_spaced_positions(n, rest)
        chosen = np.unique(np.concatenate([chosen, spaced]))
    while len(chosen) > limit:  # evenly spaced ones that fell on chosen ones leave room only approximately
        chosen = np.delete(chosen, np.linspace(0, len(chosen) - 1, len(chosen) - limit).round().astype(np.int64))
    return chosen


def _quantised(traces: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> str:
    span = np.where(hi > lo, hi - lo, 1.0)
    steps = np.clip(np.round((traces - lo) / span * 65535), 0, 65535).astype("<u2")
    return base64.b64encode(steps.tobytes()).decode("ascii")


def _ms(times: np.ndarray) -> list[int]:
    return (np.asarray(times, "datetime64[ms]").astype(np.int64)).tolist()


def view_html(windows: ViewWindows, sensors: list[str], title: str, sampling: str,
              events: pd.DataFrame | None = None, notes: list[str] = ()) -> str:
    """The page: `sampling` says which windows it shows of how many; `events` (start, end, peak_at,
    peak_score, sensor_1..) are listed and link to their windows."""
    from plotly.offline import get_plotlyjs

    n, w, s = windows.readings.shape
    both = np.concatenate([windows.readings.reshape(-1, s), windows.reconstruction.reshape(-1, s)]) if n else \
        np.zeros((1, s))
    finite = np.where(np.isfinite(both), both, np.nan)
    lo, hi = np.nan_to_num(np.nanmin(finite, axis=0)), np.nan_to_num(np.nanmax(finite, axis=0))
    data = {
        "title": title, "sampling": sampling, "notes": [n for n in notes if n], "sensors": list(sensors),
        "n": int(n), "window_length": int(w), "dims": int(windows.z.shape[1]),
        "start": _ms(windows.start), "end": _ms(windows.end),
        "z": np.round(windows.z.astype(np.float64), 4).T.tolist(),
        "error": np.round(windows.error.astype(np.float64), 5).tolist(),
        "score": None if windows.score is None else np.round(windows.score.astype(np.float64), 4).tolist(),
        "regime": None if windows.regime is None else np.asarray(windows.regime).astype(int).tolist(),
        "off_regime": None if windows.off_regime is None else np.asarray(windows.off_regime).astype(bool).tolist(),
        "top_sensors": np.argsort(-windows.sensor_errors, axis=1, kind="stable")[:, :3].astype(int).tolist(),
        "sensor_mean": np.round(windows.readings.mean(axis=1), 4).T.tolist() if n else [[] for _ in sensors],
        "lo": lo.tolist(), "hi": hi.tolist(),
        "readings": _quantised(windows.readings, lo, hi), "reconstruction": _quantised(windows.reconstruction, lo, hi),
        "events": _events(events),
    }
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (PAGE.replace("%TITLE%", _escape(title)).replace("%PLOTLY%", get_plotlyjs())
            .replace("%DATA%", payload))


def _events(events: pd.DataFrame | None) -> list[dict]:
    if events is None or not len(events):
        return []
    ranks = sorted(int(c.split("_")[1]) for c in events.columns if c.startswith("sensor_"))
    out = []
    for _, row in events.iterrows():
        top = [f"{row[f'sensor_{k}']} {100 * row[f'share_{k}']:.0f}%" for k in ranks
               if isinstance(row.get(f"sensor_{k}"), str)]
        out.append({"start": _ms([row["start"]])[0], "end": _ms([row["end"]])[0],
                    "peak_at": _ms([row["peak_at"]])[0], "peak_score": round(float(row["peak_score"]), 3),
                    "top": ", ".join(top)})
    return out


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class LatentView:
    """A written view: the page, and how many windows it shows of how many."""

    html: str
    points: int
    windows: int

    @property
    def megabytes(self) -> float:
        return round(len(self.html.encode()) / 2**20, 2)


def window_starts(windows, window_start) -> np.ndarray:
    """The row at which each window of a latent table (by its `window_start`) starts in `windows`."""
    starts = windows.index.starts
    times = np.asarray(windows.timestamps[starts], "datetime64[ns]")
    wanted = np.asarray(window_start, "datetime64[ns]")
    pos = np.clip(np.searchsorted(times, wanted), 0, max(len(starts) - 1, 0))
    if len(wanted) and (not len(starts) or (times[pos] != wanted).any()):
        raise ValueError("the latents name windows that these readings do not hold (scored from other readings?)")
    return starts[pos]


def view_windows(trained, windows, starts: np.ndarray, regimes=None) -> ViewWindows:
    """The windows at `starts` of `windows` (scaled as the model of `trained`, a TrainedAutoencoder, was
    trained), encoded and reconstructed by it, readings and reconstructions in raw units; scores and top
    sensors by its detector's figures."""
    from pipeline.latents import encode_windows

    enc = encode_windows(trained.model, windows, starts=starts, keep=True, scorer=trained.scorer)
    calibration = trained.calibration
    w = windows.index.window_length
    assignment = regimes.assign(enc.z) if regimes is not None else None
    return ViewWindows(
        start=np.asarray(windows.timestamps[starts], "datetime64[ns]"),
        end=np.asarray(windows.timestamps[starts + w - 1], "datetime64[ns]"),
        z=enc.z, error=enc.errors,
        sensor_errors=enc.anomaly_sensor_figures,
        readings=windows.scaler.invert(enc.windows), reconstruction=windows.scaler.invert(enc.reconstructions),
        score=calibration.scores(enc.anomaly_figures) if calibration is not None else None,
        regime=assignment.regime if assignment else None, off_regime=assignment.off if assignment else None)
