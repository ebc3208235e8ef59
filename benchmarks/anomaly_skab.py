"""SKAB's outlier-detection leaderboard protocol, run through the project's own functions and defaults.

For each of SKAB's 34 recordings with anomalies (valve1, valve2, other): read, validate and segment it as the
pipeline does, fit the autoencoder on its first --train-rows rows (the last validation_fraction of them
calibrates the threshold), score every window of the recording with that model and its detector (the default
`level`, or `--set detector=...`), turn flagged windows into events (pipeline.events) and count a point as
flagged when an event covers it. Beside it, from the same run: the model's own reconstruction error, and the
model-free detectors (the product's `level`, `pca`, `zscore`, and an Isolation Forest) on the same windows, each
with its own threshold rule. With --margins, every row again at other margins (how much of a lead is the
threshold's). F1, FAR (false alarms over normal points) and MAR (missed alarms over anomalous points) are over
the test points (rows from --train-rows on) of all recordings together, labels from the `anomaly` column, as
the leaderboard counts them.

SKAB (GPL-3.0) is public: https://github.com/waico/SKAB, folder data/. Give its folder with --skab-dir or
$SKAB_DIR.

    PYTHONPATH=. .venv/bin/python benchmarks/anomaly_skab.py --skab-dir ../shared/data/skab --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import fields, replace
from itertools import product
from pathlib import Path

import numpy as np

LEADERBOARD = [  # SKAB README, "Proposed Leaderboard" (outlier detection): F1, FAR %, MAR %
    ("Conv-AE", 0.78, 13.55, 28.02), ("MSET", 0.78, 39.73, 14.13), ("T-squared+Q (PCA)", 0.76, 26.62, 24.60),
    ("LSTM-AE", 0.74, 29.96, 25.92), ("T-squared", 0.66, 18.07, 49.13), ("Vanilla LSTM", 0.54, 12.54, 64.08),
    ("Isolation forest", 0.29, 2.56, 82.89),
]
FOLDERS = ("valve1", "valve2", "other")


def load_recording(path: Path, exclude: tuple[str, ...] = ()):
    """(validated, segmented readings, point labels) of one SKAB file, read as the pipeline reads a raw file;
    `exclude`: sensors left out, as raw_readings' exclude_columns leaves them out."""
    from pipeline.ingest import IngestSettings, read_raw_files
    from pipeline.validate import interpolate_and_segment, validate_readings

    settings = IngestSettings(timestamp_column="datetime", separator=";", pattern=path.name,
                              exclude_columns=("anomaly", "changepoint", *exclude))
    readings = read_raw_files(path.parent, settings)
    report = validate_readings(readings)
    if not report.success:
        raise SystemExit(f"{path}: {report.headline()}")
    import pandas as pd

    labels = pd.read_csv(path, sep=";", usecols=["anomaly"])["anomaly"].to_numpy() > 0.5
    return interpolate_and_segment(readings), labels


def split_recording(readings, labels, train_rows: int, window, ignore_pauses: bool) -> dict:
    """A recording as every detector here sees it, built once: its times and labels, the fit span's windows
    (its first rows, scaler fit on them) and every window of the recording scaled with that scaler, within
    the pipeline's segments (or one per file with `ignore_pauses`)."""
    from pipeline.segments import SEGMENT_COLUMN, segment_bounds
    from pipeline.windows import make_training_windows, scoring_windows

    frame = readings.frame
    values, times = frame[readings.sensors].to_numpy(np.float64), frame["timestamp"].to_numpy()
    if len(labels) != len(frame):
        raise SystemExit(f"labels ({len(labels)}) and readings ({len(frame)}) differ in length")
    bounds = (np.array([[0, len(frame)]]) if ignore_pauses
              else segment_bounds(frame[SEGMENT_COLUMN].to_numpy()))
    fit_bounds = np.minimum(bounds, train_rows)
    fit = make_training_windows(values[:train_rows], times[:train_rows], readings.sensors, window.window_length,
                                window.stride, window.validation_fraction, window.scaling,
                                fit_bounds[fit_bounds[:, 1] > fit_bounds[:, 0]])
    scored = scoring_windows(values, times, readings.sensors, fit.scaler, window.window_length, 1, bounds)
    starts = scored.index.starts
    return {"times": times, "labels": labels, "sensors": readings.sensors, "fit": fit, "scored": scored,
            "start": times[starts], "end": times[starts + window.window_length - 1]}


