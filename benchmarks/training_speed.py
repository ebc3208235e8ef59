"""Training speed to quality: the naive script against the pipeline's training, same data, same windows.

The naive script (what most LSTM autoencoder scripts do): every window copied into one 3-D array, the classic
relu architecture, Adam at Keras' default learning rate, batch 32, 10 epochs. Its final validation MAE is the
target; the pipeline's training (`pipeline.train.train_autoencoder`, default config unless overridden) runs
until its validation MAE reaches the target, and the time it took is compared with the naive training time.
Also: windows/s of the default model at its batch size against the same model at batch 32.
Each step runs in a fresh process (benchmarks/harness.py); timing starts after the imports, at model building.

    PYTHONPATH=. .venv/bin/python benchmarks/training_speed.py --rows 100000 --repeat 3

Data: the sample machine (pipeline.synthetic, 9 sensors, 20 s period), windows of 30 rows at stride 1,
the last 20% of rows for validation, z-scored with the training span's statistics.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from benchmarks.harness import median_of, python_step, ratio, report, run_step
from pipeline.synthetic import SENSORS, generate
from pipeline.windows import make_training_windows

WINDOW = 30
NAIVE = {"batch_size": 32, "epochs": 10, "learning_rate": 1e-3}


def load_windows(rows: int):
    frame = generate(days=rows * 20 / 86400, period_s=20.0, seed=1)
    return make_training_windows(frame[list(SENSORS)].to_numpy(), frame["timestamp"].to_numpy(), list(SENSORS),
                                 window_length=WINDOW, stride=1, validation_fraction=0.2)


def naive(rows: int) -> None:
    import keras

    from pipeline.model import build_seed_autoencoder

    w = load_windows(rows)
    keras.utils.set_random_seed(0)
    t0 = time.perf_counter()
    x_train = np.array([w.values[s : s + WINDOW] for s in w.index.train_starts])  # every window copied
    x_val = np.array([w.values[s : s + WINDOW] for s in w.index.validation_starts])
    model = build_seed_autoencoder(WINDOW, len(SENSORS), 3, NAIVE["learning_rate"])
    t_fit = time.perf_counter()
    fit = model.fit(x_train, x_train, batch_size=NAIVE["batch_size"], epochs=NAIVE["epochs"],
                    validation_data=(x_val, x_val), shuffle=True, verbose=0)
    fit_s = time.perf_counter() - t_fit
    report(training_s=time.perf_counter() - t0, val_mae=fit.history["val_loss"][-1],
           val_curve=[round(v, 4) for v in fit.history["val_loss"]], train_windows=len(x_train),
           windows_per_s=NAIVE["epochs"] * len(x_train) / fit_s,
           window_array_mb=(x_train.nbytes + x_val.nbytes) / 2**20)


def ours(rows: int, target: float, overrides: dict) -> None:
    import keras

    from pipeline.model import TrainingConfig
    from pipeline.train import train_autoencoder

    w = load_windows(rows)
    config = TrainingConfig(**{"epochs": 60, "patience": 60, **overrides})
    t0 = time.perf_counter()
    reached = {}

    class StopAtTarget(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if "s" not in reached and logs["val_mae"] <= target:
                reached.update(s=time.perf_counter() - t0, epoch=epoch + 1, val_mae=logs["val_mae"])
                self.model.stop_training = True

    history = train_autoencoder(w, config, callbacks=[StopAtTarget()]).history
    report(reached_s=reached.get("s"), reached_epoch=reached.get("epoch"), reached_val_mae=reached.get("val_mae"),
           best_val_mae=min(history["val_mae"]), total_s=time.perf_counter() - t0,
           windows_seen=history["epochs_run"] * min(config.windows_per_epoch or 10**12, len(w.index.train_starts)),
           config=config.to_dict())


def throughput(rows: int, batch_size: int, overrides: dict) -> None:
    """Windows/s of training steps alone (one warm-up epoch, then one timed epoch)."""
    import keras

    from pipeline.model import TrainingConfig, build_autoencoder
    from pipeline.train import WindowBatches

    w = load_windows(rows)
    config = TrainingConfig(batch_size=batch_size, **overrides)
    keras.utils.set_random_seed(0)
    model = build_autoencoder(config, WINDOW, len(SENSORS))
    data = WindowBatches(w.values, w.index.train_starts, WINDOW, batch_size, shuffle=True, sample=20_000)
    model.fit(data, epochs=1, verbose=0)
    t0 = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    report(windows_per_s=data.size / (time.perf_counter() - t0), batch_size=batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--config", default="{}", help="JSON overrides of TrainingConfig for our training")
    parser.add_argument("--step", choices=("naive", "ours", "throughput"))
    parser.add_argument("--target", type=float)
    parser.add_argument("--batch-size", type=int)
    args = parser.parse_args()
    overrides = json.loads(args.config)
    if args.step == "naive":
        return naive(args.rows)
    if args.step == "ours":
        return ours(args.rows, args.target, overrides)
    if args.step == "throughput":
        return throughput(args.rows, args.batch_size, {k: v for k, v in overrides.items() if k != "batch_size"})

    step = ("benchmarks.training_speed", "--rows", args.rows, "--config", args.config)
    naive_runs, our_runs = [], []
    for i in range(args.repeat):
        naive_runs.append(run_step(python_step(*step, "--step", "naive")))
        print(f"naive run {i + 1}: {naive_runs[-1]['training_s']:.1f} s, val MAE {naive_runs[-1]['val_mae']:.4f}, "
              f"curve {naive_runs[-1]['val_curve']}", flush=True)
        our_runs.append(run_step(python_step(*step, "--step", "ours", "--target", naive_runs[-1]["val_mae"])))
        print(f"ours run {i + 1}: reached {our_runs[-1]['reached_val_mae']} at {our_runs[-1]['reached_s']} s "
              f"(epoch {our_runs[-1]['reached_epoch']}), best {our_runs[-1]['best_val_mae']:.4f}", flush=True)
    n, o = median_of(naive_runs), median_of([r for r in our_runs if r["reached_s"] is not None] or our_runs)
    batch = o["config"]["batch_size"]
    speed = {b: median_of([run_step(python_step(*step, "--step", "throughput", "--batch-size", b))
                           for _ in range(args.repeat)])["windows_per_s"] for b in (32, batch)}
    print(f"\n{n['train_windows']:,} training windows; medians of {args.repeat} runs\n")
    print("| training | seconds | validation MAE | windows/s | peak RSS MB |\n|---|---|---|---|---|")
    print(f"| naive: seed architecture, batch 32, 10 epochs, all windows copied "
          f"({n['window_array_mb']:.0f} MB) | {n['training_s']:.1f} | {n['val_mae']:.4f} | "
          f"{n['windows_per_s']:,.0f} | {n['peak_rss_mb']:.0f} |")
    reached = "not reached" if o["reached_s"] is None else f"{o['reached_s']:.1f}"
    print(f"| ours: time to the naive final MAE (epoch {o['reached_epoch']}) | {reached} | "
          f"{o['reached_val_mae']} | | {o['peak_rss_mb']:.0f} |")
    print(f"\ntime to the naive script's validation MAE / naive training time: "
          f"{ratio(o['reached_s'] or float('nan'), n['training_s'])} (goal <= 0.1x)")
    print(f"default model windows/s: batch {batch} {speed[batch]:,.0f}, batch 32 {speed[32]:,.0f} "
          f"({ratio(speed[batch], speed[32])})")


if __name__ == "__main__":
    main()
