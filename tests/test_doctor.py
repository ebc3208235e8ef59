"""`python -m pipeline.doctor` against real servers: the local PostgreSQL (a database per test), Redis and
RabbitMQ, and a moto S3 server; run as a subprocess with the environment a deployment would give it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.objectstore import endpoint, s3_bucket, s3_env, upload
from tests.postgres import DEPLOY_INSTANCE, postgres_database

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

PROJECT = Path(__file__).resolve().parents[1]
SCRUBBED = ("DAGSTER_HOME", "PIPELINE_DATA_DIR", "PIPELINE_EXECUTOR", "PIPELINE_CELERY_BROKER", "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE")


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def doctor(env: dict) -> tuple[int, dict[str, str], float]:
    """Exit status, {item: its line}, seconds taken."""
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith("DAGSTER_PG_")}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pipeline.doctor"], cwd=PROJECT, env={**base, **env},
                          capture_output=True, text=True, timeout=60, check=False)
    lines = done.stdout.splitlines()
    assert all(line.startswith(("OK    ", "FAIL  ")) for line in lines), done.stdout + done.stderr
    return done.returncode, {ln[6:].split(":", 1)[0]: ln for ln in lines}, time.monotonic() - start


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_INSTANCE, home / "dagster.yaml")
    return home


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "data"
    shutil.copytree(PROJECT / "data" / "raw", root / "raw")
    return root


@pytest.fixture
def pg():
    with postgres_database() as env:
        yield env


def test_all_ok_on_postgres_and_a_local_root(home, root, pg):
    code, lines, _ = doctor({"DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(root), **pg})
    assert code == 0, lines
    assert set(lines) == {"instance", "database", "data root", "data writes", "version lock", "broker"}
    assert all(line.startswith("OK") for line in lines.values())
    assert f"database {pg['DAGSTER_PG_DB']} at 127.0.0.1:{pg['DAGSTER_PG_PORT']}" in lines["database"]
    files = len([p for p in (root / "raw").rglob("*") if p.is_file()])
    assert f"raw/ holds {files} files" in lines["data root"]
    assert sorted(p.name for p in root.iterdir()) == ["raw", "versions"]  # the probe is gone


def test_the_embedded_instance_is_sqlite_under_dagster_home(tmp_path, root):
    code, lines, _ = doctor({"DAGSTER_HOME": str(tmp_path), "PIPELINE_DATA_DIR": str(root)})
    assert code == 0, lines
    assert lines["database"].startswith(f"OK    database: SQLite instance under {tmp_path}")


def test_unset_connection_variables_are_named(home, root, pg):
    code, lines, _ = doctor({"DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(root),
                             "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": ""})
    assert code == 1
    assert lines["database"].startswith("FAIL  database: DAGSTER_PG_HOST, DAGSTER_PG_PORT, DAGSTER_PG_DB not set")
    assert lines["data root"].startswith("OK")


def test_unset_dagster_home_is_named(root):
    code, lines, _ = doctor({"PIPELINE_DATA_DIR": str(root)})
    assert code == 1
    assert lines["instance"].startswith("FAIL  instance: DAGSTER_HOME is not set")
    assert "DAGSTER_PG_HOST" in lines["database"]  # deploy/dagster.yaml checked instead


def test_a_wrong_database_does_not_exist(home, root, pg):
    code, lines, _ = doctor({"DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(root),
                             **pg, "DAGSTER_PG_DB": "no_such_database"})
    assert code == 1
    assert lines["database"].startswith("FAIL  database: database no_such_database does not exist at 127.0.0.1:")


def test_a_wrong_role_does_not_exist(home, root, pg):
    code, lines, _ = doctor({"DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(root),
                             **pg, "DAGSTER_PG_USER": "no_such_role"})
    assert code == 1
    assert "FAIL  database: role no_such_role does not exist" in lines["database"]
    assert "DAGSTER_PG_USER" in lines["database"]


def test_a_server_that_does_not_answer_is_named_within_seconds(home, root, pg):
    port = dead_port()
    code, lines, took = doctor({"DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(root),
                                **pg, "DAGSTER_PG_PORT": str(port)})
    assert code == 1
    assert lines["database"].startswith(f"FAIL  database: the PostgreSQL server does not answer at 127.0.0.1:{port}")
    assert took < 15


def test_a_data_root_under_a_file_cannot_be_written(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    code, lines, _ = doctor({"DAGSTER_HOME": str(tmp_path), "PIPELINE_DATA_DIR": str(tmp_path / "a_file" / "data")})
    assert code == 1
    assert lines["data root"] == (f"FAIL  data root: {tmp_path / 'a_file' / 'data'} cannot be the data root: "
                                  f"{tmp_path / 'a_file'} is a file, not a folder; point PIPELINE_DATA_DIR at a "
                                  "folder (or create it)")
    assert "data writes" not in lines  # nothing to write into


def test_a_data_root_without_raw_files_is_still_probed(tmp_path):
    code, lines, _ = doctor({"DAGSTER_HOME": str(tmp_path), "PIPELINE_DATA_DIR": str(tmp_path)})
    assert code == 1
    assert lines["data root"].startswith(f"FAIL  data root: no raw files under {tmp_path / 'raw'}/")
    assert lines["data writes"].startswith("OK") and lines["version lock"].startswith("OK")


def test_a_held_version_lock_is_reported_after_a_bounded_wait(tmp_path, root):
    import fcntl

    (root / "versions").mkdir()
    with open(root / "versions" / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        code, lines, took = doctor({"DAGSTER_HOME": str(tmp_path), "PIPELINE_DATA_DIR": str(root)})
    assert code == 1
    assert lines["version lock"].startswith(f"FAIL  version lock: {root / 'versions' / '.lock'} is held by another")
    assert took < 15


@pytest.mark.parametrize("broker", ["redis://127.0.0.1:6379/15", "amqp://guest:guest@127.0.0.1:5672//"])
def test_a_celery_broker_that_answers(tmp_path, root, broker):
    code, lines, _ = doctor({"DAGSTER_HOME": str(tmp_path), "PIPELINE_DATA_DIR": str(root),
                             "PIPELINE_EXECUTOR": "celery", "PIPELINE_CELERY_BROKER": broker})
    assert code == 0, lines
    assert lines["broker"].startswith("OK    broker: the Celery broker answers at ")


@pytest.mark.parametrize("scheme", ["redis://127.0.0.1:{}/0", "amqp://guest:guest@127.0.0.1:{}//"])
def test_a_celery_broker_on_a_dead_port(tmp_path, root, scheme):
    url = scheme.format(dead_port())
    code, lines, took = doctor({"DAGSTER_HOME": str(tmp_path), "PIPELINE_DATA_DIR": str(root),
                                "PIPELINE_EXECUTOR": "celery", "PIPELINE_CELERY_BROKER": url})
    assert code == 1
    assert lines["broker"].startswith("FAIL  broker: the Celery broker does not answer at ")
    assert lines["broker"].endswith("start it, or fix PIPELINE_CELERY_BROKER")
    assert took < 15


def test_celery_without_a_broker_url(tmp_path, root):
    code, lines, _ = doctor({"DAGSTER_HOME": str(tmp_path), "PIPELINE_DATA_DIR": str(root),
                             "PIPELINE_EXECUTOR": "celery"})
    assert code == 1
    assert lines["broker"].startswith("FAIL  broker: PIPELINE_EXECUTOR=celery needs PIPELINE_CELERY_BROKER")


def test_an_object_store_root(tmp_path):
    with s3_bucket(tmp_path / "cache") as (url, env):
        upload(PROJECT / "data" / "raw", f"{url}/raw")
        code, lines, _ = doctor({"DAGSTER_HOME": str(tmp_path), "PIPELINE_DATA_DIR": url, **env})
    assert code == 0, lines
    assert lines["version lock"] == f"OK    version lock: {url}/versions/.lock taken and released"


def test_an_object_store_without_credentials_or_endpoint(tmp_path):
    env = {**s3_env(endpoint()), "AWS_EC2_METADATA_DISABLED": "true", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_CONFIG_FILE": "/nonexistent", "DAGSTER_HOME": str(tmp_path), "PIPELINE_DATA_DIR": "s3://any/root"}
    creds = {k: v for k, v in env.items() if not k.startswith(("AWS_ACCESS", "AWS_SECRET"))}
    code, lines, _ = doctor(creds)
    assert code == 1
    assert lines["data root"] == ("FAIL  data root: no credentials for the object store: set AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)")
    dead = f"http://127.0.0.1:{dead_port()}"
    code, lines, took = doctor({**env, "AWS_ENDPOINT_URL": dead})
    assert code == 1
    assert lines["data root"] == f"FAIL  data root: cannot connect to the object store at {dead}: start it, or fix " \
                                 "AWS_ENDPOINT_URL"
    assert "data writes" not in lines and took < 20


def test_a_role_that_logs_in_but_cannot_create_tables(home, root, pg):
    from tests.postgres import connect

    role = f"doctor_{pg['DAGSTER_PG_DB'][-12:]}"
    admin = connect(pg["DAGSTER_PG_DB"])
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}" LOGIN')
        cur.execute(f'REVOKE CREATE ON SCHEMA public FROM PUBLIC, "{role}"')
    try:
        code, lines, _ = doctor({"DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(root),
                                 **pg, "DAGSTER_PG_USER": role})
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP ROLE "{role}"')
        admin.close()
    assert code == 1
    assert lines["database"].startswith(f"FAIL  database: role {role} logs in to {pg['DAGSTER_PG_DB']} but cannot "
                                        "create Dagster's tables: GRANT CREATE ON SCHEMA public TO")


def test_a_held_lock_on_an_object_store(tmp_path):
    import json

    from pipeline.storage import location

    with s3_bucket(tmp_path / "cache") as (url, env):
        upload(PROJECT / "data" / "raw", f"{url}/raw")
        location(f"{url}/versions/.lock").write_text(json.dumps({"holder": "another", "at": time.time() - 42}))
        code, lines, _ = doctor({"DAGSTER_HOME": str(tmp_path), "PIPELINE_DATA_DIR": url, **env})
        assert location(f"{url}/versions/.lock").exists()  # left to its holder
    assert code == 1
    line = lines["version lock"]  # the pipeline's own lock rule and words: who holds it, and what to do
    assert line.startswith(f"FAIL  version lock: {url}/versions/.lock has been held for ") and "holder another" in line
    assert f"delete it ({url}/versions/.lock) and rerun" in line
