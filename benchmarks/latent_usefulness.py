"""Does the latent space mean something? The default model's latents against a PCA of the same windows, on
SKAB (per recording: fit on its first rows, z-scored on them, as benchmarks/anomaly_skab.py does), measured
on the windows after the fit span:

- trustworthiness and continuity (pipeline.usefulness, 10 neighbours, at most 2,000 windows);
- k-NN AUC: each window's mean distance to its 5 nearest fit-span codes, as a score of the SKAB anomaly labels
  (a window is anomalous when its last reading is), ROC-AUC per recording; "window k-NN AUC" is the same on the
  whole windows (flattened), what a code's distances could at best reproduce.

"PCA" is the check's baseline (pipeline.usefulness: fit on the windows measured); "fit-span PCA" is fit on the
fit span's windows only, as the model was, and projects the later ones (the k-NN AUC's PCA too); both with as
many components as the model has latent dimensions. Prints a row per recording, then the medians and means.
With several --seeds: each model figure is the median over seeds, and the cross-seed figures compare each later
seed's model with the first's on the measured windows: linear CKA, and pipeline.alignment's agreement before and
after the map into the first model's frame (fitted on the fit span, as a retrain's is).

Also the reconstruction error's AUC of the same labels, and the code's spread (std per dimension, mean over
dimensions) after the fit span over in it. `--variant` swaps pipeline.model's default builder for a variant of
its encoder (every other setting and the training loop stay the product's): `linear_path` (the flattened window
concatenated with the LSTM state before the latent layer), `linear_encoder` (the code a linear map of the
flattened window from a random start, which the product's `encoder: linear` starts at the training windows'
PCA; the decoder the default's) or `spread_penalty` (PENALTY x ||cov(z) - I||^2 of each batch on the code).

    PYTHONPATH=. .venv/bin/python benchmarks/latent_usefulness.py --files 8 [--seeds 0 1 2] [--variant linear_path]
    PYTHONPATH=. .venv/bin/python benchmarks/latent_usefulness.py --sample --seeds 0 1 2   # the shipped sample
    PYTHONPATH=. .venv/bin/python benchmarks/latent_usefulness.py --codes   # codes without a model, SKAB, ~20 s
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from benchmarks.anomaly_skab import FOLDERS, load_recording

PENALTY = 0.1  # spread_penalty's weight


def knn_scores(reference: np.ndarray, codes: np.ndarray, k: int = 5) -> np.ndarray:
    d = np.sqrt(((codes[:, None, :] - reference[None, :, :]) ** 2).sum(-1))
    return np.sort(d, axis=1)[:, :k].mean(axis=1)


def probe(model, x_test: np.ndarray, x_ref: np.ndarray, z_test: np.ndarray, z_ref: np.ndarray) -> None:
    import keras

    from pipeline.model import LATENT_LAYER

    state = keras.Model(model.inputs, model.get_layer(LATENT_LAYER).input)
    h_test, h_ref = (np.asarray(state.predict(x, verbose=0)) for x in (x_test, x_ref))
    print(f"|   code spread after/fit {z_test.std(0).mean() / z_ref.std(0).mean():.2f}, LSTM state spread "
          f"{h_test.std(0).mean() / h_ref.std(0).mean():.2f}, state beyond 0.9: {(np.abs(h_test) > 0.9).mean():.1%} "
          f"after / {(np.abs(h_ref) > 0.9).mean():.1%} fit, z-scores beyond 3: {(np.abs(x_test) > 3).mean():.1%} "
          f"after / {(np.abs(x_ref) > 3).mean():.1%} fit |", flush=True)


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

    def build(window_length, n_sensors, latent_dim, units, learning_rate, mean=None, std=None, pca=None, encoder=None):
        import keras
        from keras import layers

        mean = np.zeros(n_sensors) if mean is None else np.asarray(mean, dtype=np.float64)
        var = np.ones(n_sensors) if std is None else np.square(np.where(np.asarray(std) > 1e-12, std, 1.0))
        inputs = keras.Input((window_length, n_sensors), name="window")
        x = layers.Normalization(mean=mean, variance=var, name="standardise")(inputs)
        h = layers.Flatten()(x) if name == "linear_encoder" else layers.LSTM(units)(x)
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


COLUMNS = ("trust", "PCA trust", "fit-span PCA trust", "continuity", "PCA continuity", "k-NN AUC", "PCA k-NN AUC",
           "window k-NN AUC", "centroid AUC", "PCA centroid AUC", "error AUC", "spread after/fit", "cross-seed CKA",
           "agreement unaligned", "agreement aligned")


def centroid_scores(reference: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return np.sqrt(((codes - reference.mean(axis=0)) ** 2).sum(-1))


def recording(path: Path, train_rows: int):
    """(values, times, sensors, segment bounds, labels, fit rows) of a SKAB recording: fit on its first rows,
    measured on the windows after them."""
    readings, labels = load_recording(path)
    frame = readings.frame
    return (frame[readings.sensors].to_numpy(np.float64), frame["timestamp"].to_numpy(), readings.sensors,
            np.array([[0, len(frame)]]), labels, train_rows)


def sample(folder: Path):
    """The same for a folder read as the pipeline reads raw files (the shipped sample): the model fit on all of
    it, as a retrain fits its span, and measured on the same windows, as the audit measures; no labels."""
    from pipeline.ingest import read_raw_files
    from pipeline.segments import SEGMENT_COLUMN, segment_bounds
    from pipeline.validate import interpolate_and_segment

    readings = interpolate_and_segment(read_raw_files(folder))
    frame = readings.frame
    return (frame[readings.sensors].to_numpy(np.float64), frame["timestamp"].to_numpy(), readings.sensors,
            segment_bounds(frame[SEGMENT_COLUMN].to_numpy()), None, len(frame))


def measure(source, seeds: list[int], show_probe: bool, settings: dict) -> list[float]:
    """COLUMNS for one recording (`recording` or `sample`): each model figure the median over `seeds`; the
    cross-seed ones of each later seed's model against the first's on the measured windows (agreement:
    pipeline.alignment's, the map fitted on the fit span as the product fits it)."""
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import roc_auc_score

    from pipeline.alignment import agreement, align_with_published
    from pipeline.latents import encode_windows, latents_of
    from pipeline.model import TrainingConfig
    from pipeline.train import train_autoencoder
    from pipeline.usefulness import evenly_spaced_positions, linear_cka, measure_usefulness, pca_basis
    from pipeline.windows import WindowSettings, gather_windows, make_training_windows, scoring_windows

    values, times, sensors, bounds, labels, n = source
    w = WindowSettings()
    fit_bounds = np.minimum(bounds, n)
    fit = make_training_windows(values[:n], times[:n], sensors, w.window_length, w.stride, w.validation_fraction,
                                w.scaling, fit_bounds[fit_bounds[:, 1] > fit_bounds[:, 0]])
    wl = w.window_length
    scored = scoring_windows(values, times, sensors, fit.scaler, wl, 1, bounds)
    starts = scored.index.starts
    ref = starts[starts + wl <= n]
    test = starts[starts >= n] if n < len(values) else ref  # the sample: the span's own windows
    x_test, x_ref = (gather_windows(scored.values, s, wl) for s in (test, ref))  # each gathered once
    y = labels[test + wl - 1] if labels is not None else np.zeros(len(test), bool)
    both = 0 < y.sum() < len(y)

    def auc(score, *codes):  # score(*codes), only with both kinds of labels
        return roc_auc_score(y, score(*codes)) if both else float("nan")

    models, figures = [], []
    for seed in seeds:
        trained = train_autoencoder(fit, TrainingConfig(seed=seed, **settings))
        after = encode_windows(trained.model, scored, starts=test)
        z_ref = encode_windows(trained.model, scored, starts=ref).z
        u = measure_usefulness(x_test, after.z)
        figures.append([u.trustworthiness, u.continuity, auc(knn_scores, z_ref, after.z),
                        auc(centroid_scores, z_ref, after.z), auc(np.asarray, after.errors),
                        float(after.z.std(0).mean() / z_ref.std(0).mean())])
        models.append((trained, after.z))
        if show_probe:
            probe(trained.model, x_test, x_ref, after.z, z_ref)
    flat_test, flat_ref = x_test.reshape(len(test), -1), x_ref.reshape(len(ref), -1)
    mean, basis = pca_basis(flat_ref, models[0][1].shape[1])  # the fit span's PCA, as the model saw only it
    p_test, p_ref = (flat_test - mean) @ basis, (flat_ref - mean) @ basis
    keep = evenly_spaced_positions(len(test), u.windows)
    fit_pca_trust = trustworthiness(flat_test[keep], p_test[keep], n_neighbors=u.neighbours)
    cross = []
    (first, z_first), later = models[0], models[1:]
    for trained, z in later:
        align_with_published(trained, fit, first, "first seed")  # baked into trained.model
        cross.append([linear_cka(z, z_first), agreement(z, z_first), agreement(latents_of(trained.model, x_test),
                                                                                z_first)])
    t, c, knn, centroid, error, spread = (statistics.median(col) for col in zip(*figures, strict=True))
    cka, unaligned, aligned = ((statistics.median(col) for col in zip(*cross, strict=True)) if cross
                               else [float("nan")] * 3)
    return [t, u.pca_trustworthiness, fit_pca_trust, c, u.pca_continuity, knn, auc(knn_scores, p_ref, p_test),
            auc(knn_scores, flat_ref, flat_test), centroid, auc(centroid_scores, p_ref, p_test), error, spread, cka,
            unaligned, aligned]


NOVELTY_WEIGHTS = (0.25, 0.5, 1.0)  # the novelty coordinate's spread as a share of the others' (novelty.WEIGHT)
CODES = ("whole windows", "window means", "fit-span PCA-1", "fit-span PCA-3", "fit-span PCA-8",
         "PCA-3 of the same windows", *(f"fit-span PCA-2 + novelty x{w}" for w in NOVELTY_WEIGHTS))


def codes_without_a_model(source) -> list[float]:
    """k-NN AUC, trustworthiness and continuity (on the windows after the fit span) of codes made without
    training, for one recording: which codes of the windows tell SKAB's anomalies by distance to the fit span's."""
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import roc_auc_score

    from pipeline.novelty import WEIGHT, code_start, log_residual
    from pipeline.usefulness import NEIGHBOURS, SAMPLE, evenly_spaced_positions, pca_basis
    from pipeline.windows import WindowSettings, gather_windows, make_training_windows, scoring_windows

    values, times, sensors, bounds, labels, n = source
    w = WindowSettings()
    fit = make_training_windows(values[:n], times[:n], sensors, w.window_length, w.stride, w.validation_fraction,
                                w.scaling, np.minimum(bounds, n))
    scored = scoring_windows(values, times, sensors, fit.scaler, w.window_length, 1, bounds)
    starts = scored.index.starts
    ref, test = starts[starts + w.window_length <= n], starts[starts >= n]
    x_ref, x_test = (gather_windows(scored.values, s, w.window_length) for s in (ref, test))
    flat_ref, flat_test = x_ref.reshape(len(ref), -1), x_test.reshape(len(test), -1)
    y = labels[test + w.window_length - 1]
    if not 0 < y.sum() < len(y):
        return [float("nan")] * 3 * len(CODES)

    def pca(fitted_on, k):
        mean, basis = pca_basis(fitted_on, k)
        return (flat_ref - mean) @ basis, (flat_test - mean) @ basis

    start = code_start(flat_ref, 3, novelty=True)

    def novelty(flat, weight):
        logs = (log_residual(flat, start.centre, start.basis) - start.residual_mean) / start.residual_std
        return np.c_[(flat - start.centre) @ start.basis, logs * start.spread * weight / WEIGHT]

    codes = [(flat_ref, flat_test), (x_ref.mean(1), x_test.mean(1)), pca(flat_ref, 1), pca(flat_ref, 3),
             pca(flat_ref, 8), pca(flat_test, 3), *((novelty(flat_ref, w), novelty(flat_test, w))
                                                    for w in NOVELTY_WEIGHTS)]
    keep = evenly_spaced_positions(len(test), SAMPLE)
    return ([roc_auc_score(y, knn_scores(r, t)) for r, t in codes]
            + [trustworthiness(flat_test[keep], t[keep], n_neighbors=NEIGHBOURS) for _, t in codes]
            + [trustworthiness(t[keep], flat_test[keep], n_neighbors=NEIGHBOURS) for _, t in codes])


def main() -> None:
    import pipeline.model
    from pipeline.model import TrainingConfig

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skab-dir", type=Path, default=Path(os.environ.get("SKAB_DIR", "../shared/data/skab")))
    p.add_argument("--files", type=int, default=0, help="only the first N recordings")
    p.add_argument("--sample", type=Path, nargs="?", const="data/raw", default=None,
                   help="measure on this folder of raw files (the shipped sample: data/raw) instead of SKAB")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the model; with 2 or more, the "
                   "cross-seed figures compare each later seed's model with the first's")
    p.add_argument("--train-rows", type=int, default=400)
    p.add_argument("--variant", default="default",
                   choices=["default", "linear_path", "linear_encoder", "spread_penalty"])
    p.add_argument("--probe", action="store_true", help="also print the spread and saturation figures")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a TrainingConfig setting other than its default, e.g. --set batch_size=32")
    p.add_argument("--codes", action="store_true", help="instead of training: the k-NN AUC and trustworthiness "
                   "of codes made without a model (CODES), on SKAB")
    args = p.parse_args()
    settings = {name: type(getattr(TrainingConfig, name))(value)
                for name, value in (item.split("=", 1) for item in args.set)}
    if args.variant != "default":
        pipeline.model.build_default_autoencoder = variant_builder(args.variant)
    if args.sample:
        sources = [(str(args.sample), lambda: sample(args.sample))]
    else:
        files = [f for d in FOLDERS for f in sorted((args.skab_dir / d).glob("*.csv"), key=lambda f: int(f.stem))]
        sources = [(f"{f.parent.name}/{f.name}", lambda f=f: recording(f, args.train_rows))
                   for f in (files[: args.files] if args.files else files)]
    figures = ("k-NN AUC", "trust", "continuity")
    rows, columns = [], ([f"{c} {m}" for m in figures for c in CODES] if args.codes else COLUMNS)
    print("| recording | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, load in sources:
        rows.append(codes_without_a_model(load()) if args.codes else measure(load(), args.seeds, args.probe, settings))
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in rows[-1]) + " |", flush=True)
    label = "codes" if args.codes else " ".join([args.variant, *args.set, f"seeds {' '.join(map(str, args.seeds))}"])
    for name, average in (("median", statistics.median), ("mean", statistics.mean)):
        values = [average([v for v in col if not np.isnan(v)] or [float("nan")]) for col in zip(*rows, strict=True)]
        print(f"| **{label}, {name} of {len(rows)}** | " + " | ".join(f"**{v:.3f}**" for v in values) + " |")


if __name__ == "__main__":
    main()
