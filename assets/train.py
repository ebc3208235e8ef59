"""Stage 4: the LSTM autoencoder (`autoencoder`)."""

import time

import dagster as dg
from pydantic import Field

from assets.metadata import GROUP, OWNERS, image, stage_tags
from assets.resources import VERSIONED, DataRoot, claim_version, lock_failure, storage_failures
from pipeline.detectors import Detector
from pipeline.model import Architecture, Encoder, TrainedAutoencoder, TrainingConfig
from pipeline.span import SpanWindows
from pipeline.storage import ArtifactDamaged, ArtifactMissing, LockTimeout, StorageError
from pipeline.store import load_artifact
from pipeline.versions import PublishedStateError

CODE_VERSION = "7"  # bump when what this module computes changes (assets/metadata.py)

_D = TrainingConfig  # defaults live in one place: the core's TrainingConfig


class AutoencoderConfig(dg.Config):
    architecture: Architecture = Field(Architecture(_D.architecture),
                                       description="'default' (an encoder, a linear latent layer, an LSTM "
                                                   "decoder) or 'seed' (the classic relu architecture)")
    encoder: Encoder = Field(Encoder(_D.encoder), description="The default architecture's encoder: 'novelty' (a "
                             "linear map of the window, starting as the training windows' PCA, its last dimension "
                             "how far the window lies outside their principal directions), 'linear' (the map "
                             "alone) or 'lstm' (an LSTM's last state); docs/latent_quality.md")
    latent_dim: int = Field(_D.latent_dim, description="Size of the latent space")
    units: int = Field(_D.units, description="LSTM width of the default architecture")
    epochs: int = Field(_D.epochs, description="Maximum epochs; early stopping may end sooner")
    batch_size: int = Field(_D.batch_size, description="Windows per training step")
    learning_rate: float = Field(_D.learning_rate, description="Adam learning rate")
    seed: int = Field(_D.seed, description="Seed of every random choice in training")
    patience: int = Field(_D.patience, description="Epochs without validation improvement before stopping")
    windows_per_epoch: int = Field(_D.windows_per_epoch, description="Training windows per epoch, a fresh "
                                   "random sample each epoch; 0 means all of them")
    validation_windows: int = Field(_D.validation_windows, description="Validation windows (evenly spaced in "
                                    "time) the validation loss is measured on; 0 means all of them")
    threshold_quantile: float = Field(_D.threshold_quantile, description="Anomaly threshold: this quantile of the "
                                      "validation windows' figures of the detector...")
    threshold_margin: float | None = Field(_D.threshold_margin, description="...times this margin (empty: the "
                                          "detector's own, 2.5 for level, 1.5 for the others). Saved with the "
                                          "model and used unchanged on every day it scores")
    detector: Detector = Field(Detector(_D.detector), description="What the anomaly score is made from: 'level' "
                               "(each sensor's window mean against a prediction interval of the training span's), "
                               "'autoencoder' (the model's reconstruction error), 'pca' (a PCA's of the same "
                               "windows) or 'zscore' (the largest per-sensor mean |z|); calibrated and scored the "
                               "same way (docs/anomalies.md)")


@dg.asset(group_name=GROUP, kinds={"tensorflow", "keras"}, metadata={VERSIONED: True}, code_version=CODE_VERSION,
          owners=OWNERS, tags=stage_tags("train"),
          description="LSTM autoencoder that learns to compress each window of sensor readings into a few "
                      "latent numbers and back, fit on the training windows, best weights by validation loss. "
                      "Its anomaly threshold is calibrated on the validation windows and saved with it (params.json). "
                      "When a version is published, the new latents are mapped into its frame (rotation, scale, "
                      "shift fitted on the span's windows, baked into the model), so consecutive versions' latents "
                      "are comparable; the fit is on the materialisation and on audit_latents' comparable check. "
                      "Each epoch is logged to the run as it ends; the loss curve is on the materialisation.")
@storage_failures
def autoencoder(context: dg.AssetExecutionContext, config: AutoencoderConfig, data_root: DataRoot,
                training_windows: SpanWindows) -> TrainedAutoencoder:
    try:
        training = TrainingConfig(**config.model_dump())
    except (TypeError, ValueError) as exc:
        raise dg.Failure(description=f"autoencoder config: {exc}") from None
    version = claim_version(context, data_root)  # the version lock, before hours of training, not after

    from pipeline.plots import loss_curve_png
    from pipeline.train import TrainingDiverged, train_autoencoder  # imports TensorFlow: only when training

    published = _published_for_alignment(context, data_root)
    t0 = time.monotonic()
    try:
        trained = train_autoencoder(training_windows, training, log=context.log.info, published=published)
    except TrainingDiverged as exc:
        raise dg.Failure(description=str(exc)) from None
    history = trained.history
    seconds = round(time.monotonic() - t0, 1)
    context.log.info(f"trained in {seconds} s: {history['epochs_run']} epoch(s), best {history['best_epoch']}")
    days = {"days_used": training_windows.day_names(), "days_skipped": training_windows.skipped}
    try:  # the version records the days its model learnt from, and those it left out
        data_root.versions.advance(version, "written", **days)
    except StorageError as exc:
        raise dg.Failure(description=f"the training days could not be recorded on the version: {exc}") from None
    except LockTimeout as exc:  # taken by another run meanwhile, and held past the bounded wait
        raise lock_failure(exc, "the training days could not be recorded on the version") from None
    context.add_output_metadata({
        "days_used": len(days["days_used"]), "first_day": days["days_used"][0], "last_day": days["days_used"][-1],
        "days_skipped": dg.MetadataValue.json(days["days_skipped"]),
        **trained.summary(), "training_seconds": seconds,
        "anomaly_threshold_rule": trained.calibration.rule_text(), "parameters": int(trained.model.count_params()),
        "alignment": trained.alignment_text,
        "loss_curve": image(loss_curve_png(history), "loss curve"),
        "config": dg.MetadataValue.json(config.model_dump()),
    })
    return trained


def _published_for_alignment(context: dg.AssetExecutionContext,
                             data_root: DataRoot) -> tuple[str, TrainedAutoencoder] | None:
    """The published version's name and model, whose frame the new latents are expressed in (pipeline.alignment);
    None, said in the log, when there is none or it cannot be read: the new model is then trained all the same."""
    try:
        version = data_root.versions.published()
        if version is None:
            return None
        return version.name, load_artifact(version / "autoencoder")
    except (PublishedStateError, ArtifactMissing, ArtifactDamaged) as exc:
        context.log.warning(f"the new latents will not be aligned with the published model's: {exc}")
        return None
