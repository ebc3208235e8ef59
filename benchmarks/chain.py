"""The whole chain at scale: `dagster asset materialize` against the same stages in one plain Python process.

Generates N rows of the sample machine (9 sensors, 10 Hz, one file per day; benchmarks/machine_data.py), then,
each run in a fresh process on a fresh data root:
- plain: raw_readings -> validated_readings -> training_windows -> autoencoder -> latent_vectors (+ the latent
  check), called as the assets call them, each artifact written with pipeline.store, plots made, no Dagster;
- dagster: `dagster asset materialize -m assets.definitions --select '*'` with the same configuration.
Prints wall time, peak RSS and rows/s of each, time per stage, and the ratio dagster/plain (medians).

    PYTHONPATH=. .venv/bin/python benchmarks/chain.py --rows 10000000 --repeat 3

Defaults: windows of 30 rows at stride 30 (every reading in exactly one window, so one epoch is one pass over
the training span), 1 epoch of every training window (windows_per_epoch 0).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.harness import PROJECT, median_of, peak_rss_mb, python_step, ratio, report, rss_mb, run_step
from benchmarks.machine_data import machine_files

STAGES = ("raw_readings", "validated_readings", "training_windows", "autoencoder", "latent_vectors",
          "latent_quality_checks", "published_latents")


def run_config(raw_dir: Path, stride: int, epochs: int) -> dict:
    return {"ops": {
        "raw_readings": {"config": {"raw_dir": str(raw_dir)}},
        "training_windows": {"config": {"stride": stride}},
        "autoencoder": {"config": {"epochs": epochs, "windows_per_epoch": 0}},
    }}


def plain(raw_dir: Path, root: Path, stride: int, epochs: int) -> None:
    """The stages as the assets call them, in one process, every artifact written as the IO manager does."""
    from pipeline.ingest import read_raw_files
    from pipeline.latents import encode_windows, latent_table
    from pipeline.model import TrainingConfig
    from pipeline.plots import hours_since_start, latent_scatter_png, loss_curve_png
    from pipeline.quality import TrainingFacts, judge_latents
    from pipeline.store import atomic_write_text, save_artifact
    from pipeline.train import train_autoencoder
    from pipeline.validate import interpolate_and_segment, validate_readings
    from pipeline.windows import WindowSettings, windows_from_readings

    stages, t = {}, time.perf_counter()

    def done(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        stages[name] = round(now - t, 2)
        print(f"{name}: {now - t:.1f} s, RSS {rss_mb():.0f} MB, peak so far {peak_rss_mb():.0f} MB", flush=True)
        t = now

    readings = read_raw_files(raw_dir, cache_dir=root / "cache" / "parsed_files")
    save_artifact(readings, root / "store" / "raw_readings")
    done("raw_readings")
    report_ = validate_readings(readings)
    atomic_write_text(root / "reports" / "validation.json", report_.to_json())
    assert report_.success, report_.headline()
    validated = interpolate_and_segment(readings)
    del readings
    save_artifact(validated, root / "store" / "validated_readings")
    done("validated_readings")
    windows = windows_from_readings(validated, WindowSettings(stride=stride))
    del validated
    save_artifact(windows, root / "store" / "training_windows")
    done("training_windows")
    config = TrainingConfig(epochs=epochs, windows_per_epoch=0)
    trained = train_autoencoder(windows, config)
    save_artifact(trained, root / "versions" / "plain" / "autoencoder")
    loss_curve_png(trained.history)
    done("autoencoder")
    enc = encode_windows(trained.model, windows)
    table = latent_table(windows, enc)
    save_artifact(table, root / "versions" / "plain" / "latent_vectors")
    latent_scatter_png(enc.z, hours_since_start(table.window_start), "hours", "by time")
    latent_scatter_png(enc.z, enc.errors, "error", "by error")
    done("latent_vectors")
    verdict = judge_latents(enc.z, TrainingFacts(config.architecture, windows.scaler.method))
    done("latent_quality_checks")
    report(stages=stages, rows=len(windows.values), windows=len(table), passed=verdict.passed)


def dagster(raw_dir: Path, root: Path, stride: int, epochs: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix="dagster_home_"))
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home)
    try:
        result = run_step([str(PROJECT / ".venv" / "bin" / "dagster"), "asset", "materialize", "-m",
                           "assets.definitions", "--select", "*", "--config-json",
                           json.dumps(run_config(raw_dir, stride, epochs))],
                          env={"PIPELINE_DATA_DIR": str(root), "DAGSTER_HOME": str(home)}, keep_output=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    found = re.findall(r'Finished execution of step "(\w+)" in ([\dhms.]+)\.', result.pop("output"))
    result["stages"] = {name: seconds_of(text) for name, text in found}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stride", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--data-dir", type=Path, default=PROJECT.parent / "bench_data",
                        help="where generated raw files are kept between runs")
    parser.add_argument("--step", choices=("plain",))
    parser.add_argument("--raw-dir", type=Path)
    parser.add_argument("--root", type=Path)
    args = parser.parse_args()
    if args.step == "plain":
        return plain(args.raw_dir, args.root, args.stride, args.epochs)

    raw_dir = machine_files(args.rows, args.data_dir, fmt=args.format)
    runs = {"plain": [], "dagster": []}
    for i in range(args.repeat):
        for kind, done in runs.items():
            root = Path(tempfile.mkdtemp(prefix=f"chain_{kind}_", dir=args.data_dir))
            try:
                if kind == "plain":
                    r = run_step(python_step("benchmarks.chain", "--step", "plain", "--raw-dir", raw_dir, "--root",
                                             root, "--stride", args.stride, "--epochs", args.epochs))
                else:
                    r = dagster(raw_dir, root, args.stride, args.epochs)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            done.append(r)
            print(f"{kind} run {i + 1}: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB, "
                  f"stages {r['stages']}", flush=True)
    p, d = median_of(runs["plain"]), median_of(runs["dagster"])
    print(f"\n{args.rows:,} rows x 9 sensors ({args.format}), stride {args.stride}, {args.epochs} epoch(s); "
          f"medians of {args.repeat} runs, {os.cpu_count()} CPU cores\n")
    print("| run | seconds | peak RSS MB | rows/s |\n|---|---|---|---|")
    for name, r in (("plain process", p), ("dagster asset materialize", d)):
        print(f"| {name} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {args.rows / r['seconds']:,.0f} |")
    print("\n| stage | plain s | dagster s |\n|---|---|---|")
    for stage in STAGES:
        values = [statistics_median([r["stages"].get(stage) for r in runs[k]]) for k in runs]
        print(f"| {stage} | " + " | ".join("" if v is None else f"{v:.1f}" for v in values) + " |")
    print(f"\ndagster / plain wall time: {ratio(d['seconds'], p['seconds'])} (goal <= 1.2x)")
    print(f"whole chain: {d['seconds'] / 60:.1f} min (goal <= 5), peak RSS {d['peak_rss_mb'] / 1024:.2f} GB "
          f"(goal <= 2)")


def seconds_of(text: str) -> float:
    """Dagster's step duration ("850ms", "9.16s", "3m20s", "1h2m3s") in seconds."""
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(v) * units[u] for v, u in re.findall(r"([\d.]+)([hms])", text))


def statistics_median(values: list) -> float | None:
    import statistics

    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


if __name__ == "__main__":
    main()
