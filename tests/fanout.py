"""The pieces of a distributed deployment on loopback, for the fan-out test and benchmark: a Redis database of
its own as the Celery broker, Celery workers and the Dagster daemon as real processes, each stopped (its whole
process group) afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from tests.helpers import PROJECT_ROOT
from tests.postgres import connect

WAIT_S = 900  # bound on waiting for a backfill's runs
REDIS_URL = os.environ.get("PIPELINE_TEST_REDIS_URL", "redis://127.0.0.1:6379")
BIN = Path(sys.executable).parent
CELERY_CONFIG = PROJECT_ROOT / "deploy" / "celery.yaml"


@contextmanager
def redis_database():
    """The URL of an empty Redis database (of the 16), flushed afterwards; skips when no server answers."""
    import redis

    try:
        for db in range(15, 0, -1):
            client = redis.Redis.from_url(f"{REDIS_URL}/{db}", socket_connect_timeout=5)
            if client.dbsize() == 0:
                break
        else:
            pytest.skip(f"no empty database on the Redis server at {REDIS_URL}")
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"no Redis server at {REDIS_URL} ({exc}); set PIPELINE_TEST_REDIS_URL")
    try:
        yield f"{REDIS_URL}/{db}"
    finally:
        client.flushdb()
        client.close()


def create_instance_tables(env: dict) -> None:
    """Dagster's tables in a new database, made once before the processes start (docs/deploying.md): each process
    that finds none creates them, and two doing it at once collide (`type "run_tags" already exists`)."""
    done = subprocess.run([str(BIN / "dagster"), "instance", "migrate"], check=False, cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


class Processes:
    """Long-running processes started for one test, each in its own session, their output in log files."""

    def __init__(self, logs: Path, env: dict):
        self.logs, self.env, self.procs = logs, env, []
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, args: list[str], **env) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "w") as out:
            proc = subprocess.Popen(args, cwd=PROJECT_ROOT, env={**self.env, **env}, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        proc.name = name
        self.procs.append(proc)
        return proc

    def worker(self, name: str, cache: Path) -> subprocess.Popen:
        """A Celery worker that runs one step at a time, with its own download cache (another machine's)."""
        return self.start(name, [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                                 "-y", str(CELERY_CONFIG), "-n", name, "--", "--concurrency", "1"],
                          PIPELINE_CACHE_DIR=str(cache))

    def wait_ready(self, names: list[str], timeout: float = 120) -> None:
        """Until each named Celery worker has said it is ready (so every one of them can take the first steps)."""
        deadline = time.monotonic() + timeout
        while not all(f"{name}@" in self.log(name) and " ready." in self.log(name) for name in names):
            self.check_alive()
            if time.monotonic() > deadline:
                pytest.fail(f"Celery workers not ready after {timeout} s: "
                            + "; ".join(self.log(n)[-500:] for n in names))
            time.sleep(0.5)

    def daemon(self) -> subprocess.Popen:
        workspace = str(PROJECT_ROOT / "workspace.yaml")  # the documented server's, as the backfills name it
        return self.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace])

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                pytest.fail(f"{proc.name} exited (rc {proc.returncode}):\n{self.log(proc.name)[-3000:]}")

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 30
        for proc in self.procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def runs(db: str) -> list[tuple[str, str]]:
    with closing(connect(db)) as conn, conn.cursor() as cur:
        cur.execute("SELECT pipeline_name, status FROM runs")
        return cur.fetchall()


def step_workers(db: str) -> dict[str, list[str]]:
    """Celery worker -> the steps it executed, from the engine events in the event log."""
    with closing(connect(db)) as conn, conn.cursor() as cur:
        cur.execute("SELECT step_key, event FROM event_logs WHERE event LIKE '%in celery worker%'")
        rows = cur.fetchall()
    from dagster._serdes import deserialize_value

    out = {}
    for step, event in rows:
        worker = deserialize_value(event).dagster_event.engine_event_data.metadata["Celery worker"].value
        out.setdefault(worker, []).append(step)
    return out


def wait_for_runs(db: str, job: str, count: int, procs: Processes) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        done = [s for name, s in runs(db) if name == job and s in ("SUCCESS", "FAILURE", "CANCELED")]
        if len(done) >= count:
            assert done == ["SUCCESS"] * count, f"{job} runs: {done}\n{procs.log('daemon')[-3000:]}"
            return
        procs.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"{job}: {len(done)} of {count} runs done after {WAIT_S} s: {runs(db)}")
        time.sleep(1)