def score_recording(split: dict, training) -> tuple[dict, dict]:
    """The recording scored by a model fit on its first rows, as the product scores a day: window times, the
    detector's figures (total and per sensor) with the model's calibration, and the seconds its training took;
    and the same for the model's own reconstruction errors, calibrated on its validation windows with the
    autoencoder detector's rule (the same when that is the detector)."""
    from pipeline.latents import encode_windows
    from pipeline.threshold import calibrate
    from pipeline.train import train_autoencoder

    fit = split["fit"]
    t0 = time.perf_counter()
    trained = train_autoencoder(fit, training)  # its scaler is the fit span's, which `scored` is scaled with
    seconds = time.perf_counter() - t0
    enc = encode_windows(trained.model, split["scored"], scorer=trained.scorer)
    validation = encode_windows(trained.model, fit, starts=fit.index.validation_starts).sensor_errors
    ours = {**_window_keys(split), "errors": enc.anomaly_figures, "calibration": trained.calibration,
            "sensor_errors": enc.anomaly_sensor_figures,
            "seconds": seconds}
    model = {**_window_keys(split), "errors": enc.errors, "sensor_errors": enc.sensor_errors,
             "calibration": calibrate(validation.mean(axis=1), enc.z, autoencoder_rule(training)),
             "seconds": seconds, "validation_sensor_errors": validation}
    return ours, model


def autoencoder_rule(training):
    """The threshold rule of the autoencoder detector with `training`'s settings (its own margin unless one is
    set, as every row of the run)."""
    return replace(training, detector="autoencoder").threshold_rule()


def _window_keys(split: dict) -> dict:
    return {k: split[k] for k in ("times", "labels", "sensors", "start", "end")}


COMBINATIONS = {"mean": lambda n: n.mean(axis=1), "max": lambda n: n.max(axis=1),
                "median": lambda n: np.median(n, axis=1), "top2": lambda n: np.sort(n, axis=1)[:, -2:].mean(axis=1)}


def combined_score(combine: str, rule):
    """A window score from the per-sensor errors, each over that sensor's `rule.quantile` of its validation
    errors, combined over sensors (COMBINATIONS), over `rule.margin` x the same quantile of the validation
    windows' combined scores: above 1 is anomalous, as with the model's own score."""
    def score(r) -> np.ndarray:
        val = r["validation_sensor_errors"]
        unit = np.maximum(np.quantile(val, rule.quantile, axis=0), 1e-9)
        combined, reference = (COMBINATIONS[combine](e / unit) for e in (r["sensor_errors"], val))
        return combined / (rule.margin * max(float(np.quantile(reference, rule.quantile)), 1e-9))
    return score


DETECTOR_ROWS = {"level": "level", "PCA-3": "pca", "per-sensor z-score": "zscore"}  # the product's, model-free
BASELINES = (*DETECTOR_ROWS, "Isolation Forest")


def baseline_recording(split: dict, training) -> dict[str, dict]:
    """The same recording scored by the model-free detectors, on the model's windows (same scaler, same
    segments) and their own threshold rule (`training`'s, with each detector's margin) on their figures of the
    same validation windows, as `score_recording` returns:
    - level, PCA-3 and the per-sensor z-score: the product's `level`, `pca` and `zscore` detectors
      (pipeline.detectors), fitted on the fit span's training windows as `train_autoencoder` fits them, the
      PCA with 3 components, as the model has 3 dimensions;
    - Isolation Forest (scikit-learn, 200 trees, seed 0) on each window's per-sensor mean and std, its score
      above the training windows' median, the z-score's rule; the z-score's per-sensor figures name the top
      sensors."""
    from sklearn.ensemble import IsolationForest

    from pipeline.threshold import calibrate
    from pipeline.train import fit_detector
    from pipeline.windows import gather_windows

    fit, scored = split["fit"], split["scored"]
    wl = fit.index.window_length
    x, x_train, x_val = (gather_windows(scored.values, st, wl) for st in
                         (scored.index.starts, fit.index.train_starts, fit.index.validation_starts))
    configs = {name: replace(training, detector=d, latent_dim=3) for name, d in DETECTOR_ROWS.items()}
    scorers = {name: fit_detector(fit, config) for name, config in configs.items()}
    per_sensor = {name: (sc.sensor_figures(x), sc.sensor_figures(x_val)) for name, sc in scorers.items()}
    errors = {name: tuple(sc.window_figures(f) for f in per_sensor[name]) for name, sc in scorers.items()}

    def features(w):
        return np.concatenate([w.mean(axis=1), w.std(axis=1)], axis=1)

    forest = IsolationForest(n_estimators=200, random_state=0).fit(features(x_train))
    typical = float(np.median(-forest.score_samples(features(x_train))))
    # its anomaly score above the training windows' median: a zero for the threshold rule's margin
    errors["Isolation Forest"] = tuple(np.maximum(-forest.score_samples(features(w)) - typical, 0.0)
                                       for w in (x, x_val))
    per_sensor["Isolation Forest"] = per_sensor["per-sensor z-score"]
    configs["Isolation Forest"] = configs["per-sensor z-score"]
    out = {}
    for name in BASELINES:
        every, val = errors[name]  # all >= 0, as the threshold rule (margin x quantile) needs
        out[name] = {**_window_keys(split), "errors": every, "sensor_errors": per_sensor[name][0],
                     "calibration": calibrate(val, every[:, None], configs[name].threshold_rule())}
    return out


