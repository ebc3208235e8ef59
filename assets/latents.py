"""Stages 5 and 6: the latent table (`latent_vectors`) and its two quality checks; the blocking one records
its verdict on the run's own version, which `published_latents` (assets/publish.py) then publishes."""

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.metadata import GROUP, OWNERS, frame_table, image, stage_tags
from assets.resources import PINNED, VERSIONED, DataRoot
from pipeline.latents import EncodingSettings, LatentTable, encode_windows, latent_columns, latent_table
from pipeline.model import TrainedAutoencoder
from pipeline.plots import hours_since_start, latent_scatter_png
from pipeline.quality import TrainingFacts, dimension_stats, judge_latents
from pipeline.store import StorageError
from pipeline.windows import TrainingWindows

ALIVE_CHECK = "latent_dimensions_alive"
HEALTHY_CHECK = "latent_space_healthy"
CODE_VERSION = "2"  # bump when what this module computes changes (assets/metadata.py)


class LatentVectorsConfig(dg.Config):
    batch_size: int = Field(EncodingSettings.batch_size, description="Windows encoded per batch (bounds memory)")


@dg.asset(group_name=GROUP, kinds={"parquet"}, metadata={VERSIONED: True}, code_version=CODE_VERSION,
          owners=OWNERS, tags=stage_tags("latents"),
          # the model that encodes is kept in this run's version, even when another run trained it
          ins={"autoencoder": dg.AssetIn(metadata={PINNED: True}), "training_windows": dg.AssetIn()},
          description="The latent space: one row per window, window_start, window_end, z_0..z_{k-1}, "
                      "reconstruction_error. Plots of the space, coloured by time and by reconstruction error, "
                      "and per-dimension statistics are on the materialisation. Written, checked or not, into "
                      "this run's version folder "
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
def latent_quality_checks(context: dg.AssetCheckExecutionContext, latent_vectors: pd.DataFrame,
                          autoencoder: TrainedAutoencoder, data_root: DataRoot):
    facts = TrainingFacts(autoencoder.config.architecture, autoencoder.scaler.method)
    verdict = judge_latents(latent_vectors[latent_columns(latent_vectors)].to_numpy(), facts,
                            reconstruction_errors=latent_vectors["reconstruction_error"].to_numpy())
    # The verdict is recorded on this run's own version (what it just judged): only an audited version can be
    # published, and a failed one never can.
    versions = data_root.versions
    own = versions.find(context.run.run_id)
    recorded = versions.holds(own, "latent_vectors")
    if recorded:
        try:
            versions.audit(own, verdict.passed, verdict.explanation())
        except StorageError as exc:  # unrecorded, the version can never be published: say why
            raise dg.Failure(description=f"the audit of version {own.name} could not be recorded: {exc}") from None
    else:
        context.log.warning("this run wrote no latents: the verdict on the latest ones is not recorded on "
                            "any version (only the run that wrote a version audits it)")
    metadata = {**verdict.summary(), "architecture": facts.architecture, "scaling": facts.scaling,
                "version": own.name if recorded else "none (not recorded)",
                "dimensions": frame_table(verdict.stats)}
    yield dg.AssetCheckResult(check_name=ALIVE_CHECK, asset_key="latent_vectors", passed=verdict.passed,
                              severity=dg.AssetCheckSeverity.ERROR, description=verdict.explanation(),
                              metadata=metadata)
    yield dg.AssetCheckResult(check_name=HEALTHY_CHECK, asset_key="latent_vectors", passed=verdict.healthy,
                              severity=dg.AssetCheckSeverity.WARN, description=verdict.warning_text(),
                              metadata={**metadata, "correlations": frame_table(verdict.pairs.head(10))})
