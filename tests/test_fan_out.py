"""Day partitions fanned out over a real distributed engine, on loopback: a backfill of four days goes through
the Dagster daemon's run queue (instance on PostgreSQL) to two Celery workers (broker: Redis), with the data
root on an S3 server; each day's output equals what a single process writes."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from pipeline.storage import location
from pipeline.store import load_artifact
from tests.fanout import BIN, Processes, create_instance_tables, redis_database, step_workers, wait_for_runs
from tests.helpers import (
    DAY_ASSETS,
    PROJECT_ROOT,
    SCORE_ASSETS,
    TINY_RUN_CONFIG,
    dagster,
    make_sample_root,
    run_assets,
)
from tests.objectstore import s3_bucket, upload
from tests.postgres import DEPLOY_INSTANCE, postgres_database

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

DAYS = ("2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04")


def day_outputs(root, asset: str) -> dict:
    return {day: load_artifact(location(root) / "store" / asset / day) for day in DAYS}


def test_a_backfill_of_days_fans_out_over_two_celery_workers(tmp_path):
    sample = make_sample_root(tmp_path / "sample", days=len(DAYS))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_INSTANCE, home / "dagster.yaml")
    with s3_bucket(tmp_path / "cache") as (url, s3), postgres_database() as pg, redis_database() as broker:
        upload(sample / "raw", f"{url}/raw")
        env = {**os.environ, **s3, **pg, "DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": url,
               "PIPELINE_EXECUTOR": "celery", "PIPELINE_CELERY_BROKER": broker, "PIPELINE_CELERY_BACKEND": broker,
               "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        create_instance_tables(env)
        procs = Processes(tmp_path / "logs", env)
        try:
            for name in ("worker-a", "worker-b"):
                procs.worker(name, tmp_path / f"cache-{name}")
            procs.daemon()
            procs.wait_ready(["worker-a", "worker-b"])

            def backfill(job: str) -> None:  # one run per day, queued; the daemon launches them
                # the documented form: the daemon's workspace, so the runs' code location is the daemon's
                done = dagster("job", "backfill", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-j", job,
                               "--from", DAYS[0], "--to", DAYS[-1], "--noprompt", data_root=tmp_path, env=env)
                assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
                wait_for_runs(pg["DAGSTER_PG_DB"], job, len(DAYS), procs)

            backfill("ingest_days")
            trained = dagster("asset", "materialize", "-m", "assets.definitions", "--select",
                              "training_windows,autoencoder,audit_latents,latent_regimes,latent_view,published_model",
                              "--config-json",
                              json.dumps(TINY_RUN_CONFIG), data_root=tmp_path, env=env)
            assert trained.returncode == 0, trained.stderr[-3000:]
            backfill("score_days")
            workers = step_workers(pg["DAGSTER_PG_DB"])
        finally:
            procs.stop()
        # every step ran on a worker, and both workers took days
        assert set(workers) == {"worker-a@" + os.uname().nodename, "worker-b@" + os.uname().nodename}, workers
        steps = Counter(step for done in workers.values() for step in done)
        assert steps == {**{a: len(DAYS) for a in DAY_ASSETS + SCORE_ASSETS},
                         **{a: 1 for a in ("training_windows", "autoencoder", "audit_latents",
                                           "latent_quality_checks", "latent_regimes", "latent_view",
                                           "published_model")}}

        # each day's output is what one process writes: the same days again, in this process, on the same root
        validated, latents, events = (day_outputs(url, a) for a in ("validated_readings", "latent_vectors",
                                                                     "anomaly_events"))
        for day in DAYS:
            assert run_assets(url, list(DAY_ASSETS), partition_key=day).success
        tags = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}
        assert run_assets(url, list(SCORE_ASSETS), tags=tags).success
        for day, again in day_outputs(url, "validated_readings").items():
            pd.testing.assert_frame_equal(again.readings.frame, validated[day].readings.frame)
            np.testing.assert_array_equal(again.segments, validated[day].segments)
        for day, again in day_outputs(url, "latent_vectors").items():
            pd.testing.assert_frame_equal(again, latents[day])
        for day, again in day_outputs(url, "anomaly_events").items():
            pd.testing.assert_frame_equal(again, events[day])
