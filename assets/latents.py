"""Stages 5 and 6: the new model's audit latents (`audit_latents`) and their checks, whose blocking verdict is
recorded on the run's own version (which `published_model`, assets/publish.py, then publishes); and the
latents of each day (`latent_vectors`, partitioned), scored with the published model and checked per day."""

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from assets.metadata import GROUP, OWNERS, RANGE_IN_ONE_RUN, frame_table, image, per_day, stage_tags
from assets.partitions import DAY_CLOCK, DAYS
from assets.resources import PINNED, VERSIONED, DataRoot, storage_failures
from pipeline.drift import DriftLimits, drift_report
from pipeline.latents import (
    EncodingSettings,
    LatentTable,
    encode_windows,
    latent_columns,
    latent_table,
)
from pipeline.model import LATENT_LAYER, TrainedAutoencoder
from pipeline.plots import hours_since_start, latent_scatter_png
from pipeline.quality import TrainingFacts, dimension_stats, judge_latents
from pipeline.regimes import LatentRegimes
from pipeline.span import day_windows
from pipeline.storage import ArtifactDamaged, StorageError
from pipeline.store import is_artifact, load_artifact
from pipeline.threshold import MIN_DRIFT_WINDOWS
from pipeline.usefulness import audit_usefulness
from pipeline.versions import PublishedStateError
from pipeline.windows import TrainingWindows

ALIVE_CHECK = "latent_dimensions_alive"
HEALTHY_CHECK = "latent_space_healthy"
DAY_ALIVE_CHECK = "day_latents_alive"
DRIFT_CHECK = "no_drift"
INFORMATIVE_CHECK = "latent_space_informative"
COMPARABLE_CHECK = "latent_space_comparable"
CODE_VERSION = "7"  # bump when what this module computes changes (assets/metadata.py)


class AuditLatentsConfig(dg.Config):
    batch_size: int = Field(EncodingSettings.batch_size, description="Windows encoded per batch (bounds memory)")
    audit_windows: int = Field(50_000, description="Windows of the training span the audit encodes, evenly "
                                                   "spaced in time; 0 means all of them")


def _shown_stats(stats: pd.DataFrame) -> dg.MetadataValue:
    """Per-dimension statistics as the UI shows them, narrow enough for its metadata column: 3 decimals,
    fractions in percent, the variance left to `std` (pipeline.quality.dimension_stats has every figure)."""
    percent = {"zero_fraction": "zeros %", "variance_share": "variance %"}
    shown = stats.drop(columns=[c for c in ("variance", *percent) if c in stats.columns])
    for column, name in percent.items():
        if column in stats.columns:
            shown[name] = (100 * stats[column]).round(1)
    return frame_table(shown.round(3))


def _latent_metadata(table: LatentTable, enc, sensors) -> dict:
    by_sensor = pd.DataFrame({
        "sensor": list(sensors),
        "all_windows": enc.error_by_sensor(sensors).values(),
        "validation_windows": enc.error_by_sensor(sensors, validation_only=True).values(),
    })
    return {
        "dagster/row_count": len(table),
        "latent_dimensions": int(enc.z.shape[1]),
        "latent_space_by_time": image(latent_scatter_png(enc.z, hours_since_start(table.window_start), "hours since "
                                                         "first window", "Latent space coloured by time"),
                                      "latent space coloured by time"),
        "latent_space_by_error": image(latent_scatter_png(enc.z, enc.errors, "reconstruction error (scaled)",
                                                          "Latent space coloured by reconstruction error"),
                                       "latent space coloured by reconstruction error"),
        "dimension_stats": _shown_stats(dimension_stats(enc.z)),
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in table.schema()]),
        "mean_reconstruction_error": float(enc.errors.mean()) if len(enc.errors) else float("nan"),
        "reconstruction_error_by_sensor": frame_table(by_sensor),  # mean |x - x_hat|, scaled units
        **_anomaly_metadata(table),
    }


def _day_metadata(table: LatentTable, folder) -> dict:
    """What one scored day's page shows: its own windows, error, flagged windows and folder."""
    return {"dagster/row_count": len(table), "path": dg.MetadataValue.path(str(folder)),
            "mean_reconstruction_error": round(float(np.mean(table.reconstruction_error)), 6) if len(table)
            else float("nan"), **_anomaly_metadata(table)}


def _anomaly_metadata(table: LatentTable) -> dict:
    if table.calibration is None or not len(table):
        return {}
    flagged = int((table.anomaly_scores() > 1.0).sum())
    return {"detector": table.calibration.detector,
            "anomaly_threshold": round(float(table.calibration.threshold), 6), "anomalous_windows": flagged,
            "anomalous_fraction": round(flagged / len(table), 6)}


