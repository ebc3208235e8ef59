"""Validation throughput: GX evaluating every expectation vs the fast engine (vectorised, GX reports failures).

Generates N rows of the sample machine (9 sensors, 1 s period, one Parquet file per day), reads them once,
then validates them with both engines, on clean data and on data with one bad file, and prints rows/s
(median of --repeat runs) and the ratio. Usage:

    .venv/bin/python benchmarks/validation_speed.py --rows 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.ingest import read_raw_files
from pipeline.synthetic import generate
from pipeline.validate import validate_readings

CONTRACT = """sampling_period_s: 1
labels: [regime]
sensors:
  vibration_x: {unit: mm/s, min: 0, max: 45}
  vibration_y: {unit: mm/s, min: 0, max: 45}
  vibration_z: {unit: mm/s, min: 0, max: 45}
  motor_current: {unit: A, min: 0, max: 80}
  supply_voltage: {unit: V, min: 340, max: 460}
  bearing_temperature: {unit: degC, min: -20, max: 120}
  oil_pressure: {unit: bar, min: 0, max: 10}
  flow_rate: {unit: m3/h, min: 0, max: 200}
  shaft_speed: {unit: rpm, min: 0, max: 3000}
"""


def make_files(rows: int, folder: Path) -> None:
    frame = generate(days=rows / 86400, period_s=1.0, seed=1)
    for day, part in frame.groupby(frame["timestamp"].dt.date):
        part.to_parquet(folder / f"machine01_{day}.parquet", index=False)
    (folder / "sensors.yaml").write_text(CONTRACT)


def median_seconds(readings, engine: str, repeat: int) -> tuple[float, bool]:
    times, ok = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        report = validate_readings(readings, engine)
        times.append(time.perf_counter() - t0)
        ok = report.success
    return statistics.median(times), ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        make_files(args.rows, Path(tmp))
        readings = read_raw_files(Path(tmp))
    n = len(readings.frame)
    print(f"{n:,} rows x {len(readings.sensors)} sensors in {len(readings.files)} files; median of {args.repeat}")
    print("| data | engine | seconds | rows/s | passed |\n|---|---|---|---|---|")
    results = {}
    for label in ("clean", "one bad file"):
        if label == "one bad file":  # one out-of-range reading and a NaN burst in the last file
            last = readings.frame.index[readings.frame["source_file"] == readings.files[-1].name]
            readings.frame.loc[last[10], "motor_current"] = 500.0
            readings.frame.loc[last[20:80], "flow_rate"] = float("nan")
        for engine in ("gx", "fast"):
            seconds, ok = median_seconds(readings, engine, args.repeat)
            results[label, engine] = seconds
            print(f"| {label} | {engine} | {seconds:.2f} | {n / seconds:,.0f} | {ok} |")
    for label in ("clean", "one bad file"):
        print(f"fast / gx speed-up, {label}: {results[label, 'gx'] / results[label, 'fast']:.1f}x")


if __name__ == "__main__":
    main()
