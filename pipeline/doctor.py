"""Preflight of a deployment: `python -m pipeline.doctor`, before starting the daemon, webserver or workers.

One line per item, `OK` or `FAIL` with what is wrong and what to do; exit status 0 when every item is OK.

    instance      $DAGSTER_HOME is set, absolute, a folder (the daemon and webserver refuse to start otherwise)
    database      the instance's PostgreSQL (DAGSTER_PG_* set, server answers, database exists, role logs in),
                  or the embedded SQLite instance
    data root     $PIPELINE_DATA_DIR (default the project's data/, or an fsspec URL): raw/ is there and readable
    data writes   a probe object is written atomically, read back and deleted
    version lock  the lock every status change takes (pipeline.versions) can be taken now
    broker        the Celery broker, when PIPELINE_EXECUTOR=celery (assets/execution.py)

Every probe gives up after a few seconds. Reads dagster.yaml itself: pipeline/ never imports dagster.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path

import yaml

from pipeline.catalog import DATA_DIR_ENV
from pipeline.storage import LockTimeout, StoreUnreachable, backend, location
from pipeline.storage.base import unreachable_reason
from pipeline.versions import LOCK, VersionStore

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEPLOY_INSTANCE = PROJECT_ROOT / "deploy" / "dagster.yaml"
WAIT_S = 3  # the bound on every connection and on the lock wait
PG_FIELDS = {"host": "hostname", "port": "port", "user": "username", "password": "password", "database": "db_name"}


class Problem(Exception):
    """A failing item: its message is the line."""


# -- the instance ---------------------------------------------------------------------------------------------
def instance(environ) -> str:
    """DAGSTER_HOME as the daemon and webserver need it (DagsterInstance.get refuses to start otherwise)."""
    home = environ.get("DAGSTER_HOME")
    if not home:
        raise Problem("DAGSTER_HOME is not set: the daemon and webserver refuse to start; mkdir /srv/dagster_home, "
                      "copy deploy/dagster.yaml there and export DAGSTER_HOME=/srv/dagster_home "
                      "(the database line checks deploy/dagster.yaml)")
    if not os.path.isabs(home):
        raise Problem(f"DAGSTER_HOME={home} is not an absolute path: Dagster requires one")
    if not os.path.isdir(home):
        raise Problem(f"DAGSTER_HOME={home} is not a folder: create it (and copy deploy/dagster.yaml there)")
    path = Path(home) / "dagster.yaml"
    return f"DAGSTER_HOME={home}, settings from {path}" if path.is_file() else f"DAGSTER_HOME={home} (no dagster.yaml)"


def resolve(value, environ, missing: list[str]):
    """A yaml value, or the variable it names (`{env: NAME}`); names that are unset go to `missing`."""
    if isinstance(value, dict) and "env" in value:
        if value["env"] not in environ:  # set but empty is a value (an empty password, with trust auth)
            missing.append(value["env"])
        return environ.get(value["env"])
    return value


def database(environ) -> str:
    """The instance's storage: `storage: postgres: postgres_db:` (deploy/dagster.yaml's form), else SQLite."""
    home = environ.get("DAGSTER_HOME") or ""
    path = Path(home) / "dagster.yaml" if os.path.isabs(home) and os.path.isdir(home) else DEPLOY_INSTANCE
    config = (yaml.safe_load(path.read_text()) if path.is_file() else None) or {}
    db = ((config.get("storage") or {}).get("postgres") or {}).get("postgres_db")
    if db is None:
        return f"SQLite instance under {path.parent} (no PostgreSQL storage in {path})"
    missing: list[str] = []
    conn = {key: resolve(db.get(name), environ, missing) for key, name in PG_FIELDS.items()}
    source = {key: db[name]["env"] if isinstance(db.get(name), dict) else f"{name} in {path}"
              for key, name in PG_FIELDS.items()}
    if missing:
        raise Problem(f"{', '.join(missing)} not set ({path} reads the PostgreSQL connection from them): export them")
    try:
        port = int(conn["port"] or 5432)
    except ValueError:
        raise Problem(f"{source['port']}={conn['port']!r} is not a port number") from None
    host, user, name = conn["host"] or "localhost", conn["user"], conn["database"]
    where = f"{host}:{port}"
    if not host.startswith("/"):  # a socket folder has no TCP port to probe
        try:
            socket.create_connection((host, port), timeout=WAIT_S).close()
        except OSError as exc:
            raise Problem(f"the PostgreSQL server does not answer at {where} ({exc.strerror or exc or 'timed out'}): "
                          f"start it, or fix {source['host']} / {source['port']}") from None
    return f"PostgreSQL database {name} at {where}, role {user}: " + login(conn, port, source, where)


def login(conn: dict, port: int, source: dict, where: str) -> str:
    import psycopg2

    user, name = conn["user"], conn["database"]
    try:
        with psycopg2.connect(host=conn["host"], port=port, user=user, password=conn["password"] or "",
                              dbname=name, connect_timeout=WAIT_S) as db, db.cursor() as cur:
            cur.execute("SELECT to_regclass('runs') IS NOT NULL OR has_schema_privilege("
                        "coalesce(current_schema(), 'public'), 'CREATE')")
            can_create = cur.fetchone()[0]
        db.close()
    except psycopg2.OperationalError as exc:
        text = str(exc).strip().splitlines()[0].split("FATAL:", 1)[-1].strip()
        hints = {  # what the server said -> what to do
            f'database "{name}" does not exist': f"database {name} does not exist at {where}: create it "
            f"(createdb -h {conn['host']} -p {port} -O {user} {name}) or fix {source['database']}",
            f'role "{user}" does not exist': f"role {user} does not exist at {where}: create it "
            f"(CREATE ROLE {user} LOGIN PASSWORD '...') or fix {source['user']}",
            "password authentication failed": f"role {user} cannot log in: wrong password; fix {source['password']}",
            "not permitted to log in": f"role {user} may not log in: ALTER ROLE {user} LOGIN",
            "invalid response to SSL negotiation": f"something answers at {where}, but not PostgreSQL: "
            f"fix {source['host']} / {source['port']}",
            "no pg_hba.conf entry": f"the server at {where} refuses role {user} from this machine (pg_hba.conf)",
            "permission denied for database": f"role {user} may not connect: GRANT CONNECT ON DATABASE {name} TO "
            f"{user}"}
        hint = next((h for key, h in hints.items() if key in text), f"cannot log in to {name} at {where}: {text}")
        raise Problem(hint) from None
    if not can_create:
        raise Problem(f"role {user} logs in to {name} but cannot create Dagster's tables: "
                      f"GRANT CREATE ON SCHEMA public TO {user} (or make it the database's owner)")
    return "the server answers, the database exists, the role logs in"


# -- the data root --------------------------------------------------------------------------------------------
def data_root(environ):
    return location(environ.get(DATA_DIR_ENV) or str(PROJECT_ROOT / "data"), timeout_s=WAIT_S)


def readable(root) -> str:
    if isinstance(root, Exception):  # the URL itself (an fsspec protocol not installed)
        raise root
    storage, raw = backend(root), root / "raw"
    problem = storage.root_problem(root)
    if problem:
        raise Problem(problem)
    files = storage.files_under(raw)
    if not files:
        raise Problem(f"no raw files under {raw}/: copy the raw sensor files there "
                      "(or set raw_readings.raw_dir to where they are)")
    return f"{root}: raw/ holds {len(files)} files"


def writable(root) -> str:
    storage, probe = backend(root), root / f".doctor-probe-{uuid.uuid4().hex}"
    text = json.dumps({"probe": probe.name, "at": time.time()})
    try:
        storage.write_text(probe, text)  # the pipeline's own atomic write (a temporary file and a rename, or a PUT)
        if storage.read_text(probe) != text:
            raise Problem(f"{probe} reads back other than written: is the data root shared consistently?")
    finally:
        storage.delete(probe)
    return f"{root}: a probe object was written atomically, read back and deleted"


def version_lock(root) -> str:
    """Take and release the lock every status change takes (VersionStore.lock), waiting at most WAIT_S."""
    versions = VersionStore(root)
    try:
        with versions.lock("check the lock (pipeline.doctor)", wait_s=WAIT_S):
            pass
    except LockTimeout as exc:
        raise Problem(str(exc)) from None
    return f"{versions.base / LOCK} taken and released"


def store_problem(exc: Exception) -> str:
    """One line for an object store's failure; any other error as it is."""
    line = exc.reason if isinstance(exc, StoreUnreachable) else unreachable_reason(exc)
    if line:
        return line
    if isinstance(exc, PermissionError):
        return f"the object store refuses access ({exc}): check the credentials' permissions on the bucket"
    return f"{type(exc).__name__}: {exc}"


