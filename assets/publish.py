"""Stage 7: `published_latents`, which publishes this run's version once its latents passed the blocking check."""

import dagster as dg
import pyarrow.parquet as pq
from pydantic import Field

from assets.latents import latent_vectors
from assets.metadata import GROUP, OWNERS, stage_tags
from assets.resources import DataRoot
from pipeline.store import LATENTS_FILE, StorageError, release_run
from pipeline.versions import PUBLISHED, PublishError, PublishSettings

CODE_VERSION = "1"  # bump when what this module computes changes (assets/metadata.py)
PUBLISHED_ASSETS = ("autoencoder", "latent_vectors")  # what a published version holds


class PublishedLatentsConfig(dg.Config):
    keep_versions: int = Field(PublishSettings.keep_versions, description="Version folders to keep; older ones are "
                               "deleted, never the published one nor one a run may still be writing")


@dg.asset(group_name=GROUP, kinds={"parquet"}, deps=[latent_vectors], code_version=CODE_VERSION, owners=OWNERS,
          tags=stage_tags("publish"),
          description="The published version: `<data root>/published/` points at the newest version whose latents "
                      "passed the blocking check (latents in `published/latent_vectors/latents.parquet`, the "
                      "model in `published/autoencoder/`). Consumers read only there; a failed night leaves it as "
                      "it was. Publishes only the version this run wrote and audited.")
def published_latents(context: dg.AssetExecutionContext, config: PublishedLatentsConfig,
                      data_root: DataRoot) -> dg.MaterializeResult:
    versions = data_root.versions
    version = versions.find(context.run.run_id)
    if not versions.holds(version, "latent_vectors"):
        raise dg.Failure(description="this run wrote no latents, so it has no version to publish: materialise "
                                     "latent_vectors in the same run (e.g. --select 'latent_vectors*')")
    try:
        outcome = versions.publish(version, config.keep_versions, required=PUBLISHED_ASSETS)
    except (PublishError, StorageError) as exc:
        raise dg.Failure(description=str(exc)) from None
    release_run(data_root.store_dir, context.run.run_id)  # the run's last step: its own store copies can go
    latents = versions.root / PUBLISHED / "latent_vectors" / LATENTS_FILE
    if outcome.published:
        context.log.info(f"published version {version.name}: {latents}")
    else:
        context.log.warning(f"version {version.name} is audited but not published: the newer version "
                            f"{outcome.current.name} was published meanwhile by another run")
    return dg.MaterializeResult(metadata={
        "version": outcome.current.name, "this_run_version": version.name, "published": outcome.published,
        "path": dg.MetadataValue.path(str(latents)),
        "pruned_versions": dg.MetadataValue.text(", ".join(p.name for p in outcome.pruned) or "none"),
        "dagster/row_count": int(pq.ParquetFile(latents).metadata.num_rows),
    })
