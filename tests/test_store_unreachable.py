"""A run on an object store this machine cannot use (no credentials, or a store that does not answer) fails as
a dagster.Failure naming the store and what to do, within seconds: not botocore's traceback after a minute."""

from __future__ import annotations

import socket
import time

import pytest

from tests.helpers import SAMPLE_DAYS, run_assets

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def user_failure(result) -> str:
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    user = failure.step_failure_data.user_failure_data
    assert user is not None, f"not a dagster.Failure: {failure.step_failure_data.error.message}"
    return user.description


@pytest.fixture
def fresh_clients():
    """s3fs keeps a client per set of options: drop them, so a run sees the environment as the test set it."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    yield
    s3fs.S3FileSystem.clear_instance_cache()


def test_a_run_without_credentials_for_the_store_says_which_to_set(s3_root, monkeypatch, fresh_clients):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    description = user_failure(run_assets(s3_root, ["raw_readings"], partition_key=SAMPLE_DAYS[0]))
    assert f"cannot reach {s3_root}/raw" in description
    assert "no credentials for the object store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in description


@pytest.mark.parametrize("selection", [["raw_readings"], ["training_windows"]], ids=["ingest", "model run"])
def test_a_store_that_does_not_answer_fails_within_seconds(s3_root, monkeypatch, fresh_clients, selection):
    dead = f"http://127.0.0.1:{dead_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    start = time.monotonic()
    key = {"partition_key": SAMPLE_DAYS[0]} if selection == ["raw_readings"] else {}
    description = user_failure(run_assets(s3_root, selection, **key))
    assert time.monotonic() - start < 45  # botocore's defaults took 61 s for the first call alone
    assert f"cannot connect to the object store at {dead}: start it, or fix AWS_ENDPOINT_URL" in description
    assert s3_root in description
