"""The LSTM autoencoder: a healthy default, and the classic relu architecture kept as the `seed` variant.

The default's code is, by default, a linear map of the whole window that starts as the training windows' PCA,
its last dimension the window's novelty (how far it lies outside the training windows' principal directions),
decoded by an LSTM (encoder 'novelty'); encoder 'linear' is the map alone, 'lstm' makes the code from an
LSTM's last state. Measured on SKAB and the sample (docs/latent_quality.md), the linear code keeps
neighbourhoods as well as a PCA of the same windows and two seeds agree on it (CKA 0.98), where the LSTM's
folds windows unlike the training ones into a small region and differs from seed to seed (CKA 0.75); only with
the novelty coordinate does a window's distance to the training codes tell SKAB's anomalies.

Both name their bottleneck layer `latent`, so the encoder is always `model.get_layer("latent").output`.
Keras is imported inside the builders: importing TensorFlow costs seconds, and the Dagster code location
(which imports this module's config) must load fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

from pipeline.alignment import Alignment
from pipeline.detectors import DETECTORS, MARGINS, Detector, WindowScorer
from pipeline.threshold import Calibration, ThresholdRule


class Architecture(StrEnum):
    default = "default"  # a linear latent layer (a linear or LSTM encoder), a tanh LSTM decoder
    seed = "seed"  # the classic relu architecture, kept to reproduce its dead dimensions


class Encoder(StrEnum):
    """What makes the default architecture's latent code from a window (the decoder is the same LSTM)."""

    # the linear map's k-1 dimensions, and as the last one the window's novelty: how far it lies outside the
    # training windows' principal directions (pipeline.novelty)
    novelty = "novelty"
    linear = "linear"  # a linear map of the whole window, starting as the training windows' PCA
    lstm = "lstm"  # the last state of an LSTM over the window, then the linear latent layer


ARCHITECTURES = tuple(Architecture)
ENCODERS = tuple(Encoder)
LATENT_LAYER = "latent"


