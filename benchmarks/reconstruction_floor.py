"""A reference for the latent-quality experiment's validation MAE: how well validation windows are
reconstructed by their own per-sensor mean (a window summarised by one number per sensor: 8-9 numbers, more
than the 3 latent dimensions get). What a model cannot beat with a 3-dimensional latent is mostly the noise
within a window, and this puts a figure on it. Seconds to run, no training:

    PYTHONPATH=. .venv/bin/python benchmarks/reconstruction_floor.py
"""

import numpy as np

from benchmarks.latent_quality import DATASETS, load
from pipeline.windows import gather_windows, make_training_windows

if __name__ == "__main__":
    print("| data | window-mean reconstruction, validation MAE (z-scores) | all-zero reconstruction |")
    print("|---|---|---|")
    for ds in DATASETS:
        values, timestamps, sensors = load(ds)
        w = make_training_windows(values, timestamps, sensors, window_length=30, stride=ds.stride,
                                  validation_fraction=0.2, scaling="zscore")
        x = gather_windows(w.values, w.index.validation_starts, w.index.window_length)
        print(f"| {ds.name} | {np.abs(x - x.mean(axis=1, keepdims=True)).mean():.4f} | {np.abs(x).mean():.4f} |")
