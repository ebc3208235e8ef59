"""The whole chain at scale: the Dagster runs of a full build against the same stages in one plain Python
process.

Generates N rows of the sample machine (9 sensors, 10 Hz, one file per day; benchmarks/machine_data.py), then,
each run on a fresh data root:
- plain: for each day raw_readings -> validated_readings, then training_windows -> autoencoder ->
  audit_latents (+ the latent check), then latent_vectors (+ drift) and anomaly_events of every day, called as
  the assets call them, each artifact written with pipeline.store, plots made, no Dagster, in one process;
- dagster: what scripts/pipeline.sh runs (`python -m assets.build`): a run per day (ingest and validate), one
  for the model (train, audit, publish), one for the scored range of days and their events, started from one
  process; with --cli-runs, the same runs as one `dagster asset materialize` process each (as the daemon
  runs them), each run's time and peak RSS printed.
Prints wall time, peak RSS (the largest process) and rows/s of each, time per stage, and the ratio
dagster/plain (medians).

    PYTHONPATH=. .venv/bin/python benchmarks/chain.py --rows 10000000 --repeat 3
    # a 100 Hz day (8.64 M rows) and its neighbour: each run's peak RSS
    PYTHONPATH=. .venv/bin/python benchmarks/chain.py --rows 10000000 --period 0.01 --format parquet --stride 10 \
        --windows-per-epoch 100000 --repeat 1 --only dagster --cli-runs

Defaults: windows of 30 rows at stride 30 (every reading in exactly one window, so one epoch is one pass over
the training span), 1 epoch of every training window (windows_per_epoch 0), every day in the span.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.harness import PROJECT, median_of, peak_rss_mb, python_step, ratio, report, rss_mb, run_step
from benchmarks.machine_data import machine_files

STAGES = ("raw_readings", "validated_readings", "training_windows", "autoencoder", "audit_latents",
          "latent_quality_checks", "latent_regimes", "latent_view", "published_model", "latent_vectors",
          "anomaly_events", "day_latent_view")
EXPLORE = ("latent_regimes", "latent_view", "day_latent_view")  # regimes and views: their share of the build
PER_DAY = ("raw_readings", "validated_readings", "latent_vectors", "anomaly_events", "day_latent_view")
ALL_DAYS = 10_000  # training_days: the whole history
LOCAL_INSTANCE = PROJECT / "dagster_home" / "dagster.yaml"


def chain_arguments(doc: str, rows: int) -> argparse.Namespace:
    """The settings of a benchmark of the whole chain through `dagster` (below)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stride", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=PROJECT.parent / "bench_data")
    return parser.parse_args()


def model_config(stride: int, epochs: int, windows_per_epoch: int = 0) -> dict:
    return {"ops": {
        "training_windows": {"config": {"stride": stride, "training_days": ALL_DAYS}},
        "autoencoder": {"config": {"epochs": epochs, "windows_per_epoch": windows_per_epoch}},
    }}


