"""A night with a long history: memory flat in the history, the night's ingestion a sliver of a rebuild.

Builds a history of H days of the sample machine at 10 Hz (9 sensors, 864,000 rows a day, one Parquet file a
day: one generated day, repeated with shifted timestamps), ingested and validated day by day as the
`ingest_days` runs do (timed: the full rebuild). Then, in a fresh process per night, what a night does, with
the same core calls the assets make: ingest and validate the new day, train on the span (training_days 28),
audit the new model's latents, and score the new day (stride 30). The night's peak RSS is compared between a
history of --short and --long days (ratio goal <= 1.15, absolute goal <= 2 GB), and its ingestion +
validation time with the full rebuild of the long history (goal <= 0.05x); scoring speed is reported in
windows/s (goal >= 10,000 on 2 cores).

    PYTHONPATH=. .venv/bin/python benchmarks/nightly.py --short 10 --long 100 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.harness import PROJECT, median_of, python_step, ratio, report, run_step
from benchmarks.machine_data import contract_text

PERIOD_S = 0.1
FIRST_DAY = "2026-01-01"


def day_name(i: int) -> str:
    import pandas as pd

    return (pd.Timestamp(FIRST_DAY) + pd.Timedelta(days=i)).strftime("%Y-%m-%d")


def make_days(folder: Path, days: int) -> Path:
    """`folder/days_<n>/`: n day files (one generated day, timestamps shifted a day at a time) and the
    contract; made once and kept."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.synthetic import generate

    out = folder / f"days_{days}"
    if (out / "sensors.yaml").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    base = generate(days=1, period_s=PERIOD_S, start=f"{FIRST_DAY} 00:00:00", seed=3)
    sensors = base.columns[1:10]
    base[sensors] = base[sensors].round(3)
    for i in range(days):
        frame = base.assign(timestamp=base["timestamp"] + __import__("pandas").Timedelta(days=i))
        tmp = out / f".day{i:03d}.tmp"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
        os.replace(tmp, out / f"machine01_{day_name(i)}.parquet")
    (out / "sensors.yaml").write_text(contract_text(PERIOD_S))
    return out


def history(all_days: Path, root: Path, days: int) -> Path:
    """A raw folder with the first `days` days (hard links, no copy)."""
    raw = root / "raw"
    raw.mkdir(parents=True)
    os.link(all_days / "sensors.yaml", raw / "sensors.yaml")
    for i in range(days):
        name = f"machine01_{day_name(i)}.parquet"
        os.link(all_days / name, raw / name)
    return raw


def ingest_day(root: Path, day: str) -> None:
    """raw_readings and validated_readings of one day, as the assets compute and store them."""
    from pipeline.catalog import Catalog
    from pipeline.ingest import read_raw_files
    from pipeline.validate import validate_readings, validated_day

    catalog = Catalog(root)
    readings = read_raw_files(catalog.local_raw_dir(), cache_dir=catalog.cache_dir, day=day)
    catalog.save_day("raw_readings", day, readings)
    readings = catalog.day("raw_readings", day)
    verdict = validate_readings(readings)
    assert verdict.success, verdict.headline()
    catalog.save_day("validated_readings", day, validated_day(day, readings))


def step_rebuild(root: Path, days: int) -> None:
    t0 = time.perf_counter()
    for i in range(days):
        ingest_day(root, day_name(i))
    report(rebuild_seconds=time.perf_counter() - t0)


