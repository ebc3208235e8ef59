"""Stage 7: `published_model`, which publishes this run's version once its audit latents passed the blocking
check; the day partitions of latent_vectors are then scored with it."""

import dagster as dg
import pyarrow.parquet as pq
from pydantic import Field

from assets.latents import audit_latents
from assets.metadata import GROUP, OWNERS, stage_tags
from assets.resources import DataRoot, storage_failures
from pipeline.formats import LATENTS_FILE
from pipeline.storage import StorageError
from pipeline.versions import PublishError, PublishSettings

CODE_VERSION = "1"  # bump when what this module computes changes (assets/metadata.py)
PUBLISHED_ASSETS = ("autoencoder", "audit_latents")  # what a published version holds


class PublishedModelConfig(dg.Config):
    keep_versions: int = Field(PublishSettings.keep_versions, description="Version folders to keep; older ones are "
                               "deleted, never the published one nor one a run may still be writing")


@dg.asset(group_name=GROUP, kinds={"keras"}, deps=[audit_latents, "latent_regimes", "latent_view"],
          code_version=CODE_VERSION,
          owners=OWNERS, tags=stage_tags("publish"),
          description="The published model: `<data root>/published/` points at the newest version whose audit "
                      "latents passed the blocking check (the model in `published/autoencoder/`, the audit latents "
                      "in `published/audit_latents/latents.parquet`, the days it learnt from and skipped in "
                      "`published/status.json`; on an object store `published.json` names the version: read it with "
                      "`pipeline.versions.read_published`). Day latents are scored with it; a failed night leaves it "
                      "as it was. Publishes only the version this run wrote and audited.")
@storage_failures
def published_model(context: dg.AssetExecutionContext, config: PublishedModelConfig,
                    data_root: DataRoot) -> dg.MaterializeResult:
    versions = data_root.versions
    version = versions.find(context.run.run_id)
    if not versions.holds(version, "audit_latents"):
        raise dg.Failure(description="this run wrote no audit latents, so it has no version to publish: "
                                     "materialise audit_latents in the same run (e.g. --select 'training_windows*')")
    try:
        outcome = versions.publish(version, config.keep_versions, required=PUBLISHED_ASSETS)
    except (PublishError, StorageError) as exc:
        raise dg.Failure(description=str(exc)) from None
    data_root.catalog.release_run(context.run.run_id)  # the run's last step: its own store copies can go
    latents = versions.published_file("audit_latents", LATENTS_FILE)  # the path consumers read
    if outcome.published:
        context.log.info(f"published version {version.name}: {latents}")
    else:
        context.log.warning(f"version {version.name} is audited but not published: the newer version "
                            f"{outcome.current.name} was published meanwhile by another run")
    status = versions.status(outcome.current)
    return dg.MaterializeResult(data_version=dg.DataVersion(outcome.current.name), metadata={
        "version": outcome.current.name, "this_run_version": version.name, "published": outcome.published,
        "days_used": dg.MetadataValue.json(status.get("days_used", [])),
        "days_skipped": dg.MetadataValue.json(status.get("days_skipped", {})),
        "path": dg.MetadataValue.path(str(latents)),
        "pruned_versions": dg.MetadataValue.text(", ".join(p.name for p in outcome.pruned) or "none"),
        "dagster/row_count": _rows(latents),
    })


def _rows(latents) -> int:
    with latents.open("rb") as fh:  # a local file or an object
        return int(pq.ParquetFile(fh).metadata.num_rows)
