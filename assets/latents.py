"""Stages 5 to 7: the latent table (`latent_vectors`), its two quality checks, and `published_latents`,
which only a latent table that passed the blocking check reaches."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
from pydantic import Field

from assets.metadata import GROUP, OWNERS, frame_table, image, stage_tags
from assets.resources import VERSIONED, DataRoot
from pipeline.latents import LatentTable, encode_windows, latent_columns, latent_table
from pipeline.model import TrainedAutoencoder
from pipeline.plots import hours_since_start, latent_scatter_png
from pipeline.quality import TrainingFacts, dimension_stats, judge_latents
from pipeline.store import LATENTS_FILE
from pipeline.versions import PUBLISHED, PublishError, complete_version, latest, publish, write_status
from pipeline.windows import TrainingWindows

ALIVE_CHECK = "latent_dimensions_alive"
HEALTHY_CHECK = "latent_space_healthy"
CODE_VERSION = "2"  # bump when what this module computes changes (assets/metadata.py)


class LatentVectorsConfig(dg.Config):
    batch_size: int = Field(4096, description="Windows encoded per batch (bounds memory)")


@dg.asset(group_name=GROUP, kinds={"parquet"}, metadata={VERSIONED: True}, code_version=CODE_VERSION,
          owners=OWNERS, tags=stage_tags("latents"),
          description="The latent space: one row per window, window_start, window_end, z_0..z_{k-1}, "
                      "reconstruction_error. Plots of the space, coloured by time and by reconstruction error, "
                      "and per-dimension statistics are on the materialisation. Written, checked or not, into this run's version folder "
                      "`<data root>/versions/<version>/latent_vectors/latents.parquet`.")
def latent_vectors(context: dg.AssetExecutionContext, config: LatentVectorsConfig,
                   autoencoder: TrainedAutoencoder, training_windows: TrainingWindows) -> LatentTable:
    enc = encode_windows(autoencoder.model, training_windows, config.batch_size, log=context.log.info)
    table = latent_table(training_windows, enc)
    sensors = training_windows.sensors
    by_sensor = pd.DataFrame({
        "sensor": list(sensors),
        "all_windows": enc.error_by_sensor(sensors).values(),
        "validation_windows": enc.error_by_sensor(sensors, validation_only=True).values(),
    })
    context.log.info(f"encoded {len(table)} windows into {enc.z.shape[1]} latent dimensions; plotting")
    context.add_output_metadata({
        "dagster/row_count": len(table),
        "latent_dimensions": int(enc.z.shape[1]),
        "latent_space_by_time": image(latent_scatter_png(enc.z, hours_since_start(table.window_start), "hours since "
                                                         "first window", "Latent space coloured by time"),
                                      "latent space coloured by time"),
        "latent_space_by_error": image(latent_scatter_png(enc.z, enc.errors, "reconstruction error (scaled)",
                                                          "Latent space coloured by reconstruction error"),
                                       "latent space coloured by reconstruction error"),
        "dimension_stats": frame_table(dimension_stats(enc.z)),
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in table.schema()]),
        "mean_reconstruction_error": float(enc.errors.mean()),
        "reconstruction_error_by_sensor": frame_table(by_sensor),  # mean |x - x_hat|, scaled units
    })
    return table


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(ALIVE_CHECK, asset="latent_vectors", additional_deps=["autoencoder"], blocking=True,
                          description="ERROR, blocks downstream: a latent dimension is zero or constant for "
                                      "every window (a dead dimension)."),
        dg.AssetCheckSpec(HEALTHY_CHECK, asset="latent_vectors", additional_deps=["autoencoder"],
                          description="WARN: latent dimensions mostly zero, inactive (variance <= 0.01), "
                                      "nearly duplicate (|corr| >= 0.98) or blown up in scale."),
    ],
    # The autoencoder says how the latents were made, so the texts can name the actual cause.
    ins={"latent_vectors": dg.AssetIn("latent_vectors"), "autoencoder": dg.AssetIn("autoencoder")},
)
def latent_quality_checks(latent_vectors: pd.DataFrame, autoencoder: TrainedAutoencoder, data_root: DataRoot):
    facts = TrainingFacts(autoencoder.config.architecture, autoencoder.scaler.method)
    verdict = judge_latents(latent_vectors[latent_columns(latent_vectors)].to_numpy(), facts)
    # The audit's outcome is recorded on the version itself: only an audited version can be published.
    version = latest(Path(data_root.path), "latent_vectors").parent
    if verdict.passed:
        write_status(version, "audited")
    else:
        write_status(version, "failed", reason=verdict.explanation())
    metadata = {**verdict.summary(), "architecture": facts.architecture, "scaling": facts.scaling,
                "dimensions": frame_table(verdict.stats)}
    yield dg.AssetCheckResult(check_name=ALIVE_CHECK, asset_key="latent_vectors", passed=verdict.passed,
                              severity=dg.AssetCheckSeverity.ERROR, description=verdict.explanation(),
                              metadata=metadata)
    yield dg.AssetCheckResult(check_name=HEALTHY_CHECK, asset_key="latent_vectors", passed=verdict.healthy,
                              severity=dg.AssetCheckSeverity.WARN, description=verdict.warning_text(),
                              metadata={**metadata, "correlations": frame_table(verdict.pairs.head(10))})


class PublishedLatentsConfig(dg.Config):
    keep_versions: int = Field(5, description="Version folders to keep; older ones are deleted, never the "
                                              "published one nor the latest written")


@dg.asset(group_name=GROUP, kinds={"parquet"}, deps=[latent_vectors], code_version=CODE_VERSION, owners=OWNERS,
          tags=stage_tags("publish"),
          description="The published version: `<data root>/published/` points at the newest version whose latents "
                      "passed the blocking check (latents in `published/latent_vectors/latents.parquet`, the "
                      "model in `published/autoencoder/`). Consumers read only there; a failed night leaves it as it was.")
def published_latents(context: dg.AssetExecutionContext, config: PublishedLatentsConfig,
                      data_root: DataRoot) -> dg.MaterializeResult:
    root = Path(data_root.path)
    version = latest(root, "latent_vectors").parent
    if complete_version(root, version, "autoencoder"):
        context.log.info(f"version {version.name} re-exported latents with an earlier model: linked it in")
    try:
        pruned = publish(root, version, config.keep_versions,
                         in_use={p.parent for p in (latest(root, "autoencoder"), latest(root, "latent_vectors")) if p})
    except PublishError as exc:
        raise dg.Failure(description=str(exc)) from None
    latents = root / PUBLISHED / "latent_vectors" / LATENTS_FILE
    context.log.info(f"published version {version.name}: {latents}")
    return dg.MaterializeResult(metadata={
        "version": version.name, "path": dg.MetadataValue.path(str(latents)),
        "pruned_versions": dg.MetadataValue.text(", ".join(p.name for p in pruned) or "none"),
        "dagster/row_count": int(pq.ParquetFile(latents).metadata.num_rows),
    })
