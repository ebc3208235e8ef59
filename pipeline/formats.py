"""How each type of artifact is written to and read from a local folder: the one table of formats.

No pickles: arrays are .npy (memory-mapped when read), tables Parquet, models `.keras`, parameters JSON. The
storage backend (pipeline.storage) makes a folder written here into a complete artifact, atomically, wherever
the data root lives; a format only ever sees a local folder.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipeline.alignment import Alignment
from pipeline.contract import Contract
from pipeline.days import ValidatedDay
from pipeline.detectors import ARRAY_NAMES, WindowScorer
from pipeline.events import EVENTS_FILE, EventTable
from pipeline.latents import LatentTable
from pipeline.model import TrainedAutoencoder, TrainingConfig
from pipeline.readings import SENSORS_FILE, SOURCE_FILE, TIMESTAMPS_FILE, SensorReadings, load_arrays, save_arrays
from pipeline.regimes import LatentRegimes
from pipeline.span import DayStack, SpanTimes, SpanWindows
from pipeline.storage import link_or_copy
from pipeline.storage.base import damaged
from pipeline.threshold import Calibration
from pipeline.view import VIEW_FILE, LatentView
from pipeline.windows import Scaler, TrainingWindows, WindowIndex

LATENTS_FILE = "latents.parquet"
REGIMES_FILE = "regimes.json"
MODEL_FILE = "model.keras"
FINGERPRINT_FILE = "fingerprint.txt"


def _save_readings(r: SensorReadings, d: Path) -> None:
    if r.folder is not None and (Path(r.folder) / SENSORS_FILE).is_file():  # stored already: link, never copy
        for name in (SENSORS_FILE, TIMESTAMPS_FILE, SOURCE_FILE):
            link_or_copy(str(Path(r.folder) / name), str(d / name))
    else:
        save_arrays(r.frame, r.sensors, d)
    (d / "contract.json").write_text(r.contract.to_json())
    (d / "files.json").write_text(r.files_json())
    if r.fingerprint:
        (d / FINGERPRINT_FILE).write_text(r.fingerprint)


def _load_readings(d: Path) -> SensorReadings:
    """Memory-mapped: the arrays are read when (and as far as) the readings are used."""
    contract = Contract.from_json((d / "contract.json").read_text())
    files = SensorReadings.files_from_json((d / "files.json").read_text())
    frame = load_arrays(d, contract.names, [f.name for f in files])
    readings = SensorReadings(frame, contract, files, folder=d)
    fingerprint = d / FINGERPRINT_FILE  # `d` is complete here (a stored artifact, or a downloaded write)
    readings.fingerprint = fingerprint.read_text() if fingerprint.is_file() else None
    return readings


def _save_day(v: ValidatedDay, d: Path) -> None:
    _save_readings(v.readings, d)
    np.save(d / "segments.npy", v.segments)
    (d / "day.json").write_text(json.dumps({"day": v.day}))


def _load_day(d: Path) -> ValidatedDay:
    return ValidatedDay(json.loads((d / "day.json").read_text())["day"], _load_readings(d), np.load(d / "segments.npy"))


def _save_windows(w: TrainingWindows, d: Path) -> None:
    np.save(d / "values.npy", w.values)
    np.save(d / "timestamps.npy", np.asarray(w.timestamps, dtype="datetime64[ns]").view(np.int64))  # no copy
    np.save(d / "segments.npy", w.index.segments)
    meta = {"sensors": list(w.sensors), "scaler": asdict(w.scaler), "window_length": w.index.window_length,
            "stride": w.index.stride, "split_row": w.index.split_row}
    (d / "windows.json").write_text(json.dumps(meta, indent=2))


def _load_windows(d: Path) -> TrainingWindows:
    meta = json.loads((d / "windows.json").read_text())
    index = WindowIndex(np.load(d / "segments.npy"), meta["window_length"], meta["stride"], meta["split_row"])
    return TrainingWindows(
        np.load(d / "values.npy", mmap_mode="r"),  # memory-mapped: batches are gathered from disk pages
        np.load(d / "timestamps.npy").view("datetime64[ns]"), tuple(meta["sensors"]), _scaler(meta["scaler"]), index,
    )


def _save_span(w: SpanWindows, d: Path) -> None:
    """The span's days as hard links to the validated days (no copy), and its index and scaler."""
    for day in w.days:
        target = d / "days" / day.day
        target.mkdir(parents=True)
        if day.readings.folder is None:
            _save_day(day, target)
        else:
            shutil.copytree(day.readings.folder, target, copy_function=link_or_copy, dirs_exist_ok=True)
    np.save(d / "segments.npy", w.index.segments)
    meta = {"days": w.day_names(), "skipped": w.skipped, "sensors": list(w.sensors), "scaler": asdict(w.scaler),
            "window_length": w.index.window_length, "stride": w.index.stride, "split_row": w.index.split_row}
    (d / "windows.json").write_text(json.dumps(meta, indent=2))


def _load_span(d: Path) -> SpanWindows:
    meta = json.loads((d / "windows.json").read_text())
    stack = DayStack([_load_day(d / "days" / day) for day in meta["days"]], _scaler(meta["scaler"]))
    index = WindowIndex(np.load(d / "segments.npy"), meta["window_length"], meta["stride"], meta["split_row"])
    return SpanWindows(stack, SpanTimes(stack), tuple(meta["sensors"]), stack.scaler, index, meta["skipped"])


def _scaler(d: dict) -> Scaler:
    return Scaler(d["method"], tuple(d["mean"]), tuple(d["std"]))


