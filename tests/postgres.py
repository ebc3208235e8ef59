"""A fresh database on a real PostgreSQL server, for the tests and benchmarks of the production instance.

The server is $PIPELINE_TEST_POSTGRES_URL (default: the local one on 127.0.0.1:5432, user postgres, trust
authentication); each use gets a database of its own, dropped afterwards (its connections closed by force).
With no server answering, pytest skips the test that asked, saying why."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

DEPLOY_INSTANCE = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"  # the instance they serve
POSTGRES_URL = os.environ.get("PIPELINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def connect(dbname: str):
    import psycopg2

    url = urlparse(POSTGRES_URL)
    return psycopg2.connect(host=url.hostname, port=url.port or 5432, user=url.username or "postgres",
                            password=url.password or "", dbname=dbname, connect_timeout=5)


@contextmanager
def postgres_database():
    """A fresh database on the test server, dropped afterwards; its connection as DAGSTER_PG_* variables."""
    import psycopg2

    try:
        admin = connect(urlparse(POSTGRES_URL).path.lstrip("/") or "postgres")
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {POSTGRES_URL} ({str(exc).strip()}); set PIPELINE_TEST_POSTGRES_URL")
    admin.autocommit = True
    name = f"sensor_latents_test_{uuid.uuid4().hex[:12]}"
    url = urlparse(POSTGRES_URL)
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield {"DAGSTER_PG_HOST": url.hostname, "DAGSTER_PG_PORT": str(url.port or 5432),
               "DAGSTER_PG_USER": url.username or "postgres", "DAGSTER_PG_PASSWORD": url.password or "",
               "DAGSTER_PG_DB": name}
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