# -- the broker -----------------------------------------------------------------------------------------------
def broker(environ) -> str:
    kind = environ.get("PIPELINE_EXECUTOR") or "in_process"  # the names of assets/execution.py
    if kind == "in_process":
        return "not needed (PIPELINE_EXECUTOR=in_process: steps run in the run's own process)"
    if kind != "celery":
        raise Problem(f"PIPELINE_EXECUTOR={kind!r}: expected in_process or celery")
    url = environ.get("PIPELINE_CELERY_BROKER")
    if not url:
        raise Problem("PIPELINE_EXECUTOR=celery needs PIPELINE_CELERY_BROKER, the broker's URL "
                      "(e.g. redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//)")
    from kombu import Connection

    with Connection(url, connect_timeout=WAIT_S, transport_options={"socket_connect_timeout": WAIT_S,
                                                                    "max_retries": 1}) as conn:
        shown = conn.as_uri() if conn.password else url  # a password masked
        try:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=WAIT_S)
        except Exception as exc:  # noqa: BLE001 (kombu's, amqp's and redis' own errors, all meaning "not usable")
            if "ACCESS_REFUSED" in str(exc) or "auth" in str(exc).lower():
                raise Problem(f"the Celery broker at {shown} refuses the login ({str(exc).splitlines()[0]}): "
                              "fix the user and password in PIPELINE_CELERY_BROKER") from None
            raise Problem(f"the Celery broker does not answer at {shown} ({exc}): start it, or fix "
                          "PIPELINE_CELERY_BROKER") from None
    return f"the Celery broker answers at {shown}"


# -- the report -----------------------------------------------------------------------------------------------
def main(environ=os.environ) -> int:
    results = []

    def item(name: str, check, *args) -> str:
        try:
            text, outcome = check(*args), "ok"
        except Problem as exc:
            text, outcome = str(exc), "problem"
        except Exception as exc:  # noqa: BLE001 (whatever fails, a store that does not answer, is one line)
            text, outcome = store_problem(exc), "error"
        print(f"{'OK' if outcome == 'ok' else 'FAIL':<4}  {name}: {text}", flush=True)
        results.append(outcome == "ok")
        return outcome

    item("instance", instance, environ)
    item("database", database, environ)
    try:
        root = data_root(environ)
    except Exception as exc:  # noqa: BLE001 (reported on the data root's line)
        root = exc
    # writes and the lock are worth trying where the root is there and answers, even with no raw files yet
    if item("data root", readable, root) != "error" and backend(root).root_problem(root) is None:
        item("data writes", writable, root)
        item("version lock", version_lock, root)
    item("broker", broker, environ)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
