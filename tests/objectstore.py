"""A bucket of its own on a real S3-compatible server, for the tests and benchmarks of an object-store data root.

The server is $PIPELINE_TEST_S3_ENDPOINT when set (with the usual AWS_* credentials); otherwise a moto S3 server
started here on a free port of 127.0.0.1, for the whole test session, and stopped at its end. Each use gets a
bucket of its own, emptied and deleted afterwards, and a cache folder of its own for this machine's downloads."""

from __future__ import annotations

import os
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ENDPOINT_ENV = "PIPELINE_TEST_S3_ENDPOINT"
_server = None


def endpoint() -> str:
    """The S3 endpoint the tests use, starting the local moto server the first time."""
    global _server
    if os.environ.get(ENDPOINT_ENV):
        return os.environ[ENDPOINT_ENV]
    if _server is None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a line per request
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        deadline = time.monotonic() + 30
        while True:  # bounded wait for the port to answer
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    server.stop()
                    raise RuntimeError(f"the moto S3 server did not answer on 127.0.0.1:{port} within 30 s")
                time.sleep(0.1)
        _server = server
        os.environ["_PIPELINE_TEST_MOTO"] = f"http://127.0.0.1:{port}"
    return os.environ["_PIPELINE_TEST_MOTO"]


def stop_server() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None


def s3_env(url: str) -> dict[str, str]:
    """What a process needs to reach the test server (credentials are the server's own, or dummies for moto)."""
    return {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}


@contextmanager
def s3_bucket(cache: Path):
    """`s3://<fresh bucket>/root`, with this process's environment pointing at the server and its downloads
    cached in `cache`; the bucket is deleted afterwards and the environment restored."""
    import s3fs

    env = {**s3_env(endpoint()), "PIPELINE_CACHE_DIR": str(cache)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    s3fs.S3FileSystem.clear_instance_cache()  # instances keep the endpoint they were made with
    fs = s3fs.S3FileSystem(use_listings_cache=False)
    bucket = f"sensor-latents-test-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    try:
        yield f"s3://{bucket}/root", env
    finally:
        try:
            fs.rm(bucket, recursive=True)
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
            s3fs.S3FileSystem.clear_instance_cache()


def upload(local: Path, url: str) -> None:
    """Copy a local folder's files to `url` (a user's `aws s3 sync`)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    for f in sorted(p for p in Path(local).rglob("*") if p.is_file()):
        fs.put_file(str(f), f"{path}/{f.relative_to(local).as_posix()}")


def backdate(path, seconds: float) -> None:
    """Make the server report the object `path` (a UPath) as written `seconds` earlier, as a lock left behind
    that long ago would be: the in-process moto server's own record of it (skips with any other server)."""
    import pytest

    if os.environ.get(ENDPOINT_ENV):
        pytest.skip("backdating an object needs the in-process moto server")
    from datetime import timedelta

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    bucket, key = path.path.split("/", 1)
    s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[bucket].keys[key].last_modified -= timedelta(seconds=seconds)
