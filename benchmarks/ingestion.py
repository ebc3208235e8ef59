"""Ingestion + validation at scale: the pipeline's first two stages against a naive pandas baseline.

For the CSV and the Parquet copy of N rows of the sample machine (9 sensors, daily files), each measured in a
fresh process (wall time, peak RSS), median of --repeat runs:

- ours: `read_raw_files` + `validate_readings` + `interpolate_and_segment` + `save_artifact` (the readings Parquet);
- naive: `pd.read_csv` / `pd.read_parquet` per file, `pd.to_datetime`, `pd.concat`, then the same validation,
  finishing and writing, so the difference is ingestion (and what ingestion's frame costs downstream).

    PYTHONPATH=. .venv/bin/python benchmarks/ingestion.py --rows 10000000 --repeat 3

The data is generated once per row count under --data-dir (benchmarks.machine_data.machine_files).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import PROJECT, median_of, python_step, ratio, report, rss_mb, run_step

DATA_DIR = PROJECT.parent / "bench_data"  # generated data kept beside the project, never inside it
FORMATS = ("csv", "parquet")
METHODS = ("ours", "naive")


def _naive_readings(folder: Path):
    import pandas as pd

    from pipeline.contract import load_contract
    from pipeline.readings import SOURCE_COLUMN, TIMESTAMP, RawFile, SensorReadings

    contract = load_contract(folder / "sensors.yaml")
    frames, files = [], []
    for path in sorted(p for p in folder.iterdir() if p.suffix in (".csv", ".parquet")):
        part = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
        part[TIMESTAMP] = pd.to_datetime(part[TIMESTAMP])
        part[SOURCE_COLUMN] = path.name
        files.append(RawFile(path.name, len(part), tuple(part.columns[:-1])))
        frames.append(part)
    frame = pd.concat(frames, ignore_index=True)[[TIMESTAMP, *contract.names, SOURCE_COLUMN]]
    return SensorReadings(frame, contract, tuple(files))


def step(method: str, folder: Path, out: Path) -> None:
    """One measured run: read, validate, finish, write; phase times and the RSS after reading."""
    from pipeline.ingest import read_raw_files
    from pipeline.store import save_artifact
    from pipeline.validate import interpolate_and_segment, validate_readings

    t0 = time.perf_counter()
    readings = read_raw_files(folder) if method == "ours" else _naive_readings(folder)
    t1 = time.perf_counter()
    rss_read = rss_mb()
    validation = validate_readings(readings)
    t2 = time.perf_counter()
    validated = interpolate_and_segment(readings)
    t3 = time.perf_counter()
    save_artifact(validated, out / "validated_readings")
    t4 = time.perf_counter()
    if not validation.success:
        sys.exit(f"validation failed: {validation.headline()}")
    report(rows=len(readings.frame), read_s=t1 - t0, validate_s=t2 - t1, finish_s=t3 - t2, write_s=t4 - t3,
           rss_after_read_mb=round(rss_read, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--step", choices=METHODS, help=argparse.SUPPRESS)  # internal: one measured run
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        return step(args.step, args.folder, args.out)

    from benchmarks.machine_data import machine_files

    results = {}
    for fmt in args.formats:
        folder = machine_files(args.rows, args.data_dir, fmt=fmt)
        for method in args.methods:
            runs = []
            for i in range(args.repeat):
                with tempfile.TemporaryDirectory() as out:
                    runs.append(run_step(python_step("benchmarks.ingestion", "--step", method, "--folder", folder,
                                                     "--out", out)))
                r = runs[-1]
                print(f"{fmt} {method} run {i + 1}: {r['seconds']:.1f} s, peak {r['peak_rss_mb']:.0f} MB", flush=True)
            results[fmt, method] = median_of(runs)

    print(f"\n{args.rows:,} rows x 9 sensors, median of {args.repeat} run(s), each in a fresh process\n")
    print("| data | method | seconds | peak RSS MB | rows/s | read s | validate s | finish s | write s | "
          "RSS after read MB |\n|---|---|---|---|---|---|---|---|---|---|")
    for (fmt, method), r in results.items():
        print(f"| {fmt} | {method} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['rows'] / r['seconds']:,.0f} | "
              f"{r['read_s']:.1f} | {r['validate_s']:.1f} | {r['finish_s']:.1f} | {r['write_s']:.1f} | "
              f"{r['rss_after_read_mb']:.0f} |")
    for fmt in args.formats:
        if (fmt, "ours") in results and (fmt, "naive") in results:
            ours, naive = results[fmt, "ours"], results[fmt, "naive"]
            print(f"\n{fmt}: ours/naive time {ratio(ours['seconds'], naive['seconds'])}, "
                  f"peak RSS {ratio(ours['peak_rss_mb'], naive['peak_rss_mb'])}")


if __name__ == "__main__":
    main()
