"""Two runs on one data root, interleaved for real: run A in a process of its own, stopped (SIGSTOP) at a
chosen point; run B runs from start to end meanwhile; then A goes on. Each run must audit and publish only its
own version: a version whose check failed is never published, and no run publishes another's version."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import (
    PROJECT_ROOT,
    force_dead_seed_autoencoder,
    make_sample_root,
    materialize,
    process_state,
    published_latents,
)

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

WAIT_S = 300  # bound on every wait for the other process
AUDIT = "audit_latents,published_model"  # re-encode with the latest model, check, publish
MODEL = "training_windows,autoencoder,audit_latents,published_model"


@pytest.fixture(scope="module")
def trained_root(tmp_path_factory) -> Path:
    """A data root with a healthy model published: the runs below re-encode with it (no training)."""
    root = make_sample_root(tmp_path_factory.mktemp("trained"))
    assert materialize(root).success
    return root


@pytest.fixture
def root(trained_root, tmp_path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(trained_root, copy, symlinks=True)
    return copy


def version_of(root: Path, run_id: str) -> Path:
    [folder] = (root / "versions").glob(f"*_{run_id[:8]}")
    return folder


def status(folder: Path) -> dict:
    return json.loads((folder / "status.json").read_text())


def published(root: Path) -> Path:
    return Path(os.path.realpath(root / "published"))


def output(proc: subprocess.Popen) -> str:
    return proc.log.read_text()


def start_run(root: Path, pause: str, selection: str = AUDIT) -> subprocess.Popen:
    """`python -m tests.paused_run`, by default re-encoding with the latest model; its output goes to a file (a
    pipe nobody reads while the run goes on could fill up and stall it)."""
    log = Path(tempfile.mkstemp(suffix=".log", dir=root.parent)[1])
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tests.paused_run", str(root), selection,
                                 f"after:{pause}"], cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)
    proc.log = log
    return proc


def wait_until(condition, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"run A ended (rc {proc.returncode}) before {what}:\n{output(proc)[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"run A did not reach {what} within {WAIT_S} s")
        time.sleep(0.05)


def start_paused(root: Path, pause: str, selection: str = AUDIT) -> subprocess.Popen:
    """Run A (by default: re-encode with the latest model, check, publish), stopped right after step `pause`."""
    proc = start_run(root, pause, selection)
    wait_until(lambda: process_state(proc.pid) == "T", proc, f"its pause after {pause}")
    return proc


def waiting_for_lock(pid: int) -> bool:
    """Whether the process is blocked on a lock (a `->` waiter line of /proc/locks)."""
    return any("->" in line and f" {pid} " in line for line in Path("/proc/locks").read_text().splitlines())


def hold_before_publish(root: Path, proc: subprocess.Popen) -> None:
    """Let A go on from its pause after the check until it waits for the version lock inside publishing
    (held here meanwhile), then stop it there: A has chosen what to publish but not yet published it."""
    with open(root / "versions" / ".lock", "w") as fh:
        import fcntl

        fcntl.flock(fh, fcntl.LOCK_EX)
        os.kill(proc.pid, signal.SIGCONT)
        wait_until(lambda: waiting_for_lock(proc.pid), proc, "the publish lock")
        os.kill(proc.pid, signal.SIGSTOP)
        wait_until(lambda: process_state(proc.pid) == "T", proc, "its stop inside publishing")
        fcntl.flock(fh, fcntl.LOCK_UN)


def finish(proc: subprocess.Popen) -> dict:
    os.kill(proc.pid, signal.SIGCONT)
    proc.wait(timeout=WAIT_S)
    out = output(proc)
    assert proc.returncode == 0, out[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def run_b(root: Path):
    """Run B, in this process: re-encode with the latest model, check, publish if the check passes."""
    return materialize(root, selection=AUDIT.split(","), run_config={})


def dead_dimensions(latents: Path) -> list[str]:
    table = pd.read_parquet(latents)
    return [c for c in table.columns if c.startswith("z_") and (table[c] == 0).all()]


@pytest.mark.parametrize("pause", ["after latents written", "after the check", "before publish"])
def test_a_run_publishes_its_own_version_while_another_runs_check_fails_meanwhile(root, pause):
    node = "audit_latents" if pause == "after latents written" else "latent_quality_checks"
    a = start_paused(root, node)
    if pause == "before publish":
        hold_before_publish(root, a)

    force_dead_seed_autoencoder(root, unit=1)  # B encodes with a model whose latent z_1 is dead
    b = run_b(root)
    assert not b.success
    [alive] = [c for c in b.get_asset_check_evaluations() if c.check_name == "latent_dimensions_alive"]
    assert not alive.passed and "z_1" in alive.description
    version_b = version_of(root, b.run_id)
    assert status(version_b)["status"] == "failed" and dead_dimensions(version_b / "audit_latents" /
                                                                       "latents.parquet") == ["z_1"]

    outcome_a = finish(a)
    assert outcome_a["success"]
    version_a = version_of(root, outcome_a["run_id"])
    assert published(root) == version_a  # A published its own version, not B's newer, failed one
    assert status(version_a)["status"] == "published" and "reason" not in status(version_a)
    assert status(version_b)["status"] == "failed"  # never audited by A
    assert published_latents(root).read_bytes() == (version_a / "audit_latents" / "latents.parquet").read_bytes()
    assert dead_dimensions(published_latents(root)) == []
    assert json.loads((root / "published" / "status.json").read_text())["status"] == "published"


def test_a_run_that_finishes_after_a_newer_version_was_published_leaves_it_published(root):
    a = start_paused(root, "latent_quality_checks")
    b = run_b(root)  # healthy: B's version is audited and published first
    assert b.success
    version_b = version_of(root, b.run_id)
    assert published(root) == version_b

    outcome_a = finish(a)
    assert outcome_a["success"]  # A's version is good, only older: consumers never go back to it
    version_a = version_of(root, outcome_a["run_id"])
    assert status(version_a)["status"] == "audited" and published(root) == version_b
    assert status(version_b)["status"] == "published"


def test_two_runs_started_together_each_audit_their_own_version(root):
    model_version = published(root).name
    procs = [start_run(root, "none") for _ in range(2)]
    outcomes = [finish(p) for p in procs]
    assert all(o["success"] for o in outcomes)
    versions = [version_of(root, o["run_id"]) for o in outcomes]
    assert published(root) == max(versions, key=lambda v: v.name)
    for v in versions:  # each was audited by its own check; the older may have been published first
        assert status(v)["status"] in ("audited", "published") and status(v)["autoencoder_from"] == model_version
        assert "reason" not in status(v)


def test_a_run_encodes_the_windows_it_made_even_if_another_run_replaced_them(root):
    a = start_paused(root, "autoencoder", selection=MODEL)  # training to publishing, stopped after training
    b = materialize(root, selection=["raw_readings", "validated_readings", "training_windows"], run_config={
        "ops": {"training_windows": {"config": {"window_length": 12, "stride": 2}}}})
    assert b.success  # the shared training_windows now index every other window: 2 x 715

    outcome_a = finish(a)
    assert outcome_a["success"]
    version_a = version_of(root, outcome_a["run_id"])
    assert published(root) == version_a
    latents = pd.read_parquet(version_a / "audit_latents" / "latents.parquet")
    assert len(latents) == 2 * (1440 - 12 + 1)  # A's own windows (stride 1), not B's
    assert not (root / "store" / ".runs" / outcome_a["run_id"][:8]).exists()  # released after publishing
