"""A user's own folder by one command: `pipeline.list_days` on a raw folder outside the data root, read with the
settings given on its command line, and `scripts/pipeline.sh --raw-dir ...` through every day, the model and the
scored range."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from assets.ingest import RawReadingsConfig
from pipeline import list_days
from pipeline.catalog import Catalog
from pipeline.ingest import read_raw_files
from pipeline.synthetic import SENSORS, generate
from tests.helpers import PROJECT_ROOT, TINY_RUN_CONFIG, day_latents, materialize

OWN_DAYS = ("2020-03-01", "2020-03-02")  # older than the default first day partition (2026-11-01)
OWN_READ = ["--separator", ";", "--timestamp-column", "datetime", "--exclude-columns", "label"]


def write_own_folder(folder: Path) -> Path:
    """Two days of the sample generator at 60 s as a user's logger might write them: `;`-separated, the time in
    `datetime`, a numeric `label` column (a sensor unless excluded) and the text column `regime`, one file a day,
    no contract."""
    frame = generate(days=2, period_s=60, start=f"{OWN_DAYS[0]} 00:00:00", seed=11).rename(
        columns={"timestamp": "datetime"})
    frame["label"] = (frame["regime"] == "high_load").astype(int)
    folder.mkdir(parents=True)
    for i, (_, part) in enumerate(frame.groupby(frame["datetime"].dt.date)):  # no date in the names (SKAB's: 0.csv)
        part.to_csv(folder / f"{i}.csv", sep=";", index=False, float_format="%.3f",
                    date_format="%Y-%m-%d %H:%M:%S")
    return folder


@pytest.fixture(autouse=True)
def _no_day_settings(monkeypatch):
    for name in ("PIPELINE_DAY_TIMEZONE", "PIPELINE_FIRST_DAY", "PIPELINE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_the_days_of_a_raw_folder_elsewhere_are_listed_with_the_settings_given(tmp_path, capsys):
    raw, root = write_own_folder(tmp_path / "mine"), str(tmp_path / "root")
    assert list_days.main([root, "--raw-dir", str(raw), *OWN_READ]) == 0
    assert capsys.readouterr().out.split() == list(OWN_DAYS)
    # with the default settings no file's days are known (on a root that has not listed them before, which
    # would place each file on the days it held then): none listed, and the reason said
    assert list_days.main([str(tmp_path / "fresh"), "--raw-dir", str(raw)]) == 0
    listed = capsys.readouterr()
    assert listed.out.split() == []
    assert "2 file(s)" in listed.err and "no timestamp column 'timestamp'" in listed.err and "','" in listed.err

    # what every day run of scripts/pipeline.sh gets: raw_readings' config with these settings, which reads the day
    assert list_days.main([root, "--run-config", "--raw-dir", str(raw), *OWN_READ]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config == {"ops": {"raw_readings": {"config": {"raw_dir": str(raw), "separator": ";",
                                                          "timestamp_column": "datetime",
                                                          "exclude_columns": ["label"]}}}}
    asset_config = RawReadingsConfig(**config["ops"]["raw_readings"]["config"])
    day = read_raw_files(Path(asset_config.raw_dir), asset_config.settings(), day=OWN_DAYS[1])
    assert day.sensors == list(SENSORS) and len(day.frame) == 1440 and "label" in day.contract.labels


def test_the_day_time_zone_is_the_raw_folders_contracts_unless_set(tmp_path, capsys, monkeypatch):
    raw, root = tmp_path / "berlin", str(tmp_path / "root")
    raw.mkdir()
    (raw / "a.csv").write_text("timestamp,temp\n2026-01-01 23:30:00,1\n2026-01-01 23:30:01,2\n")  # UTC
    (raw / "sensors.yaml").write_text("day_timezone: Europe/Berlin\nsensors: {temp: {}}\n")
    assert list_days.main([root, "--day-timezone", "--raw-dir", str(raw)]) == 0
    assert capsys.readouterr().out.strip() == "Europe/Berlin"
    assert list_days.main([root, "--raw-dir", str(raw)]) == 0
    assert capsys.readouterr().out.split() == ["2026-01-02"]  # 00:30 in Berlin
    assert list_days.main([root, "--day-timezone"]) == 0  # the data root's raw folder has no contract
    assert capsys.readouterr().out.strip() == "UTC"
    monkeypatch.setenv("PIPELINE_DAY_TIMEZONE", "UTC")
    assert list_days.main([root, "--day-timezone", "--raw-dir", str(raw)]) == 0
    assert capsys.readouterr().out.strip() == "UTC"
    assert list_days.main([root, "--raw-dir", str(raw)]) == 0
    assert capsys.readouterr().out.split() == ["2026-01-01"]


def test_a_data_root_holding_other_days_is_named_when_a_raw_folder_elsewhere_is_listed(data_root, tmp_path, capsys):
    assert materialize(data_root, ["raw_readings", "validated_readings"]).success  # the sample's 2026-11-01, -02
    raw = write_own_folder(tmp_path / "mine")
    assert list_days.main([str(data_root), "--raw-dir", str(raw), *OWN_READ]) == 0
    listed = capsys.readouterr()
    assert listed.out.split() == list(OWN_DAYS)
    assert "holds 2 validated day(s)" in listed.err and "2026-11-01, 2026-11-02" in listed.err
    assert "PIPELINE_DATA_DIR" in listed.err
    assert list_days.main([str(data_root)]) == 0  # its own raw folder: nothing to say
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_one_command_runs_a_raw_folder_elsewhere_through_every_day_the_model_and_the_scored_range(tmp_path):
    """scripts/pipeline.sh --raw-dir DIR with the read settings, from another folder, both paths relative to it:
    the partitions start on the data's first day (2020), every day is ingested with the settings (the label
    column is no sensor) and scored by the published model."""
    write_own_folder(tmp_path / "mine")
    env = {**os.environ, "PIPELINE_DATA_DIR": "root", "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    for name in ("PIPELINE_DAY_TIMEZONE", "PIPELINE_FIRST_DAY"):
        env.pop(name, None)
    run = subprocess.run([str(PROJECT_ROOT / "scripts" / "pipeline.sh"), "--raw-dir", "mine", *OWN_READ,
                          "--config-json", json.dumps(TINY_RUN_CONFIG)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    root = tmp_path / "root"
    assert f"2 day(s) of readings, {OWN_DAYS[0]} to {OWN_DAYS[1]} (day partitions from {OWN_DAYS[0]})" in run.stdout
    catalog = Catalog(root)
    for day in OWN_DAYS:
        assert all(catalog.has(asset, day) for asset in ("raw_readings", "validated_readings", "latent_vectors",
                                                          "anomaly_events")), day
        readings = catalog.day("raw_readings", day)
        assert readings.sensors == list(SENSORS) and len(readings.frame) == 1440
        latents = pd.read_parquet(day_latents(root, day))
        assert len(latents) > 0 and "error_label" not in latents and f"error_{SENSORS[0]}" in latents
    assert not (root / "raw").exists()  # the folder is read where it is
    assert f"published model: {root}/published/autoencoder/model.keras" in run.stdout
