"""Stages 5 to 7: the latent table (`latent_vectors`), its two quality checks, and `published_latents`,
which only a latent table that passed the blocking check reaches."""

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from pipeline.latents import encode_windows, latent_columns, latent_table
from pipeline.model import TrainedAutoencoder
from pipeline.quality import TrainingFacts, judge_latents
from pipeline.windows import TrainingWindows

ALIVE_CHECK = "latent_dimensions_alive"
HEALTHY_CHECK = "latent_space_healthy"


class LatentVectorsConfig(dg.Config):
    batch_size: int = Field(2048, description="Windows encoded per batch (bounds memory)")


def _table(frame: pd.DataFrame) -> dg.MetadataValue:
    """A DataFrame as a table in the UI (numbers rounded for reading)."""
    frame = frame.round(6)
    kinds = {"b": "bool", "i": "int", "f": "float"}
    return dg.MetadataValue.table(
        records=[dg.TableRecord(row) for row in frame.to_dict("records")],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, kinds.get(t.kind, "string"))
                                       for c, t in frame.dtypes.items()]),
    )


@dg.asset(group_name="latent_pipeline", kinds={"parquet"},
          description="One row per window: window_start, window_end, z_0..z_{k-1}, reconstruction_error. "
                      "Written to <data root>/store/latent_vectors/latents.parquet, checked or not.")
def latent_vectors(context: dg.AssetExecutionContext, config: LatentVectorsConfig,
                   autoencoder: TrainedAutoencoder, training_windows: TrainingWindows) -> pd.DataFrame:
    enc = encode_windows(autoencoder.model, training_windows, config.batch_size, log=context.log.info)
    table = latent_table(training_windows, enc.z, enc.errors)
    validation = np.isin(training_windows.starts, training_windows.split.validation_starts)
    by_sensor = pd.DataFrame({
        "sensor": list(training_windows.sensors),
        "all_windows": enc.error_by_sensor(training_windows.sensors).values(),
        "validation_windows": (enc.error_by_sensor(training_windows.sensors, validation).values()
                               if validation.any() else np.nan),
    })
    context.add_output_metadata({
        "dagster/row_count": len(table),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(c, str(t)) for c, t in table.dtypes.items()]),
        "mean_reconstruction_error": float(enc.errors.mean()),
        "reconstruction_error_by_sensor": _table(by_sensor),  # mean |x - x_hat|, scaled units
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
def latent_quality_checks(latent_vectors: pd.DataFrame, autoencoder: TrainedAutoencoder):
    facts = TrainingFacts(autoencoder.config.architecture, autoencoder.scaler.method)
    verdict = judge_latents(latent_vectors[latent_columns(latent_vectors)].to_numpy(), facts)
    metadata = {**verdict.summary(), "architecture": facts.architecture, "scaling": facts.scaling,
                "dimensions": _table(verdict.stats)}
    yield dg.AssetCheckResult(check_name=ALIVE_CHECK, asset_key="latent_vectors", passed=verdict.passed,
                              severity=dg.AssetCheckSeverity.ERROR, description=verdict.explanation(),
                              metadata=metadata)
    yield dg.AssetCheckResult(check_name=HEALTHY_CHECK, asset_key="latent_vectors", passed=verdict.healthy,
                              severity=dg.AssetCheckSeverity.WARN, description=verdict.warning_text(),
                              metadata={**metadata, "correlations": _table(verdict.pairs.head(10))})


@dg.asset(group_name="latent_pipeline", kinds={"parquet"},
          description="The latent table once no dimension is dead: what consumers should read. Written to "
                      "<data root>/store/published_latents/latents.parquet; a failed check leaves the "
                      "previous one in place.")
def published_latents(context: dg.AssetExecutionContext, latent_vectors: pd.DataFrame) -> pd.DataFrame:
    context.add_output_metadata({"dagster/row_count": len(latent_vectors)})
    return latent_vectors
