"""The bad-input corpus: malformed raw files, each generated here from the real sample.

Each must stop the run with a `dagster.Failure` (never an unrelated exception) whose message names the file and
the problem, with nothing downstream of the failing stage materialised and the previously written latents
byte-identical. Where the failure is a validation one, both validation engines must agree on it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.ingest import read_raw_files
from pipeline.validate import validate_readings
from tests.helpers import (
    DAY_ASSETS,
    SAMPLE_DAYS,
    TINY_RUN_CONFIG,
    latest_latents,
    make_sample_root,
    materialize,
    materialized_keys,
    published_latents,
)

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

DAY = "machine01_2026-11-02.csv"
DAYS_RUN = {"corrupt Parquet": ("2026-11-03",)}  # the day a case's bad file belongs to, if not the sample's
STAGES = ["raw_readings", "validated_readings", "training_windows"]


def rewrite(raw: Path, change, name: str = DAY) -> None:
    frame = pd.read_csv(raw / name)
    change(frame)
    frame.to_csv(raw / name, index=False)


def set_value(column: str, row: int, value):
    def change(f):
        f[column] = f[column].astype(object)
        f.loc[row, column] = value
    return change


def edit_text(raw: Path, edit, name: str = DAY) -> None:
    path = raw / name
    path.write_text(edit(path.read_text()))


def overlapping_file(raw: Path) -> None:
    frame = pd.read_csv(raw / DAY, parse_dates=["timestamp"])
    frame["timestamp"] += pd.Timedelta(hours=6)
    frame.to_csv(raw / "machine01_late_export.csv", index=False)


def swap_rows(f: pd.DataFrame) -> None:
    f.loc[[50, 51], "timestamp"] = f.loc[[51, 50], "timestamp"].to_numpy()


def contract_edit(old: str, new: str):
    def apply(raw: Path):
        text = (raw / "sensors.yaml").read_text()
        assert old in text
        (raw / "sensors.yaml").write_text(text.replace(old, new))
    return apply


def with_gap_policy_fail(raw: Path) -> None:
    contract_edit("on_gap: split", "on_gap: fail")(raw)
    rewrite(raw, lambda f: f.drop(index=range(200, 220), inplace=True))


def day_first_dates(f: pd.DataFrame) -> None:
    f["timestamp"] = pd.to_datetime(f["timestamp"]).dt.strftime("%d/%m/%Y %H:%M:%S")  # 02/11/2026: 2 Nov


def epoch_seconds(f: pd.DataFrame) -> None:
    f["timestamp"] = pd.to_datetime(f["timestamp"]).dt.as_unit("s").astype("int64")


def in_local_time(day: str, timezone: str):
    """The day's readings relabelled as local times of a DST change day in `timezone`."""
    def apply(raw: Path):
        contract_edit("timezone: UTC ", f"timezone: {timezone} ")(raw)
        rewrite(raw, lambda f: f.__setitem__("timestamp", (pd.Timestamp(day) + pd.to_timedelta(
            np.arange(len(f)) * 60, unit="s")).astype(str)))
    return apply


def sensor_renamed(old: str, new: str):
    def apply(raw: Path):
        contract_edit(f"  {old}:", f"  {new}:")(raw)
        for day in raw.glob("*.csv"):
            edit_text(raw, lambda t: t.replace(old, new, 1), day.name)
    return apply


def keep_few_rows(raw: Path) -> None:
    rewrite(raw, lambda f: f.drop(index=range(5, len(f)), inplace=True), "machine01_2026-11-01.csv")
    rewrite(raw, lambda f: f.drop(index=range(6, len(f)), inplace=True))


