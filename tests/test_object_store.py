"""The data root on an object store (`PIPELINE_DATA_DIR=s3://...`), against a real S3-compatible server on
127.0.0.1 (tests/objectstore.py): artifacts replaced whole, the version lock, publishing through a pointer
object, the whole chain through Dagster giving what a local root gives, and a run killed before publishing."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import fsspec
import pandas as pd
import pytest

from pipeline import versions as versions_module
from pipeline.ingest import read_raw_files
from pipeline.latents import ROW_GROUP
from pipeline.storage import ArtifactMissing, backend, location
from pipeline.storage import store_lock as store_lock_module
from pipeline.store import link_artifact, load_artifact, save_artifact, withdraw
from pipeline.versions import PUBLISHED_POINTER, PublishError, VersionStore, read_published
from tests.helpers import PROJECT_ROOT, latent_table, materialize, process_state
from tests.objectstore import backdate

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

WAIT_S = 300


def objects(url: str) -> list[str]:
    fs, path = fsspec.core.url_to_fs(url)
    return sorted(p[len(path):].lstrip("/") for p in fs.find(path) if p.rstrip("/") != path.rstrip("/"))


def test_an_artifact_is_replaced_whole_and_a_failed_write_changes_nothing(s3_root):
    folder = location(s3_root) / "store" / "latents"
    save_artifact(latent_table(10), folder)
    first = objects(str(folder))
    assert first[0] == "manifest.json" and len(first) == 2  # the pointer and one immutable write
    broken = latent_table(ROW_GROUP + 5)
    broken.window_end = broken.window_end[: ROW_GROUP + 1]  # fails after its first row group was written
    with pytest.raises(ValueError, match="not all the same length"):
        save_artifact(broken, folder)
    assert objects(str(folder)) == first and len(load_artifact(folder)) == 10  # nothing half-written shows

    path = save_artifact(latent_table(20), folder)
    assert len(load_artifact(folder)) == 20 and path.name == "latents.parquet"
    assert len(objects(str(folder))) == 2 and objects(str(folder)) != first  # the old write is gone

    copy = link_artifact(folder, location(s3_root) / "versions" / "v1" / "latents")
    withdraw(folder)
    with pytest.raises(ArtifactMissing, match="materialise the upstream asset first"):
        load_artifact(folder)
    assert objects(str(folder)) == [] and len(load_artifact(copy)) == 20  # the copy lives on its own


def test_loaded_readings_stay_readable_when_the_artifact_is_replaced(s3_root, data_root):
    folder = location(s3_root) / "store" / "raw"
    readings = read_raw_files(data_root / "raw")
    save_artifact(readings, folder)
    back = load_artifact(folder)  # memory-mapped from this machine's cache of the immutable write
    one_day = read_raw_files(data_root / "raw", day="2026-11-01")
    save_artifact(one_day, folder)
    pd.testing.assert_frame_equal(back.frame, readings.frame)
    again = load_artifact(folder)
    assert len(again.frame) == 1440 and again.fingerprint == one_day.fingerprint is not None


def make_version(versions: VersionStore, run_id: str, second: int, status: str = "audited"):
    folder = versions.for_run(run_id, now=datetime(2026, 11, 30, 2, 0, second, tzinfo=UTC))
    save_artifact(latent_table(second + 1), folder / "audit_latents")
    if status != "written":
        versions.advance(folder, status)
    return folder


def test_publishing_on_the_store_moves_a_pointer_forward_only(s3_root):
    versions = VersionStore(s3_root)
    a, b, c = (make_version(versions, r, s) for r, s in [("aaaaaaaa", 1), ("bbbbbbbb", 2), ("cccccccc", 3)])
    with pytest.raises(FileNotFoundError, match="nothing has been published"):
        read_published(s3_root)
    assert versions.publish(a, keep=10).published
    assert json.loads((location(s3_root) / PUBLISHED_POINTER).read_text()) == {"version": a.name}
    assert len(read_published(s3_root)) == 2 and versions.status(a)["status"] == "published"
    d = make_version(versions, "dddddddd", 4, "written")
    versions.audit(d, passed=False, reason="dead latent dimension z_1")
    with pytest.raises(PublishError, match="failed its audit"):
        versions.publish(d, keep=10)
    assert versions.publish(c, keep=3).published
    late = versions.publish(b, keep=10)  # audited before c, publishing after it: consumers never go back
    assert not late.published and late.current.name == c.name and len(read_published(s3_root)) == 4
    assert versions.published_file("audit_latents", "latents.parquet").parent.parent.parent.name == c.name
    assert [v.name for v in versions.list()] == [b.name, c.name, d.name]  # a pruned; c published, the newest


def test_the_version_lock_on_the_store_serialises_and_outlives_no_dead_holder(s3_root, monkeypatch):
    versions = VersionStore(s3_root)
    spans = []

    def hold():
        with versions.lock():
            start = time.monotonic()
            time.sleep(0.3)
            spans.append((start, time.monotonic()))

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    spans.sort()
    assert len(spans) == 3 and all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # one at a time

    lock = location(s3_root) / "versions" / ".lock"
    lock.write_text(json.dumps({"holder": "dead", "at": time.time() - 2 * store_lock_module.STALE_LOCK_S}))
    backdate(lock, 2 * store_lock_module.STALE_LOCK_S)  # its age is the store's, whatever the lock says
    with versions.lock():  # left by a process that died holding it: broken
        assert json.loads(lock.read_text())["holder"] != "dead"
    assert not lock.exists()  # released
    lock.write_text(json.dumps({"holder": "alive", "at": time.time()}))
    monkeypatch.setattr(versions_module, "LOCK_WAIT_S", 0.5)
    with pytest.raises(TimeoutError, match=r"versions/\.lock has been held"), versions.lock():
        pass


def test_raw_files_of_a_store_are_mirrored_once_and_kept_in_step(s3_root, tmp_path):
    raw = location(s3_root) / "raw"
    local = backend(raw).local_view(raw)
    assert sorted(p.name for p in local.iterdir()) == ["machine01_2026-11-01.csv", "machine01_2026-11-02.csv",
                                                       "sensors.yaml"]
    stamp = (local / "sensors.yaml").stat().st_mtime_ns
    os.utime(local / "machine01_2026-11-01.csv", ns=(0, 0))  # a stale local copy
    (raw / "machine01_2026-11-02.csv").unlink()
    (raw / "late.csv").write_text("timestamp,a\n")
    assert backend(raw).local_view(raw) == local
    assert sorted(p.name for p in local.iterdir()) == ["late.csv", "machine01_2026-11-01.csv", "sensors.yaml"]
    assert (local / "sensors.yaml").stat().st_mtime_ns == stamp  # unchanged: not downloaded again
    assert (local / "machine01_2026-11-01.csv").stat().st_mtime > 0  # stale: downloaded again


def test_the_chain_on_the_store_gives_what_a_local_root_gives(s3_root, data_root):
    local = materialize(data_root)
    remote = materialize(s3_root)
    assert local.success and remote.success
    root = location(s3_root)
    assert not (PROJECT_ROOT / "s3:").exists()  # nothing written to a local folder named like the URL
    for day in ("2026-11-01", "2026-11-02"):
        remote_day = load_artifact(root / "store" / "latent_vectors" / day)
        local_day = load_artifact(data_root / "store" / "latent_vectors" / day)
        pd.testing.assert_frame_equal(remote_day.drop(columns="model_version"),  # named by time and run
                                      local_day.drop(columns="model_version"))
        remote_events, local_events = (load_artifact(r / "store" / "anomaly_events" / day) for r in (root, data_root))
        pd.testing.assert_frame_equal(remote_events.drop(columns="model_version"),
                                      local_events.drop(columns="model_version"))
    pd.testing.assert_frame_equal(read_published(s3_root), read_published(data_root))
    assert read_published(s3_root, "autoencoder").calibration == read_published(data_root, "autoencoder").calibration
    assert (root / "reports" / "validation" / "2026-11-02.json").is_file()
    assert not [p for p in objects(s3_root) if p.startswith("store/.runs/")]  # the run's own copies released


def test_a_run_killed_before_publishing_leaves_the_published_version_whole(s3_root):
    assert materialize(s3_root).success
    versions = VersionStore(s3_root)
    published, before = versions.published(), read_published(s3_root)
    files = objects(str(published))
    proc = subprocess.Popen([sys.executable, "-m", "tests.paused_run", s3_root,
                             "training_windows,autoencoder,audit_latents,published_model",
                             "after:latent_quality_checks"], cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT_S
        while process_state(proc.pid) != "T":  # paused right after its version was audited
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended or hung before its pause"
            time.sleep(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    killed = [v for v in versions.list() if v.name != published.name]
    assert len(killed) == 1 and versions.status(killed[0])["status"] == "audited"  # audited, never published
    assert versions.published().name == published.name and objects(str(published)) == files
    pd.testing.assert_frame_equal(read_published(s3_root), before)
