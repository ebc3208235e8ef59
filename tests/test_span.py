"""The core of days, without Dagster: day boundaries, the day index, the training span across days' arrays,
and one day's windows with the previous day's tail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.days import DayClock, DayError, changed_days, span_days
from pipeline.ingest import raw_days, read_raw_files
from pipeline.span import day_windows, span_windows
from pipeline.store import load_artifact, save_artifact
from pipeline.validate import validated_day
from pipeline.windows import WindowSettings, gather_windows, make_training_windows


def test_day_bounds_in_a_time_zone_and_across_a_dst_change():
    utc = DayClock()
    assert utc.bounds("2026-11-02") == (pd.Timestamp("2026-11-02").value, pd.Timestamp("2026-11-03").value)
    berlin = DayClock("Europe/Berlin")
    start, end = berlin.bounds("2026-10-25")  # summer time ends: a 25-hour day
    assert pd.Timestamp(start) == pd.Timestamp("2026-10-24 22:00") and (end - start) / 3.6e12 == 25
    assert berlin.days_between(pd.Timestamp("2026-10-24 21:59").value, pd.Timestamp("2026-10-24 22:00").value) \
        == ["2026-10-24", "2026-10-25"]
    with pytest.raises(DayError, match="not a day"):
        utc.bounds("2026-13-01")
    with pytest.raises(DayError, match="unknown time zone"):
        DayClock("Mars/Olympus")


def test_the_span_is_the_latest_valid_days_and_names_the_quarantined_ones_it_skips():
    stored = ["2026-11-01", "2026-11-02", "2026-11-04", "2026-11-05", "2026-11-06"]
    quarantined = {"2026-10-20": "old", "2026-11-03": "bad oil_pressure", "2026-11-07": "after the span"}
    asked = []

    def has_readings(day):
        asked.append(day)
        return day != "2026-11-05"

    used, skipped = span_days(stored, quarantined, has_readings, 3, "2026-11-06")
    assert used == ["2026-11-02", "2026-11-04", "2026-11-06"]  # the empty day is no valid day
    assert skipped == {"2026-11-03": "bad oil_pressure"}
    assert "2026-11-01" not in asked  # older than the span: never opened
    with pytest.raises(ValueError, match="training_days must be at least 1"):
        span_days(stored, {}, has_readings, 0, None)


def test_a_day_is_changed_when_a_file_of_it_is_new_or_rewritten(data_root):
    raw = data_root / "raw"
    days = raw_days(raw, cache_dir=data_root / "cache")
    assert days.days == ["2026-11-01", "2026-11-02"]
    assert changed_days(days, {}) == ["2026-11-01", "2026-11-02"]
    assert changed_days(days, dict(days.fingerprints)) == []
    (raw / "machine01_2026-11-02.csv").write_text((raw / "machine01_2026-11-02.csv").read_text() + "\n")
    again = raw_days(raw, cache_dir=data_root / "cache")
    assert changed_days(again, dict(days.fingerprints)) == ["2026-11-02"]


def stored_days(root, raw, days):
    out = []
    for day in days:
        readings = load_artifact(save_artifact(read_raw_files(raw, day=day), root / "raw" / day).parent)
        save_artifact(validated_day(day, readings), root / "validated" / day)
        out.append(load_artifact(root / "validated" / day))
    return out


def test_span_windows_over_days_equal_the_windows_of_the_same_readings_end_to_end(data_root, tmp_path):
    days = stored_days(tmp_path, data_root / "raw", ["2026-11-01", "2026-11-02"])
    span = span_windows(days, WindowSettings(window_length=12, stride=5))
    # the same readings as one array, each day its own segment, split and scaled the same way
    whole = read_raw_files(data_root / "raw")
    frame = whole.frame
    reference = make_training_windows(frame[whole.sensors].to_numpy(), frame["timestamp"].to_numpy(), whole.sensors,
                                      12, 5, segments=np.array([[0, 1440], [1440, 2880]]))
    np.testing.assert_allclose(span.scaler.mean, reference.scaler.mean, rtol=1e-12)  # merged chunk by chunk
    np.testing.assert_allclose(span.scaler.std, reference.scaler.std, rtol=1e-12)
    np.testing.assert_array_equal(span.index.starts, reference.index.starts)
    picked = span.index.starts[[0, 287, 288, -1]]  # both sides of the day boundary
    np.testing.assert_allclose(gather_windows(span.values, picked, 12), gather_windows(reference.values, picked, 12),
                               rtol=1e-6)
    np.testing.assert_array_equal(span.timestamps[picked], reference.timestamps[picked])
    assert span.day_names() == ["2026-11-01", "2026-11-02"] and len(span.values) == 2880


def test_a_day_continuing_across_midnight_takes_the_previous_tail_as_context(data_root, tmp_path):
    raw = data_root / "raw"
    frame = pd.concat([pd.read_csv(p) for p in sorted(raw.glob("*.csv"))])
    for p in raw.glob("*.csv"):
        p.unlink()
    frame.to_csv(raw / "logger.csv", index=False)  # one file through midnight
    first, second = stored_days(tmp_path, raw, ["2026-11-01", "2026-11-02"])
    span = span_windows([first, second], WindowSettings(window_length=12))
    windows = day_windows(second, first, span.scaler, 12, 1)
    assert len(windows.index.starts) == 1440 and windows.timestamps[0] == np.datetime64("2026-11-01T23:49")
    alone = day_windows(second, None, span.scaler, 12, 1)  # no previous day: the day's own windows only
    assert len(alone.index.starts) == 1440 - 11
    np.testing.assert_allclose(gather_windows(windows.values, windows.index.starts[11:], 12),
                               gather_windows(alone.values, alone.index.starts, 12))
