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
from pipeline.store import save_artifact
from pipeline.validate import validated_day

DAY = "machine01_2026-11-02.csv"


def context_of(day: str | None = "2026-11-02"):
    return dg.build_asset_context(partition_key=day)  # a context manager: closes what the context opened


def test_raw_readings_reads_its_day_and_lists_what_it_did_not_read(data_root):
    (data_root / "raw" / "README.txt").write_text("how the logger exports")
    with context_of() as context:
        readings = raw_readings(context=context, config=RawReadingsConfig(), data_root=DataRoot(path=str(data_root)))
        metadata = context.get_output_metadata("result")
    assert len(readings.frame) == metadata["dagster/row_count"] == 1440
    assert [f.name for f in readings.files] == [DAY] and metadata["day"] == "2026-11-02"
    assert [r.data["file"] for r in metadata["files_not_read"].records] == ["README.txt"]
    assert metadata["empty_rows_dropped"] == 0 and metadata["sensors"] == 9 and len(metadata["fingerprint"]) == 16


def test_raw_readings_settings_reach_ingestion(data_root):
    with context_of() as context, pytest.raises(dg.Failure, match="timestamp_unit must be one of"):
        raw_readings(context=context, config=RawReadingsConfig(timestamp_unit="minutes"),
                     data_root=DataRoot(path=str(data_root)))
    with context_of("2026-11-01") as context:
        readings = raw_readings(context=context, config=RawReadingsConfig(pattern="*11-01.csv"),
                                data_root=DataRoot(path=str(data_root)))
    assert [f.name for f in readings.files] == ["machine01_2026-11-01.csv"]
    with context_of("2026-11-02") as context:  # the pattern leaves this day without a file: an empty day
        empty = raw_readings(context=context, config=RawReadingsConfig(pattern="*11-01.csv"),
                             data_root=DataRoot(path=str(data_root)))
    assert len(empty.frame) == 0 and empty.files == ()


def test_validated_readings_failure_quarantines_the_day_and_writes_the_report(data_root):
    day = data_root / "raw" / DAY
    frame = pd.read_csv(day)
    frame.loc[3, "oil_pressure"] = 99.0  # the contract allows 0..10 bar
    frame.to_csv(day, index=False)
    root = DataRoot(path=str(data_root))
    with context_of() as context, pytest.raises(dg.Failure) as failure:
        validated_readings(context=context, config=ValidatedReadingsConfig(), data_root=root,
                           raw_readings=read_raw_files(data_root / "raw", day="2026-11-02"))
    assert failure.value.description.startswith("2026-11-02 quarantined: validation failed: 1 failed expectation(s) "
                                                "in 1 file(s)")
    [row] = failure.value.metadata["failures"].value.records
    assert (row.data["file"], row.data["column"], row.data["bad_rows"]) == (DAY, "oil_pressure", 1)
    report = json.loads((data_root / "reports" / "validation" / "2026-11-02.json").read_text())
    assert not report["success"] and report["failures"][0]["first_bad_timestamp"] == "2026-11-02 00:03:00"
    assert list(root.catalog.quarantine.days()) == ["2026-11-02"]


def test_training_windows_names_the_longest_segments_when_too_short(data_root):
    root = DataRoot(path=str(data_root))
    for day in ("2026-11-01", "2026-11-02"):
        readings = read_raw_files(data_root / "raw", day=day)
        save_artifact(validated_day(day, readings), root.day_folder("validated_readings", day))
    with context_of(None) as context:
        output, check = training_windows(context=context, config=TrainingWindowsConfig(window_length=12, stride=6),
                                         data_root=root)
    assert output.metadata["windows"].value == 2 * ((1440 - 12) // 6 + 1) and check.passed
    assert output.value.index.stride == 6 and output.value.day_names() == ["2026-11-01", "2026-11-02"]
    with context_of(None) as context, pytest.raises(
            dg.Failure, match=r"too few rows for windows of 2000 rows.*Longest continuous segments: "
                              r"machine01_2026-11-0[12].csv \(1440 rows from 2026-11-0[12] 00:00:00\)"):
        list(training_windows(context=context, config=TrainingWindowsConfig(window_length=2000), data_root=root))


def test_the_events_table_of_a_day_page_is_times_of_day_and_named_sensors():
    from assets.anomalies import _shown
    from pipeline.events import find_events

    start = pd.to_datetime(["2026-11-03 23:50", "2026-11-03 23:55"]).to_numpy()
    end = start + pd.Timedelta(minutes=20).to_timedelta64()  # the event runs past midnight
    events = find_events(start, end, [2.0, 3.0], [[3.0, 1.0], [3.0, 1.0]], ["vibration_x", "flow_rate"])
    shown = _shown(events)
    assert list(shown.columns) == ["start", "end", "minutes", "peak_score", "top_sensors"]
    assert shown.iloc[0].to_dict() == {"start": "23:50:00", "end": "00:15:00 +1d", "minutes": 25.0,
                                       "peak_score": 3.0, "top_sensors": "vibration_x 75 %, flow_rate 25 %"}
    assert _shown(find_events(start, end, [0.5, 0.5])).empty  # a day without events: an empty table


def test_a_day_view_of_days_whose_model_is_gone_or_mixed_says_to_score_them_again(data_root):
    from assets.explore import ViewConfig, day_latent_view

    def latents(version: str) -> pd.DataFrame:
        return pd.DataFrame({"window_start": pd.to_datetime(["2026-11-01 00:00"]), "model_version": [version]})

    no_events = pd.DataFrame()
    root = DataRoot(path=str(data_root))
    with context_of() as context, pytest.raises(dg.Failure, match="model of version v_pruned, which scored these "
                                                                  r"days, is gone .*score the days again"):
        day_latent_view(context=context, config=ViewConfig(), data_root=root, latent_vectors=latents("v_pruned"),
                        anomaly_events=no_events)
    with dg.build_asset_context(partition_key_range=dg.PartitionKeyRange("2026-11-01", "2026-11-02")) as context, \
            pytest.raises(dg.Failure, match=r"scored by different versions \(v1, v2\)"):
        day_latent_view(context=context, config=ViewConfig(), data_root=root,
                        latent_vectors={"2026-11-01": latents("v1"), "2026-11-02": latents("v2")},
                        anomaly_events={"2026-11-01": no_events, "2026-11-02": no_events})
