"""Fit the autoencoder on batches gathered from the window index, with early stopping and seeded randomness.

The training windows are never copied out as one array: each batch is gathered from the scaled series when
the model asks for it, and an epoch is a fresh seeded sample of at most `windows_per_epoch` of them, so a
year of readings costs more epochs to see in full, not more memory, and validation, progress and early
stopping keep their rhythm however large the data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np

from pipeline.alignment import align_with_published
from pipeline.detectors import FITTED, WindowScorer, fit_scorer
from pipeline.latents import EncodingSettings, encode_windows
from pipeline.model import TrainedAutoencoder, TrainingConfig, build_autoencoder
from pipeline.novelty import EncoderStart, code_start
from pipeline.threshold import Calibration, calibrate
from pipeline.windows import TrainingWindows, array_chunks, fit_scaler_chunks, gather_windows

PROGRESS_EVERY_S = 30.0
PCA_WINDOWS = 5000  # training windows the linear encoder's starting PCA (and the pca detector) is computed on


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the model is broken and must not be used."""


class WindowBatches(keras.utils.PyDataset):
    """(x, x) batches gathered on demand, so the 3-D window array never exists in memory as a whole.
    `starts` is the windows' start rows, or a WindowIndex part (`(index, "train")`) whose starts are derived
    from their ranks, never listed. With `sample`, each epoch is a fresh random choice of that many."""

    def __init__(self, values, starts, window_length: int, batch_size: int, shuffle: bool, seed: int = 0,
                 sample: int = 0):
        super().__init__()
        if isinstance(starts, tuple):
            index, part = starts
            self.total, self._starts_of = index.count(part), lambda ranks: index.nth(ranks, part)
        else:
            starts = np.asarray(starts)
            self.total, self._starts_of = len(starts), lambda ranks: starts[ranks]
        self.values, self.window_length = values, window_length
        self.batch_size, self.shuffle = batch_size, shuffle
        self.size = min(sample, self.total) if sample else self.total
        self._rng = np.random.default_rng(seed)
        self._order = self._draw()

    def _draw(self) -> np.ndarray:
        if not self.shuffle:
            return self._starts_of(np.arange(self.total))
        if self.size < self.total:
            return self._starts_of(self._rng.choice(self.total, self.size, replace=False))
        return self._starts_of(self._rng.permutation(self.total))

    def __len__(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def __getitem__(self, i: int):
        x = gather_windows(self.values, self._order[i * self.batch_size : (i + 1) * self.batch_size],
                           self.window_length)
        return x, x

    def on_epoch_end(self):
        self._order = self._draw()


def evenly_spaced(starts, limit: int) -> np.ndarray:
    """At most `limit` of the windows, spread evenly over time (all of them if limit is 0): of the start rows
    given, or of a WindowIndex part (`(index, "validation")`), whose starts are never all listed."""
    if isinstance(starts, tuple):
        index, part = starts
        total = index.count(part)
        ranks = np.arange(total) if not limit or total <= limit else \
            np.linspace(0, total - 1, limit).round().astype(np.int64)
        return index.nth(ranks, part)
    if not limit or len(starts) <= limit:
        return starts
    return starts[np.linspace(0, len(starts) - 1, limit).round().astype(np.int64)]


class _Progress(keras.callbacks.Callback):
    """A log line at each epoch's end, and every PROGRESS_EVERY_S seconds within a long epoch."""

    def __init__(self, epochs: int, steps: int, batch_size: int, report: Callable[[str], None]):
        super().__init__()
        self.epochs, self.steps, self.batch_size, self.report = epochs, steps, batch_size, report
        self.t0 = self.last = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.epoch_t0 = epoch, time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            rate = (batch + 1) * self.batch_size / (now - self.epoch_t0)
            self.report(f"epoch {self.epoch + 1}/{self.epochs}: batch {batch + 1}/{self.steps}, "
                        f"{rate:,.0f} windows/s, loss={(logs or {}).get('loss', float('nan')):.4f}")

    def on_epoch_end(self, epoch, logs=None):
        self.last = now = time.monotonic()
        elapsed = now - self.t0
        eta = elapsed / (epoch + 1) * (self.epochs - epoch - 1)
        losses = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items() if "loss" in k or "mae" in k)
        self.report(f"epoch {epoch + 1}/{self.epochs} {losses} elapsed={elapsed:.1f}s eta<={eta:.0f}s")


