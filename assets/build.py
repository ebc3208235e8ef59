"""A whole build in one process, as scripts/pipeline.sh runs it: each day ingested and validated in a run of its
own (job `ingest_days`; a failing day fails alone and the others go on), then the model run (`retrain`: train,
audit, publish), then one run scoring the range of days (`score_days`; one per stretch of good days when some
failed).

The runs are the ones the UI, the schedule or `dagster asset materialize` start, recorded in the same instance
($DAGSTER_HOME): one run per day is kept. Started from one process, they share what a run would otherwise pay
for itself on every start (a Python process, Dagster's imports, the code location's load, the instance's
storage: about 3 s a run here) and TensorFlow's import (about 4.5 s), which the model run and the scoring run
would each pay. With 12 days that is 13 process starts and one TensorFlow import fewer.

    python -m assets.build --days 2026-11-01 2026-11-02 [--day-config-json JSON] [--config-json JSON]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import dagster as dg
import yaml

from assets.definitions import defs

PARTITION_TAG = "dagster/partition"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def ingest_days() -> dg.JobDefinition:
    return defs.get_job_def("ingest_days")


def retrain() -> dg.JobDefinition:
    return defs.get_job_def("retrain")


def score_days() -> dg.JobDefinition:
    return defs.get_job_def("score_days")


def _run(job, instance: dg.DagsterInstance, run_config: dict, tags: dict) -> bool:
    with dg.execute_job(dg.reconstructable(job), instance=instance, run_config=run_config, tags=tags) as result:
        return result.success


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


def build(days: list[str], day_config: dict, model_config: dict, instance: dg.DagsterInstance) -> list[str]:
    """Run the days, the model, and the scoring of the good days; the days that failed. Raises SystemExit when
    the model run or a scoring run fails (nothing to score with, or days left unscored)."""
    failed = []
    for day in days:
        if not _run(ingest_days, instance, day_config, {PARTITION_TAG: day}):
            print(f"day {day} failed (quarantined?)", file=sys.stderr, flush=True)
            failed.append(day)
    if not _run(retrain, instance, model_config, {}):
        raise SystemExit("the model run failed: nothing was published (see its log above)")
    for first, last in stretches(days, failed):
        if not _run(score_days, instance, {}, dict(zip(RANGE_TAGS, (first, last), strict=True))):
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
    args = parser.parse_args(argv)
    if not args.days:
        parser.error("--days: give the days to build (scripts/pipeline.sh lists them from the raw folder)")
    with dg.DagsterInstance.get() as instance:
        build(sorted(args.days), json.loads(args.day_config_json), _config(args.config_json, args.config), instance)


if __name__ == "__main__":
    main()
