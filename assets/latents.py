"""Stage 5 and 6: the latent table (`latent_vectors`) and its blocking quality check."""

import dagster as dg
import pandas as pd
from pydantic import Field

from pipeline.latents import encode_windows, latent_columns, latent_table
from pipeline.model import TrainedAutoencoder
from pipeline.quality import judge_latents
from pipeline.windows import TrainingWindows


class LatentVectorsConfig(dg.Config):
    batch_size: int = Field(2048, description="Windows encoded per batch (bounds memory)")


@dg.asset(group_name="latent_pipeline", kinds={"parquet"},
          description="One row per window: window_start, window_end, z_0..z_{k-1}, reconstruction_error. "
                      "Written to <data root>/store/latent_vectors/latents.parquet.")
def latent_vectors(context: dg.AssetExecutionContext, config: LatentVectorsConfig,
                   autoencoder: TrainedAutoencoder, training_windows: TrainingWindows) -> pd.DataFrame:
    z, errors = encode_windows(autoencoder.model, training_windows, config.batch_size, log=context.log.info)
    table = latent_table(training_windows, z, errors)
    context.add_output_metadata({
        "dagster/row_count": len(table),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(c, str(t)) for c, t in table.dtypes.items()]),
        "mean_reconstruction_error": float(errors.mean()),
    })
    return table


@dg.asset_check(asset=latent_vectors, blocking=True,
                description="Fails when any latent dimension is zero for every window (a dead dimension).")
def latent_dimensions_alive(latent_vectors: pd.DataFrame) -> dg.AssetCheckResult:
    verdict = judge_latents(latent_vectors[latent_columns(latent_vectors)].to_numpy())
    stats = verdict.stats.round(6)
    return dg.AssetCheckResult(
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=verdict.explanation(),
        metadata={
            "dead_dimensions": dg.MetadataValue.text(", ".join(verdict.dead) or "none"),
            "dimensions": dg.MetadataValue.table(
                records=[dg.TableRecord(row) for row in stats.to_dict("records")],
                schema=dg.TableSchema(columns=[dg.TableColumn(c, "string" if c == "dimension" else "float")
                                               for c in stats.columns]),
            ),
            "windows": verdict.windows,
        },
    )