class _StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite, and remembers where."""

    def __init__(self):
        super().__init__()
        self.where: str | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.where = f"epoch {self.epoch + 1}, batch {batch + 1} (loss {float(loss)})"
            self.model.stop_training = True


def train_autoencoder(windows: TrainingWindows, config: TrainingConfig,
                      log: Callable[[str], None] = lambda msg: None,
                      callbacks: Sequence[keras.callbacks.Callback] = (),
                      published: tuple[str, TrainedAutoencoder] | None = None) -> TrainedAutoencoder:
    """The fitted autoencoder (best weights by validation loss) with its history as plain lists, its sensors
    and the windows' scaler: everything needed to encode new readings. With the `published` version's name and
    model, its latents are expressed in that model's frame (pipeline.alignment) before the threshold and the
    drift reference are calibrated. Raises TrainingDiverged when the loss becomes NaN or infinite."""
    keras.utils.set_random_seed(config.seed)
    index = windows.index
    # The model standardises with the training span's statistics, streamed: no float64 copy of the span.
    stats = fit_scaler_chunks(array_chunks(windows.values), index.split_row, "zscore")
    started = config.architecture == "default" and config.encoder in ("novelty", "linear")  # from the PCA
    # the linear encoder's start and the detector learn from the same training windows: gathered once
    sample = training_sample(windows) if started or config.detector in FITTED else None
    pca = encoder_start(windows, stats, config.latent_dim, sample, config.encoder == "novelty") if started else None
    model = build_autoencoder(config, index.window_length, len(windows.sensors), stats.mean, stats.std, pca)
    train = WindowBatches(windows.values, (index, "train"), index.window_length, config.batch_size,
                          shuffle=True, seed=config.seed, sample=config.windows_per_epoch)
    val_starts = evenly_spaced((index, "validation"), config.validation_windows)
    val = (WindowBatches(windows.values, val_starts, index.window_length, max(config.batch_size, 1024),
                         shuffle=False) if len(val_starts) else None)
    monitor = "val_loss" if val is not None else "loss"
    stop = keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience, restore_best_weights=True)
    log(f"training {config.architecture} autoencoder: {train.total} training windows "
        f"({train.size} per epoch), validation on {len(val_starts)} of {index.count('validation')}; "
        f"{model.count_params()} parameters")
    progress = _Progress(config.epochs, len(train), config.batch_size, log)
    guard = _StopOnNonFiniteLoss()
    fit = model.fit(train, validation_data=val, epochs=config.epochs, verbose=0,
                    callbacks=[guard, stop, progress, *callbacks])
    if guard.where is not None:
        raise TrainingDiverged(
            f"training diverged: the loss became non-finite at {guard.where}, so the model is not usable. Likely "
            f"causes: readings far larger than the rest (give the sensors a range in the contract so such "
            f"values are refused at validation), unscaled inputs (training_windows scaling 'none'), or a "
            f"learning rate too high ({config.learning_rate:g}): lower it and retrain.")
    history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
    if not any(math.isfinite(v) for v in history[monitor]):
        raise TrainingDiverged(f"training diverged: every {monitor} was NaN or infinite ({history[monitor]}), so "
                               "the model is not usable; check the readings of the validation span")
    best = int(np.argmin(history[monitor]))
    history.update(monitor=monitor, best_epoch=best + 1, epochs_run=len(history[monitor]))
    trained = TrainedAutoencoder(model, config, history, windows.sensors, windows.scaler)
    if published is None:
        trained.alignment_note = "not aligned: no published version to align with; this model's frame is its own"
    else:
        trained.alignment, trained.alignment_note = align_with_published(trained, windows, published[1], published[0])
    log(trained.alignment_text)
    trained.scorer = fit_detector(windows, config, sample)
    trained.calibration = calibrate_threshold(model, windows, config, val_starts, log, trained.scorer)
    return trained


def training_sample(windows: TrainingWindows) -> np.ndarray:
    """At most PCA_WINDOWS training windows, evenly spaced, gathered (windows, rows, sensors)."""
    return gather_windows(windows.values, evenly_spaced((windows.index, "train"), PCA_WINDOWS),
                          windows.index.window_length)


def fit_detector(windows: TrainingWindows, config: TrainingConfig, sample: np.ndarray | None = None) -> WindowScorer:
    """The `config.detector` fitted on the training sample (`training_sample`, given or gathered;
    pipeline.detectors): the pca one with as many components as the latent space has dimensions, the level one
    over the rows of the training span."""
    if config.detector not in FITTED:  # nothing to gather
        return WindowScorer(config.detector)
    return fit_scorer(config.detector, training_sample(windows) if sample is None else sample, config.latent_dim,
                      train_rows=int(windows.index.split_row))


def encoder_start(windows: TrainingWindows, stats, dimensions: int, sample: np.ndarray | None = None,
                  novelty: bool = False) -> EncoderStart:
    """The linear encoder's start (with the novelty coordinate's, `novelty`): from the PCA of the training sample
    (`training_sample`, given or gathered), standardised as the model's first layer standardises them (`stats`),
    flattened."""
    x = (training_sample(windows) if sample is None else sample).astype(np.float64)
    std = np.where(np.asarray(stats.std) > 1e-12, stats.std, 1.0)
    flat = ((x - np.asarray(stats.mean)) / std).reshape(len(x), -1)
    return code_start(flat, dimensions, novelty)


def calibrate_threshold(model, windows: TrainingWindows, config: TrainingConfig, val_starts: np.ndarray,
                        log: Callable[[str], None] = lambda msg: None,
                        scorer: WindowScorer | None = None) -> Calibration:
    """The anomaly threshold from the detector's figures (`scorer`; default the fitted model's reconstruction
    errors) of the validation windows the model did not train on (training windows when there is no
    validation span), and the drift reference: the errors and latents of windows spread evenly over the whole
    span (the data the model describes)."""
    scorer = scorer if scorer is not None else WindowScorer()
    source = "validation" if len(val_starts) else "training"
    starts = val_starts if len(val_starts) else evenly_spaced((windows.index, "train"), config.validation_windows)
    batch = EncodingSettings.batch_size  # the audit's batch shape: in one process both share one compilation
    errors = encode_windows(model, windows, batch, starts=starts, scorer=scorer).anomaly_figures
    spread = evenly_spaced((windows.index, "all"), config.validation_windows)
    span = encode_windows(model, windows, batch, starts=spread)
    days = np.asarray(windows.timestamps[spread + windows.index.window_length - 1], "datetime64[D]")
    calibration = calibrate(errors, span.z, config.threshold_rule(), source, days, span.errors, scorer.detector)
    log(f"anomaly threshold: {calibration.rule_text()}")
    return calibration
