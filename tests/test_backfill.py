"""A job backfill from the CLI in the documented form, through a real daemon serving the documented workspace
(what `dagster dev -w workspace.yaml` runs), on the shipped instance settings (SQLite)."""

from __future__ import annotations

import os
import shutil
import time

import dagster as dg
import pytest

from tests.fanout import BIN, Processes
from tests.helpers import PROJECT_ROOT, dagster, make_sample_root

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

WAIT_S = 300
WORKSPACE = str(PROJECT_ROOT / "workspace.yaml")


def finished_runs(home, count: int, procs: Processes) -> list[dg.DagsterRun]:
    """The instance's runs once `count` of them have finished (bounded wait)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs()
            done = [r for r in runs if r.is_finished]
        if len(done) >= count:
            return done
        procs.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"{len(done)} of {count} runs finished after {WAIT_S} s: {[r.status for r in runs]}\n"
                        + procs.log("daemon")[-3000:])
        time.sleep(1)


def test_the_documented_backfill_runs_its_days_and_a_mismatched_one_is_seen_failing(tmp_path):
    root = make_sample_root(tmp_path / "sample", days=3)
    home = root.parent / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "PIPELINE_DATA_DIR": str(root), "DAGSTER_HOME": str(home),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    # the instance's SQLite databases made once, here: a daemon and a CLI that both find none would both create
    # them, and two first migrations of one schedule database leave it with two heads
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
        instance.all_instigator_state()
    procs = Processes(tmp_path / "logs", env)
    try:
        procs.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", WORKSPACE])
        # the form docs/ui_and_nightly.md gives: the same workspace as the server, so the same location
        done = dagster("job", "backfill", "-w", WORKSPACE, "-j", "ingest_days", "--from", "2026-11-01",
                       "--to", "2026-11-02", "--noprompt", data_root=root)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        runs = finished_runs(home, 2, procs)
        assert sorted((r.tags["dagster/partition"], r.status.value) for r in runs) == [
            ("2026-11-01", "SUCCESS"), ("2026-11-02", "SUCCESS")]
        # the module form names another location than the server's: its run cannot start, and it shows failed
        wrong = dagster("job", "backfill", "-m", "assets.definitions", "-j", "ingest_days", "--partitions",
                        "2026-11-03", "--noprompt", data_root=root)
        assert wrong.returncode == 0, wrong.stderr[-2000:]
        runs = finished_runs(home, 3, procs)
    finally:
        procs.stop()
    third = next(r for r in runs if r.tags.get("dagster/partition") == "2026-11-03")
    assert third.status == dg.DagsterRunStatus.FAILURE
    with dg.DagsterInstance.from_config(str(home)) as instance:
        said = " ".join(str(e) for e in instance.all_logs(third.run_id))  # messages and the errors they carry
    assert "assets.definitions" in said and "does not exist" in said, said[-2000:]
