"""The latent-quality experiment: the `seed` and `default` architectures over several seeds, on the sample
data and on SKAB, with and without scaling. Prints progress, then a markdown table.

    PYTHONPATH=. .venv/bin/python benchmarks/latent_quality.py            # full, ~13 min on 2 CPU cores
    PYTHONPATH=. .venv/bin/python benchmarks/latent_quality.py --quick    # ~2 minutes

Validation MAE is measured the same way for both architectures, after training: mean |x - x_hat| over the
validation windows, in scaled units with scaling 'zscore' and in raw units with 'none'. A run "has a dead
dimension" when a latent column is exactly 0 (or constant) for every window; "ERROR"/"WARN" are what the
pipeline's checks (pipeline.quality.judge_latents) say about the same latents.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from pipeline.ingest import IngestSettings, read_raw_files
from pipeline.latents import encode_windows
from pipeline.model import TrainingConfig
from pipeline.quality import TrainingFacts, judge_latents
from pipeline.readings import TIMESTAMP
from pipeline.train import train_autoencoder
from pipeline.windows import make_training_windows

PROJECT = Path(__file__).resolve().parents[1]
SKAB = PROJECT.parent / "shared" / "data" / "skab"
LABELS = ("anomaly", "changepoint")


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: Path
    pattern: str
    stride: int  # > 1 on the long recordings keeps the run time down without changing the finding
    timestamp_column: str = "timestamp"
    separator: str = ","
    exclude: tuple[str, ...] = ()


DATASETS = [
    Dataset("sample (data/raw)", PROJECT / "data" / "raw", "*.csv", stride=8),
    Dataset("SKAB anomaly-free", SKAB / "anomaly-free", "anomaly-free.csv", 4, "datetime", ";"),
    Dataset("SKAB valve1/0", SKAB / "valve1", "0.csv", 1, "datetime", ";", LABELS),
    Dataset("SKAB valve1/1", SKAB / "valve1", "1.csv", 1, "datetime", ";", LABELS),
]


def load(ds: Dataset):
    readings = read_raw_files(ds.folder, IngestSettings(pattern=ds.pattern, timestamp_column=ds.timestamp_column,
                                                        separator=ds.separator, exclude_columns=ds.exclude))
    frame = readings.frame
    return frame[readings.sensors].to_numpy(np.float64), frame[TIMESTAMP].to_numpy(), readings.sensors


def run_one(windows, config: TrainingConfig) -> dict:
    t0 = time.monotonic()
    trained = train_autoencoder(windows, config)
    model, history = trained.model, trained.history
    enc = encode_windows(model, windows)
    val = enc.validation
    errors = enc.errors
    verdict = judge_latents(enc.z, TrainingFacts(config.architecture, windows.scaler.method))
    zero = verdict.stats["zero_fraction"].to_numpy()
    std = verdict.stats["std"].to_numpy()
    return {
        "dead": bool(((zero == 1.0) | (std == 0.0)).any()),
        "error": not verdict.passed,
        "warn": not verdict.healthy,
        "zero": zero,
        "max_std": float(std.max()),
        "val_mae": float(errors[val].mean()),
        "pr": verdict.participation_ratio,
        "epochs": history["epochs_run"],
        "seconds": time.monotonic() - t0,
    }


def fmt_zero(zero: np.ndarray) -> str:
    return "/".join(f"{z:.2f}" for z in zero)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, 4 epochs, two datasets: a few minutes")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    seeds, epochs, datasets = args.seeds, args.epochs, DATASETS
    if args.quick:
        seeds, epochs, datasets = 1, 4, DATASETS[:2]

    print(f"# latent quality: {seeds} seed(s), {epochs} epochs, window 30, latent_dim 3, "
          f"{platform.machine()} {os.cpu_count()} CPU cores, {time.strftime('%Y-%m-%d')}", flush=True)
    rows, t_start = [], time.monotonic()
    for ds in datasets:
        values, timestamps, sensors = load(ds)
        for scaling in ("zscore", "none"):
            windows = make_training_windows(values, timestamps, sensors, window_length=30, stride=ds.stride,
                                            validation_fraction=0.2, scaling=scaling)
            for arch in ("seed", "default"):
                runs = []
                for seed in range(seeds):
                    r = run_one(windows, TrainingConfig(architecture=arch, epochs=epochs, seed=seed))
                    runs.append(r)
                    print(f"{ds.name} | {scaling} | {arch} | seed {seed}: dead={r['dead']} error={r['error']} "
                          f"warn={r['warn']} zeros={fmt_zero(r['zero'])} max_std={r['max_std']:.3g} "
                          f"val_mae={r['val_mae']:.4f} pr={r['pr']:.2f} epochs={r['epochs']} "
                          f"{r['seconds']:.0f}s (total {time.monotonic() - t_start:.0f}s)", flush=True)
                rows.append((ds, scaling, arch, len(sensors), len(windows.index.starts), runs))

    print("\n| data | scaling | architecture | runs with a dead dimension | check ERROR / WARN | "
          "zero fraction per dimension, each run | max latent std | validation MAE, median (runs) | "
          "participation ratio, median |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ds, scaling, arch, n_sensors, n_windows, runs in rows:
        maes = [r["val_mae"] for r in runs]
        print(f"| {ds.name} ({n_sensors} sensors, {n_windows} windows) | {scaling} | {arch} | "
              f"{sum(r['dead'] for r in runs)}/{len(runs)} | "
              f"{sum(r['error'] for r in runs)} / {sum(r['warn'] for r in runs)} | "
              f"{'; '.join(fmt_zero(r['zero']) for r in runs)} | {max(r['max_std'] for r in runs):.3g} | "
              f"{statistics.median(maes):.4f} ({', '.join(f'{m:.3f}' for m in maes)}) | "
              f"{statistics.median(r['pr'] for r in runs):.2f} |")

    default_dead = sum(r["dead"] or r["error"] for *_, arch, _, _, runs in rows if arch == "default"
                       for r in runs)
    missed = sum(r["dead"] and not r["error"] for *_, arch, _, _, runs in rows for r in runs)
    seed_dead = sum(r["dead"] for *_, arch, _, _, runs in rows if arch == "seed" for r in runs)
    print("\nGoals:")
    print(f"- default architecture runs with a dead or constant dimension: {default_dead}")
    print(f"- runs with a dead dimension that the check did not flag: {missed} (seed-architecture runs with a "
          f"dead dimension: {seed_dead})")
    by_key = {(ds.name, scaling, arch): statistics.median(r["val_mae"] for r in runs)
              for ds, scaling, arch, _, _, runs in rows}
    for (name, scaling, arch), mae in by_key.items():
        if arch == "default":
            seed_mae = by_key[(name, scaling, "seed")]
            print(f"- {name}, {scaling}: default/seed validation MAE = {mae:.4f}/{seed_mae:.4f} = "
                  f"{mae / seed_mae:.2f} ({'meets' if mae <= seed_mae / 2 else 'misses'} the <= 0.5 goal)")
    print(f"\ntotal {time.monotonic() - t_start:.0f}s")


if __name__ == "__main__":
    main()