# name: (how to break the raw folder, failing stage, words the message must contain besides the file name)
CASES = {
    "missing column": (lambda raw: rewrite(raw, lambda f: f.drop(columns="oil_pressure", inplace=True)),
                       "validated_readings", ["oil_pressure", "sensor column missing"]),
    "renamed column": (lambda raw: rewrite(raw, lambda f: f.rename(columns={"oil_pressure": "oil_press"},
                                                                    inplace=True)),
                       "validated_readings", ["oil_pressure", "sensor column missing", "oil_press", "renamed?"]),
    "NaN burst": (lambda raw: rewrite(raw, lambda f: f.__setitem__("flow_rate", f["flow_rate"].where(
        ~f.index.isin(range(300, 330))))), "validated_readings", ["flow_rate", "missing values", "30 bad row"]),
    "infinite value": (lambda raw: rewrite(raw, set_value("vibration_x", 77, "inf")),
                       "validated_readings", ["vibration_x", "infinite values"]),
    "text in a numeric column": (lambda raw: rewrite(raw, set_value("shaft_speed", 12, "error 42")),
                                 "raw_readings", ["shaft_speed", "not numbers", "'error 42'"]),
    "duplicated timestamps": (lambda raw: rewrite(raw, lambda f: f.__setitem__("timestamp", f["timestamp"].where(
        f.index != 40, f["timestamp"].shift(1)))), "validated_readings", ["duplicated timestamps"]),
    # refused on reading since rows out of time order are (a day takes only its own rows of a file, so a stray
    # row of another day would otherwise vanish unseen); validation still checks the order of what it is given
    "non-monotonic timestamps": (lambda raw: rewrite(raw, swap_rows), "raw_readings",
                                 ["data row 52 (line 53)", "earlier than the row before it", "time order"]),
    "stray 1970 timestamp": (lambda raw: rewrite(raw, set_value("timestamp", 600, "1970-01-01 00:00:00")),
                             "raw_readings", ["data row 601 (line 602)", "1970-01-01 00:00:00",
                                              "earlier than the row before it (2026-11-02 09:59:00)", "time order"]),
    "overlapping files": (overlapping_file, "validated_readings", ["machine01_late_export.csv", "overlaps"]),
    "wrong separator": (lambda raw: edit_text(raw, lambda t: t.replace(",", ";")), "raw_readings",
                        ["no timestamp column", "separator"]),
    "empty file": (lambda raw: edit_text(raw, lambda t: ""), "raw_readings", ["cannot be read"]),
    "header only": (lambda raw: edit_text(raw, lambda t: t.splitlines()[0] + "\n"), "raw_readings",
                    ["no data rows"]),
    "truncated last line": (lambda raw: edit_text(raw, lambda t: t.rstrip("\n")[:-40]), "raw_readings",
                            ["cannot be read", "columns"]),
    "unparseable timestamps": (lambda raw: rewrite(raw, set_value("timestamp", 5, "2026-13-45 25:00:00")),
                               "raw_readings", ["timestamp", "not ISO 8601 timestamps", "2026-13-45"]),
    "mixed time zones": (lambda raw: rewrite(raw, set_value("timestamp", 9, "2026-11-02 00:09:00+01:00")),
                         "raw_readings", ["mixes timestamps with and without a UTC offset"]),
    "out-of-range value": (lambda raw: rewrite(raw, set_value("motor_current", 100, 250.0)), "validated_readings",
                           ["motor_current", "values outside [0, 80] A", "250"]),
    "too few rows": (keep_few_rows, "training_windows", ["too few rows", "windows of 12 rows",
                                                         "(6 rows from 2026-11-02 00:00:00)"]),
    "wrong sampling period": (lambda raw: rewrite(raw, lambda f: f.__setitem__("timestamp", (
        pd.Timestamp("2026-11-02") + pd.to_timedelta(np.arange(len(f)), unit="s")).astype(str))),
                              "validated_readings", ["sampling period differs from 60 s", "observed 1"]),
    "duplicate column names": (lambda raw: edit_text(raw, lambda t: t.replace("flow_rate", "motor_current", 1)),
                               "raw_readings", ["duplicate column name", "motor_current"]),
    "not text": (lambda raw: (raw / DAY).write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 50),
                 "raw_readings", ["cannot be read"]),
    "corrupt Parquet": (lambda raw: (raw / "machine01_2026-11-03.parquet").write_bytes(b"PAR1 not really"),
                        "raw_readings", ["machine01_2026-11-03.parquet", "cannot be read"]),
    "gap with on_gap fail": (with_gap_policy_fail, "validated_readings", ["gaps longer than 180 s"]),
    "invalid contract": (contract_edit("{unit: A, min: 0, max: 80}", "{unit: A, min: 90, max: 80}"),
                         "raw_readings", ["sensors.yaml", "motor_current", "min 90.0 is greater than max 80.0"]),
    "empty timestamp": (lambda raw: rewrite(raw, set_value("timestamp", 30, None)), "raw_readings",
                        ["column 'timestamp'", "1 row(s) without a timestamp", "data row 31"]),
    "day-first dates": (lambda raw: rewrite(raw, day_first_dates), "raw_readings",
                        ["not ISO 8601 timestamps", "'02/11/2026 00:00:00'", "never guessed", "timestamp_format"]),
    "epoch numbers without a unit": (lambda raw: rewrite(raw, epoch_seconds), "raw_readings",
                                     ["holds numbers", "1793577600", "timestamp_unit"]),
    "local time repeated by DST": (in_local_time("2026-10-25", "Europe/Berlin"), "raw_readings",
                                   ["repeat", "Europe/Berlin", "ambiguous_times"]),
    "local time skipped by DST": (in_local_time("2026-03-29", "Europe/Berlin"), "raw_readings",
                                  ["2026-03-29 02:00:00", "does not exist in Europe/Berlin"]),
    "year 2300": (lambda raw: rewrite(raw, set_value("timestamp", 7, "2300-01-01 00:00:00")), "raw_readings",
                  ["'2300-01-01 00:00:00'", "outside 1677-09-22 to 2262-04-11", "data row 8"]),
    "1e308 in a sensor without a range": (
        lambda raw: (contract_edit("{unit: A, min: 0, max: 80}", "{unit: A}")(raw),
                     rewrite(raw, set_value("motor_current", 5, 1e308))),
        "validated_readings", ["motor_current", "beyond ±3.4e38", "float32", "1e+308"]),
    "1e200 in a sensor without a range": (
        lambda raw: (contract_edit("{unit: A, min: 0, max: 80}", "{unit: A}")(raw),
                     rewrite(raw, set_value("motor_current", 5, 1e200))),
        "validated_readings", ["motor_current", "beyond ±3.4e38", "1e+200"]),
    "configured contract missing": (lambda raw: None, "raw_readings", ["contract", "nowhere.yaml",
                                                                      "does not exist"]),
    "two contracts": (lambda raw: shutil.copy(raw / "sensors.yaml", raw / "sensors.yml"), "raw_readings",
                      ["both sensors.yaml and sensors.yml", "keep one contract"]),
    "sensor named segment": (sensor_renamed("flow_rate", "segment"), "raw_readings",
                             ["sensors.yaml", "'segment'", "the pipeline uses for its own columns"]),
    "sensor named source_file": (sensor_renamed("flow_rate", "source_file"), "raw_readings",
                                 ["'source_file'", "the pipeline uses for its own columns"]),
    "sensor named interval_s": (sensor_renamed("flow_rate", "interval_s"), "raw_readings",
                                ["'interval_s'", "the pipeline uses for its own columns"]),
    "sensor named NO, unquoted": (sensor_renamed("flow_rate", "NO"), "raw_readings",
                                  ["sensors.yaml", "False is not text", "quote it"]),
    "absolute pattern": (lambda raw: None, "raw_readings", ["pattern", "is an absolute path", "relative"]),
    "raw_dir is a file": (lambda raw: None, "raw_readings", ["is a file, not a folder"]),
}
# settings of raw_readings for the cases that need them ({raw} is the raw folder)
SETTINGS = {"configured contract missing": {"contract": "{raw}/nowhere.yaml"},
            "absolute pattern": {"pattern": "{raw}/*.csv"},
            "raw_dir is a file": {"raw_dir": "{raw}/" + DAY}}
