"""The whole chain with the Dagster instance on PostgreSQL (deploy/dagster.yaml) against the local SQLite one.

The runs of scripts/pipeline.sh (one per day, the model run, the scored range) on generated readings of the
sample machine (benchmarks/machine_data.py), each pass on a fresh data root and a fresh Dagster home, the
Postgres one on a fresh database of the server at $PIPELINE_TEST_POSTGRES_URL (default the local one,
127.0.0.1:5432, user postgres), dropped afterwards. Passes alternate between the two instances; prints the
medians and the ratio Postgres / SQLite (goal <= 1.1).

    PYTHONPATH=. .venv/bin/python benchmarks/instance.py --rows 2000000 --repeat 3
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.chain import LOCAL_INSTANCE, chain_arguments, dagster
from benchmarks.harness import alternating, comparison
from benchmarks.machine_data import machine_files
from tests.postgres import DEPLOY_INSTANCE, postgres_database


def main() -> None:
    args = chain_arguments(__doc__, rows=2_000_000)
    raw_dir = machine_files(args.rows, args.data_dir, fmt="parquet")

    def on_postgres(root: Path) -> dict:
        with postgres_database() as env:
            return dagster(raw_dir, root, args.stride, args.epochs, DEPLOY_INSTANCE, env)

    runs = alternating({"sqlite": lambda root: dagster(raw_dir, root, args.stride, args.epochs, LOCAL_INSTANCE),
                        "postgres": on_postgres}, args.repeat, args.data_dir)
    comparison(f"{args.rows:,} rows", runs, {"sqlite": "SQLite (dagster_home/dagster.yaml)",
                                             "postgres": "PostgreSQL (deploy/dagster.yaml)"}, "goal <= 1.1")


if __name__ == "__main__":
    main()
