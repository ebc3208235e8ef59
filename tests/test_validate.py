from pipeline.ingest import read_raw_files
from pipeline.validate import validate_readings


def test_sample_passes_every_expectation(data_root):
    r = read_raw_files(data_root / "raw")
    report = validate_readings(r.frame, r.contract)
    assert report.success and report.files == 2 and report.rows == 2880
    # 3 timestamp expectations + 4 per sensor (exists, numeric, not null, range), per file
    assert report.expectations_run == 2 * (3 + 4 * 9)


def test_failures_name_file_column_expectation_and_bad_rows(data_root):
    r = read_raw_files(data_root / "raw")
    f = r.frame
    day2 = f.index[f["source_file"] == "machine01_2026-11-02.csv"]
    f.loc[day2[10], "motor_current"] = 999.0
    f.loc[day2[11], "oil_pressure"] = float("nan")
    f.loc[day2[20], "timestamp"] = f.loc[day2[19], "timestamp"]
    report = validate_readings(f, r.contract)
    assert not report.success
    got = {(x.file, x.column, x.expectation, x.bad_rows) for x in report.failures}
    assert got == {
        ("machine01_2026-11-02.csv", "motor_current", "expect_column_values_to_be_between", 1),
        ("machine01_2026-11-02.csv", "oil_pressure", "expect_column_values_to_not_be_null", 1),
        ("machine01_2026-11-02.csv", "timestamp", "expect_column_values_to_be_unique", 2),
        ("machine01_2026-11-02.csv", "timestamp", "expect_column_values_to_be_increasing", 1),
    }
    assert report.summary().startswith("validation failed: 4 failed expectation(s) in 1 file(s)")
    assert "999.0" in report.to_markdown()
