"""Fixtures: small real sample files made by the project's own generator."""

from __future__ import annotations

from pathlib import Path

# Imported here, at collection: otherwise Hypothesis's pytest plugin imports it at the end of a session, and on
# Python 3.11 that late parse can fail after TensorFlow and GX have run ("AST constructor recursion depth").
import hypothesis  # noqa: F401
import pytest

from tests.helpers import make_sample_root


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return make_sample_root(tmp_path)


@pytest.fixture
def s3_root(tmp_path: Path, data_root: Path):
    """The sample data root on a fresh bucket of a real S3 server (tests/objectstore.py): `s3://.../root` with
    the sample's raw files under `raw/`."""
    from tests.objectstore import s3_bucket, upload

    with s3_bucket(tmp_path / "cache") as (url, _):
        upload(data_root / "raw", f"{url}/raw")
        yield url


def pytest_sessionfinish(session, exitstatus):
    from tests.objectstore import stop_server

    stop_server()  # the moto server, if a test started one
