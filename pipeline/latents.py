"""Encode every window in batches into the latent table: one row per window."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from pipeline.model import LATENT_LAYER
from pipeline.windows import TrainingWindows, gather_windows

LATENT_PREFIX = "z_"


def latent_columns(frame: pd.DataFrame) -> list[str]:
    """The z_0..z_{k-1} columns of a latent table, in dimension order."""
    cols = [c for c in frame.columns if c.startswith(LATENT_PREFIX) and c[len(LATENT_PREFIX):].isdigit()]
    return sorted(cols, key=lambda c: int(c[len(LATENT_PREFIX):]))


def encode_windows(model, windows: TrainingWindows, batch_size: int = 2048,
                   log: Callable[[str], None] = lambda msg: None) -> tuple[np.ndarray, np.ndarray]:
    """Latent vectors (windows, dims) and mean absolute reconstruction error per window (scaled units)."""
    import keras

    both = keras.Model(model.inputs, [model.get_layer(LATENT_LAYER).output, model.outputs[0]])
    starts = windows.starts
    z_parts, err_parts = [], []
    for i in range(0, len(starts), batch_size):
        x = gather_windows(windows.values, starts[i : i + batch_size], windows.window_length)
        z, x_hat = both.predict_on_batch(x)
        z_parts.append(np.asarray(z, dtype=np.float32))
        err_parts.append(np.abs(x - np.asarray(x_hat)).mean(axis=(1, 2)))
        if (i // batch_size) % 20 == 0:
            log(f"encoded {min(i + batch_size, len(starts))}/{len(starts)} windows")
    return np.concatenate(z_parts), np.concatenate(err_parts).astype(np.float32)


def latent_table(windows: TrainingWindows, z: np.ndarray, errors: np.ndarray) -> pd.DataFrame:
    """window_start, window_end, z_0..z_{k-1}, reconstruction_error: one row per window."""
    starts = windows.starts
    table = pd.DataFrame({
        "window_start": windows.timestamps[starts],
        "window_end": windows.timestamps[starts + windows.window_length - 1],
    })
    for d in range(z.shape[1]):
        table[f"{LATENT_PREFIX}{d}"] = z[:, d]
    table["reconstruction_error"] = errors
    return table
