"""The whole chain with the Dagster instance on PostgreSQL (deploy/dagster.yaml) against the local SQLite one.

The runs of scripts/pipeline.sh (one per day, the model run, the scored range) on generated readings of the
sample machine (benchmarks/machine_data.py), each pass on a fresh data root and a fresh Dagster home, the
Postgres one on a fresh database of the server at $PIPELINE_TEST_POSTGRES_URL (default the local one,
127.0.0.1:5432, user postgres), dropped afterwards. Passes alternate between the two instances; prints the
medians and the ratio Postgres / SQLite (goal <= 1.1).

    PYTHONPATH=. .venv/bin/python benchmarks/instance.py --rows 2000000 --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from benchmarks.chain import LOCAL_INSTANCE, dagster
from benchmarks.harness import PROJECT, median_of, ratio
from benchmarks.machine_data import machine_files
from tests.postgres import DEPLOY_INSTANCE, postgres_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stride", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=PROJECT.parent / "bench_data")
    args = parser.parse_args()
    raw_dir = machine_files(args.rows, args.data_dir, fmt="parquet")
    runs = {"sqlite": [], "postgres": []}
    for i in range(args.repeat):
        for kind, done in runs.items():
            root = Path(tempfile.mkdtemp(prefix=f"instance_{kind}_", dir=args.data_dir))
            try:
                if kind == "sqlite":
                    r = dagster(raw_dir, root, args.stride, args.epochs, LOCAL_INSTANCE)
                else:
                    with postgres_database() as env:
                        r = dagster(raw_dir, root, args.stride, args.epochs, DEPLOY_INSTANCE, env)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            r.pop("stages", None)
            done.append(r)
            print(f"pass {i + 1}, {kind}: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    sqlite, postgres = median_of(runs["sqlite"]), median_of(runs["postgres"])
    print(f"\n{args.rows:,} rows, {args.repeat} pass(es) each, medians")
    print("| instance | seconds | peak RSS MB |\n|---|---|---|")
    for name, m in (("SQLite (dagster_home/dagster.yaml)", sqlite), ("PostgreSQL (deploy/dagster.yaml)", postgres)):
        print(f"| {name} | {m['seconds']:.1f} | {m['peak_rss_mb']:.0f} |")
    print(f"Postgres / SQLite: {ratio(postgres['seconds'], sqlite['seconds'])} (goal <= 1.1)")


if __name__ == "__main__":
    main()
