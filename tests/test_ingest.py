import pandas as pd
import pytest

from pipeline.ingest import IngestError, IngestSettings, raw_days, read_raw_files
from pipeline.synthetic import SENSORS
from pipeline.validate import validate_readings
from tests.helpers import SKAB


def test_reads_csv_and_parquet_in_time_order_with_source_file(data_root, tmp_path):
    raw = data_root / "raw"
    later = pd.read_csv(raw / "machine01_2026-11-02.csv")
    (raw / "machine01_2026-11-02.csv").unlink()
    later.to_parquet(raw / "late.parquet")  # sorts first by name, but holds the later day
    readings = read_raw_files(raw)
    frame = readings.frame
    assert list(frame.columns) == ["timestamp", *SENSORS, "source_file"]
    assert list(dict.fromkeys(frame["source_file"])) == ["machine01_2026-11-01.csv", "late.parquet"]
    assert list(frame["source_file"].cat.categories) == ["machine01_2026-11-01.csv", "late.parquet"]
    assert [f.name for f in readings.files] == ["machine01_2026-11-01.csv", "late.parquet"]
    assert frame["timestamp"].is_monotonic_increasing and len(frame) == 2880
    assert all(frame[s].dtype == "float64" for s in SENSORS)
    assert readings.contract.source.endswith("sensors.yaml")


def test_separator_timestamp_column_and_excluded_columns_without_contract(tmp_path):
    (tmp_path / "a.csv").write_text("when;temp;flow rate;label\n2026-01-01 00:00:00;1.5;3;0\n"
                                    "2026-01-01 00:00:01;1.6;4;1\n")
    readings = read_raw_files(tmp_path, IngestSettings(timestamp_column="when", separator=";",
                                                        exclude_columns=("label",)))
    assert readings.sensors == ["temp", "flow rate"] and readings.contract.inferred
    assert readings.frame["timestamp"].iloc[1] == pd.Timestamp("2026-01-01 00:00:01")


def test_the_contracts_separator_and_excluded_columns_apply_unless_the_run_config_sets_its_own(tmp_path):
    (tmp_path / "a.csv").write_text("timestamp;temp;anomaly;note\n2026-01-01 00:00:00;1.5;0;x\n"
                                    "2026-01-01 00:00:01;1.6;1;y\n")
    (tmp_path / "sensors.yaml").write_text("separator: ';'\nexclude_columns: [anomaly]\nsensors: {temp: {}}\n")
    readings = read_raw_files(tmp_path)
    assert readings.sensors == ["temp"] and readings.frame["temp"].tolist() == [1.5, 1.6]
    assert readings.contract.separator == ";" and readings.contract.exclude_columns == ("anomaly",)
    assert raw_days(tmp_path).days == ["2026-01-01"]  # the day listing reads with the contract's separator too
    # excluded columns are known, like labels: only the column neither names is reported as unexpected
    warned = [w.column for w in validate_readings(readings).warnings if w.expectation == "known_columns"]
    assert warned == ["note"]
    both = read_raw_files(tmp_path, IngestSettings(exclude_columns=("note",)))  # the run config's add to them
    assert both.contract.exclude_columns == ("anomaly", "note")
    assert not [w for w in validate_readings(both).warnings if w.expectation == "known_columns"]
    with pytest.raises(IngestError, match="no timestamp column 'timestamp'.*the separator ','"):
        read_raw_files(tmp_path, IngestSettings(separator=","))  # the run config's separator wins
    with pytest.raises(IngestError, match="separator: expected one character"):
        read_raw_files(tmp_path, IngestSettings(separator=";;"))


def test_inferred_sensors_are_numeric_in_some_file_and_empty_where_a_file_lacks_them(tmp_path):
    (tmp_path / "a.csv").write_text("timestamp,temp,flow,note\n2026-01-01 00:00:00,1.5,3,ok\n"
                                    "2026-01-01 00:00:01,1.6,4,ok\n")
    (tmp_path / "b.csv").write_text("timestamp,temp,mode\n2026-01-01 00:00:02,1.7,1\n2026-01-01 00:00:03,1.8,0\n")
    readings = read_raw_files(tmp_path)
    assert readings.sensors == ["temp", "flow", "mode"] and readings.contract.labels == ("note",)
    frame = readings.frame
    assert frame["temp"].tolist() == [1.5, 1.6, 1.7, 1.8]
    assert frame["flow"].tolist()[:2] == [3.0, 4.0] and frame["flow"].iloc[2:].isna().all()
    assert frame["mode"].iloc[:2].isna().all() and frame["mode"].tolist()[2:] == [1.0, 0.0]
    assert readings.files[0].columns == ("timestamp", "temp", "flow", "note")

    (tmp_path / "c.csv").write_text("timestamp,temp,flow\n2026-01-01 00:00:04,1.9,broken\n")
    with pytest.raises(IngestError, match=r"c.csv: column 'flow': 1 value\(s\) are not numbers, e.g. 'broken'"):
        read_raw_files(tmp_path)