@dataclass(frozen=True)
class TrainingConfig:
    architecture: str = Architecture.default.value
    # the default architecture's (docs/latent_quality.md, "Against a linear baseline"); the seed one has its own LSTMs
    encoder: str = Encoder.novelty.value
    latent_dim: int = 3
    units: int = 64  # LSTM width of the default architecture; the seed one uses n_sensors, as it always did
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 5e-3
    seed: int = 0
    patience: int = 5
    # An epoch is at most this many training windows, a fresh seeded sample each epoch (0: all of them), so
    # the time between validation checks, progress and early stopping does not grow with the data.
    windows_per_epoch: int = 100_000
    validation_windows: int = 20_000  # validation loss on at most this many, evenly spaced in time (0: all)
    # The anomaly threshold: margin x this quantile of the validation windows' figures (pipeline.threshold);
    # no margin: the detector's own (pipeline.detectors.MARGINS).
    threshold_quantile: float = ThresholdRule.quantile
    threshold_margin: float | None = None
    # what the anomaly score is made from (pipeline.detectors): each sensor's level against a prediction
    # interval, the model's reconstruction error, a PCA's, or the per-sensor z-score; calibrated and scored alike
    detector: str = Detector.level.value

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {tuple(map(str, ARCHITECTURES))}, got "
                             f"{self.architecture!r}")
        object.__setattr__(self, "architecture", str(self.architecture))  # a plain string, from an enum too
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {tuple(map(str, ENCODERS))}, got {self.encoder!r}")
        object.__setattr__(self, "encoder", str(self.encoder))
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {tuple(map(str, DETECTORS))}, got {self.detector!r}")
        object.__setattr__(self, "detector", str(self.detector))
        for name in ("latent_dim", "units", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("windows_per_epoch", "validation_windows"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (all) or positive, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        self.threshold_rule()  # refuses a bad quantile or margin

    def threshold_rule(self) -> ThresholdRule:
        margin = MARGINS[Detector(self.detector)] if self.threshold_margin is None else self.threshold_margin
        return ThresholdRule(self.threshold_quantile, margin)

    def to_dict(self) -> dict:
        return asdict(self)


def build_seed_autoencoder(window_length: int, n_sensors: int, latent_dim: int, learning_rate: float):
    """The classic architecture, layer for layer. relu on the latent LSTM is what kills latent dimensions:
    h = o * relu(c) is exactly 0 whenever the cell state c <= 0."""
    import keras
    from keras import layers

    inputs = keras.Input((window_length, n_sensors), name="window")
    x = layers.LSTM(n_sensors, activation="relu", return_sequences=True)(inputs)
    x = layers.Dropout(0.3)(x)
    z = layers.LSTM(latent_dim, activation="relu", name=LATENT_LAYER)(x)
    x = layers.RepeatVector(window_length)(z)
    x = layers.LSTM(latent_dim, activation="relu", return_sequences=True)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.LSTM(n_sensors, activation="relu", return_sequences=True)(x)
    outputs = layers.TimeDistributed(layers.Dense(n_sensors))(x)
    model = keras.Model(inputs, outputs, name="seed_autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mae")
    return model


def build_default_autoencoder(window_length: int, n_sensors: int, latent_dim: int, units: int,
                              learning_rate: float, mean=None, std=None, pca=None, encoder: str = "linear"):
    """tanh LSTMs (the fused kernel on GPU) around a linear latent layer, which cannot be clamped to zero.

    The model standardises its input with the training span's per-sensor `mean` and `std` and undoes it on
    the output, so the LSTMs see unit-scale values even when the windows are not scaled (scaling 'none'):
    raw sensors in the hundreds would otherwise saturate the tanh units and the model would barely learn.
    With z-scored windows the two layers are close to the identity.

    Encoder 'linear': the code is a linear map of the whole window, starting as `pca` (a
    `pipeline.novelty.EncoderStart` of the standardised training windows flattened): it extrapolates to windows
    unlike the training ones as a projection does, where the encoder 'lstm' (an LSTM's last state) folds them in.
    Encoder 'novelty': the same map's first latent_dim - 1 dimensions, starting as the PCA's components, and as
    the last the window's novelty (`pipeline.novelty.Novelty`) scaled to half their spread; training scales and
    shifts the novelty but never mixes it with the window (`pipeline.novelty.KeepsNoveltyApart`)."""
    import keras
    import numpy as np
    from keras import layers

    mean = np.zeros(n_sensors) if mean is None else np.asarray(mean, dtype=np.float64)
    var = np.ones(n_sensors) if std is None else np.square(np.where(np.asarray(std) > 1e-12, std, 1.0))
    inputs = keras.Input((window_length, n_sensors), name="window")
    x = layers.Normalization(mean=mean, variance=var, name="standardise")(inputs)
    if encoder == "lstm":
        z = layers.Dense(latent_dim, name=LATENT_LAYER)(layers.LSTM(units)(x))
    elif encoder == "novelty":
        z = _novelty_code(layers.Flatten()(x), latent_dim, pca)
    elif pca is None:
        z = layers.Dense(latent_dim, name=LATENT_LAYER)(layers.Flatten()(x))
    else:
        z = layers.Dense(latent_dim, name=LATENT_LAYER, kernel_initializer=keras.initializers.Constant(pca.basis),
                         bias_initializer=keras.initializers.Constant(-pca.centre @ pca.basis))(layers.Flatten()(x))
    x = layers.RepeatVector(window_length)(z)
    x = layers.LSTM(units, return_sequences=True)(x)
    x = layers.TimeDistributed(layers.Dense(n_sensors))(x)
    outputs = layers.Normalization(mean=mean, variance=var, invert=True, name="unstandardise")(x)
    model = keras.Model(inputs, outputs, name="default_autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", metrics=["mae"])
    return model


def _novelty_code(flat, latent_dim: int, start):
    """The latent layer of the novelty encoder on the flattened window; without a `start`, random directions and
    an unstandardised novelty (a model built only to time it)."""
    import keras
    import numpy as np
    from keras import layers

    from pipeline.novelty import EncoderStart, KeepsNoveltyApart, Novelty

    size = int(flat.shape[-1])
    if start is None:
        basis = np.linalg.qr(np.random.default_rng(0).standard_normal((size, latent_dim - 1)))[0]
        start = EncoderStart(np.zeros(size), basis)
    novelty = Novelty(latent_dim - 1, start.residual_mean, start.residual_std, name="novelty")
    feature = novelty(flat)
    novelty.set_weights([start.centre, start.basis])
    kernel = np.zeros((size + 1, latent_dim))
    kernel[:size, :-1], kernel[size, -1] = start.basis, start.spread
    bias = np.concatenate([-start.centre @ start.basis, [0.0]])
    return layers.Dense(latent_dim, name=LATENT_LAYER, kernel_initializer=keras.initializers.Constant(kernel),
                        bias_initializer=keras.initializers.Constant(bias), kernel_constraint=KeepsNoveltyApart()
                        )(layers.Concatenate()([flat, feature]))


def build_autoencoder(config: TrainingConfig, window_length: int, n_sensors: int, mean=None, std=None, pca=None):
    """`mean`/`std`: per-sensor statistics of the training span, `pca` the linear encoder's start (encoders
    'novelty' and 'linear', a `pipeline.novelty.EncoderStart`; without it a random start, as for a model built
    only to time it), used by the default architecture only."""
    if config.architecture == "seed":
        return build_seed_autoencoder(window_length, n_sensors, config.latent_dim, config.learning_rate)
    return build_default_autoencoder(window_length, n_sensors, config.latent_dim, config.units,
                                     config.learning_rate, mean, std, pca, config.encoder)


@dataclass
class TrainedAutoencoder:
    """A fitted model with what is needed to use it on new readings: its sensors, their scaler and its anomaly
    threshold with the training reference (the window length is the model's input length)."""

    model: object  # keras.Model
    config: TrainingConfig
    history: dict
    sensors: tuple[str, ...]
    scaler: object  # pipeline.windows.Scaler
    calibration: Calibration | None = None  # None only for models saved before thresholds existed
    # the map into the published version's frame baked into the model (pipeline.alignment); None when there was
    # none to align with, or it could not be, as `alignment_note` says
    alignment: Alignment | None = None
    alignment_note: str = ""
    # the detector (config.detector, fitted) whose window figures the calibration's threshold applies to
    scorer: WindowScorer = field(default_factory=WindowScorer)

    @property
    def alignment_text(self) -> str:
        if self.alignment is not None:
            return self.alignment.text()
        return self.alignment_note or "not aligned: saved before latents were aligned across versions"

    @property
    def code_text(self) -> str:
        """What the code's dimensions are, in words, for the views."""
        if self.config.architecture != "default" or self.config.encoder != "novelty":
            return ""
        last = f"z_{self.config.latent_dim - 1}"
        return (f"{last} is the window's novelty: the higher, the less the window is like the training windows "
                f"(its log residual off their principal directions); the other dimensions are the linear code of "
                "what it shares with them.")

    @property
    def window_length(self) -> int:
        return int(self.model.input_shape[1])

    def summary(self) -> dict:
        h = self.history
        out = {"architecture": self.config.architecture, "latent_dim": self.config.latent_dim,
               "epochs_run": h["epochs_run"], "best_epoch": h["best_epoch"],
               "final_training_loss": round(float(h["loss"][-1]), 6)}
        if "val_loss" in h:
            out["final_validation_loss"] = round(float(h["val_loss"][-1]), 6)
            out["best_val_loss"] = round(float(min(h["val_loss"])), 6)
        if self.calibration is not None:
            out["anomaly_threshold"] = round(float(self.calibration.threshold), 6)
        if self.alignment is not None:
            out.update(self.alignment.figures())
        return out
