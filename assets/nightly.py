"""The nightly run, incremental: at 02:00 the days that are new or whose files changed are ingested and
validated (one run per day, so a bad day fails alone), then the model is retrained on the span, audited
and published, then the night's days are scored with the published model.

The schedule starts the day runs, tagging them with the night; the follow-up sensor starts the retraining once
every day run of the night has finished (failed days are quarantined and skipped, unless training_windows is
strict), and the scoring once the retraining has finished. Run keys make each step start once per night.
"""

from __future__ import annotations

import dagster as dg

from assets.ingest import RawReadingsConfig, day_files
from assets.partitions import DAYS
from assets.resources import DataRoot
from pipeline.days import changed_days

NIGHT_TAG = "sensor_latents/night"
# Runs carrying this tag are queued one at a time (dagster_home/dagster.yaml): never two writers of versions.
WRITES_VERSIONS_TAG = {"sensor_latents/writes_versions": "true"}
# Every job's runs: failed by run monitoring past 6 h (a hung night must not block the next), and retried only
# when their worker crashed, never when they failed on their data (a retry would fail the same way). On the
# runs themselves, so that they hold under any instance that enables monitoring and retries (the Helm chart's).
RUN_LIMITS = {"dagster/max_runtime": "21600", "dagster/retry_on_asset_or_op_failure": "false"}

ingest_days_job = dg.define_asset_job(
    "ingest_days", selection=["raw_readings", "validated_readings"], partitions_def=DAYS, tags=RUN_LIMITS,
    description="Ingest and validate one day; a day that fails validation is quarantined.")
retrain_job = dg.define_asset_job(
    "retrain", selection=["training_windows", "autoencoder", "audit_latents", "latent_regimes", "latent_view",
                          "published_model"],
    tags={**WRITES_VERSIONS_TAG, **RUN_LIMITS},
    description="Train on the span of valid days, audit the new model's latents, find its regimes and write its "
                "view, publish it if they pass.")
score_days_job = dg.define_asset_job(
    "score_days", selection=["latent_vectors", "anomaly_events", "day_latent_view"], partitions_def=DAYS,
    tags=RUN_LIMITS,
    description="Score days with the published model (no training), find their anomaly events, write their views.")


def days_to_ingest(data_root: DataRoot) -> list[str]:
    """Days of the raw folder whose files are new or changed since the day was last ingested, within the
    partitions (the day being recorded is not complete before midnight)."""
    current = day_files(RawReadingsConfig(), data_root)
    ingested = {d: data_root.catalog.ingested_fingerprint(d) for d in current.days}
    known = set(DAYS.get_partition_keys())
    return [d for d in changed_days(current, ingested) if d in known]


@dg.schedule(job=ingest_days_job, cron_schedule="0 2 * * *", execution_timezone=DAYS.timezone, name="nightly",
             description="Every night at 02:00: ingest and validate the new or changed days, then (follow-up "
                         "sensor) retrain, publish, and score them.")
def nightly(context: dg.ScheduleEvaluationContext, data_root: DataRoot):
    night = context.scheduled_execution_time.strftime("%Y-%m-%d")
    days = days_to_ingest(data_root)
    if not days:
        return dg.SkipReason("no new or changed day in the raw folder")
    return [dg.RunRequest(run_key=f"{night}:ingest:{d}", partition_key=d, tags={NIGHT_TAG: night}) for d in days]


def _night_runs(instance: dg.DagsterInstance, night: str) -> dict[str, list]:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={NIGHT_TAG: night}))
    out: dict[str, list] = {"ingest_days": [], "retrain": [], "score_days": []}
    for run in runs:
        out.setdefault(run.job_name, []).append(run)
    return out


@dg.sensor(name="nightly_follow_up", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           jobs=[retrain_job, score_days_job],
           description="After the night's day runs: retrain and publish; after that: score the night's days.")
def nightly_follow_up(context: dg.SensorEvaluationContext):
    latest = context.instance.get_runs(filters=dg.RunsFilter(job_name="ingest_days"), limit=20)
    nights = sorted({r.tags[NIGHT_TAG] for r in latest if NIGHT_TAG in r.tags})
    if not nights:
        return dg.SkipReason("no nightly run yet")
    night = nights[-1]
    runs = _night_runs(context.instance, night)
    if any(not r.is_finished for r in runs["ingest_days"]):
        return dg.SkipReason(f"night {night}: day runs still going")
    if not runs["retrain"]:
        return dg.RunRequest(run_key=f"{night}:retrain", job_name="retrain", tags={NIGHT_TAG: night})
    if any(not r.is_finished for r in runs["retrain"]):
        return dg.SkipReason(f"night {night}: retraining still going")
    good = sorted(r.tags["dagster/partition"] for r in runs["ingest_days"]
                  if r.status == dg.DagsterRunStatus.SUCCESS and "dagster/partition" in r.tags)
    requests = [dg.RunRequest(run_key=f"{night}:score:{d}", job_name="score_days", partition_key=d,
                              tags={NIGHT_TAG: night}) for d in good]
    return requests or dg.SkipReason(f"night {night}: no valid day to score")
