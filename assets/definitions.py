"""The code location: assets, the blocking check, the pipeline job and its nightly schedule."""

import os

import dagster as dg

from assets.ingest import raw_readings
from assets.latents import latent_quality_checks, latent_vectors
from assets.publish import published_latents
from assets.resources import ArtifactIOManager, DataRoot, default_data_root
from assets.train import autoencoder
from assets.validate import validated_readings
from assets.windows import training_windows

TIMEZONE_ENV = "PIPELINE_TIMEZONE"

# Runs carrying this tag are queued one at a time (dagster_home/dagster.yaml): never two writers of versions.
WRITES_VERSIONS_TAG = {"sensor_latents/writes_versions": "true"}

latent_pipeline_job = dg.define_asset_job(
    "latent_pipeline", selection=dg.AssetSelection.all(), tags=WRITES_VERSIONS_TAG,
    description="Ingest, validate, window, train, export latents, check them, and publish the version if the "
                "check passed.",
)



def nightly_retrain(timezone: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="nightly_retrain", job=latent_pipeline_job, cron_schedule="0 2 * * *", execution_timezone=timezone,
        description=f"Retrain every night at 02:00 {timezone} (${TIMEZONE_ENV}; default UTC).",
    )


ASSETS = [raw_readings, validated_readings, training_windows, autoencoder, latent_vectors,
          published_latents]
CHECKS = [latent_quality_checks]


def build_resources(data_root: str) -> dict:
    root = DataRoot(path=data_root)
    return {"data_root": root, "io_manager": ArtifactIOManager(data_root=root)}


def build_definitions(data_root: str, timezone: str | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=[latent_pipeline_job],
        schedules=[nightly_retrain(timezone or os.environ.get(TIMEZONE_ENV) or "UTC")],
        resources=build_resources(data_root),
        # The chain is linear, so separate step processes buy no parallelism, only a TensorFlow import each.
        executor=dg.in_process_executor,
    )


defs = build_definitions(default_data_root())
