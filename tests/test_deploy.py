"""The production setup, as far as this machine allows: one consistent Dagster release family, and the instance
of deploy/dagster.yaml on a real PostgreSQL server, with the whole pipeline run against it.

The Postgres tests use a database of their own on a real server (tests/postgres.py), dropped afterwards; they
are skipped, saying why, when no server answers (the README's test command needs nothing but Python)."""

from __future__ import annotations

import subprocess
import sys
from contextlib import closing
from importlib import metadata
from pathlib import Path

import pytest

from tests.helpers import PROJECT_ROOT, SAMPLE_DAYS, TINY_RUN_CONFIG, dagster
from tests.postgres import DEPLOY_INSTANCE, connect, postgres_database
from tests.webserver import Webserver

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all


def dagster_family() -> dict[str, str]:
    """Every installed Dagster distribution and its version."""
    found = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name == "dagster" or name.startswith("dagster-"):
            found[name] = dist.version
    return found


def test_core_webserver_and_every_integration_are_one_release():
    """Core and webserver share a version (1.x.y); each integration library is its twin 0.(x+16).y. pip can
    otherwise pick an integration years older than core without a word (dagster-postgres 0.11 beside 1.13)."""
    family = dagster_family()
    core = family["dagster"]
    _, minor, patch = (int(p) for p in core.split(".")[:3])
    twin = f"0.{minor + 16}.{patch}"
    assert family["dagster-webserver"] == core
    assert {"dagster-postgres", "dagster-celery", "dagster-k8s"} <= set(family)  # the deployments' libraries
    wrong = {name: v for name, v in family.items() if v not in (core, twin)}
    assert not wrong, f"not of the release of dagster {core} (or {twin}): {wrong}"


def test_pip_check_is_clean():
    check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False,
                           timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def production_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(DEPLOY_INSTANCE.read_text())
    return home


def test_the_production_instance_loads_on_postgres_with_its_queue_monitoring_and_retries(tmp_path, monkeypatch):
    import dagster as dg
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    with postgres_database() as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        home = production_home(tmp_path)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert isinstance(instance.run_storage, PostgresRunStorage)
            assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
            assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            queue = instance.get_concurrency_config().run_queue_config  # what the daemon dequeues by
            assert queue.max_concurrent_runs == 8
            assert {"key": "sensor_latents/writes_versions", "limit": 1} in queue.tag_concurrency_limits
            assert instance.run_monitoring_enabled and instance.run_monitoring_max_runtime_seconds == 6 * 3600
            assert instance.run_retries_enabled and instance.run_retries_max_retries == 1


def test_the_pipeline_runs_on_postgres_and_its_history_survives_a_webserver_restart(tmp_path, data_root,
                                                                                     monkeypatch):
    import json

    with postgres_database() as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        home = production_home(tmp_path)
        runs = [("--select", "raw_readings,validated_readings", "--partition", day) for day in SAMPLE_DAYS]
        runs.append(("--select", "training_windows,autoencoder,audit_latents,published_model", "--config-json",
                     json.dumps(TINY_RUN_CONFIG)))
        runs.append(("--select", "latent_vectors,anomaly_events", "--partition-range",
                     f"{SAMPLE_DAYS[0]}...{SAMPLE_DAYS[-1]}"))
        for args in runs:
            done = dagster("asset", "materialize", "-m", "assets.definitions", *args, data_root=data_root,
                           env={**env, "DAGSTER_HOME": str(home)})
            assert done.returncode == 0, done.stderr[-3000:]

        # the runs are in the Postgres database, not in a SQLite file under DAGSTER_HOME
        with closing(connect(env["DAGSTER_PG_DB"])) as db, db.cursor() as cur:
            cur.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")
            assert cur.fetchone()[0] == len(runs)
        assert not (home / "history").exists()

        seen = []
        for _ in range(2):  # the webserver is stateless: stopped and started again, it reads the same history
            with Webserver(data_root, home, tmp_path / "webserver.log") as server:
                server.wait_until_loaded(timeout=120)
                seen.append({asset: server.partition_stats(asset)["numMaterialized"]
                             for asset in ("validated_readings", "latent_vectors", "anomaly_events")}
                            | {"runs": len(server.graphql(RUNS)["runsOrError"]["results"])})
        assert seen[0] == seen[1] == {"validated_readings": 2, "latent_vectors": 2, "anomaly_events": 2,
                                      "runs": len(runs)}


