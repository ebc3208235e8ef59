"""The code location: the day-partitioned assets, the model's write-audit-publish, their checks, the jobs,
the nightly schedule and its follow-up sensor."""

import dagster as dg

from assets.anomalies import anomaly_events
from assets.execution import step_executor
from assets.explore import day_latent_view, latent_regimes, latent_view
from assets.ingest import raw_readings
from assets.latents import audit_latents, latent_quality_checks, latent_vectors
from assets.nightly import ingest_days_job, nightly, nightly_follow_up, retrain_job, score_days_job
from assets.publish import published_model
from assets.resources import ArtifactIOManager, DataRoot
from assets.train import autoencoder
from assets.validate import validated_readings
from assets.windows import training_windows
from pipeline.catalog import default_data_root

ASSETS = [raw_readings, validated_readings, training_windows, autoencoder, audit_latents, latent_regimes, latent_view,
          published_model, latent_vectors, anomaly_events, day_latent_view]
CHECKS = [latent_quality_checks]
JOBS = [ingest_days_job, retrain_job, score_days_job]


def build_resources(data_root: str) -> dict:
    root = DataRoot(path=data_root)
    return {"data_root": root, "io_manager": ArtifactIOManager(data_root=root)}


def build_definitions(data_root: str) -> dg.Definitions:
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=JOBS,
        schedules=[nightly],
        sensors=[nightly_follow_up],
        resources=build_resources(data_root),
        executor=step_executor(),  # in the run's process, or on Celery workers (assets/execution.py)
    )


defs = build_definitions(default_data_root())
