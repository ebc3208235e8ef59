"""The whole chain with the data root on an S3-compatible server against a local folder.

The runs of scripts/pipeline.sh (one per day, the model run, the scored range) on generated readings of the
sample machine (benchmarks/machine_data.py), through `dagster asset materialize`. The store is a moto S3 server
on 127.0.0.1 started here ($PIPELINE_TEST_S3_ENDPOINT: another one), a fresh bucket per pass holding the raw
files (uploaded before the clock starts), and a fresh download cache per pass (a machine that has read
nothing yet). Passes alternate; prints the medians and the ratio store / local (goal <= 1.5).

    PYTHONPATH=. .venv/bin/python benchmarks/object_store.py --rows 2000000 --repeat 3
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.chain import chain_arguments, dagster
from benchmarks.harness import alternating, comparison
from benchmarks.machine_data import machine_files
from tests.objectstore import s3_bucket, stop_server, upload


def main() -> None:
    args = chain_arguments(__doc__, rows=2_000_000)
    raw_dir = machine_files(args.rows, args.data_dir, fmt="parquet")

    def on_s3(scratch: Path) -> dict:
        with s3_bucket(scratch / "cache") as (url, env):
            upload(raw_dir, f"{url}/raw")  # before the clock starts
            return dagster(raw_dir, url, args.stride, args.epochs, env=env, raw_location=f"{url}/raw")

    try:
        runs = alternating({"local": lambda scratch: dagster(raw_dir, scratch / "data", args.stride, args.epochs),
                            "s3": on_s3}, args.repeat, args.data_dir)
    finally:
        stop_server()
    comparison(f"{args.rows:,} rows", runs, {"local": "local folder", "s3": "S3 (moto on 127.0.0.1)"},
               "goal <= 1.5")


if __name__ == "__main__":
    main()