def _save_model(m: TrainedAutoencoder, d: Path) -> None:
    m.model.save(d / MODEL_FILE)
    params = {"config": m.config.to_dict(), "sensors": list(m.sensors), "window_length": m.window_length,
              "scaler": asdict(m.scaler),
              "calibration": m.calibration.to_dict() if m.calibration is not None else None,
              "alignment": m.alignment.to_dict() if m.alignment is not None else None,
              "alignment_note": m.alignment_note}
    (d / "params.json").write_text(json.dumps(params, indent=2))
    (d / "history.json").write_text(json.dumps(m.history, indent=2))
    for name, array in m.scorer.arrays().items():  # the detector's fitted state (config.detector names it)
        np.save(d / f"{name}.npy", array)


def _load_model(d: Path) -> TrainedAutoencoder:
    import keras

    import pipeline.novelty  # noqa: F401  (registers the novelty encoder's layer with Keras)

    params = json.loads((d / "params.json").read_text())
    # saved before the encoder or the detector was a setting: the LSTM encoder, the reconstruction error
    config = TrainingConfig(**{"encoder": "lstm", "detector": "autoencoder", **params["config"]})
    arrays = {name: np.load(d / f"{name}.npy") for name in ARRAY_NAMES if (d / f"{name}.npy").exists()}
    return TrainedAutoencoder(
        keras.saving.load_model(d / MODEL_FILE), config,
        json.loads((d / "history.json").read_text()), tuple(params["sensors"]), _scaler(params["scaler"]),
        Calibration.from_dict(params["calibration"]) if params.get("calibration") else None,
        Alignment.from_dict(params["alignment"]) if params.get("alignment") else None,
        params.get("alignment_note", ""), WindowScorer(config.detector, **arrays),
    )


def _save_latents(table: LatentTable, d: Path) -> None:
    with pq.ParquetWriter(d / LATENTS_FILE, table.schema()) as writer:  # row group by row group
        for batch in table.record_batches():
            writer.write_batch(batch)


def _read_table(path: Path) -> pd.DataFrame:
    """A stored table as the pipeline uses it: timestamps are UTC in the file (with the zone written), naive UTC
    in memory (as the readings' timestamps are)."""
    frame = pd.read_parquet(path)
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.DatetimeTZDtype):
            frame[c] = frame[c].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


def _save_events(t: EventTable, d: Path) -> None:
    frame = t.frame.copy()
    for c in frame.columns:
        if pd.api.types.is_datetime64_dtype(frame[c]) and not isinstance(frame[c].dtype, pd.DatetimeTZDtype):
            frame[c] = frame[c].dt.tz_localize("UTC")
    frame.to_parquet(d / EVENTS_FILE, index=False)


def _save_regimes(r: LatentRegimes, d: Path) -> None:
    (d / REGIMES_FILE).write_text(json.dumps(r.to_dict(), indent=1))


def _load_regimes(d: Path) -> LatentRegimes:
    return LatentRegimes.from_dict(json.loads((d / REGIMES_FILE).read_text()))


def _save_view(v: LatentView, d: Path) -> None:
    (d / VIEW_FILE).write_text(v.html, encoding="utf-8")
    (d / "view.json").write_text(json.dumps({"points": v.points, "windows": v.windows}))


def _load_view(d: Path) -> LatentView:
    return LatentView((d / VIEW_FILE).read_text(encoding="utf-8"), **json.loads((d / "view.json").read_text()))


class _Kind(NamedTuple):
    """How one type of artifact is written and read, and the file a user opens."""

    type: type
    save: Callable[[object, Path], None]
    load: Callable[[Path], object]
    main_file: str


FORMATS = {  # the name is recorded in the artifact's manifest
    "sensor_readings": _Kind(SensorReadings, _save_readings, _load_readings, SENSORS_FILE),
    "validated_day": _Kind(ValidatedDay, _save_day, _load_day, "segments.npy"),
    "span_windows": _Kind(SpanWindows, _save_span, _load_span, "windows.json"),  # before its base class
    "training_windows": _Kind(TrainingWindows, _save_windows, _load_windows, "windows.json"),
    "autoencoder": _Kind(TrainedAutoencoder, _save_model, _load_model, MODEL_FILE),
    # written from the per-window arrays; read back as the table consumers see
    "latent_table": _Kind(LatentTable, _save_latents, lambda d: _read_table(d / LATENTS_FILE), LATENTS_FILE),
    # read back as the events frame
    "anomaly_events": _Kind(EventTable, _save_events, lambda d: _read_table(d / EVENTS_FILE), EVENTS_FILE),
    "latent_regimes": _Kind(LatentRegimes, _save_regimes, _load_regimes, REGIMES_FILE),
    "latent_view": _Kind(LatentView, _save_view, _load_view, VIEW_FILE),
}


def kind_of(obj) -> str:
    """The name of `obj`'s format (recorded in its artifact's manifest)."""
    name = next((k for k, kind in FORMATS.items() if isinstance(obj, kind.type)), None)
    if name is None:
        raise TypeError(f"no on-disk format for {type(obj).__name__}")
    return name


def load_kind(kind: str, folder, local: Path):
    """Load the artifact of `kind` from `local` (its files on this machine); damage is an ArtifactDamaged
    naming `folder`, not a reader's traceback."""
    if kind not in FORMATS:
        raise damaged(folder, f"its manifest names the unknown format {kind!r}")
    try:
        return FORMATS[kind].load(local)
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # ArrowInvalid is a ValueError
        why = f"{type(exc).__name__}: {exc}"
        if str(exc).startswith("File not found"):  # Keras' word for a .keras file that exists but is no zip
            why = f"{MODEL_FILE} is not a complete .keras archive (truncated?)"
        raise damaged(folder, why) from None
