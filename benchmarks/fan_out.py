"""A backfill of day partitions on 2 Celery workers against 1: wall time of the ingest and scoring backfills.

The production path on loopback: `dagster job backfill` queues one run per day, the Dagster daemon launches
them (instance on PostgreSQL, deploy/dagster.yaml), and every step runs on the Celery workers (broker: a Redis
database of its own). Days of the sample machine at 10 Hz, 9 sensors (benchmarks/machine_data.py). Each pass
has a fresh data root, database, broker database and Dagster home; the model the scoring uses is trained in
the pass, untimed. Passes alternate between 1 and 2 workers; prints the medians and the ratio 2 / 1 (goal
<= 0.6).

    PYTHONPATH=. .venv/bin/python benchmarks/fan_out.py --days 8 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.chain import model_config
from benchmarks.harness import PROJECT, ratio
from benchmarks.machine_data import machine_files
from pipeline.ingest import raw_days
from tests.fanout import BIN, Processes, create_instance_tables, redis_database, wait_for_runs
from tests.postgres import DEPLOY_INSTANCE, postgres_database


def one_pass(raw_dir: Path, workers: int, scratch: Path, stride: int, tf_threads: int | None = None) -> dict:
    days = raw_days(raw_dir).days
    shutil.copytree(raw_dir, scratch / "data" / "raw", copy_function=os.link)  # backfills take no run config
    home = scratch / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(DEPLOY_INSTANCE, home / "dagster.yaml")
    with postgres_database() as pg, redis_database() as broker:
        env = {**os.environ, **pg, "DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(scratch / "data"),
               "PIPELINE_FIRST_DAY": days[0], "PIPELINE_EXECUTOR": "celery", "PIPELINE_CELERY_BROKER": broker,
               "PIPELINE_CELERY_BACKEND": broker, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
               "PYTHONPATH": str(PROJECT), "TF_CPP_MIN_LOG_LEVEL": "3",
               **({"TF_NUM_INTRAOP_THREADS": str(tf_threads), "TF_NUM_INTEROP_THREADS": str(tf_threads)}
                  if tf_threads else {})}
        create_instance_tables(env)
        procs = Processes(scratch / "logs", env)
        dagster = [str(BIN / "dagster")]

        def run(*args: str, **extra) -> None:
            subprocess.run([*dagster, *args], cwd=PROJECT, env={**env, **extra}, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def backfill(job: str) -> float:
            t0 = time.perf_counter()
            run("job", "backfill", "-m", "assets.definitions", "-j", job, "--from", days[0], "--to", days[-1],
                "--noprompt")
            wait_for_runs(pg["DAGSTER_PG_DB"], job, len(days), procs)
            return time.perf_counter() - t0

        try:
            for i in range(workers):
                procs.worker(f"worker-{i}", scratch / f"cache-{i}")
            procs.daemon()
            procs.wait_ready([f"worker-{i}" for i in range(workers)])
            time.sleep(5)  # the daemon has started too (not timed)
            ingest = backfill("ingest_days")
            run("asset", "materialize", "-m", "assets.definitions", "--select",  # the model: not timed, in process
                "training_windows,autoencoder,audit_latents,published_model", "--config-json",
                json.dumps(model_config(stride, 1)), PIPELINE_EXECUTOR="in_process")
            score = backfill("score_days")  # every window of each day (the default stride, 1)
        finally:
            procs.stop()
    return {"ingest": ingest, "score": score, "total": ingest + score}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stride", type=int, default=30, help="rows between training windows (untimed model)")
    parser.add_argument("--tf-threads", type=int, help="TensorFlow threads per process (default: one per core)")
    parser.add_argument("--data-dir", type=Path, default=PROJECT.parent / "bench_data")
    args = parser.parse_args()
    raw_dir = machine_files(args.days * 864_000, args.data_dir, fmt="parquet")
    runs = {1: [], 2: []}
    for i in range(args.repeat):
        for workers, done in runs.items():
            scratch = Path(tempfile.mkdtemp(prefix=f"fan_out_{workers}_", dir=args.data_dir))
            try:
                done.append(one_pass(raw_dir, workers, scratch, args.stride, args.tf_threads))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            print(f"pass {i + 1}, {workers} worker(s): " + ", ".join(f"{k} {v:.1f} s" for k, v in done[-1].items()),
                  flush=True)
    med = {w: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for w, rs in runs.items()}
    print(f"\n{args.days} days at 10 Hz, {args.repeat} pass(es) each, medians (seconds)")
    print("| workers | ingest backfill | score backfill | both |\n|---|---|---|---|")
    for w, m in med.items():
        print(f"| {w} | {m['ingest']:.1f} | {m['score']:.1f} | {m['total']:.1f} |")
    print(f"2 / 1 workers: ingest {ratio(med[2]['ingest'], med[1]['ingest'])}, score "
          f"{ratio(med[2]['score'], med[1]['score'])}, both {ratio(med[2]['total'], med[1]['total'])} (goal <= 0.6)")


if __name__ == "__main__":
    main()
