"""Fit the autoencoder on batches gathered from the window index, with early stopping and seeded randomness."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras
import numpy as np

from pipeline.model import TrainingConfig, build_autoencoder
from pipeline.windows import TrainingWindows, gather_windows


class WindowBatches(keras.utils.PyDataset):
    """(x, x) batches gathered on demand, so the 3-D window array never exists in memory as a whole."""

    def __init__(self, values: np.ndarray, starts: np.ndarray, window_length: int, batch_size: int,
                 shuffle: bool, seed: int = 0):
        super().__init__()
        self.values, self.starts, self.window_length = values, starts, window_length
        self.batch_size, self.shuffle = batch_size, shuffle
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(starts) if shuffle else starts

    def __len__(self) -> int:
        return math.ceil(len(self.starts) / self.batch_size)

    def __getitem__(self, i: int):
        x = gather_windows(self.values, self._order[i * self.batch_size : (i + 1) * self.batch_size],
                           self.window_length)
        return x, x

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(self.starts)


class _EpochProgress(keras.callbacks.Callback):
    def __init__(self, epochs: int, report: Callable[[str], None]):
        super().__init__()
        self.epochs, self.report, self.t0 = epochs, report, time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.monotonic() - self.t0
        eta = elapsed / (epoch + 1) * (self.epochs - epoch - 1)
        losses = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items() if "loss" in k or "mae" in k)
        self.report(f"epoch {epoch + 1}/{self.epochs} {losses} elapsed={elapsed:.1f}s eta<={eta:.0f}s")


def train_autoencoder(windows: TrainingWindows, config: TrainingConfig,
                      log: Callable[[str], None] = lambda msg: None):
    """Returns the fitted model (best weights by validation loss) and its history as plain lists."""
    keras.utils.set_random_seed(config.seed)
    split = windows.split
    span = np.asarray(windows.values[: split.split_row], dtype=np.float64)  # training span only
    model = build_autoencoder(config, windows.window_length, len(windows.sensors), span.mean(axis=0),
                              span.std(axis=0))
    train = WindowBatches(windows.values, split.train_starts, windows.window_length, config.batch_size,
                          shuffle=True, seed=config.seed)
    has_val = len(split.validation_starts) > 0
    val = (WindowBatches(windows.values, split.validation_starts, windows.window_length, config.batch_size,
                         shuffle=False) if has_val else None)
    monitor = "val_loss" if has_val else "loss"
    stop = keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience, restore_best_weights=True)
    log(f"training {config.architecture} autoencoder: {len(split.train_starts)} training / "
        f"{len(split.validation_starts)} validation windows, {model.count_params()} parameters")
    fit = model.fit(train, validation_data=val, epochs=config.epochs, verbose=0,
                    callbacks=[stop, _EpochProgress(config.epochs, log)])
    history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
    best = int(np.argmin(history[monitor]))
    history.update(monitor=monitor, best_epoch=best + 1, epochs_run=len(history[monitor]))
    return model, history
