"""Encode every window in batches into the latent table: one row per window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.model import LATENT_LAYER
from pipeline.windows import TrainingWindows, gather_windows

LATENT_PREFIX = "z_"


def latent_columns(frame: pd.DataFrame) -> list[str]:
    """The z_0..z_{k-1} columns of a latent table, in dimension order."""
    cols = [c for c in frame.columns if c.startswith(LATENT_PREFIX) and c[len(LATENT_PREFIX):].isdigit()]
    return sorted(cols, key=lambda c: int(c[len(LATENT_PREFIX):]))


@dataclass
class Encoding:
    """What encoding every window gives: the latents and how well each window is reconstructed."""

    z: np.ndarray  # (windows, dims)
    sensor_errors: np.ndarray  # (windows, sensors): mean |x - x_hat| over the window's rows, scaled units

    @property
    def errors(self) -> np.ndarray:
        """Mean absolute reconstruction error per window (over rows and sensors), scaled units."""
        return self.sensor_errors.mean(axis=1)

    def error_by_sensor(self, sensors, mask: np.ndarray | None = None) -> dict[str, float]:
        """Mean absolute reconstruction error per sensor over all windows (or the masked ones)."""
        errs = self.sensor_errors if mask is None else self.sensor_errors[mask]
        return {s: float(e) for s, e in zip(sensors, errs.mean(axis=0), strict=True)}


def encode_windows(model, windows: TrainingWindows, batch_size: int = 2048,
                   log: Callable[[str], None] = lambda msg: None) -> Encoding:
    """Encode every window (in time order) in batches; no more than one batch of windows is in memory."""
    import keras

    both = keras.Model(model.inputs, [model.get_layer(LATENT_LAYER).output, model.outputs[0]])
    starts = windows.starts
    z_parts, err_parts = [], []
    for i in range(0, len(starts), batch_size):
        x = gather_windows(windows.values, starts[i : i + batch_size], windows.window_length)
        z, x_hat = both.predict_on_batch(x)
        z_parts.append(np.asarray(z, dtype=np.float32))
        err_parts.append(np.abs(x - np.asarray(x_hat)).mean(axis=1).astype(np.float32))
        if (i // batch_size) % 20 == 0:
            log(f"encoded {min(i + batch_size, len(starts))}/{len(starts)} windows")
    return Encoding(np.concatenate(z_parts), np.concatenate(err_parts))


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
