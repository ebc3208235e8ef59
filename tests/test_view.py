"""The latent view's page (pipeline.view) on constructed windows: which windows it shows, its size bound, and
that what the page holds is what it was given (its traces within one 16-bit step)."""

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest

from pipeline.view import (
    MAX_POINTS,
    TOP_WINDOWS,
    TRACE_BUDGET,
    ViewWindows,
    max_points,
    view_html,
    view_sample,
    window_starts,
)
from pipeline.windows import Scaler, make_training_windows


def constructed(n: int, w: int, s: int, seed: int = 0) -> ViewWindows:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-11-01T00:00", "ns") + np.arange(n) * np.timedelta64(60, "s")
    readings = rng.normal(100, 10, (n, w, s))
    return ViewWindows(start, start + np.timedelta64(60 * (w - 1), "s"), rng.normal(size=(n, 3)).astype(np.float32),
                       rng.random(n), rng.random((n, s)), readings, readings + rng.normal(0, 1, readings.shape),
                       score=rng.random(n) * 2, regime=rng.integers(0, 3, n), off_regime=rng.random(n) < 0.01)


def payload(html: str) -> dict:
    text = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.DOTALL).group(1)
    return json.loads(text)


def test_the_sample_keeps_event_peaks_and_top_scores_and_spaces_the_rest_evenly():
    scores = np.zeros(100_000)
    scores[[5, 77_777]] = 9.0
    rows = view_sample(100_000, 1000, scores, must=np.array([123, 99_999]))
    assert len(rows) <= 1000 and (np.diff(rows) > 0).all()
    assert {5, 77_777, 123, 99_999, 0} <= set(rows.tolist())
    gaps = np.diff(rows)
    assert np.median(gaps) == pytest.approx(100_000 / (1000 - min(TOP_WINDOWS, 250) - 2), rel=0.3)
    assert view_sample(50, 1000).tolist() == list(range(50))  # fewer windows than the limit: all of them


def test_the_point_count_shrinks_so_that_a_page_stays_bounded():
    assert max_points(12, 9) == MAX_POINTS
    wide = max_points(120, 60)  # 7,200 numbers a window
    assert wide < MAX_POINTS
    html = view_html(constructed(wide, 120, 60), [f"s{k}" for k in range(60)], "wide", f"{wide} windows")
    assert len(html.encode()) < TRACE_BUDGET + 6 * 2**20 < 20 * 2**20  # traces + Plotly's bundle + points


def test_the_page_holds_the_windows_it_was_given():
    shown = constructed(300, 12, 4)
    events = pd.DataFrame({"start": [shown.start[10]], "end": [shown.end[20]], "peak_at": [shown.end[15]],
                           "peak_score": [3.25], "sensor_1": ["b"], "share_1": [0.5], "sensor_2": [None],
                           "share_2": [np.nan]})
    html = view_html(shown, ["a", "b", "c", "d"], "Latent space <of> a test", "all 300 windows", events,
                     notes=["a note"])
    assert "<title>Latent space &lt;of&gt; a test</title>" in html and "Plotly" in html  # bundled, offline
    data = payload(html)
    assert data["n"] == 300 and data["dims"] == 3 and data["window_length"] == 12 and data["sampling"]
    assert data["start"][0] == int(shown.start[0].astype("datetime64[ms]").astype(np.int64))
    np.testing.assert_allclose(np.array(data["z"]).T, shown.z, atol=1e-4)
    steps = np.frombuffer(base64.b64decode(data["readings"]), "<u2").reshape(300, 12, 4)
    lo, hi = np.array(data["lo"]), np.array(data["hi"])
    np.testing.assert_allclose(lo + steps / 65535 * (hi - lo), shown.readings, atol=float((hi - lo).max()) / 65535)
    assert data["top_sensors"][7] == np.argsort(-shown.sensor_errors[7])[:3].tolist()
    assert data["events"] == [{"start": data["start"][10], "end": data["end"][20], "peak_at": data["end"][15],
                               "peak_score": 3.25, "top": "b 50%"}]
    assert data["regime"] == shown.regime.tolist()


def test_windows_are_found_by_their_start_and_unknown_ones_refused():
    values = np.random.default_rng(0).normal(size=(200, 2))
    times = np.datetime64("2026-11-01", "ns") + np.arange(200) * np.timedelta64(20, "s")
    windows = make_training_windows(values, times, ["a", "b"], window_length=10)
    assert isinstance(windows.scaler, Scaler)
    wanted = times[[0, 55, 190]]
    assert window_starts(windows, wanted).tolist() == [0, 55, 190]
    with pytest.raises(ValueError, match="do not hold"):
        window_starts(windows, np.array([times[5] + np.timedelta64(1, "s")]))
