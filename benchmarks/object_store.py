"""The whole chain with the data root on an S3-compatible server against a local folder.

The runs of scripts/pipeline.sh (one per day, the model run, the scored range) on generated readings of the
sample machine (benchmarks/machine_data.py), through `dagster asset materialize`. The store is a moto S3 server
on 127.0.0.1 started here ($PIPELINE_TEST_S3_ENDPOINT: another one), a fresh bucket per pass holding the raw
files (uploaded before the clock starts), and a fresh download cache per pass (a machine that has read
nothing yet). Passes alternate; prints the medians and the ratio store / local (goal <= 1.5).

    PYTHONPATH=. .venv/bin/python benchmarks/object_store.py --rows 2000000 --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from benchmarks.chain import dagster
from benchmarks.harness import PROJECT, median_of, ratio
from benchmarks.machine_data import machine_files
from tests.objectstore import s3_bucket, stop_server, upload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stride", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=PROJECT.parent / "bench_data")
    args = parser.parse_args()
    raw_dir = machine_files(args.rows, args.data_dir, fmt="parquet")
    runs = {"local": [], "s3": []}
    try:
        for i in range(args.repeat):
            for kind, done in runs.items():
                scratch = Path(tempfile.mkdtemp(prefix=f"root_{kind}_", dir=args.data_dir))
                try:
                    if kind == "local":
                        r = dagster(raw_dir, scratch / "data", args.stride, args.epochs)
                    else:
                        with s3_bucket(scratch / "cache") as (url, env):
                            upload(raw_dir, f"{url}/raw")
                            r = dagster(raw_dir, url, args.stride, args.epochs, env=env, raw_location=f"{url}/raw")
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
                done.append(r)
                print(f"pass {i + 1}, {kind}: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB, stages "
                      + ", ".join(f"{k} {v:.1f}" for k, v in r.pop("stages").items()), flush=True)
    finally:
        stop_server()
    local, s3 = median_of(runs["local"]), median_of(runs["s3"])
    print(f"\n{args.rows:,} rows, {args.repeat} pass(es) each, medians")
    print("| data root | seconds | peak RSS MB |\n|---|---|---|")
    for name, m in (("local folder", local), ("S3 (moto on 127.0.0.1)", s3)):
        print(f"| {name} | {m['seconds']:.1f} | {m['peak_rss_mb']:.0f} |")
    print(f"S3 / local: {ratio(s3['seconds'], local['seconds'])} (goal <= 1.5)")


if __name__ == "__main__":
    main()
