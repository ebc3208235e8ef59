"""A whole build, as scripts/pipeline.sh runs it: each day ingested and validated in a run of its own (job
`ingest_days`; a failing day fails alone and the others go on), then the model run (`retrain`: train, audit,
publish), then one run scoring the range of days (`score_days`; one per stretch of good days when some failed).

The runs are the ones the UI, the schedule or `dagster asset materialize` start, recorded in the same instance
($DAGSTER_HOME): one run per day is kept, each in a process of its own, forked from this one once Dagster, the
code location and the instance's storage are loaded: a run no longer pays for those itself (about 3 s a run
here), and its memory is still its own (a big day's peak is not added to the next run's; a run that crashes
takes only itself down). Each run's time and peak RSS are printed when it ends.

    python -m assets.build --days 2026-11-01 2026-11-02 [--day-config-json JSON] [--config-json JSON]
                           [--score-config-json JSON]"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

import dagster as dg
import yaml

from assets.definitions import defs

PARTITION_TAG = "dagster/partition"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def ingest_days() -> dg.JobDefinition:
    return defs.resolve_job_def("ingest_days")


def retrain() -> dg.JobDefinition:
    return defs.resolve_job_def("retrain")


def score_days() -> dg.JobDefinition:
    return defs.resolve_job_def("score_days")


def _run(job, run_config: dict, tags: dict, what: str) -> bool:
    """One run of `job` in a forked process (what it imports is already loaded here); whether it succeeded."""
    t0 = time.perf_counter()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the run's process: the instance is opened here, never shared across the fork
        code = 1
        try:
            with (dg.DagsterInstance.get() as instance,
                  dg.execute_job(dg.reconstructable(job), instance=instance, run_config=run_config,
                                 tags=tags) as result):
                code = 0 if result.success else 1
        except BaseException:  # noqa: BLE001 - whatever it was, the run failed: say why, report it failed
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    outcome = "succeeded" if code == 0 else f"killed by signal {-code}" if code < 0 else "failed"
    print(f"{what}: {outcome} in {time.perf_counter() - t0:.1f} s, peak RSS {usage.ru_maxrss / 1024:.0f} MB",
          file=sys.stderr, flush=True)
    return code == 0


def stretches(days: list[str], failed: list[str]) -> list[tuple[str, str]]:
    """The runs of consecutive good days (in `days`' order) as (first, last): what one scoring run each covers,
    so that a refused day is left out instead of failing the scoring of the others."""
    out: list[list[str]] = []
    for day in days:
        if day in failed:
            out.append([])
        elif out and out[-1]:
            out[-1].append(day)
        else:
            out.append([day])
    return [(s[0], s[-1]) for s in out if s]


def build(days: list[str], day_config: dict, model_config: dict, score_config: dict | None = None) -> list[str]:
    """Run the days, the model, and the scoring of the good days; the days that failed. Raises SystemExit when
    the model run or a scoring run fails (nothing to score with, or days left unscored)."""
    with dg.DagsterInstance.get():  # loads the instance's storage modules once, for every run's process
        pass
    failed = []
    for day in days:
        if not _run(ingest_days, day_config, {PARTITION_TAG: day}, f"day {day}"):
            print(f"day {day} failed (quarantined?)", file=sys.stderr, flush=True)
            failed.append(day)
    if not _run(retrain, model_config, {}, "model run"):
        raise SystemExit("the model run failed: nothing was published (see its log above)")
    for first, last in stretches(days, failed):
        tags = dict(zip(RANGE_TAGS, (first, last), strict=True))
        if not _run(score_days, score_config or {}, tags, f"scoring {first}...{last}"):
            raise SystemExit(f"scoring {first}...{last} failed (see its log above)")
    if failed:
        print(f"{len(failed)} day(s) failed and were not scored: {', '.join(failed)}", file=sys.stderr, flush=True)
    return failed


def _config(json_texts: list[str], files: list[str]) -> dict:
    """Run config from --config-json and -c/--config YAML files, merged op by op as the CLI merges them."""
    out: dict = {}
    for part in [*(yaml.safe_load(Path(f).read_text()) or {} for f in files), *map(json.loads, json_texts)]:
        for key, value in part.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = {**out[key], **value}
            else:
                out[key] = value
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", nargs="+", default=[], help="the days to ingest (YYYY-MM-DD); scored as a range")
    parser.add_argument("--day-config-json", default="{}", help="run config of every day run (raw_readings' read "
                                                               "settings)")
    parser.add_argument("--config-json", action="append", default=[], help="run config of the model run")
    parser.add_argument("-c", "--config", action="append", default=[], help="run config file (YAML) of the "
                                                                             "model run")
    parser.add_argument("--score-config-json", default="{}", help="run config of the scoring runs (e.g. "
                                                                 "latent_vectors' stride)")
    args = parser.parse_args(argv)
    if not args.days:
        parser.error("--days: give the days to build (scripts/pipeline.sh lists them from the raw folder)")
    build(sorted(args.days), json.loads(args.day_config_json), _config(args.config_json, args.config),
          json.loads(args.score_config_json))


if __name__ == "__main__":
    main()