def plain(raw_dir: Path, root: Path, stride: int, epochs: int, windows_per_epoch: int = 0) -> None:
    """The stages as the assets call them, in one process, every artifact written as the IO manager does."""
    from pipeline.catalog import Catalog
    from pipeline.drift import drift_report
    from pipeline.events import EventTable, find_events
    from pipeline.ingest import read_raw_files
    from pipeline.latents import encode_windows, latent_table
    from pipeline.model import TrainingConfig
    from pipeline.plots import (
        anomaly_timeline_png,
        event_traces_png,
        hours_since_start,
        latent_scatter_png,
        loss_curve_png,
        regime_timeline_png,
    )
    from pipeline.quality import TrainingFacts, judge_latents
    from pipeline.regimes import fit_regimes
    from pipeline.span import day_windows, span_windows
    from pipeline.train import evenly_spaced, train_autoencoder
    from pipeline.validate import validate_readings, validated_day
    from pipeline.view import LatentView, max_points, view_html, view_sample, view_windows
    from pipeline.windows import WindowSettings

    stages, t = {s: 0.0 for s in STAGES}, time.perf_counter()

    def done(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        stages[name] += round(now - t, 2)
        t = now

    catalog, run_id = Catalog(root), "plain000-benchmark"  # what the assets write, where they write it
    days = catalog.raw_days(raw_dir=str(raw_dir)).days
    for day in days:
        readings = read_raw_files(catalog.local_raw_dir(str(raw_dir)), cache_dir=catalog.cache_dir, day=day)
        catalog.save_day("raw_readings", day, readings)
        readings = catalog.day("raw_readings", day)
        done("raw_readings")
        report_ = validate_readings(readings)
        catalog.save_report("validation", day, report_.to_json())
        assert report_.success, report_.headline()
        catalog.save_day("validated_readings", day, validated_day(day, readings))
        del readings
        done("validated_readings")
    print(f"{len(days)} days ingested and validated, RSS {rss_mb():.0f} MB, peak {peak_rss_mb():.0f} MB", flush=True)
    validated = [catalog.day("validated_readings", d) for d in days]
    windows = span_windows(validated, WindowSettings(stride=stride))
    catalog.save_for_run("training_windows", run_id, windows)
    done("training_windows")
    config = TrainingConfig(epochs=epochs, windows_per_epoch=windows_per_epoch)
    trained = train_autoencoder(windows, config)
    catalog.save_versioned("autoencoder", run_id, trained)
    loss_curve_png(trained.history)
    done("autoencoder")
    starts = evenly_spaced((windows.index, "all"), 50_000)
    enc = encode_windows(trained.model, windows, starts=starts, scorer=trained.scorer)
    table = latent_table(windows, enc, starts=starts, calibration=trained.calibration)
    catalog.save_versioned("audit_latents", run_id, table)
    latent_scatter_png(enc.z, hours_since_start(table.window_start), "hours", "by time")
    latent_scatter_png(enc.z, enc.errors, "error", "by error")
    done("audit_latents")
    verdict = judge_latents(enc.z, TrainingFacts(config.architecture, windows.scaler.method))
    done("latent_quality_checks")
    regimes = fit_regimes(enc.z)
    catalog.save_versioned("latent_regimes", run_id, regimes)
    done("latent_regimes")
    limit = max_points(trained.window_length, len(trained.sensors))
    rows = view_sample(len(table), limit, trained.calibration.scores(enc.anomaly_figures))
    shown = view_windows(trained, windows, starts[rows], regimes)
    catalog.save_versioned("latent_view", run_id, LatentView(view_html(shown, list(windows.sensors), "audit",
                                                                       "sampled"), len(rows), len(table)))
    done("latent_view")
    scored, tables, day_inputs, day_events = 0, [], [], []
    for i, day in enumerate(days):
        w = day_windows(validated[i], validated[i - 1] if i else None, trained.scaler, trained.window_length, stride)
        e = encode_windows(trained.model, w, scorer=trained.scorer)
        day_table = latent_table(w, e, model_version="plain", calibration=trained.calibration)
        catalog.save_day("latent_vectors", day, day_table)
        drift_report(trained.calibration, e.z, e.errors)
        day_table.regimes = regimes.assign(e.z)
        scored += len(e.z)
        tables.append(day_table)
        day_inputs.append(w)
    done("latent_vectors")
    for day, day_table in zip(days, tables, strict=True):
        events = find_events(day_table.window_start, day_table.window_end,
                             day_table.anomaly_scores(), day_table.anomaly_sensor_figures,
                             day_table.sensors)
        catalog.save_day("anomaly_events", day, EventTable(events))
        scores = day_table.anomaly_scores()
        anomaly_timeline_png(day_table.window_end, scores, events, day)  # as the asset draws each day's
        day_events.append(events)
    done("anomaly_events")
    for day, day_table, w, events in zip(days, tables, day_inputs, day_events, strict=True):
        scores = day_table.anomaly_scores()
        rows = view_sample(len(day_table), limit, scores)
        shown = view_windows(trained, w, w.index.starts[rows], regimes)
        catalog.save_day("day_latent_view", day, LatentView(view_html(shown, list(w.sensors), day, "sampled"),
                                                            len(rows), len(day_table)))
        r = day_table.regimes
        regime_timeline_png(day_table.window_end, r.regime, r.off, day)  # the day page's plots, as the asset's
        if len(events):
            event_traces_png(shown, list(w.sensors), events.sort_values("peak_score", ascending=False).head(3))
    done("day_latent_view")
    print(f"stages {stages}, peak {peak_rss_mb():.0f} MB", flush=True)
    report(stages=stages, rows=len(windows.values), windows=scored, passed=verdict.passed)


def dagster(raw_dir: Path, root: Path | str, stride: int, epochs: int, instance: Path = LOCAL_INSTANCE,
            env: dict | None = None, raw_location: str | None = None, windows_per_epoch: int = 0,
            cli_runs: bool = False) -> dict:
    """The runs of scripts/pipeline.sh (`python -m assets.build`: a run per day, the model run, the scored range,
    from one process): wall time, peak RSS, time per stage. With `cli_runs`, the same runs as one
    `dagster asset materialize` each (a process each, as the daemon runs them), with each run's time and peak
    RSS. `instance` is the dagster.yaml of the Dagster home they share, `env` what it reads from the
    environment; `raw_location`, where the runs read the raw files of `raw_dir` from, if not there (a bucket)."""
    from pipeline.ingest import raw_days

    home = Path(tempfile.mkdtemp(prefix="dagster_home_"))
    shutil.copy(instance, home / "dagster.yaml")
    env = {**(env or {}), "PIPELINE_DATA_DIR": str(root), "DAGSTER_HOME": str(home)}
    raw = json.dumps({"ops": {"raw_readings": {"config": {"raw_dir": raw_location or str(raw_dir)}}}})
    model = json.dumps(model_config(stride, epochs, windows_per_epoch))
    score = json.dumps({"ops": {"latent_vectors": {"config": {"stride": stride}}}})
    days = raw_days(raw_dir).days
    if cli_runs:
        command = [str(PROJECT / ".venv" / "bin" / "dagster"), "asset", "materialize", "-m", "assets.definitions"]
        runs = [[*command, "--select", "raw_readings,validated_readings", "--partition", day, "--config-json", raw]
                for day in days]
        runs.append([*command, "--select", "training_windows,autoencoder,audit_latents,published_model",
                     "--config-json", model])
        runs.append([*command, "--select", "latent_vectors,anomaly_events", "--partition-range",
                     f"{days[0]}...{days[-1]}", "--config-json", score])
        names = [f"day {d}" for d in days] + ["model", "scored range"]
    else:
        runs = [python_step("assets.build", "--day-config-json", raw, "--config-json", model, "--score-config-json",
                            score, "--days", *days)]
        names = ["the whole build (python -m assets.build)"]
    results = []
    try:
        for args in runs:
            results.append(run_step(args, env=env, keep_output=True))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    stages: dict[str, float] = {}
    for r in results:
        for name, text in re.findall(r'Finished execution of step "(\w+)" in ([\dhms.]+)\.', r.pop("output")):
            stages[name] = stages.get(name, 0.0) + seconds_of(text)
    return {"seconds": sum(r["seconds"] for r in results), "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "stages": stages, "per_run": {n: (round(r["seconds"], 1), round(r["peak_rss_mb"])) for n, r in
                                       zip(names, results, strict=True)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stride", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--period", type=float, default=0.1,
                        help="sampling period, s (0.01: 100 Hz, 8.64 M rows a day)")
    parser.add_argument("--data-dir", type=Path, default=PROJECT.parent / "bench_data",
                        help="where generated raw files are kept between runs")
    parser.add_argument("--windows-per-epoch", type=int, default=0, help="0: every training window")
    parser.add_argument("--only", choices=("plain", "dagster"), help="measure one of the two")
    parser.add_argument("--cli-runs", action="store_true", help="the dagster side as one `dagster asset "
                                                                "materialize` process per run (each run's peak)")
    parser.add_argument("--step", choices=("plain",))
    parser.add_argument("--raw-dir", type=Path)
    parser.add_argument("--root", type=Path)
    args = parser.parse_args()
    if args.step == "plain":
        return plain(args.raw_dir, args.root, args.stride, args.epochs, args.windows_per_epoch)

    raw_dir = machine_files(args.rows, args.data_dir, period_s=args.period, fmt=args.format)
    runs = {k: [] for k in ("plain", "dagster") if args.only in (None, k)}
    for i in range(args.repeat):
        for kind, done in runs.items():
            root = Path(tempfile.mkdtemp(prefix=f"chain_{kind}_", dir=args.data_dir))
            try:
                if kind == "plain":
                    r = run_step(python_step("benchmarks.chain", "--step", "plain", "--raw-dir", raw_dir, "--root",
                                             root, "--stride", args.stride, "--epochs", args.epochs,
                                             "--windows-per-epoch", args.windows_per_epoch))
                else:
                    r = dagster(raw_dir, root, args.stride, args.epochs, windows_per_epoch=args.windows_per_epoch,
                                cli_runs=args.cli_runs)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            done.append(r)
            print(f"{kind} run {i + 1}: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB, "
                  f"stages {r['stages']}", flush=True)
            for name, (seconds, peak) in r.get("per_run", {}).items():
                print(f"  {name}: {seconds} s, peak RSS {peak} MB", flush=True)
    medians = {k: median_of(v) for k, v in runs.items()}
    print(f"\n{args.rows:,} rows x 9 sensors ({args.format}, every {args.period:g} s), stride {args.stride}, "
          f"{args.epochs} epoch(s); medians of {args.repeat} runs, {os.cpu_count()} CPU cores\n")
    print("| run | seconds | peak RSS MB | rows/s |\n|---|---|---|---|")
    for kind, r in medians.items():
        name = {"plain": "plain process", "dagster": "dagster runs, a process each" if args.cli_runs
                else "dagster runs, forked (python -m assets.build)"}[kind]
        print(f"| {name} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {args.rows / r['seconds']:,.0f} |")
    print(f"\n| stage | {' | '.join(f'{k} s' for k in runs)} |\n|---|{'---|' * len(runs)}")
    for stage in STAGES:
        values = [statistics_median([r["stages"].get(stage) for r in runs[k]]) for k in runs]
        print(f"| {stage} | " + " | ".join("" if v is None else f"{v:.1f}" for v in values) + " |")
    days = sum(1 for f in raw_dir.iterdir() if f.name != "sensors.yaml")
    for kind, done in runs.items():  # the regimes and views: bounded work, a share of the build and of a night
        stages = {s: statistics_median([r["stages"].get(s, 0.0) for r in done]) for s in STAGES}
        total, explore = sum(stages.values()), sum(stages[s] for s in EXPLORE)
        # a night: one new day ingested, validated, scored and viewed; the span retrained, audited, viewed
        night = {s: v / days if s in PER_DAY else v for s, v in stages.items()}
        night_explore = sum(night[s] for s in EXPLORE)
        print(f"{kind}: regimes and views {explore:.1f} s of {total:.1f} s in stages ({explore / total:.1%}); of a "
              f"night's (one new day of {days}) {night_explore:.1f} s of {sum(night.values()):.1f} s "
              f"({night_explore / sum(night.values()):.1%}; goal <= 10%)")
    if "dagster" in medians:
        d = medians["dagster"]
        print("\n| dagster run | seconds | peak RSS MB |\n|---|---|---|")
        for name in runs["dagster"][0]["per_run"]:
            seconds, peak = (statistics_median([r["per_run"][name][i] for r in runs["dagster"]]) for i in (0, 1))
            print(f"| {name} | {seconds:.1f} | {peak:.0f} |")
        print(f"\nwhole chain: {d['seconds'] / 60:.1f} min, peak RSS {d['peak_rss_mb'] / 1024:.2f} GB (goal <= 2)")
    if len(medians) == 2:
        print(f"dagster / plain wall time: {ratio(medians['dagster']['seconds'], medians['plain']['seconds'])} "
              "(goal <= 1.2x; the dagster runs include one process start per day)")

def seconds_of(text: str) -> float:
    """Dagster's step duration ("850ms", "9.16s", "3m20s", "1h2m3s") in seconds."""
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(v) * units[u] for v, u in re.findall(r"([\d.]+)([hms])", text))


def statistics_median(values: list) -> float | None:
    import statistics

    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


if __name__ == "__main__":
    main()
