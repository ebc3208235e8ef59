"""The version lock on an object store (a real local S3 server, tests/objectstore.py): when a lock is abandoned
is judged by the store's clock, never by what the lock says, so a holder's clock, this machine's clock or a
garbage lock cannot block every run (or let one run rob a live holder); and a model run that cannot take the
lock fails before it trains, not after, on an object store and on a local root alike."""

from __future__ import annotations

import json
import sys
import time
import types

import pytest

from pipeline import versions as versions_module
from pipeline.ingest import read_raw_files
from pipeline.storage import location
from pipeline.storage import store_lock as store_lock_module
from pipeline.store import save_artifact
from pipeline.validate import validated_day
from pipeline.versions import VersionStore
from tests.helpers import SAMPLE_DAYS, run_assets
from tests.objectstore import backdate

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all


def lock_of(root: str):
    return location(root) / "versions" / ".lock"


def place_lock(root: str, content: str | bytes):
    """A lock object as another process (or machine) left it."""
    lock = lock_of(root)
    lock.fs.pipe_file(lock.path, content.encode() if isinstance(content, str) else content)
    return lock


def take_within(versions: VersionStore, seconds: float) -> float:
    start = time.monotonic()
    with versions.lock():
        assert json.loads(lock_of(str(versions.root)).read_text())["holder"] not in ("dead", "alive")
    took = time.monotonic() - start
    assert took < seconds, f"took {took:.1f} s"
    assert not lock_of(str(versions.root)).exists()  # released
    return took


def test_a_lock_left_by_a_dead_holder_60_s_ago_is_broken_by_its_age_on_the_store(s3_root, monkeypatch):
    monkeypatch.setattr(store_lock_module, "STALE_LOCK_S", 30)
    monkeypatch.setattr(versions_module, "LOCK_WAIT_S", 10)
    lock = place_lock(s3_root, json.dumps({"holder": "dead", "at": time.time() - 60}))
    backdate(lock, 60)
    assert lock.fs.info(lock.path)["LastModified"].timestamp() < time.time() - 55
    # older than the stale period by the store's clock: broken at once, not after the 10 s wait (6 s: a loaded
    # machine's S3 server answers slowly)
    take_within(VersionStore(s3_root), 6)


def test_a_live_holder_whose_clock_runs_behind_is_not_robbed(s3_root, monkeypatch):
    monkeypatch.setattr(store_lock_module, "STALE_LOCK_S", 30)
    monkeypatch.setattr(versions_module, "LOCK_WAIT_S", 1)
    place_lock(s3_root, json.dumps({"holder": "alive", "at": time.time() - 60}))  # just written, says 60 s ago
    with pytest.raises(TimeoutError, match=r"versions/\.lock has been held"), VersionStore(s3_root).lock():
        pytest.fail("took a lock written a moment ago")


@pytest.mark.parametrize("content", [
    json.dumps({"holder": "ahead", "at": time.time() + 3600}),  # written by a machine whose clock runs 1 h ahead
    b"\x00\xffnot json at all",  # garbage
    json.dumps([1, 2, 3]),  # JSON, but not a lock
], ids=["clock-ahead", "not-json", "not-a-lock"])
def test_a_lock_from_a_clock_ahead_or_holding_garbage_is_broken_after_the_stale_period(s3_root, monkeypatch,
                                                                                         content):
    monkeypatch.setattr(store_lock_module, "STALE_LOCK_S", 2)  # the store's times are whole seconds
    monkeypatch.setattr(versions_module, "LOCK_WAIT_S", 15)
    place_lock(s3_root, content)
    took = take_within(VersionStore(s3_root), 6)
    assert took > 0.5  # not at once: only once the store says it is older than the stale period


def test_this_machines_clock_running_ahead_does_not_steal_a_live_lock(s3_root, monkeypatch):
    real = time.time
    ahead = types.SimpleNamespace(time=lambda: real() + 3600, monotonic=time.monotonic, sleep=time.sleep)
    monkeypatch.setattr(store_lock_module, "time", ahead)  # this machine's clock: an hour fast
    monkeypatch.setattr(versions_module, "LOCK_WAIT_S", 1)
    place_lock(s3_root, json.dumps({"holder": "alive", "at": real(), "host": "trainer-2", "pid": 4242,
                                    "purpose": "publish 20261130T020001000000Z_aaaaaaaa"}))
    with pytest.raises(TimeoutError) as timeout, VersionStore(s3_root).lock():
        pytest.fail("stole a lock written a moment ago")
    text = str(timeout.value)
    assert f"{lock_of(s3_root)} has been held" in text  # the lock object
    assert "trainer-2" in text and "4242" in text and "publish 20261130T020001000000Z_aaaaaaaa" in text  # who
    assert "since 20" in text and "by the store's clock" in text  # since when
    assert "delete it" in text and "rerun" in text  # what to do
    assert timeout.value.metadata["lock"] == str(lock_of(s3_root)) and timeout.value.metadata["held_for_s"] < 60


# -- a model run that cannot take the lock fails before it trains -----------------------------------------------

def fake_training(monkeypatch, calls: list, root) -> None:
    """pipeline.train replaced: recording the versions there are when training starts, then stopping the step."""
    fake = types.ModuleType("pipeline.train")

    class TrainingDiverged(RuntimeError):
        pass

    def train_autoencoder(*args, **kwargs):
        calls.append([(v.name, VersionStore(root).status(v).get("status")) for v in VersionStore(root).list()])
        raise TrainingDiverged("stopped by the test once training began")

    fake.TrainingDiverged, fake.train_autoencoder = TrainingDiverged, train_autoencoder
    monkeypatch.setitem(sys.modules, "pipeline.train", fake)


def validated_days(root: str, raw) -> None:
    for day in SAMPLE_DAYS:
        save_artifact(validated_day(day, read_raw_files(raw, day=day)),
                      location(root) / "store" / "validated_readings" / day)


def step_failure(result, step: str):
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == step
    user = failure.step_failure_data.user_failure_data
    assert user is not None, f"not a dagster.Failure: {failure.step_failure_data.error.message}"
    return user


CONFIG = {"ops": {"training_windows": {"config": {"window_length": 12}}}}


def test_a_model_run_on_the_store_fails_before_training_when_the_lock_cannot_be_taken(s3_root, data_root,
                                                                                     monkeypatch):
    validated_days(s3_root, data_root / "raw")
    calls = []
    fake_training(monkeypatch, calls, s3_root)
    monkeypatch.setattr(versions_module, "LOCK_WAIT_S", 1)
    place_lock(s3_root, json.dumps({"holder": "alive", "at": time.time(), "host": "trainer-2", "pid": 4242}))
    start = time.monotonic()
    result = run_assets(s3_root, ["training_windows", "autoencoder"], CONFIG)
    assert not result.success and calls == []  # never trained
    user = step_failure(result, "autoencoder")
    assert f"{lock_of(s3_root)} has been held" in user.description and "trainer-2" in user.description
    assert user.metadata["lock"].value == str(lock_of(s3_root))
    assert time.monotonic() - start < 60


def test_a_model_run_takes_its_version_before_training_on_a_local_root_too(data_root, monkeypatch):
    validated_days(str(data_root), data_root / "raw")
    calls = []
    fake_training(monkeypatch, calls, data_root)
    result = run_assets(data_root, ["training_windows", "autoencoder"], CONFIG)
    assert not result.success
    assert step_failure(result, "autoencoder").description == "stopped by the test once training began"
    [versions_at_training] = calls
    assert [status for _, status in versions_at_training] == ["written"]  # the version (and lock) came first