FILE_NAMED = {"overlapping files": "machine01_late_export.csv", "corrupt Parquet": "machine01_2026-11-03.parquet",
              "invalid contract": "sensors.yaml", "configured contract missing": "nowhere.yaml",
              "two contracts": "raw", "sensor named segment": "sensors.yaml",
              "sensor named source_file": "sensors.yaml", "sensor named interval_s": "sensors.yaml",
              "sensor named NO, unquoted": "sensors.yaml", "absolute pattern": "raw"}


def run_config(case: str, raw: Path) -> dict:
    settings = {k: v.format(raw=raw) for k, v in SETTINGS.get(case, {}).items()}
    return {"ops": {**TINY_RUN_CONFIG["ops"], "raw_readings": {"config": settings}}}


@pytest.fixture(scope="module")
def good_root(tmp_path_factory) -> Path:
    """A data root whose pipeline ran to the end: the latents a bad file must not disturb."""
    root = make_sample_root(tmp_path_factory.mktemp("good"))
    assert materialize(root).success
    return root


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_its_day_and_names_file_and_problem(case, good_root, tmp_path):
    """Per partition: the day the bad file belongs to fails at the stage named, with the file and the problem;
    nothing after that stage is materialised for it, and the model's latents are untouched."""
    breaker, stage, words = CASES[case]
    root = tmp_path / "data"
    shutil.copytree(good_root, root)
    published_before = published_latents(root).read_bytes()
    written_before = latest_latents(root).read_bytes()
    breaker(root / "raw")

    result = materialize(root, STAGES, run_config(case, root / "raw"), days=DAYS_RUN.get(case, SAMPLE_DAYS))
    assert not result.success
    failed = next(r for r in result.results if not r.success)
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == stage
    user = failure.step_failure_data.user_failure_data
    assert user is not None, f"not a dagster.Failure: {failure.step_failure_data.error.message}"
    for word in [FILE_NAMED.get(case, DAY), *words]:
        assert word in user.description, f"{word!r} not in: {user.description[:600]}"
    before = set(STAGES[: STAGES.index(stage)]) if stage in DAY_ASSETS else set()  # of the failed run
    assert materialized_keys(failed) == before
    assert published_latents(root).read_bytes() == published_before
    assert latest_latents(root).read_bytes() == written_before


@pytest.mark.parametrize("case", [c for c, (_, stage, _) in CASES.items() if stage == "validated_readings"])
def test_fast_and_gx_engines_agree(case, tmp_path):
    root = make_sample_root(tmp_path)
    CASES[case][0](root / "raw")
    readings = read_raw_files(root / "raw")
    fast, full = validate_readings(readings, "fast"), validate_readings(readings, "gx")
    assert fast.failures and fast.failures == full.failures
    assert fast.warnings == full.warnings and fast.expectations_run == full.expectations_run
