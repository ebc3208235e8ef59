"""Windowing + scaling, and latent export, at scale: peak memory and time against the naive way.

Prepares (once, kept in --data-dir) the validated readings of N rows as the pipeline stores them, then, each
measured in a fresh process (benchmarks/harness.py):
- windowing, ours: the stored readings streamed in chunks into one scaled float32 array, the window index
  derived from segment bounds, the artifact written (pipeline.windows, pipeline.store);
- windowing, naive: the readings loaded as a frame, scaled in float64, every window copied into one 3-D array
  (at --naive-rows rows: at 10 M rows and stride 1 that array alone is 21.6 GB);
- export, ours: every window encoded in batches, the latent table written in Parquet row groups;
- export, naive: every window copied into one array, `predict` on all of it, a DataFrame, `to_parquet`.
The export uses an untrained default model: its cost does not depend on the weights. Peak RSS includes the
interpreter and its imports; "added" is the peak minus the RSS before the stage started.

    PYTHONPATH=. .venv/bin/python benchmarks/windowing_export.py --rows 10000000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from benchmarks.harness import PROJECT, median_of, peak_rss_mb, python_step, ratio, report, rss_mb, run_step
from benchmarks.machine_data import SENSOR_COUNT, machine_files
from pipeline.windows import WindowSettings

WINDOW = WindowSettings.window_length  # the pipeline's default


def prepared(rows: int, data_dir: Path) -> Path:
    """The validated readings artifact of `rows` rows (made once)."""
    from pipeline.ingest import read_raw_files
    from pipeline.store import save_artifact
    from pipeline.validate import interpolate_and_segment

    folder = data_dir / f"validated_{rows}"
    if not (folder / "manifest.json").is_file():
        raw = machine_files(rows, data_dir, fmt="parquet")
        save_artifact(interpolate_and_segment(read_raw_files(raw)), folder)
    return folder


def windowing_ours(folder: Path, stride: int, out: Path) -> None:
    from pipeline.store import load_artifact, save_artifact
    from pipeline.windows import WindowSettings, windows_from_readings

    before = rss_mb()
    t0 = time.perf_counter()
    readings = load_artifact(folder)
    w = windows_from_readings(readings, WindowSettings(window_length=WINDOW, stride=stride))
    save_artifact(w, out)
    report(stage_s=time.perf_counter() - t0, rss_before_mb=before, added_mb=peak_rss_mb() - before,
           rows=len(w.values), windows=w.summary()["windows"])


def windowing_naive(folder: Path, stride: int, rows: int) -> None:
    import pandas as pd

    from pipeline.readings import TIMESTAMP
    from pipeline.store import load_artifact

    before = rss_mb()
    t0 = time.perf_counter()
    readings = load_artifact(folder)
    frame = pd.read_parquet(folder / "readings.parquet").iloc[:rows]
    values = frame[readings.sensors].to_numpy()
    split = int(len(values) * 0.8)
    scaled = (values - values[:split].mean(axis=0)) / values[:split].std(axis=0)
    windows = np.array([scaled[i : i + WINDOW] for i in range(0, len(scaled) - WINDOW + 1, stride)])
    timestamps = frame[TIMESTAMP].to_numpy()
    report(stage_s=time.perf_counter() - t0, rss_before_mb=before, added_mb=peak_rss_mb() - before,
           rows=len(values), windows=len(windows), window_array_mb=windows.nbytes / 2**20, ts=len(timestamps))


def export_ours(windows_dir: Path, out: Path) -> None:
    from pipeline.latents import encode_windows, latent_table
    from pipeline.model import TrainingConfig, build_autoencoder
    from pipeline.store import load_artifact, save_artifact

    w = load_artifact(windows_dir)
    model = build_autoencoder(TrainingConfig(), WINDOW, len(w.sensors))
    before = rss_mb()
    t0 = time.perf_counter()
    enc = encode_windows(model, w)
    save_artifact(latent_table(w, enc), out)
    seconds = time.perf_counter() - t0
    report(stage_s=seconds, rss_before_mb=before, added_mb=peak_rss_mb() - before, windows=len(enc.z),
           windows_per_s=len(enc.z) / seconds)


def export_naive(windows_dir: Path, out: Path) -> None:
    import keras
    import pandas as pd

    from pipeline.model import LATENT_LAYER, TrainingConfig, build_autoencoder
    from pipeline.store import load_artifact

    w = load_artifact(windows_dir)
    model = build_autoencoder(TrainingConfig(), WINDOW, len(w.sensors))
    before = rss_mb()
    t0 = time.perf_counter()
    starts = w.index.starts
    x = np.array([w.values[s : s + WINDOW] for s in starts])
    encoder = keras.Model(model.inputs, model.get_layer(LATENT_LAYER).output)
    z = encoder.predict(x, verbose=0)
    errors = np.abs(x - model.predict(x, verbose=0)).mean(axis=(1, 2))
    table = pd.DataFrame({"window_start": w.timestamps[starts], "window_end": w.timestamps[starts + WINDOW - 1]})
    for d in range(z.shape[1]):
        table[f"z_{d}"] = z[:, d]
    table["reconstruction_error"] = errors
    table.to_parquet(out / "latents.parquet", index=False)
    seconds = time.perf_counter() - t0
    report(stage_s=seconds, rss_before_mb=before, added_mb=peak_rss_mb() - before, windows=len(z),
           windows_per_s=len(z) / seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--naive-rows", type=int, default=1_000_000)
    parser.add_argument("--stride", type=int, default=1, help="window stride for windowing")
    parser.add_argument("--export-stride", type=int, default=30, help="window stride for the export")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=PROJECT.parent / "bench_data")
    parser.add_argument("--step")
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.step == "windowing_ours":
        return windowing_ours(args.folder, args.stride, args.out)
    if args.step == "windowing_naive":
        return windowing_naive(args.folder, args.stride, args.naive_rows)
    if args.step == "export_ours":
        return export_ours(args.folder, args.out)
    if args.step == "export_naive":
        return export_naive(args.folder, args.out)

    folder = prepared(args.rows, args.data_dir)
    work = args.data_dir / "windowing_export_work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    raw_mb = args.rows * SENSOR_COUNT * 4 / 2**20
    me = ("benchmarks.windowing_export", "--folder", folder, "--naive-rows", args.naive_rows)

    def measure(*extra) -> dict:
        return median_of([run_step(python_step(*me, *extra)) for _ in range(args.repeat)])

    ours = measure("--step", "windowing_ours", "--stride", args.stride, "--out", work / "w")
    naive = measure("--step", "windowing_naive", "--stride", args.stride)
    print(f"\nwindowing + scaling, stride {args.stride}, medians of {args.repeat}; raw float32 array of {args.rows:,} "
          f"rows: {raw_mb:.0f} MB\n")
    print("| windowing | rows | windows | seconds | peak RSS MB | added MB | added / raw float32 |\n"
          "|---|---|---|---|---|---|---|")
    for name, r in (("ours", ours), ("naive (3-D window array)", naive)):
        raw = r["rows"] * SENSOR_COUNT * 4 / 2**20
        print(f"| {name} | {r['rows']:,} | {r['windows']:,} | {r['stage_s']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{r['added_mb']:.0f} | {r['added_mb'] / raw:.2f} |")
    print(f"ours: peak RSS / raw float32 = {ours['peak_rss_mb'] / raw_mb:.2f} (whole process), added / raw = "
          f"{ours['added_mb'] / raw_mb:.2f} (goal <= 1.5)")

    windows_dir = work / "w_export"
    run_step(python_step(*me, "--step", "windowing_ours", "--stride", args.export_stride, "--out", windows_dir))
    (work / "naive_out").mkdir()
    e_ours = measure("--step", "export_ours", "--folder", windows_dir, "--out", work / "latents")
    e_naive = measure("--step", "export_naive", "--folder", windows_dir, "--out", work / "naive_out")
    print(f"\nexport of {e_ours['windows']:,} windows (stride {args.export_stride}), medians of {args.repeat}\n")
    print("| export | seconds | windows/s | peak RSS MB | added MB |\n|---|---|---|---|---|")
    for name, r in (("ours (batches, Parquet row groups)", e_ours), ("naive (predict on all)", e_naive)):
        print(f"| {name} | {r['stage_s']:.1f} | {r['windows_per_s']:,.0f} | {r['peak_rss_mb']:.0f} | "
              f"{r['added_mb']:.0f} |")
    print(f"ours / naive: time {ratio(e_ours['stage_s'], e_naive['stage_s'])}, added memory "
          f"{ratio(e_ours['added_mb'], e_naive['added_mb'])}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