def step_night(root: Path, day_index: int, training_days: int, epochs: int, stride: int) -> None:
    """The night: the new day ingested and validated, training on the span, the audit, the day scored."""
    from pipeline.catalog import Catalog
    from pipeline.drift import drift_report
    from pipeline.events import EventTable, find_events
    from pipeline.latents import encode_windows, latent_table
    from pipeline.model import TrainingConfig
    from pipeline.quality import judge_latents
    from pipeline.span import day_windows, span_windows
    from pipeline.train import evenly_spaced, train_autoencoder
    from pipeline.windows import WindowSettings

    figures, day, catalog, run_id = {}, day_name(day_index), Catalog(root), "night000-benchmark"
    t0 = time.perf_counter()
    ingest_day(root, day)
    figures["ingest_validate_seconds"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    span = catalog.span(training_days)  # reads only the span's days, as training_windows does
    windows = span_windows(span.days, WindowSettings(stride=1))
    trained = train_autoencoder(windows, TrainingConfig(epochs=epochs))
    catalog.save_versioned("autoencoder", run_id, trained)
    figures["training_seconds"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    starts = evenly_spaced((windows.index, "all"), 50_000)
    audit = encode_windows(trained.model, windows, starts=starts, scorer=trained.scorer)
    assert judge_latents(audit.z, reconstruction_errors=audit.errors).passed
    figures["audit_seconds"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scored = day_windows(catalog.day("validated_readings", day),
                         catalog.day("validated_readings", day_name(day_index - 1)),
                         trained.scaler, trained.window_length, stride)
    enc = encode_windows(trained.model, scored, scorer=trained.scorer)
    table = latent_table(scored, enc, model_version="night", calibration=trained.calibration)
    catalog.save_day("latent_vectors", day, table)
    drift_report(trained.calibration, enc.z, enc.errors)  # the no_drift check
    events = find_events(table.window_start, table.window_end, table.anomaly_scores(), table.anomaly_sensor_figures,
                         scored.sensors)
    catalog.save_day("anomaly_events", day, EventTable(events))
    seconds = time.perf_counter() - t0
    figures.update(scoring_seconds=seconds, scored_windows=len(enc.z), windows_per_s=len(enc.z) / seconds,
                   span_days=len(span.days))
    report(**figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=10, help="days of history, the small case")
    parser.add_argument("--long", type=int, default=100, help="days of history, the long case")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--stride", type=int, default=30, help="stride of the scored day's windows")
    parser.add_argument("--training-days", type=int, default=28)
    parser.add_argument("--data-dir", type=Path, default=PROJECT.parent / "bench_data")
    parser.add_argument("--step", choices=("rebuild", "night"))
    parser.add_argument("--root", type=Path)
    parser.add_argument("--days", type=int)
    args = parser.parse_args()
    if args.step == "rebuild":
        return step_rebuild(args.root, args.days)
    if args.step == "night":
        return step_night(args.root, args.days, args.training_days, args.epochs, args.stride)

    all_days = make_days(args.data_dir / "nightly", args.long + 1)
    nights, rebuild = {}, None
    for history_days in (args.short, args.long):
        base = Path(tempfile.mkdtemp(prefix=f"nightly_{history_days}_", dir=args.data_dir))
        try:
            history(all_days, base, history_days)
            built = run_step(python_step("benchmarks.nightly", "--step", "rebuild", "--root", base,
                                         "--days", history_days))
            print(f"history of {history_days} days built in {built['rebuild_seconds']:.0f} s "
                  f"(peak RSS {built['peak_rss_mb']:.0f} MB)", flush=True)
            if history_days == args.long:
                rebuild = built
            os.link(all_days / f"machine01_{day_name(history_days)}.parquet",
                    base / "raw" / f"machine01_{day_name(history_days)}.parquet")  # the night's new day
            runs = []
            for i in range(args.repeat):
                root = Path(tempfile.mkdtemp(prefix="night_", dir=args.data_dir))
                try:
                    shutil.copytree(base, root, dirs_exist_ok=True, copy_function=os.link)  # the night's own copy
                    r = run_step(python_step("benchmarks.nightly", "--step", "night", "--root", root, "--days",
                                             history_days, "--training-days", args.training_days, "--epochs",
                                             args.epochs, "--stride", args.stride))
                finally:
                    shutil.rmtree(root, ignore_errors=True)
                runs.append(r)
                print(f"night after {history_days} days, run {i + 1}: {r['seconds']:.1f} s, peak RSS "
                      f"{r['peak_rss_mb']:.0f} MB, ingest+validate {r['ingest_validate_seconds']:.1f} s, training "
                      f"{r['training_seconds']:.1f} s, scoring {r['scored_windows']} windows at "
                      f"{r['windows_per_s']:,.0f}/s", flush=True)
            nights[history_days] = median_of(runs)
        finally:
            shutil.rmtree(base, ignore_errors=True)

    short, long = nights[args.short], nights[args.long]
    print(f"\n10 Hz x 9 sensors, 864,000 rows a day, training_days {args.training_days}, {args.epochs} epoch(s), "
          f"scoring stride {args.stride}; medians of {args.repeat} nights, {os.cpu_count()} CPU cores\n")
    print("| history | night s | peak RSS MB | ingest+validate s | training s | audit s | scoring s | windows/s |")
    print("|---|---|---|---|---|---|---|---|")
    for days, r in nights.items():
        print(f"| {days} days | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['ingest_validate_seconds']:.2f} | "
              f"{r['training_seconds']:.1f} | {r['audit_seconds']:.1f} | {r['scoring_seconds']:.2f} | "
              f"{r['windows_per_s']:,.0f} |")
    print(f"\npeak RSS, {args.long} vs {args.short} days of history: "
          f"{ratio(long['peak_rss_mb'], short['peak_rss_mb'])} (goal <= 1.15), {long['peak_rss_mb'] / 1024:.2f} GB "
          f"(goal <= 2)")
    print(f"ingestion + validation of the night vs a full rebuild of {args.long} days "
          f"({rebuild['rebuild_seconds']:.0f} s): {ratio(long['ingest_validate_seconds'], rebuild['rebuild_seconds'])} "
          f"(goal <= 0.05x)")
    print(f"scoring one new day: {long['scored_windows']} windows in {long['scoring_seconds']:.2f} s, "
          f"{long['windows_per_s']:,.0f} windows/s (goal >= 10,000)")


if __name__ == "__main__":
    main()
