"""Deterministic generator of realistic readings from one pump-motor machine with 9 sensors.

The machine switches between operating regimes (idle / normal / high load) with a daily rhythm, the bearing
temperature follows the load with a thermal lag, the grid voltage breathes over the day, and a bearing fault
develops slowly over the middle of the recording until the bearing is replaced. That gives the latent space
structure worth seeing: regime clusters, a daily drift and a fault trajectory.

Regenerate the committed sample with `python -m pipeline.synthetic` (see `main`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SENSORS = (
    "vibration_x", "vibration_y", "vibration_z", "motor_current", "supply_voltage",
    "bearing_temperature", "oil_pressure", "flow_rate", "shaft_speed",
)
REGIMES = ("idle", "normal", "high_load")
_SPEED_RPM = np.array([600.0, 1480.0, 1780.0])
_LOAD = np.array([0.1, 0.6, 0.95])
_MEAN_DWELL_S = np.array([3600.0, 5400.0, 4500.0])


def _lag(x: np.ndarray, tau_samples: float) -> np.ndarray:
    """First-order lag (thermal/mechanical inertia) as an FFT convolution, so it stays fast at 10 M rows."""
    if tau_samples < 1:
        return x.copy()
    k = np.exp(-np.arange(int(6 * tau_samples) + 1) / tau_samples)
    k /= k.sum()
    pad = np.concatenate([np.full(len(k) - 1, x[0]), x])  # start in steady state
    n = len(pad) + len(k) - 1
    y = np.fft.irfft(np.fft.rfft(pad, n) * np.fft.rfft(k, n), n)
    return y[len(k) - 1 : len(k) - 1 + len(x)]


def _regimes(hours: np.ndarray, period_s: float, rng: np.random.Generator) -> np.ndarray:
    """Regime per row: a semi-Markov chain whose next regime depends on the hour of day."""
    out = np.empty(len(hours), dtype=np.int8)
    i = 0
    while i < len(hours):
        h = hours[i] % 24
        if h < 6 or h >= 22:
            p = [0.7, 0.25, 0.05]
        elif 8 <= h < 18:
            p = [0.1, 0.4, 0.5]
        else:
            p = [0.3, 0.6, 0.1]
        r = rng.choice(3, p=p)
        n = max(1, int(rng.exponential(_MEAN_DWELL_S[r]) / period_s))
        out[i : i + n] = r
        i += n
    return out


def generate(
    days: float = 4.0,
    period_s: float = 20.0,
    start: str = "2026-11-01 00:00:00",
    seed: int = 7,
    fault_start_fraction: float = 0.45,
    repair_fraction: float = 0.8,
) -> pd.DataFrame:
    """One machine's readings: `timestamp`, the 9 sensors in real units, and the `regime` label."""
    rng = np.random.default_rng(seed)
    n = round(days * 86400 / period_s)
    t_s = np.arange(n) * period_s
    timestamps = pd.Timestamp(start) + pd.to_timedelta(t_s, unit="s")
    hours = (timestamps.hour + timestamps.minute / 60.0).to_numpy()
    regime = _regimes(hours, period_s, rng)

    speed = _lag(_SPEED_RPM[regime], 30 / period_s)  # the drive ramps over ~30 s
    load = _lag(_LOAD[regime], 120 / period_s)
    rel = speed / _SPEED_RPM[-1]
    # Bearing fault: grows quadratically from fault_start_fraction until the bearing is replaced at
    # repair_fraction, after which the machine is healthy again.
    position = np.arange(n) / n
    progress = np.clip((position - fault_start_fraction) / (repair_fraction - fault_start_fraction), 0, None)
    fault = np.where(position < repair_fraction, progress**2, 0.0)
    ambient = 22.0 + 4.0 * np.sin(2 * np.pi * (hours - 9) / 24)

    def noise(scale: float) -> np.ndarray:
        return rng.normal(0.0, scale, n)

    vib_base = 1.2 * rel**2 + 0.3
    bursts = fault * rng.gamma(0.5, 1.0, n)  # intermittent impacts of a damaged race
    frame = pd.DataFrame({"timestamp": timestamps})
    frame["vibration_x"] = vib_base * (1 + 2.5 * fault) + 0.8 * bursts + np.abs(noise(0.08))
    frame["vibration_y"] = 0.9 * vib_base * (1 + 1.5 * fault) + 0.5 * bursts + np.abs(noise(0.08))
    frame["vibration_z"] = 0.6 * vib_base * (1 + 3.5 * fault) + 1.1 * bursts + np.abs(noise(0.06))
    frame["motor_current"] = 8.0 + 40.0 * load + 3.0 * fault * rel + noise(0.5)
    frame["supply_voltage"] = 400.0 + 3.0 * np.sin(2 * np.pi * (hours - 14) / 24) - 4.0 * load + noise(1.2)
    frame["bearing_temperature"] = _lag(ambient + 28.0 * load + 15.0 * fault * rel, 1200 / period_s) + noise(0.2)
    temp_thinning = 0.01 * (frame["bearing_temperature"].to_numpy() - 40.0)
    frame["oil_pressure"] = 1.5 + 3.0 * rel**2 - temp_thinning + noise(0.05)
    frame["flow_rate"] = 120.0 * rel * (1 - 0.04 * fault) + noise(1.0)
    frame["shaft_speed"] = speed - 20.0 * fault * rel + noise(4.0)
    frame["regime"] = np.asarray(REGIMES)[regime]
    return frame


def write_daily_files(frame: pd.DataFrame, out_dir: Path, machine: str = "machine01") -> list[Path]:
    """Write one CSV per calendar day, as a data logger would export them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for day, part in frame.groupby(frame["timestamp"].dt.date):
        path = out_dir / f"{machine}_{day:%Y-%m-%d}.csv"
        part.to_csv(path, index=False, float_format="%.3f", date_format="%Y-%m-%d %H:%M:%S")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Regenerate the sample sensor files (deterministic).")
    parser.add_argument("--out", type=Path, default=Path("data/raw"))
    parser.add_argument("--days", type=float, default=4.0)
    parser.add_argument("--period-s", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    paths = write_daily_files(generate(args.days, args.period_s, seed=args.seed), args.out)
    for p in paths:
        print(p)


if __name__ == "__main__":
    main()
