"""The real SKAB recordings (beside the project in ../shared), by configuration only."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pipeline.ingest import IngestSettings, read_raw_files
from pipeline.segments import SEGMENT_COLUMN, segment_bounds
from pipeline.store import load_artifact
from pipeline.validate import interpolate_and_segment, validate_readings
from pipeline.windows import make_training_windows
from tests.helpers import SKAB, dagster

pytestmark = [pytest.mark.skipif(not SKAB.exists(), reason="SKAB data not present beside the project"),
              pytest.mark.slow]  # the full tier: scripts/test.sh --all
SKAB_SETTINGS = IngestSettings(timestamp_column="datetime", separator=";",
                               exclude_columns=("anomaly", "changepoint"))


def test_every_file_validates_and_is_windowed_segment_by_segment():
    files = sorted(SKAB.glob("**/*.csv"))
    assert len(files) == 35
    segments_total = 0
    for path in files:
        readings = read_raw_files(path.parent, replace(SKAB_SETTINGS, pattern=path.name))
        assert len(readings.sensors) == 8 and readings.contract.sampling_period_s == 1.0
        report = validate_readings(readings)
        assert report.success, report.headline()
        assert not report.warnings or all(w.expectation == "flat_line" for w in report.warnings)
        frame = interpolate_and_segment(readings).frame
        bounds = segment_bounds(frame[SEGMENT_COLUMN].to_numpy())
        steps = np.diff(frame["timestamp"].to_numpy().astype("int64")) / 1e9
        assert (steps[bounds[1:, 0] - 1] > 3).all()  # every segment boundary is a pause beyond 3 periods
        windows = make_training_windows(frame[readings.sensors].to_numpy(), frame["timestamp"].to_numpy(),
                                        readings.sensors, window_length=30, segments=bounds)
        assert windows.index.per_segment().sum() == len(windows.index.starts) > 0
        segments_total += len(bounds)
    assert segments_total > 35  # several recordings pause for longer than the gap policy allows


def test_whole_dataset_fails_on_overlapping_files_and_names_them():
    readings = read_raw_files(SKAB, replace(SKAB_SETTINGS, pattern="**/*.csv"))
    report = validate_readings(readings)
    overlaps = {(f.file, f.problem.split(",")[0]) for f in report.failures}
    assert overlaps == {
        ("other/5.csv", "overlaps anomaly-free/anomaly-free.csv"), ("other/11.csv", "overlaps other/10.csv"),
        ("other/13.csv", "overlaps other/12.csv"), ("other/3.csv", "overlaps other/2.csv"),
        ("other/4.csv", "overlaps other/3.csv"),
    }


def test_valve1_folder_through_the_assets_by_configuration(tmp_path):
    """SKAB's recordings lie on scattered days of 2020: the day partitions start there by a setting, and the
    folder is read by configuration only, through the real command line."""
    root = tmp_path / "data"
    root.mkdir()
    config = {"ops": {"raw_readings": {"config": {"raw_dir": str(SKAB / "valve1"), "pattern": "*.csv",
                                                  "timestamp_column": "datetime", "separator": ";",
                                                  "exclude_columns": ["anomaly", "changepoint"]}}}}
    env = {"PIPELINE_FIRST_DAY": "2020-03-01"}
    run = dagster("asset", "materialize", "-m", "assets.definitions", "--select", "raw_readings,validated_readings",
                  "--partition", "2020-03-09", "--config-json", json.dumps(config), data_root=root, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    run = dagster("asset", "materialize", "-m", "assets.definitions", "--select", "training_windows",
                  data_root=root, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    windows = load_artifact(root / "store" / "training_windows")
    assert windows.day_names() == ["2020-03-09"]
    # 16 files, three of which pause for longer than 3 s once: 19 continuous segments, all long enough
    assert len(windows.index.segments) == 19 and (windows.index.per_segment() > 0).all()
    assert windows.summary()["rows"] == sum(len(pd.read_csv(p, sep=";")) for p in (SKAB / "valve1").glob("*.csv"))