@dg.asset(group_name=GROUP, kinds={"parquet"}, metadata={VERSIONED: True}, code_version=CODE_VERSION,
          owners=OWNERS, tags=stage_tags("audit"),
          check_specs=[dg.AssetCheckSpec(INFORMATIVE_CHECK, asset="audit_latents",
                                         description="WARN: the latent space keeps neighbouring windows together "
                                                     "worse than a PCA of the same windows with as many "
                                                     "dimensions (trustworthiness, continuity; pipeline."
                                                     "usefulness)"),
                       dg.AssetCheckSpec(COMPARABLE_CHECK, asset="audit_latents",
                                         description="WARN: the new model's latents, mapped into the published "
                                                     "version's frame (rotation, scale, shift; pipeline.alignment), "
                                                     "do not reproduce its latents of the same windows: the "
                                                     "retrain found a different structure, and day latents of the "
                                                     "two versions are not comparable point by point")],
          # the model that encodes is kept in this run's version, even when another run trained it
          ins={"autoencoder": dg.AssetIn(metadata={PINNED: True}), "training_windows": dg.AssetIn()},
          description="The new model's latents of its training span (up to audit_windows windows, evenly spaced): "
                      "what the blocking check judges before the model may be published. One row per window, "
                      "window_start, window_end, z_0..z_{k-1}, reconstruction_error; plots and per-dimension "
                      "statistics on the materialisation. Written, checked or not, into this run's version "
                      "folder `<data root>/versions/<version>/audit_latents/latents.parquet`.")
@storage_failures
def audit_latents(context: dg.AssetExecutionContext, config: AuditLatentsConfig,
                  autoencoder: TrainedAutoencoder, training_windows: TrainingWindows):
    from pipeline.train import evenly_spaced  # imports TensorFlow: only when a model is audited

    starts = evenly_spaced((training_windows.index, "all"), config.audit_windows)
    enc = encode_windows(autoencoder.model, training_windows, config.batch_size, log=context.log.info,
                         starts=starts, scorer=autoencoder.scorer)
    table = latent_table(training_windows, enc, starts=starts, calibration=autoencoder.calibration)
    context.log.info(f"encoded {len(table)} windows into {enc.z.shape[1]} latent dimensions; plotting")
    metadata = _latent_metadata(table, enc, training_windows.sensors)
    alignment = autoencoder.alignment.figures() if autoencoder.alignment is not None else {}
    yield dg.Output(table, metadata={**metadata, **alignment})
    yield _informative_check(training_windows, starts, enc.z)
    yield dg.AssetCheckResult(check_name=COMPARABLE_CHECK, severity=dg.AssetCheckSeverity.WARN,
                              passed=autoencoder.alignment is None or autoencoder.alignment.comparable,
                              description=autoencoder.alignment_text, metadata=alignment)


def _informative_check(windows: TrainingWindows, starts: np.ndarray, z: np.ndarray) -> dg.AssetCheckResult:
    """The latents against a PCA of the same windows, measured in this step (pipeline.usefulness)."""
    try:
        usefulness = audit_usefulness(windows, starts, z)
    except ValueError as exc:  # too few windows to judge neighbourhoods
        return dg.AssetCheckResult(check_name=INFORMATIVE_CHECK, passed=True, severity=dg.AssetCheckSeverity.WARN,
                                   description=f"not measured: {exc}")
    return dg.AssetCheckResult(check_name=INFORMATIVE_CHECK, passed=not usefulness.worse_than_pca,
                               severity=dg.AssetCheckSeverity.WARN, description=usefulness.text(),
                               metadata=usefulness.figures())


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(ALIVE_CHECK, asset="audit_latents", additional_deps=["autoencoder"], blocking=True,
                          description="ERROR, blocks downstream: a latent dimension is zero or constant for "
                                      "every window (a dead dimension)."),
        dg.AssetCheckSpec(HEALTHY_CHECK, asset="audit_latents", additional_deps=["autoencoder"],
                          description="WARN: latent dimensions mostly zero, inactive (variance <= 0.01), "
                                      "nearly duplicate (|corr| >= 0.98) or blown up in scale."),
    ],
    # The autoencoder says how the latents were made, so the texts can name the actual cause.
    ins={"audit_latents": dg.AssetIn("audit_latents"), "autoencoder": dg.AssetIn("autoencoder")},
)
@storage_failures
def latent_quality_checks(context: dg.AssetCheckExecutionContext, audit_latents: pd.DataFrame,
                          autoencoder: TrainedAutoencoder, data_root: DataRoot):
    facts = TrainingFacts(autoencoder.config.architecture, autoencoder.scaler.method)
    verdict = judge_latents(audit_latents[latent_columns(audit_latents)].to_numpy(), facts,
                            reconstruction_errors=audit_latents["reconstruction_error"].to_numpy())
    # The verdict is recorded on this run's own version (what it just judged): only an audited version can be
    # published, and a failed one never can.
    versions = data_root.versions
    own = versions.find(context.run.run_id)
    recorded = versions.holds(own, "audit_latents")
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
                "dimensions": _shown_stats(verdict.stats)}
    yield dg.AssetCheckResult(check_name=ALIVE_CHECK, asset_key="audit_latents", passed=verdict.passed,
                              severity=dg.AssetCheckSeverity.ERROR, description=verdict.explanation(),
                              metadata=metadata)
    yield dg.AssetCheckResult(check_name=HEALTHY_CHECK, asset_key="audit_latents", passed=verdict.healthy,
                              severity=dg.AssetCheckSeverity.WARN, description=verdict.warning_text(),
                              metadata={**metadata, "correlations": frame_table(verdict.pairs.head(10))})


