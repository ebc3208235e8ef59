"""Measuring a benchmark step: wall time and peak RSS of a fresh process, medians over repeats.

Each measured step runs in its own Python process (`python -m benchmarks.<module> --step NAME ...`), so its
peak RSS (ru_maxrss, which includes the interpreter and its imports) is its own and not the benchmark's.
The step prints one JSON line of its own figures; the harness adds `seconds` and `peak_rss_mb`.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
RESULT_PREFIX = "BENCHMARK_RESULT "


def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(**figures) -> None:
    """Called by a step at its end: its figures, with its own peak RSS."""
    print(RESULT_PREFIX + json.dumps({"step_peak_rss_mb": round(peak_rss_mb(), 1), **figures}), flush=True)


def run_step(args: list[str], env: dict | None = None, keep_output: bool = False) -> dict:
    """Run `args` (a command) in a fresh process; its reported figures plus wall seconds and peak RSS (MB),
    and its whole output under "output" with `keep_output`."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT),
                                                    "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = list(proc.stdout)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write("".join(lines[-40:]))
        raise RuntimeError(f"{' '.join(map(str, args))} exited {proc.returncode}")
    figures = {}
    for line in lines:
        if line.startswith(RESULT_PREFIX):
            figures.update(json.loads(line[len(RESULT_PREFIX):]))
    # ru_maxrss of the waited-for process: its own peak (the chain runs in the dagster process itself).
    result = {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, **figures}
    if keep_output:
        result["output"] = "".join(lines)
    return result


def python_step(module: str, *args) -> list[str]:
    return [sys.executable, "-m", module, *map(str, args)]


def median_of(runs: list[dict]) -> dict:
    """Median of every numeric figure over repeated runs; other values from the first run."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in runs)
    out["runs"] = len(runs)
    return out


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def alternating(variants: dict, repeat: int, scratch: Path) -> dict[str, list[dict]]:
    """Each of `variants` (name -> function of a fresh scratch folder, returning its figures) once per pass,
    passes alternating between them so that a machine's slow spell falls on both; each folder removed after."""
    import shutil
    import tempfile

    runs = {name: [] for name in variants}
    for i in range(repeat):
        for name, run in variants.items():
            folder = Path(tempfile.mkdtemp(prefix=f"{name}_", dir=scratch))
            try:
                r = run(folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            runs[name].append(r)
            stages = r.pop("stages", {})
            print(f"pass {i + 1}, {name}: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB"
                  + ("".join(f", {k} {v:.1f}" for k, v in stages.items()) if stages else ""), flush=True)
    return runs


def comparison(title: str, runs: dict[str, list[dict]], labels: dict[str, str], goal: str) -> None:
    """The medians of `alternating`'s runs as a table, and the ratio of the second variant to the first."""
    (base, base_runs), (other, _) = runs.items()
    medians = {name: median_of(rs) for name, rs in runs.items()}
    print(f"\n{title}, {len(base_runs)} pass(es) each, medians")
    print("| variant | seconds | peak RSS MB |\n|---|---|---|")
    for name, m in medians.items():
        print(f"| {labels[name]} | {m['seconds']:.1f} | {m['peak_rss_mb']:.0f} |")
    print(f"{other} / {base}: {ratio(medians[other]['seconds'], medians[base]['seconds'])} ({goal})")
