"""`python -m assets.build` (what scripts/pipeline.sh runs): the runs of a whole build started from one process,
one run per day kept: each recorded in the instance with its day, a bad day failing alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from assets.build import stretches
from tests.helpers import PROJECT_ROOT, SAMPLE_DAYS, TINY_RUN_CONFIG, day_latents, make_sample_root

pytestmark = pytest.mark.slow  # a real build in a process of its own


def test_each_day_is_a_run_of_its_own_and_a_bad_day_fails_alone(tmp_path):
    root = make_sample_root(tmp_path, days=3)
    days = [*SAMPLE_DAYS, "2026-11-03"]
    bad = root / "raw" / "machine01_2026-11-02.csv"
    lines = bad.read_text().splitlines()
    fields = lines[5].split(",")
    fields[1] = "oops"  # a sensor value that is not a number: the day is refused, quarantined
    lines[5] = ",".join(fields)
    bad.write_text("\n".join(lines) + "\n")
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "PIPELINE_DATA_DIR": str(root), "DAGSTER_HOME": str(home), "PIPELINE_FIRST_DAY": days[0]}
    run = subprocess.run([sys.executable, "-m", "assets.build", "--config-json", json.dumps(TINY_RUN_CONFIG),
                          "--days", *days], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
                         check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "day 2026-11-02 failed" in run.stderr
    assert "1 day(s) failed and were not scored: 2026-11-02" in run.stderr

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = {}
        for r in instance.get_runs():
            runs.setdefault(r.job_name, []).append(r)
        ingest = {r.tags["dagster/partition"]: r.status for r in runs["ingest_days"]}
        assert ingest == {days[0]: dg.DagsterRunStatus.SUCCESS, days[1]: dg.DagsterRunStatus.FAILURE,
                          days[2]: dg.DagsterRunStatus.SUCCESS}
        assert [r.status for r in runs["retrain"]] == [dg.DagsterRunStatus.SUCCESS]
        # the good days scored around the refused one: a run for each stretch of good days
        ranges = {(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]): r.status
                  for r in runs["score_days"]}
        assert ranges == {(days[0], days[0]): dg.DagsterRunStatus.SUCCESS,
                          (days[2], days[2]): dg.DagsterRunStatus.SUCCESS}
        scored = instance.get_materialized_partitions(dg.AssetKey("latent_vectors"))
    assert scored == {days[0], days[2]}
    assert day_latents(root, days[0]).is_file() and day_latents(root, days[2]).is_file()
    assert not day_latents(root, days[1]).exists()  # the refused day has no latents


def test_stretches_of_good_days():
    days = ["d1", "d2", "d3", "d4", "d5"]
    assert stretches(days, []) == [("d1", "d5")]
    assert stretches(days, ["d1", "d3"]) == [("d2", "d2"), ("d4", "d5")]
    assert stretches(days, days) == []


def test_the_days_are_required():
    run = subprocess.run([sys.executable, "-m", "assets.build"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 2 and "--days" in run.stderr
