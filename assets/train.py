"""Stage 4: the LSTM autoencoder (`autoencoder`)."""

import time

import dagster as dg
from pydantic import Field

from assets.resources import VERSIONED
from pipeline.model import TrainedAutoencoder, TrainingConfig
from pipeline.windows import TrainingWindows

_D = TrainingConfig  # defaults live in one place: the core's TrainingConfig


class AutoencoderConfig(dg.Config):
    architecture: str = Field(_D.architecture, description="'default' (tanh LSTMs, linear latent layer) or "
                                                           "'seed' (the classic relu architecture)")
    latent_dim: int = Field(_D.latent_dim, description="Size of the latent space")
    units: int = Field(_D.units, description="LSTM width of the default architecture")
    epochs: int = Field(_D.epochs, description="Maximum epochs; early stopping may end sooner")
    batch_size: int = Field(_D.batch_size, description="Windows per training step")
    learning_rate: float = Field(_D.learning_rate, description="Adam learning rate")
    seed: int = Field(_D.seed, description="Seed of every random choice in training")
    patience: int = Field(_D.patience, description="Epochs without validation improvement before stopping")


@dg.asset(group_name="latent_pipeline", kinds={"tensorflow", "keras"}, metadata={VERSIONED: True},
          description="LSTM autoencoder fit on the training windows, best weights by validation loss.")
def autoencoder(context: dg.AssetExecutionContext, config: AutoencoderConfig,
                training_windows: TrainingWindows) -> TrainedAutoencoder:
    from pipeline.train import train_autoencoder  # imports TensorFlow: only in the step that trains

    try:
        training = TrainingConfig(**config.model_dump())
    except ValueError as exc:
        raise dg.Failure(description=f"autoencoder config: {exc}") from None
    t0 = time.monotonic()
    model, history = train_autoencoder(training_windows, training, log=context.log.info)
    trained = TrainedAutoencoder(model, training, history, training_windows.sensors,
                                 training_windows.window_length, training_windows.scaler)
    context.add_output_metadata({**trained.summary(), "training_seconds": round(time.monotonic() - t0, 1),
                                 "parameters": int(model.count_params())})
    return trained
