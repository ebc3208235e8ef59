"""Odd but valid raw folders: each is read by a stated rule, through the real assets, with its readings
correctly dated and what was skipped said in the metadata (the refused ones are in test_bad_inputs.py)."""

from __future__ import annotations

import gzip
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pipeline.ingest import IngestError, IngestSettings, read_raw_files
from pipeline.store import load_artifact
from tests.helpers import SAMPLE_DAYS, make_sample_root, materialize, materialized_keys

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

DAY = "machine01_2026-11-02.csv"
FIRST = "machine01_2026-11-01.csv"
STAGES = ["raw_readings", "validated_readings"]


def ingest_and_validate(root: Path, days: tuple[str, ...] = SAMPLE_DAYS, **raw_settings):
    """Materialise the first two assets for each day; returns the runs' result and the stored validated
    readings of the days, end to end (their frames concatenated, their files listed)."""
    result = materialize(root, selection=STAGES, run_config={"ops": {"raw_readings": {"config": raw_settings}}},
                         days=days)
    assert result.success, [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert materialized_keys(result) == set(STAGES)
    stored = [load_artifact(root / "store" / "validated_readings" / d).readings for d in days]
    frame = pd.concat([r.frame.assign(source_file=r.frame["source_file"].astype(str)) for r in stored],
                      ignore_index=True)
    return result, SimpleNamespace(frame=frame, files=[f for r in stored for f in r.files],
                                   contract=stored[0].contract)


def metadata(result, asset: str, day: str = SAMPLE_DAYS[-1]) -> dict:
    event = next(m for m in result.asset_materializations_for_node(asset) if m.partition in (day, None))
    return {k: v.value for k, v in event.metadata.items()}


def true_timestamps(root: Path) -> pd.Series:
    return pd.concat([pd.read_csv(root / "raw" / n, usecols=["timestamp"])["timestamp"] for n in (FIRST, DAY)],
                     ignore_index=True).pipe(pd.to_datetime).astype("datetime64[ns]")


def rewrite_timestamps(root: Path, text, name: str = DAY) -> pd.Series:
    """Write a day's timestamps with `text(timestamps)`; returns the true ones."""
    path = root / "raw" / name
    frame = pd.read_csv(path)
    truth = pd.to_datetime(frame["timestamp"])
    frame["timestamp"] = text(truth)
    frame.to_csv(path, index=False)
    return truth


def set_contract(root: Path, old: str, new: str) -> None:
    path = root / "raw" / "sensors.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.fixture
def root(tmp_path) -> Path:
    return make_sample_root(tmp_path)


def test_compressed_day_and_sensors_yml_are_read_and_other_files_listed(root):
    raw = root / "raw"
    truth = true_timestamps(root)
    (raw / (DAY + ".gz")).write_bytes(gzip.compress((raw / DAY).read_bytes()))
    (raw / DAY).unlink()
    (raw / "sensors.yaml").rename(raw / "sensors.yml")
    for junk in (".DS_Store", "._machine01_2026-11-03.csv", "README.txt", "notes/.ipynb_checkpoints/x.csv"):
        (raw / junk).parent.mkdir(parents=True, exist_ok=True)
        (raw / junk).write_text("not readings")

    result, readings = ingest_and_validate(root)
    assert list(readings.frame["source_file"].unique()) == [FIRST, DAY + ".gz"]
    np.testing.assert_array_equal(readings.frame["timestamp"].to_numpy(), truth.to_numpy())
    assert readings.contract.source.endswith("sensors.yml") and readings.contract.sensors[3].max == 80
    listed = metadata(result, "raw_readings")["files_not_read"].records
    skipped = {r.data["file"]: r.data["why not read"] for r in listed}
    assert skipped == {".DS_Store": "hidden (a name starting with '.')",
                       "._machine01_2026-11-03.csv": "hidden (a name starting with '.')",
                       "notes/.ipynb_checkpoints/x.csv": "hidden (a name starting with '.')",
                       "README.txt": "not a CSV (.csv, optionally .gz/.bz2/.zst/.lz4) or Parquet (.parquet, .pq) file"}


def test_comment_lines_empty_rows_and_a_huge_label_cell_are_read(root):
    truth = true_timestamps(root)
    path = root / "raw" / DAY
    lines = path.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    huge = rows[3].rsplit(",", 1)[0] + "," + "x" * 3_000_000  # a 3 MB text cell in the regime label column
    empty = "," * header.count(",")
    path.write_text("\n".join(["# exported by logger 7", "# units: see sensors.yaml", header, *rows[:3], huge,
                               *rows[4:], empty, empty, ""]))
    result, readings = ingest_and_validate(root)
    assert len(readings.frame) == 2880
    np.testing.assert_array_equal(readings.frame["timestamp"].to_numpy(), truth.to_numpy())
    assert metadata(result, "raw_readings")["empty_rows_dropped"] == 2
    [day] = [f for f in readings.files if f.name == DAY]
    assert day.empty_rows == 2 and day.rows == 1440


def test_day_first_dates_with_a_stated_format_are_dated_right(root):
    truth = rewrite_timestamps(root, lambda t: t.dt.strftime("%d/%m/%Y %H:%M:%S"))
    set_contract(root, "timestamp_column: timestamp\n", "timestamp_column: timestamp\ntimestamp_format: "
                                                      "'%d/%m/%Y %H:%M:%S'\n")
    _, readings = ingest_and_validate(root)
    day = readings.frame[readings.frame["source_file"] == DAY]["timestamp"]
    np.testing.assert_array_equal(day.to_numpy(), truth.astype("datetime64[ns]").to_numpy())
    assert day.iloc[0] == pd.Timestamp("2026-11-02 00:00:00")  # 2 November, never 11 February


def test_epoch_seconds_with_a_unit_from_the_config(root):
    truth = true_timestamps(root)
    for name in (FIRST, DAY):
        rewrite_timestamps(root, lambda t: t.dt.as_unit("s").astype("int64"), name)
    _, readings = ingest_and_validate(root, timestamp_unit="s")
    np.testing.assert_array_equal(readings.frame["timestamp"].to_numpy(), truth.to_numpy())


def test_a_repeated_local_hour_is_read_in_recorded_order_when_the_contract_says_infer(root):
    # 25 Oct 2026 in Berlin: 02:00-02:59 happens twice. A logger writing local time every minute repeats it.
    utc = pd.date_range("2026-10-24 22:00", periods=1440, freq="60s")
    rewrite_timestamps(root, lambda t: pd.Series(utc.tz_localize("UTC").tz_convert("Europe/Berlin")
                                                 .tz_localize(None).astype(str)))
    set_contract(root, "timezone: UTC ", "timezone: Europe/Berlin\nambiguous_times: infer\n#")
    readings = read_raw_files(root / "raw")  # October 2026: before the day partitions start
    day = readings.frame[readings.frame["source_file"] == DAY]["timestamp"]
    np.testing.assert_array_equal(day.to_numpy(), utc.to_numpy())  # strictly increasing UTC, none lost


def test_a_one_row_file_is_a_warning_and_gives_no_window(root):
    frame = pd.read_csv(root / "raw" / DAY)
    frame.iloc[:1].assign(timestamp="2026-11-05 00:00:00").to_csv(root / "raw" / "machine01_2026-11-05.csv",
                                                                   index=False)
    result = materialize(root, selection=[*STAGES, "training_windows"], run_config={
        "ops": {"training_windows": {"config": {"window_length": 12}}}}, days=(*SAMPLE_DAYS, "2026-11-05"))
    assert result.success
    warnings = metadata(result, "validated_readings", "2026-11-05")["warnings"].records
    assert [(w.data["file"], w.data["expectation"]) for w in warnings] == [("machine01_2026-11-05.csv",
                                                                            "sampling_period")]
    span = metadata(result, "training_windows")
    assert [d.data["rows"] for d in span["per_day"].records] == [1440, 1440, 1] and span["windows"] == 2 * 1429


def test_an_inferred_sensor_with_a_reserved_name_is_refused_unless_excluded(tmp_path):
    (tmp_path / "a.csv").write_text("when,temp,segment\n2026-01-01 00:00:00,1.5,1\n2026-01-01 00:00:01,1.6,1\n")
    with pytest.raises(IngestError) as refused:
        read_raw_files(tmp_path, IngestSettings(timestamp_column="when"))
    assert str(refused.value).startswith(f"{tmp_path / 'a.csv'}: sensor(s) ['segment'] have a name the pipeline "
                                         "uses for its own columns")
    assert "exclude_columns" in str(refused.value)
    readings = read_raw_files(tmp_path, IngestSettings(timestamp_column="when", exclude_columns=("segment",)))
    assert readings.sensors == ["temp"]


def test_a_parse_cache_that_cannot_be_written_does_not_fail_ingestion(root):
    (root / "cache").write_text("a file where the cache folder would go")  # as unwritable as a read-only root
    _, readings = ingest_and_validate(root)  # ingestion does not blame a raw file for the cache
    assert len(readings.frame) == 2880
    logs = []
    read_raw_files(root / "raw", cache_dir=root / "cache", log=logs.append)
    assert any(m.startswith(f"the parse cache could not be written ({root / 'cache'}") for m in logs), logs