class LatentVectorsConfig(dg.Config):
    stride: int = Field(1, description="Rows between the starts of consecutive windows scored (1: every window)")
    batch_size: int = Field(EncodingSettings.batch_size, description="Windows encoded per batch (bounds memory)")
    drift_psi: float = Field(DriftLimits.psi, description="Drift check: a latent dimension's PSI against the "
                                                          "training reference from which it has shifted")
    drift_day_factor: float = Field(DriftLimits.day_factor, description="Drift check: ...and above this many "
                                    "times the largest PSI of one training day (the normal day-to-day variation)")
    drift_error_ratio: float = Field(DriftLimits.error_ratio, description="Drift check: the day's median or p90 "
                                     "reconstruction error over the reference's from which the fit has worsened")


def published_model(data_root: DataRoot) -> tuple[str, TrainedAutoencoder]:
    """The published version's name and its model, only when the pointer names a version whose status is
    published (pipeline.versions)."""
    try:
        version = data_root.versions.published()
    except PublishedStateError as exc:
        raise dg.Failure(description=f"cannot score with the published model: {exc}") from None
    if version is None:
        raise dg.Failure(description=f"no published model under {data_root.path}: run the retrain job (training, "
                                     "audit and publishing) once before scoring days")
    if not is_artifact(version / "autoencoder"):
        raise dg.Failure(description=f"the published version {version.name} holds no complete autoencoder "
                                     f"({version / 'autoencoder'}): run the retrain job to publish a whole version")
    return version.name, load_artifact(version / "autoencoder")


def published_regimes(data_root: DataRoot, version: str) -> LatentRegimes | None:
    """The regimes of the published `version`; None for a version published before regimes existed."""
    folder = data_root.versions.base / version / "latent_regimes"
    if not is_artifact(folder):
        return None
    try:
        return load_artifact(folder)
    except ArtifactDamaged as exc:
        raise dg.Failure(description=f"the published version's regimes: {exc}; or publish another version (the "
                                     "retrain job)") from None


@dg.asset(group_name=GROUP, kinds={"parquet"}, code_version=CODE_VERSION, owners=OWNERS, tags=stage_tags("score"),
          partitions_def=DAYS, backfill_policy=RANGE_IN_ONE_RUN,
          check_specs=[dg.AssetCheckSpec(DAY_ALIVE_CHECK, asset="latent_vectors", blocking=True,
                                         description="ERROR: in a scored day, a latent dimension is zero or "
                                                     "constant for every window, or a latent is not finite"),
                       dg.AssetCheckSpec(DRIFT_CHECK, asset="latent_vectors",
                                         description="WARN: a scored day's latents (PSI per dimension) or "
                                                     "reconstruction errors (median, p90) have moved from the "
                                                     "model's training reference: retraining is due")],
          deps=[dg.AssetDep("validated_readings",
                            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1,
                                                                            allow_nonexistent_upstream_partitions=True)),
                "published_model"],
          description="A day's latent space, scored with the published model (no training): one row per window "
                      "that ends in the day (the previous day's tail is the context of windows across midnight), "
                      "window_start, window_end, z_0..z_{k-1}, reconstruction_error, anomaly_score, is_anomaly, "
                      "error_<sensor> per sensor, regime, regime_distance, off_regime (the version's "
                      "operating regimes, latent_regimes), model_version. In "
                      "`<data root>/store/latent_vectors/<day>/latents.parquet`. When a new model is published the "
                      "days show as stale; a backfill scores them again.")