RUNS = """query { runsOrError { __typename ... on Runs { results { runId status } } } }"""


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = (PROJECT_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def test_the_image_installs_the_project_as_ci_does_from_files_that_exist():
    steps = dockerfile_instructions()
    runs = [args for kind, args in steps if kind == "RUN"]
    assert runs and runs[0].startswith("scripts/setup.sh")  # the install of scripts/test.sh and .ci/run
    assert "scripts/test.sh" in (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "scripts/setup.sh" in (PROJECT_ROOT / "scripts" / "test.sh").read_text()
    for kind, args in steps:
        if kind == "COPY":
            *sources, _ = args.split()
            assert all((PROJECT_ROOT / s).exists() for s in sources), args


def test_the_images_command_serves_the_code_location(tmp_path):
    """The image's CMD, run here: `dagster api grpc` loads the definitions and answers a health check."""
    import json
    import os
    import signal
    import time

    from tests.webserver import free_port

    [cmd] = [json.loads(args) for kind, args in dockerfile_instructions() if kind == "CMD"]
    port = free_port()
    cmd = [str(Path(sys.executable).with_name(cmd[0])), *cmd[1:]]
    cmd[cmd.index("-h") + 1], cmd[cmd.index("-p") + 1] = "127.0.0.1", str(port)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "PIPELINE_DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": str(PROJECT_ROOT)}
    with open(tmp_path / "grpc.log", "wb") as log:
        server = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            deadline, healthy = time.monotonic() + 120, None
            while time.monotonic() < deadline and server.poll() is None:
                healthy = subprocess.run([cmd[0], "api", "grpc-health-check", "-p", str(port)], env=env,
                                         capture_output=True, text=True, timeout=30, check=False)
                if healthy.returncode == 0:
                    break
                time.sleep(1)
            assert healthy is not None and healthy.returncode == 0, (tmp_path / "grpc.log").read_text()[-3000:]
        finally:  # the server's whole process group, whether it still runs or not
            try:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:  # a loaded machine: its graceful shutdown is not what is tested
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)


HELM_VALUES = PROJECT_ROOT / "deploy" / "helm" / "values.yaml"


def test_the_helm_values_serve_the_image_with_the_production_settings():
    """The chart's values agree with the image and the production instance: the same module served, the same
    data root, first day and secrets for the code location and every run's pod, the same queue limits."""
    import json

    import yaml
    from dagster_k8s import K8sRunLauncher  # what the chart's run pods load their instance with

    values = yaml.safe_load(HELM_VALUES.read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    [cmd] = [json.loads(args) for kind, args in dockerfile_instructions() if kind == "CMD"]
    module = cmd[cmd.index("-m"):cmd.index("-m") + 2]
    assert deployment["dagsterApiGrpcArgs"] == module and deployment["port"] == int(cmd[cmd.index("-p") + 1])

    launcher = values["runLauncher"]
    assert launcher["type"] == K8sRunLauncher.__name__
    k8s = launcher["config"]["k8sRunLauncher"]
    run_env = dict(v.split("=", 1) for v in k8s["envVars"])
    assert run_env == deployment["env"] and run_env["PIPELINE_DATA_DIR"].startswith("s3://")
    assert k8s["envSecrets"] == deployment["envSecrets"]
    assert not values["postgresql"]["enabled"] and not values["generatePostgresqlPasswordSecret"]
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"

    instance = yaml.safe_load(DEPLOY_INSTANCE.read_text())
    queue = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queue["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    assert queue["tagConcurrencyLimits"] == instance["concurrency"]["runs"]["tag_concurrency_limits"]
    assert values["dagsterDaemon"]["runRetries"]["maxRetries"] == instance["run_retries"]["max_retries"]


def test_every_job_carries_its_max_runtime_and_no_retry_after_a_data_failure():
    from assets.definitions import JOBS

    for job in JOBS:
        assert job.tags["dagster/max_runtime"] == "21600", job.name
        assert job.tags["dagster/retry_on_asset_or_op_failure"] == "false", job.name


def test_the_step_executor_is_chosen_by_the_environment():
    import pytest

    from assets.execution import step_executor

    assert step_executor({}).name == "in_process"
    assert step_executor({"PIPELINE_EXECUTOR": "celery", "PIPELINE_CELERY_BROKER": "redis://x:6379/0"}).name \
        == "celery"
    with pytest.raises(ValueError, match="needs PIPELINE_CELERY_BROKER"):
        step_executor({"PIPELINE_EXECUTOR": "celery"})
    with pytest.raises(ValueError, match="'dask': expected one of in_process, celery"):
        step_executor({"PIPELINE_EXECUTOR": "dask"})