def decide(scored: list[dict], train_rows: int, events, threshold=None, score=None) -> tuple[np.ndarray, np.ndarray]:
    """Flags and labels of every recording's test points: events of the windows over the model's threshold
    (or over `threshold(calibration)`, or whose `score(recording)` is above 1), a point flagged when an event
    covers it."""
    from pipeline.events import find_events, flagged_points

    flags, labels = [], []
    for r in scored:
        cal = r["calibration"]
        level = cal.threshold if threshold is None else threshold(cal)
        scores = r["errors"] / level if score is None else score(r)
        found = find_events(r["start"], r["end"], scores, r["sensor_errors"], r["sensors"], events)
        flags.append(flagged_points(r["times"], found)[train_rows:])
        labels.append(r["labels"][train_rows:])
    return np.concatenate(flags), np.concatenate(labels)


def rates(flags: np.ndarray, labels: np.ndarray) -> dict:
    tp, fp = int((flags & labels).sum()), int((flags & ~labels).sum())
    fn, tn = int((~flags & labels).sum()), int((~flags & ~labels).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"f1": f1, "far": 100 * fp / max(fp + tn, 1), "mar": 100 * fn / max(fn + tp, 1), "points": len(flags)}


def main(argv: list[str] | None = None) -> None:
    from pipeline.events import EventSettings
    from pipeline.model import TrainingConfig
    from pipeline.windows import WindowSettings

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skab-dir", type=Path, default=Path(os.environ.get("SKAB_DIR", "../shared/data/skab")))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--train-rows", type=int, default=400)
    p.add_argument("--ignore-pauses", action="store_true", help="one segment per file, as the leaderboard's "
                   "methods see it (default: windows never cross a pause, as the pipeline does)")
    p.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                   help="override a default of WindowSettings, TrainingConfig or EventSettings, e.g. epochs=50")
    p.add_argument("--exclude", nargs="*", default=[], metavar="SENSOR",
                   help="sensors left out (raw_readings' exclude_columns), e.g. Temperature Thermocouple")
    p.add_argument("--files", type=int, default=0, help="only the first N recordings (a quick look)")
    p.add_argument("--margins", type=float, nargs="*", default=[], help="also report every row with the threshold "
                   "at these margins x its validation quantile, on the same models, e.g. 1.5 2 2.5 3")
    p.add_argument("--combinations", nargs="*", default=[], choices=sorted(COMBINATIONS),
                   help="also report scores from the per-sensor errors, each over its validation quantile, "
                        "combined over sensors this way, on the same models")
    p.add_argument("--merge-gaps", type=float, nargs="*", default=[0.0], help="with --margins: merge_gap_s values")
    args = p.parse_args(argv)
    window, training, events = WindowSettings(), TrainingConfig(), EventSettings()
    for item in args.set:
        name, value = item.split("=", 1)
        for i, obj in enumerate((window, training, events)):
            if name in {f.name for f in fields(obj)}:
                current = getattr(obj, name)
                kind = float if current is None else type(current)  # threshold_margin: None is "the detector's"
                new = replace(obj, **{name: kind(value)})
                window, training, events = [new if j == i else o for j, o in enumerate((window, training, events))]
                break
        else:
            raise SystemExit(f"unknown setting {name}")
    files = [f for d in FOLDERS for f in sorted((args.skab_dir / d).glob("*.csv"), key=lambda f: int(f.stem))]
    if not files:
        raise SystemExit(f"no SKAB recordings under {args.skab_dir} (get them from https://github.com/waico/SKAB)")
    files = files[: args.files] if args.files else files
    recordings = [load_recording(f, tuple(args.exclude)) for f in files]
    print(f"{len(files)} recordings, sensors {recordings[0][0].sensors}; window {window}; training {training}; "
          f"events {events}")
    splits = [split_recording(readings, y, args.train_rows, window, args.ignore_pauses) for readings, y in recordings]
    alternatives: dict[str, list] = {}
    t0 = time.perf_counter()
    simple = [baseline_recording(split, training) for split in splits]
    rows = {name: [[r[name] for r in simple]] for name in BASELINES}  # name -> per seed -> per recording
    baseline_seconds = time.perf_counter() - t0
    ours, model, seconds = f"this project, defaults (detector {training.detector})", "the autoencoder's error", []
    for seed in args.seeds:
        t0 = time.perf_counter()
        both = [score_recording(split, replace(training, seed=seed)) for split in splits]
        seconds.append(time.perf_counter() - t0)
        rows.setdefault(ours, []).append([b[0] for b in both])
        if training.detector != "autoencoder":
            rows.setdefault(model, []).append([b[1] for b in both])
        result = rates(*decide(rows[ours][-1], args.train_rows, events))
        print(json.dumps({**result, "seed": seed, "seconds": seconds[-1],
                          "training_seconds": sum(b[0]["seconds"] for b in both)}), flush=True)
        for combine in args.combinations:
            flags = decide([b[1] for b in both], args.train_rows, events,
                           score=combined_score(combine, autoencoder_rule(training)))
            alternatives.setdefault(f"sensor-normalised {combine}", []).append(rates(*flags))
    order = [ours, *([model] if model in rows else []), *BASELINES]
    found = {name: [rates(*decide(runs, args.train_rows, events)) for runs in rows[name]] for name in order}
    print(f"\n{'method':<44}{'F1':>6}{'FAR %':>9}{'MAR %':>9}")
    for name in order:
        f1s, fars, mars = (np.array([r[k] for r in found[name]]) for k in ("f1", "far", "mar"))
        spread = (f"median of {len(f1s)} seeds; F1 {f1s.min():.3f}..{f1s.max():.3f}, FAR {fars.min():.1f}.."
                  f"{fars.max():.1f}, MAR {mars.min():.1f}..{mars.max():.1f}" if len(f1s) > 1 else
                  "deterministic" if name in BASELINES else f"seed {args.seeds[0]}")
        print(f"{name:<44}{np.median(f1s):>6.3f}{np.median(fars):>9.2f}{np.median(mars):>9.2f}   ({spread})")
    print(f"(same windows and events, each detector's own threshold rule; {np.median(seconds):.0f} s per seed with "
          f"the training, the {len(BASELINES)} model-free rows {baseline_seconds:.1f} s together)\nleaderboard:")
    for name, f1, far, mar in LEADERBOARD:
        print(f"{name:<44}{f1:>6.2f}{far:>9.2f}{mar:>9.2f}")
    f1, far = (np.median([r[k] for r in found[ours]]) for k in ("f1", "far"))
    best_other = max(np.median([r["f1"] for r in found[n]]) for n in order if n != ours and
                     DETECTOR_ROWS.get(n) != training.detector)
    goal = f1 >= 0.82 and far <= 15 and f1 > best_other
    print(f"goal F1 >= 0.82 with FAR <= 15%, above every other row: {'met' if goal else 'not met'}")
    if args.margins:  # every row again at other margins x its validation quantile, on the same models
        print(f"\nthe same rows at other margins x their validation {training.threshold_quantile:g} quantile "
              "(medians over seeds):")
        print(f"{'method':<44}" + "".join(f"{f'x{m:g} gap {g:g}':>22}" for m, g in product(args.margins,
                                                                                          args.merge_gaps)))
        for name in order:
            cells = []
            for margin, gap in product(args.margins, args.merge_gaps):
                at = [rates(*decide(runs, args.train_rows, replace(events, merge_gap_s=gap),
                                    lambda cal, m=margin: cal.threshold / cal.margin * m)) for runs in rows[name]]
                cells.append("/".join(f"{np.median([r[k] for r in at]):.{d}f}" for k, d in
                                      (("f1", 3), ("far", 1), ("mar", 1))))
            print(f"{name:<44}" + "".join(f"{c:>22}" for c in cells))
    if alternatives:
        print("\nother scores on the same models (medians over seeds):")
        print(f"{'rule':<34}{'F1':>6}{'FAR %':>9}{'MAR %':>9}")
        for rule, found_rule in alternatives.items():
            med = {k: np.median([r[k] for r in found_rule]) for k in ("f1", "far", "mar")}
            print(f"{rule:<34}{med['f1']:>6.3f}{med['far']:>9.1f}{med['mar']:>9.1f}")

if __name__ == "__main__":
    main()