@storage_failures
def latent_vectors(context: dg.AssetExecutionContext, config: LatentVectorsConfig, data_root: DataRoot):
    try:  # a bad limit is refused before any day is scored
        limits = DriftLimits(psi=config.drift_psi, day_factor=config.drift_day_factor,
                             error_ratio=config.drift_error_ratio)
    except ValueError as exc:
        raise dg.Failure(description=f"latent_vectors config: {exc}") from None
    try:
        version, trained = published_model(data_root)
    except ArtifactDamaged as exc:
        raise dg.Failure(description=f"the published model: {exc}; or publish another version (the retrain "
                                     "job)") from None
    regimes = published_regimes(data_root, version)
    days, catalog = context.partition_keys, data_root.catalog
    out = {}
    for day in days:
        try:
            current = catalog.day("validated_readings", day)
            previous = catalog.day("validated_readings", DAY_CLOCK.previous(day))
        except ArtifactDamaged as exc:
            raise dg.Failure(description=f"validated_readings: {exc}") from None
        if current is None:
            why = catalog.quarantine.days().get(day)
            raise dg.Failure(description=f"{day} has no validated readings" + (f": quarantined ({why})" if why else
                                         ": materialise raw_readings and validated_readings for it first"))
        if current.rows and current.readings.sensors != list(trained.sensors):
            raise dg.Failure(description=f"{day} has sensors {current.readings.sensors}, the published model "
                                         f"{version} was trained on {list(trained.sensors)}")
        windows = day_windows(current, previous, trained.scaler,
                              trained.window_length, config.stride) if current.rows else None
        if windows is None or not len(windows.index.starts):
            dims = int(trained.model.get_layer(LATENT_LAYER).output.shape[-1])
            out[day] = LatentTable.empty(dims, trained.sensors, version, trained.calibration, regimes is not None)
            context.log.warning(f"{day}: no window (no readings, or none long enough)")
            continue
        enc = encode_windows(trained.model, windows, config.batch_size, log=context.log.info, scorer=trained.scorer)
        out[day] = latent_table(windows, enc, model_version=version, calibration=trained.calibration)
        if regimes is not None:
            out[day].regimes = regimes.assign(enc.z)
        context.log.info(f"{day}: {len(out[day])} windows scored with model {version}")
    verdicts = {d: judge_latents(t.z, reconstruction_errors=t.reconstruction_error) for d, t in out.items()
                if len(t) > 1}
    failing = {d: v.explanation() for d, v in verdicts.items() if not v.passed}
    per_day(context, {day: _day_metadata(table, data_root.day_folder("latent_vectors", day))
                      for day, table in out.items()})
    yield dg.Output(out if len(days) > 1 else out[days[0]],
                    metadata={"model_version": version, "days_in_run": len(days)})
    yield dg.AssetCheckResult(check_name=DAY_ALIVE_CHECK, passed=not failing, severity=dg.AssetCheckSeverity.ERROR,
                              description="; ".join(f"{d}: {why}" for d, why in failing.items()) if failing
                              else f"{len(verdicts)} day(s) scored, every latent dimension alive",
                              metadata={"days_failing": dg.MetadataValue.json(sorted(failing)),
                                        "model_version": version})
    yield _drift_check(out, trained, version, limits)


def _drift_check(out: dict[str, LatentTable], trained: TrainedAutoencoder, version: str,
                 limits: DriftLimits) -> dg.AssetCheckResult:
    """WARN when a scored day's latents or errors have moved from the model's training reference."""
    if trained.calibration is None:
        return dg.AssetCheckResult(check_name=DRIFT_CHECK, passed=True, severity=dg.AssetCheckSeverity.WARN,
                                   description=f"not measured: model {version} was saved without a training "
                                               "reference (before thresholds existed); retrain to measure drift")
    reports = {d: drift_report(trained.calibration, t.z, t.reconstruction_error, limits) for d, t in out.items()
               if len(t) >= MIN_DRIFT_WINDOWS}
    drifted = {d: r for d, r in reports.items() if r.drifted}
    rows = [{"day": d, **{f"psi_{k}": v for k, v in r.psi.items()}, **{f"error_{k}_ratio": v for k, v in
                                                                       r.error_ratios.items()}, "drift": r.drifted}
            for d, r in reports.items()]
    text = ("; ".join(f"{d}: {r.text()}" for d, r in drifted.items()) if drifted else
            f"{len(reports)} day(s) measured, none drifted" + (f" ({next(iter(reports.values())).text()})"
                                                               if len(reports) == 1 else ""))
    return dg.AssetCheckResult(check_name=DRIFT_CHECK, passed=not drifted, severity=dg.AssetCheckSeverity.WARN,
                               description=text, metadata={
                                   "days_drifted": dg.MetadataValue.json(sorted(drifted)), "model_version": version,
                                   **({"drift": frame_table(pd.DataFrame(rows))} if rows else {})})
