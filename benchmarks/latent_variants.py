"""Variants of the default model's encoder, measured as benchmarks/latent_usefulness.py measures the default
(docs/latent_quality.md, "Against a linear baseline"). The experiment swaps pipeline.model's default builder for
a variant, so every other setting and the training loop stay the product's.

    PYTHONPATH=. .venv/bin/python benchmarks/latent_variants.py {default,linear_path,spread_penalty} [--files 8]

Per recording: trustworthiness of the code, of the check's PCA and of a PCA fit on the fit span only; k-NN AUC
and reconstruction-error AUC of SKAB's anomaly labels; the code's spread after over in the fit span. Then the
medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from benchmarks.anomaly_skab import FOLDERS, load_recording
from benchmarks.latent_usefulness import knn_scores

PENALTY = 0.1  # spread_penalty's weight


def spread_penalty(z):
    """PENALTY x ||cov(z) - I||^2 of the batch: keeps the code spread and decorrelated."""
    from keras import ops

    zc = z - ops.mean(z, axis=0, keepdims=True)
    cov = ops.matmul(ops.transpose(zc), zc) / ops.cast(ops.shape(z)[0], z.dtype)
    return PENALTY * ops.sum(ops.square(cov - ops.eye(ops.shape(z)[1], dtype=z.dtype)))


def variant_builder(name: str):
    """A builder with build_default_autoencoder's signature: the default's layers, but the code is made from the
    LSTM state and the flattened window (`linear_path`), or carries the spread penalty (`spread_penalty`)."""
    from pipeline.model import LATENT_LAYER

    def build(window_length, n_sensors, latent_dim, units, learning_rate, mean=None, std=None):
        import keras
        from keras import layers

        mean = np.zeros(n_sensors) if mean is None else np.asarray(mean, dtype=np.float64)
        var = np.ones(n_sensors) if std is None else np.square(np.where(np.asarray(std) > 1e-12, std, 1.0))
        inputs = keras.Input((window_length, n_sensors), name="window")
        x = layers.Normalization(mean=mean, variance=var, name="standardise")(inputs)
        h = layers.LSTM(units)(x)
        if name == "linear_path":
            h = layers.Concatenate()([h, layers.Flatten()(x)])
        regulariser = spread_penalty if name == "spread_penalty" else None
        z = layers.Dense(latent_dim, name=LATENT_LAYER, activity_regularizer=regulariser)(h)
        y = layers.RepeatVector(window_length)(z)
        y = layers.LSTM(units, return_sequences=True)(y)
        y = layers.TimeDistributed(layers.Dense(n_sensors))(y)
        outputs = layers.Normalization(mean=mean, variance=var, invert=True, name="unstandardise")(y)
        model = keras.Model(inputs, outputs, name=f"{name}_autoencoder")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", metrics=["mae"])
        return model

    return build


def measure(path: Path, train_rows: int, seed: int) -> tuple[float, ...]:
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import roc_auc_score

    from pipeline.latents import encode_windows
    from pipeline.model import TrainingConfig
    from pipeline.train import train_autoencoder
    from pipeline.usefulness import measure_usefulness
    from pipeline.windows import WindowSettings, gather_windows, make_training_windows, scoring_windows

    w, n = WindowSettings(), train_rows
    readings, labels = load_recording(path)
    frame = readings.frame
    values, times = frame[readings.sensors].to_numpy(np.float64), frame["timestamp"].to_numpy()
    fit = make_training_windows(values[:n], times[:n], readings.sensors, w.window_length, w.stride,
                                w.validation_fraction, w.scaling, np.array([[0, n]]))
    trained = train_autoencoder(fit, TrainingConfig(seed=seed))
    wl = trained.window_length
    scored = scoring_windows(values, times, readings.sensors, trained.scaler, wl, 1, np.array([[0, len(frame)]]))
    starts = scored.index.starts
    test, ref = starts[starts >= n], starts[starts + wl <= n]
    after = encode_windows(trained.model, scored, starts=test)
    z_ref = encode_windows(trained.model, scored, starts=ref).z
    x_test, x_ref = (gather_windows(scored.values, s, wl) for s in (test, ref))
    usefulness = measure_usefulness(x_test, after.z)
    flat_test, flat_ref = x_test.reshape(len(test), -1), x_ref.reshape(len(ref), -1)
    mean = flat_ref.mean(axis=0)
    _, _, vt = np.linalg.svd(flat_ref - mean, full_matrices=False)
    keep = np.unique(np.linspace(0, len(test) - 1, min(len(test), 2000)).round().astype(int))
    fit_pca = trustworthiness(flat_test[keep], ((flat_test - mean) @ vt[: after.z.shape[1]].T)[keep], n_neighbors=10)
    y = labels[test + wl - 1]
    return (usefulness.trustworthiness, usefulness.pca_trustworthiness, fit_pca,
            roc_auc_score(y, knn_scores(z_ref, after.z)), roc_auc_score(y, after.errors),
            float(after.z.std(0).mean() / z_ref.std(0).mean()))


def main() -> None:
    import pipeline.model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variant", choices=["default", "linear_path", "spread_penalty"])
    p.add_argument("--skab-dir", type=Path, default=Path(os.environ.get("SKAB_DIR", "../shared/data/skab")))
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-rows", type=int, default=400)
    args = p.parse_args()
    if args.variant != "default":
        pipeline.model.build_default_autoencoder = variant_builder(args.variant)
    files = [f for d in FOLDERS for f in sorted((args.skab_dir / d).glob("*.csv"), key=lambda f: int(f.stem))]
    rows = []
    print("| recording | trust | PCA trust | fit-span PCA trust | k-NN AUC | error AUC | spread after/fit |")
    print("|---|---|---|---|---|---|---|")
    for path in files[: args.files]:
        rows.append(measure(path, args.train_rows, args.seed))
        print(f"| {path.parent.name}/{path.name} | " + " | ".join(f"{v:.3f}" for v in rows[-1]) + " |", flush=True)
    medians = [statistics.median(col) for col in zip(*rows, strict=True)]
    print(f"| **{args.variant}, median of {len(rows)}** | " + " | ".join(f"**{v:.3f}**" for v in medians) + " |")


if __name__ == "__main__":
    main()
