"""Do the operating regimes mean something, and do they survive a retrain? On the shipped sample, whose machine
runs in labelled regimes (the raw files' `regime` column: idle, normal, high load; never a sensor), the
product's regimes (pipeline.regimes: a Gaussian mixture over the latents, its count by BIC) against the same
mixture over a PCA of the same windows with as many dimensions, measured in the same run:

- the count chosen, and the agreement of the regimes with the labels (a window's label is its last row's):
  adjusted Rand index (ARI: 1 the same partition, 0 chance) and normalised mutual information (NMI);
- across seeds (a retrain): each later seed's regimes with ids kept from the first seed's (pipeline.regimes
  keep_ids, the first model's regimes of the same windows), the share of windows whose regime id is the same,
  and the ARI of the two partitions;
- the seconds to fit the regimes and to build a latent view of the span (pipeline.view, at most 5,000
  windows), beside the seconds the training took.

The model is the product's default trained on the whole sample (as a retrain trains on its span); the windows
measured are its span's, evenly spaced, at most 50,000 (as the audit encodes).

    PYTHONPATH=. .venv/bin/python benchmarks/latent_regimes.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd


def labelled_windows(folder: Path):
    """The sample read as the pipeline reads it, its training windows (every window, z-scored on all of it)
    and each window's regime label (its last row's)."""
    from pipeline.ingest import read_raw_files
    from pipeline.segments import SEGMENT_COLUMN, segment_bounds
    from pipeline.validate import interpolate_and_segment
    from pipeline.windows import WindowSettings, make_training_windows

    readings = interpolate_and_segment(read_raw_files(folder))
    frame = readings.frame
    labels = pd.concat([pd.read_csv(f, usecols=["timestamp", "regime"], parse_dates=["timestamp"])
                        for f in sorted(folder.glob("*.csv"))]).drop_duplicates("timestamp").set_index("timestamp")
    w = WindowSettings()
    windows = make_training_windows(frame[readings.sensors].to_numpy(np.float64), frame["timestamp"].to_numpy(),
                                    readings.sensors, w.window_length, w.stride, w.validation_fraction, w.scaling,
                                    segment_bounds(frame[SEGMENT_COLUMN].to_numpy()))
    ends = windows.timestamps[windows.index.starts + w.window_length - 1]
    return windows, labels["regime"].reindex(pd.DatetimeIndex(ends)).to_numpy()


def main() -> None:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from pipeline.latents import encode_windows
    from pipeline.model import TrainingConfig
    from pipeline.regimes import fit_regimes, keep_ids
    from pipeline.train import evenly_spaced, train_autoencoder
    from pipeline.usefulness import pca_basis
    from pipeline.view import max_points, view_html, view_sample, view_windows
    from pipeline.windows import gather_windows

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", type=Path, default=Path("data/raw"), help="raw files with a `regime` column")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=TrainingConfig.epochs)
    args = p.parse_args()

    windows, labels = labelled_windows(args.sample)
    starts = evenly_spaced((windows.index, "all"), 50_000)
    position = np.searchsorted(windows.index.starts, starts)
    y = labels[position]
    print(f"{len(starts)} windows of {len(windows.index.starts)}, labels {pd.Series(y).value_counts().to_dict()}")

    def scored(regimes, z) -> dict:
        r = regimes.assign(z).regime
        return {"regimes": regimes.count, "ARI": adjusted_rand_score(y, r), "NMI": normalized_mutual_info_score(y, r)}

    flat = gather_windows(windows.values, starts, windows.index.window_length).reshape(len(starts), -1)
    mean, basis = pca_basis(flat, TrainingConfig.latent_dim)
    z_pca = (flat - mean) @ basis
    t = time.perf_counter()
    pca_regimes = fit_regimes(z_pca)
    pca = {**scored(pca_regimes, z_pca), "fit s": time.perf_counter() - t}

    rows, first = [], None
    for seed in args.seeds:
        t = time.perf_counter()
        trained = train_autoencoder(windows, TrainingConfig(seed=seed, epochs=args.epochs))
        trained_s = time.perf_counter() - t
        z = encode_windows(trained.model, windows, starts=starts).z
        t = time.perf_counter()
        regimes = fit_regimes(z)
        fit_s = time.perf_counter() - t
        row = {"seed": seed, **scored(regimes, z), "fit s": fit_s, "training s": trained_s}
        if first is None:
            first = (regimes, z)
        else:
            kept = keep_ids(regimes, z, first[0], first[0].assign(first[1]), f"seed {args.seeds[0]}")
            before, after = first[0].assign(first[1]).regime, kept.assign(z).regime
            row |= {"same id": float(np.mean(before == after)), "ARI with first": adjusted_rand_score(before, after)}
        t = time.perf_counter()
        shown = view_sample(len(starts), max_points(windows.index.window_length, len(windows.sensors)))
        html = view_html(view_windows(trained, windows, starts[shown], regimes),
                         list(windows.sensors), "benchmark", "sampled")
        row |= {"view s": time.perf_counter() - t, "view MB": len(html.encode()) / 2**20}
        rows.append(row)
        print(row, flush=True)

    columns = ["regimes", "ARI", "NMI", "same id", "ARI with first", "fit s", "view s", "view MB", "training s"]
    print(f"\n| latents | {' | '.join(columns)} |\n|---|{'---|' * len(columns)}")
    for row in rows:
        print(f"| model, seed {row['seed']} | " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    median = {c: statistics.median([r[c] for r in rows if c in r]) for c in columns if any(c in r for r in rows)}
    print("| model, median | " + " | ".join(_cell(median.get(c)) for c in columns) + " |")
    print("| PCA of the same windows | " + " | ".join(_cell(pca.get(c)) for c in columns) + " |")


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.0f}" if isinstance(value, int) else f"{value:.3f}" if value < 10 else f"{value:.1f}"


if __name__ == "__main__":
    main()