@pytest.mark.parametrize("content, problem", [
    ("timestamp,a\n2026-01-01 00:00:00,1\n2026-01-01 00:00:01,oops\n", "column 'a': 1 value(s) are not numbers"),
    ("timestamp,a\n2026-01-01 00:00:00,1\nyesterday,2\n",
     "column 'timestamp': 1 value(s) are not ISO 8601 timestamps, e.g. 'yesterday'"),
    ("timestamp;a\n2026-01-01 00:00:00;1\n", "no timestamp column 'timestamp'"),
    ("timestamp,a\n", "no data rows"),
    ("", "cannot be read"),
])
def test_bad_file_names_file_and_problem(tmp_path, content, problem):
    (tmp_path / "good.csv").write_text("timestamp,a\n2025-01-01 00:00:00,1\n2025-01-01 00:00:01,2\n")
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(IngestError) as err:
        read_raw_files(tmp_path)
    assert "bad.csv" in str(err.value) and problem in str(err.value)


def test_empty_folder_and_missing_folder(tmp_path):
    with pytest.raises(IngestError, match="no CSV or Parquet file"):
        read_raw_files(tmp_path)
    with pytest.raises(IngestError, match="does not exist"):
        read_raw_files(tmp_path / "nope")


@pytest.mark.skipif(not SKAB.exists(), reason="SKAB data not present beside the project")
def test_skab_anomaly_free_by_configuration_only():
    readings = read_raw_files(SKAB / "anomaly-free", IngestSettings(timestamp_column="datetime", separator=";"))
    assert len(readings.sensors) == 8 and "Volume Flow RateRMS" in readings.sensors
    assert len(readings.frame) == 9405 and readings.contract.inferred


def test_parse_cache_reparses_only_new_or_changed_files(data_root, tmp_path):
    raw, cache = data_root / "raw", tmp_path / "cache"
    fresh = read_raw_files(raw)
    logs = []
    first = read_raw_files(raw, cache_dir=cache, log=logs.append)
    entries = cache / "parsed_files"
    assert sum(m.startswith("read ") for m in logs) == 2 and len(list(entries.glob("*.parquet"))) == 2
    logs.clear()
    second = read_raw_files(raw, cache_dir=cache, log=logs.append)
    assert not any(m.startswith("read ") for m in logs) and "2 of 2 file(s) taken from the parse cache" in logs[-1]
    pd.testing.assert_frame_equal(second.frame, fresh.frame)
    pd.testing.assert_frame_equal(first.frame, fresh.frame)

    day = raw / "machine01_2026-11-02.csv"
    frame = pd.read_csv(day)
    frame.loc[0, "motor_current"] = 33.3
    frame.to_csv(day, index=False)
    (raw / "machine01_2026-11-01.csv").unlink()
    logs.clear()
    third = read_raw_files(raw, cache_dir=cache, log=logs.append)
    assert [m.split(":")[0] for m in logs] == ["read machine01_2026-11-02.csv"]
    assert third.frame.loc[0, "motor_current"] == 33.3
    assert len(list(entries.glob("*.parquet"))) == 1  # the deleted file's entry is pruned


def test_sensor_summary_gives_unit_range_mean_and_nulls_per_sensor(tmp_path):
    (tmp_path / "a.csv").write_text("timestamp,temp,flow\n2026-01-01 00:00:00,1.5,3\n"
                                    "2026-01-01 00:00:10,,5\n2026-01-01 06:00:00,2.5,10\n")
    (tmp_path / "sensors.yaml").write_text("sensors:\n  temp: {unit: degC}\n  flow: {}\n")
    readings = read_raw_files(tmp_path)
    summary = readings.sensor_summary().set_index("sensor")
    assert list(summary.index) == ["temp", "flow"]
    assert summary.loc["temp", "unit"] == "degC" and summary.loc["flow", "unit"] == ""
    assert summary.loc["temp", ["min", "mean", "max", "nulls"]].tolist() == [1.5, 2.0, 2.5, 1]
    assert summary.loc["flow", ["min", "mean", "max", "nulls"]].tolist() == [3.0, 6.0, 10.0, 0]
    assert readings.time_span_hours() == 6.0
