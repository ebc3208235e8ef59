import numpy as np
import pandas as pd
import pytest

from pipeline.ingest import read_raw_files
from pipeline.segments import SEGMENT_COLUMN, segment_summary
from pipeline.validate import interpolate_and_segment, validate_readings


def test_sample_passes_every_expectation(data_root):
    readings = read_raw_files(data_root / "raw")
    report = validate_readings(readings)
    assert report.success and report.files == 2 and report.rows == 2880 and not report.warnings
    # per file: 4 timestamp rules (exists, not null, unique, increasing) + sampling period + 5 per sensor
    # (exists, numeric, not null, finite, range); plus one overlap check between the two files
    assert report.expectations_run == 2 * (5 + 5 * 9) + 1


def test_failures_name_file_column_problem_and_first_bad_timestamp(data_root):
    readings = read_raw_files(data_root / "raw")
    f = readings.frame
    day2 = f.index[f["source_file"] == "machine01_2026-11-02.csv"]
    f.loc[day2[10], "motor_current"] = 999.0
    f.loc[day2[11], "oil_pressure"] = np.nan
    f.loc[day2[20], "timestamp"] = f.loc[day2[19], "timestamp"]
    for engine in ("fast", "gx"):
        report = validate_readings(readings, engine)
        got = {(x.file, x.column, x.expectation, x.bad_rows, x.first_bad_timestamp) for x in report.failures}
        assert got == {
            ("machine01_2026-11-02.csv", "motor_current", "expect_column_values_to_be_between", 1,
             "2026-11-02 00:10:00"),
            ("machine01_2026-11-02.csv", "oil_pressure", "expect_column_values_to_not_be_null", 1,
             "2026-11-02 00:11:00"),
            ("machine01_2026-11-02.csv", "timestamp", "expect_column_values_to_be_unique", 2, "2026-11-02 00:19:00"),
            ("machine01_2026-11-02.csv", "timestamp", "expect_column_values_to_be_increasing", 1,
             "2026-11-02 00:19:00"),
        }, engine
        assert report.headline().startswith("validation failed: 4 failed expectation(s) in 1 file(s)")
        assert "999.0" in report.to_markdown() and "values outside [0, 80] A" in report.to_markdown()


def test_findings_do_not_depend_on_how_the_frame_holds_its_files(data_root):
    readings = read_raw_files(data_root / "raw")
    f = readings.frame
    day2 = f.index[f["source_file"] == "machine01_2026-11-02.csv"]
    f.loc[day2[10], "motor_current"] = 999.0
    f.loc[day2[20], "timestamp"] = f.loc[day2[19], "timestamp"]
    f.loc[day2[30:40], "timestamp"] -= pd.Timedelta(days=1)  # overlaps the first file
    expected = validate_readings(readings)
    assert {x.expectation for x in expected.failures} >= {"files_do_not_overlap", "expect_column_values_to_be_between"}
    as_text = readings.with_frame(f.assign(source_file=f["source_file"].astype(str)))
    within_file = f.groupby("source_file", observed=True).cumcount().to_numpy()
    interleaved = readings.with_frame(f.iloc[np.argsort(within_file, kind="stable")])  # rows alternate files
    for variant in (as_text, interleaved):  # a string column; files whose rows are not contiguous
        report = validate_readings(variant)
        assert report.failures == expected.failures and report.warnings == expected.warnings


def test_segments_split_at_files_and_gaps(data_root):
    first = data_root / "raw" / "machine01_2026-11-01.csv"
    frame = pd.read_csv(first)
    frame.drop(index=range(100, 110)).to_csv(first, index=False)  # an 11-minute pause; 3 periods (60 s) allowed
    readings = read_raw_files(data_root / "raw")
    assert validate_readings(readings).success
    validated = interpolate_and_segment(readings)
    summary = segment_summary(validated.frame)
    assert list(summary["rows"]) == [100, 1330, 1440]
    assert list(summary["file"]) == ["machine01_2026-11-01.csv"] * 2 + ["machine01_2026-11-02.csv"]
    assert validated.frame[SEGMENT_COLUMN].is_monotonic_increasing


def test_allowed_nulls_are_interpolated_and_warnings_do_not_fail(data_root):
    contract = data_root / "raw" / "sensors.yaml"
    contract.write_text(contract.read_text().replace("max_null_fraction: 0.0", "max_null_fraction: 0.01")
                        .replace("flatline_s: 3600", "flatline_s: 1200"))
    day = data_root / "raw" / "machine01_2026-11-01.csv"
    frame = pd.read_csv(day)
    frame.loc[[100, 101], "oil_pressure"] = np.nan  # 2 of 1440: within 1%
    frame.loc[200:240, "supply_voltage"] = 398.0  # stuck for 40 minutes
    frame["operator_note"] = "ok"
    frame.to_csv(day, index=False)
    readings = read_raw_files(data_root / "raw")
    report = validate_readings(readings)
    assert report.success
    assert {(w.file, w.column, w.expectation) for w in report.warnings} == {
        ("machine01_2026-11-01.csv", "operator_note", "known_columns"),
        ("machine01_2026-11-01.csv", "supply_voltage", "flat_line")}
    filled = interpolate_and_segment(readings).frame
    assert readings.frame["oil_pressure"].isna().sum() == 2  # the raw readings are left as they were
    before, after = filled.loc[99, "oil_pressure"], filled.loc[102, "oil_pressure"]
    assert filled.loc[100, "oil_pressure"] == pytest.approx(before + (after - before) / 3)
    assert not filled[readings.sensors].isna().any().any()
