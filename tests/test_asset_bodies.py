"""The fast layer: asset bodies invoked directly (dg.build_asset_context) on tiny real inputs, no run, no
training, so the wiring (settings, metadata, failures) is checked in milliseconds."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pytest

from assets.ingest import RawReadingsConfig, raw_readings
from assets.resources import DataRoot
from assets.validate import ValidatedReadingsConfig, validated_readings
from assets.windows import TrainingWindowsConfig, training_windows
from pipeline.ingest import read_raw_files
from pipeline.validate import interpolate_and_segment

DAY = "machine01_2026-11-02.csv"


@pytest.fixture
def context():
    with dg.build_asset_context() as context:  # closes what the context opened
        yield context


def test_raw_readings_lists_what_it_did_not_read(data_root, context):
    (data_root / "raw" / "README.txt").write_text("how the logger exports")
    readings = raw_readings(context=context, config=RawReadingsConfig(), data_root=DataRoot(path=str(data_root)))
    metadata = context.get_output_metadata("result")
    assert len(readings.frame) == metadata["dagster/row_count"] == 2880
    assert [r.data["file"] for r in metadata["files_not_read"].records] == ["README.txt"]
    assert metadata["empty_rows_dropped"] == 0 and metadata["sensors"] == 9


def test_raw_readings_settings_reach_ingestion(data_root, context):
    with pytest.raises(dg.Failure, match="timestamp_unit must be one of"):
        raw_readings(context=context, config=RawReadingsConfig(timestamp_unit="minutes"),
                     data_root=DataRoot(path=str(data_root)))
    readings = raw_readings(context=context, config=RawReadingsConfig(pattern="*11-01.csv"),
                            data_root=DataRoot(path=str(data_root)))
    assert [f.name for f in readings.files] == ["machine01_2026-11-01.csv"]


def test_validated_readings_failure_carries_the_table_and_writes_the_report(data_root, context):
    day = data_root / "raw" / DAY
    frame = pd.read_csv(day)
    frame.loc[3, "oil_pressure"] = 99.0  # the contract allows 0..10 bar
    frame.to_csv(day, index=False)
    with pytest.raises(dg.Failure) as failure:
        validated_readings(context=context, config=ValidatedReadingsConfig(),
                           data_root=DataRoot(path=str(data_root)), raw_readings=read_raw_files(data_root / "raw"))
    assert failure.value.description.startswith("validation failed: 1 failed expectation(s) in 1 file(s)")
    [row] = failure.value.metadata["failures"].value.records
    assert (row.data["file"], row.data["column"], row.data["bad_rows"]) == (DAY, "oil_pressure", 1)
    report = json.loads((data_root / "reports" / "validation.json").read_text())
    assert not report["success"] and report["failures"][0]["first_bad_timestamp"] == "2026-11-02 00:03:00"


def test_training_windows_names_the_longest_segments_when_too_short(data_root, context):
    readings = interpolate_and_segment(read_raw_files(data_root / "raw"))
    windows = training_windows(context=context, config=TrainingWindowsConfig(window_length=12, stride=6),
                               validated_readings=readings)
    assert context.get_output_metadata("result")["windows"] == 2 * ((1440 - 12) // 6 + 1)
    assert windows.index.stride == 6
    with pytest.raises(dg.Failure, match=r"too few rows for windows of 2000 rows.*Longest continuous segments: "
                                         r"machine01_2026-11-01.csv \(1440 rows from 2026-11-01 00:00:00\)"):
        training_windows(context=context, config=TrainingWindowsConfig(window_length=2000),
                         validated_readings=readings)
