"""Does the latent space mean something? The default model's latents against a PCA of the same windows, on
SKAB (per recording: fit on its first rows, z-scored on them, as benchmarks/anomaly_skab.py does), measured
on the windows after the fit span:

- trustworthiness and continuity (pipeline.usefulness, 10 neighbours, at most 2,000 windows);
- k-NN AUC: each window's mean distance to its 5 nearest fit-span codes, as a score of the SKAB anomaly labels
  (a window is anomalous when its last reading is), ROC-AUC per recording.

"PCA" is the check's baseline (pipeline.usefulness: fit on the windows measured); "fit-span PCA" is fit on the
fit span's windows only, as the model was, and projects the later ones (the k-NN AUC's PCA too); both with as
many components as the model has latent dimensions. Prints a row per recording, then the medians.

    PYTHONPATH=. .venv/bin/python benchmarks/latent_usefulness.py --files 8 [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from benchmarks.anomaly_skab import FOLDERS, load_recording


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


def main() -> None:
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import roc_auc_score

    from pipeline.latents import encode_windows
    from pipeline.model import TrainingConfig
    from pipeline.train import train_autoencoder
    from pipeline.usefulness import measure_usefulness
    from pipeline.windows import WindowSettings, gather_windows, make_training_windows, scoring_windows

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skab-dir", type=Path, default=Path(os.environ.get("SKAB_DIR", "../shared/data/skab")))
    p.add_argument("--files", type=int, default=0, help="only the first N recordings")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-rows", type=int, default=400)
    p.add_argument("--probe", action="store_true", help="also print the spread and saturation figures")
    args = p.parse_args()
    files = [f for d in FOLDERS for f in sorted((args.skab_dir / d).glob("*.csv"), key=lambda f: int(f.stem))]
    files = files[: args.files] if args.files else files
    window, training = WindowSettings(), TrainingConfig(seed=args.seed)
    rows = []
    print("| recording | trust | PCA trust | fit-span PCA trust | continuity | PCA continuity | k-NN AUC | "
          "PCA k-NN AUC |")
    print("|---|---|---|---|---|---|---|---|")
    for path in files:
        readings, labels = load_recording(path)
        frame, n = readings.frame, args.train_rows
        values, times = frame[readings.sensors].to_numpy(np.float64), frame["timestamp"].to_numpy()
        whole = np.array([[0, len(frame)]])
        fit = make_training_windows(values[:n], times[:n], readings.sensors, window.window_length, window.stride,
                                    window.validation_fraction, window.scaling, np.array([[0, n]]))
        trained = train_autoencoder(fit, training)
        scored = scoring_windows(values, times, readings.sensors, trained.scaler, trained.window_length, 1, whole)
        starts = scored.index.starts
        wl = trained.window_length
        test = starts[starts >= n]
        ref = starts[starts + wl <= n]
        z_test = encode_windows(trained.model, scored, starts=test).z
        z_ref = encode_windows(trained.model, scored, starts=ref).z
        x_test = gather_windows(scored.values, test, wl).reshape(len(test), -1)
        x_ref = gather_windows(scored.values, ref, wl).reshape(len(ref), -1)
        mean = x_ref.mean(axis=0)
        _, _, vt = np.linalg.svd(x_ref - mean, full_matrices=False)
        basis = vt[: z_test.shape[1]].T
        p_test, p_ref = (x_test - mean) @ basis, (x_ref - mean) @ basis
        u = measure_usefulness(gather_windows(scored.values, test, wl), z_test)
        y = labels[test + wl - 1]
        auc = roc_auc_score(y, knn_scores(z_ref, z_test)) if 0 < y.sum() < len(y) else float("nan")
        pca_auc = roc_auc_score(y, knn_scores(p_ref, p_test)) if 0 < y.sum() < len(y) else float("nan")
        keep = np.unique(np.linspace(0, len(test) - 1, min(len(test), 2000)).round().astype(int))
        fit_pca_trust = trustworthiness(x_test[keep], p_test[keep], n_neighbors=u.neighbours)
        row = (u.trustworthiness, u.pca_trustworthiness, fit_pca_trust, u.continuity, u.pca_continuity, auc, pca_auc)
        rows.append(row)
        print(f"| {path.parent.name}/{path.name} | " + " | ".join(f"{v:.3f}" for v in row) + " |", flush=True)
        if args.probe:
            probe(trained.model, gather_windows(scored.values, test, wl), gather_windows(scored.values, ref, wl),
                  z_test, z_ref)
    medians = [statistics.median(v for v in col if not np.isnan(v)) for col in zip(*rows, strict=True)]
    print(f"| **median of {len(rows)}** | " + " | ".join(f"**{v:.3f}**" for v in medians) + " |")


if __name__ == "__main__":
    main()
