"""Artifacts on disk, written atomically: no pickles, a folder per artifact, a manifest written last.

Each artifact is built in a temporary sibling folder and swapped into place by renames, so a reader sees
either the previous complete artifact or the new complete one, never a half-written one. On an object store
(pipeline.objects) the same guarantee comes from immutable write prefixes and the manifest as the pointer to
one, written last.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipeline.contract import Contract
from pipeline.days import ValidatedDay
from pipeline.events import EVENTS_FILE, EventTable
from pipeline.latents import LatentTable
from pipeline.model import TrainedAutoencoder, TrainingConfig
from pipeline.objects import (
    children,
    copy_prefix,
    fetch_folder,
    is_remote,
    location,
    new_write_id,
    newest_change,
    prune_cache,
    put_folder,
    read_json,
    remove,
)
from pipeline.readings import SENSORS_FILE, SOURCE_FILE, TIMESTAMPS_FILE, SensorReadings, load_arrays, save_arrays
from pipeline.span import DayStack, SpanTimes, SpanWindows
from pipeline.threshold import Calibration
from pipeline.windows import Scaler, TrainingWindows, WindowIndex

MANIFEST = "manifest.json"
LATENTS_FILE = "latents.parquet"
MODEL_FILE = "model.keras"
FINGERPRINT_FILE = "fingerprint.txt"


class ArtifactMissing(FileNotFoundError):
    pass


class ArtifactDamaged(RuntimeError):
    """A complete artifact (its manifest is there) whose files cannot be read: truncated or corrupted after it
    was written. Names the artifact and what to do."""


def _load_kind(kind: str, folder, local: Path):
    """Load the artifact of `kind` from `local` (its files on this machine); damage is an ArtifactDamaged
    naming `folder`, not a reader's traceback."""
    try:
        return _KINDS[kind].load(local)
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # ArrowInvalid is a ValueError
        why = f"{type(exc).__name__}: {exc}"
        if str(exc).startswith("File not found"):  # Keras' word for a .keras file that exists but is no zip
            why = f"{MODEL_FILE} is not a complete .keras archive (truncated?)"
        raise ArtifactDamaged(f"{folder} is damaged and cannot be read ({why}): "
                              "materialise it again (for a day: that day's partition) to replace it") from None


class StorageError(RuntimeError):
    """A write the file system refused (no space, read-only, no permission); names the path and the reason.
    What was there before is left in place."""


def storage_error(path: Path, exc: OSError) -> StorageError:
    reason = exc.strerror or str(exc)
    if exc.filename and str(exc.filename) != str(path):
        reason += f": {exc.filename}"
    code = exc.errno or next((int(m) for m in re.findall(r"\[errno (\d+)\]", reason)), None)  # Arrow's I/O errors
    if code == errno.ENOSPC and not is_remote(path):
        try:
            free = shutil.disk_usage(Path(path).parent if Path(path).parent.exists() else Path(path).anchor).free
            reason += f" ({free / 2**20:.0f} MB free there)"
        except OSError:
            pass
    elif code is None and re.search(r"\d+ requested and \d+ written", reason):  # numpy's short write
        reason += " (a short write: the disk is full or a file size limit was reached)"
    elif code in (errno.EACCES, errno.EROFS, errno.EPERM):
        reason += " (is the data root writable?)"
    return StorageError(f"cannot write {path}: {reason}; what was there before is unchanged")


def atomic_write_text(path: Path, text: str) -> Path:
    """Write a temp file in the same folder, fsync it, then rename it over `path` (on an object store: one PUT,
    which is atomic)."""
    if is_remote(path):
        try:
            path.write_text(text)
        except OSError as exc:
            raise storage_error(path, exc) from None
        return path
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise storage_error(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _swap_into_place(tmp: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex}")
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, final)


def _save_readings(r: SensorReadings, d: Path) -> None:
    if r.folder is not None and (Path(r.folder) / SENSORS_FILE).is_file():  # stored already: link, never copy
        for name in (SENSORS_FILE, TIMESTAMPS_FILE, SOURCE_FILE):
            _link_or_copy(str(Path(r.folder) / name), str(d / name))
    else:
        save_arrays(r.frame, r.sensors, d)
    (d / "contract.json").write_text(r.contract.to_json())
    (d / "files.json").write_text(r.files_json())
    if r.fingerprint:
        (d / FINGERPRINT_FILE).write_text(r.fingerprint)


def read_fingerprint(folder: Path) -> str | None:
    """The fingerprint of the raw files a stored day of readings was read from, if it is complete."""
    try:
        return artifact_file(folder, FINGERPRINT_FILE).read_text()
    except OSError:  # ArtifactMissing included
        return None


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
            shutil.copytree(day.readings.folder, target, copy_function=_link_or_copy, dirs_exist_ok=True)
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
              "calibration": m.calibration.to_dict() if m.calibration is not None else None}
    (d / "params.json").write_text(json.dumps(params, indent=2))
    (d / "history.json").write_text(json.dumps(m.history, indent=2))


def _load_model(d: Path) -> TrainedAutoencoder:
    import keras

    params = json.loads((d / "params.json").read_text())
    return TrainedAutoencoder(
        keras.saving.load_model(d / MODEL_FILE), TrainingConfig(**params["config"]),
        json.loads((d / "history.json").read_text()), tuple(params["sensors"]), _scaler(params["scaler"]),
        Calibration.from_dict(params["calibration"]) if params.get("calibration") else None,
    )


def _save_latents(table: LatentTable, d: Path) -> None:
    with pq.ParquetWriter(d / LATENTS_FILE, table.schema()) as writer:  # row group by row group
        for batch in table.record_batches():
            writer.write_batch(batch)


class _Kind(NamedTuple):
    """How one type of artifact is written and read, and the file a user opens."""

    type: type
    save: Callable[[object, Path], None]
    load: Callable[[Path], object]
    main_file: str


_KINDS = {  # the name is recorded in the artifact's manifest
    "sensor_readings": _Kind(SensorReadings, _save_readings, _load_readings, SENSORS_FILE),
    "validated_day": _Kind(ValidatedDay, _save_day, _load_day, "segments.npy"),
    "span_windows": _Kind(SpanWindows, _save_span, _load_span, "windows.json"),  # before its base class
    "training_windows": _Kind(TrainingWindows, _save_windows, _load_windows, "windows.json"),
    "autoencoder": _Kind(TrainedAutoencoder, _save_model, _load_model, MODEL_FILE),
    # written from the per-window arrays; read back as the table consumers see
    "latent_table": _Kind(LatentTable, _save_latents, lambda d: pd.read_parquet(d / LATENTS_FILE), LATENTS_FILE),
    # read back as the events frame
    "anomaly_events": _Kind(EventTable, lambda t, d: t.frame.to_parquet(d / EVENTS_FILE, index=False),
                            lambda d: pd.read_parquet(d / EVENTS_FILE), EVENTS_FILE),
}


def save_artifact(obj, folder: Path) -> Path:
    """Write `obj` as a complete artifact folder at `folder`, replacing any previous one atomically.
    Returns the path of the artifact's main file (e.g. the latents Parquet)."""
    name = next((k for k, kind in _KINDS.items() if isinstance(obj, kind.type)), None)
    if name is None:
        raise TypeError(f"no on-disk format for {type(obj).__name__}")
    folder = location(folder)
    if is_remote(folder):
        return _save_remote(obj, name, folder)
    tmp = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex}")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        _KINDS[name].save(obj, tmp)
        (tmp / MANIFEST).write_text(json.dumps({"kind": name}))
        _swap_into_place(tmp, folder)
    except OSError as exc:
        raise storage_error(folder, exc) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder / _KINDS[name].main_file


def _save_remote(obj, name: str, folder) -> object:
    """Upload a new immutable write, then point the manifest at it (one PUT), then drop the older writes."""
    write = new_write_id()
    try:
        with tempfile.TemporaryDirectory(prefix=".artifact-") as tmp:
            _KINDS[name].save(obj, Path(tmp))
            put_folder(Path(tmp), folder / write)
        _point(folder, name, write)
    except OSError as exc:
        remove(folder / write)  # never pointed at: nobody reads it
        raise storage_error(folder, exc) from None
    return folder / write / _KINDS[name].main_file


def _point(folder, kind: str, write: str) -> None:
    """Make the remote artifact `folder` the write `write` (the manifest, last), then delete its other writes;
    a reader that read the old manifest just before finds its files gone and reads the manifest again."""
    (folder / MANIFEST).write_text(json.dumps({"kind": kind, "write": write}))
    for old in children(folder):
        if old.name != write:
            remove(old)


def artifact_file(folder, name: str):
    """Where the file `name` of the complete artifact at `folder` is, on a local root or an object store."""
    folder = location(folder)
    manifest = read_json(folder / MANIFEST) if is_remote(folder) else None
    if is_remote(folder):
        if manifest is None:
            raise ArtifactMissing(f"no complete artifact at {folder}: materialise the upstream asset first")
        return folder / manifest["write"] / name
    if not (folder / MANIFEST).is_file():
        raise ArtifactMissing(f"no complete artifact at {folder}: materialise the upstream asset first")
    return folder / name


RUNS = ".runs"  # <store>/.runs/<run id prefix>/<asset>: each run's own copy of what it wrote to the store
# What a run left this long ago is abandoned (the run ended or died) and may be pruned: its own store copies
# here, and a version still `written` (pipeline.versions).
ABANDONED_AFTER = timedelta(days=1)


def run_folder(store: Path, run_id: str, asset: str) -> Path:
    return location(store) / RUNS / run_id[:8] / asset


def save_for_run(obj, store: Path, run_id: str, asset: str) -> Path:
    """Write `obj` as the run's own artifact (`run_folder`), then share it as `<store>/<asset>` (hard links,
    swapped in atomically), so that later steps of this run read what this run wrote, whatever another run
    writes to the shared artifact meanwhile. Returns the shared artifact's main file."""
    own = save_artifact(obj, run_folder(store, run_id, asset))
    shared = location(store) / asset
    if is_remote(shared):
        _copy_remote(own.parent.parent, shared)
        _prune_run_folders(location(store) / RUNS, keep=run_id[:8])
        return artifact_file(shared, own.name)
    tmp = shared.with_name(f".{asset}.tmp-{uuid.uuid4().hex}")
    try:
        shutil.copytree(own.parent, tmp, copy_function=_link_or_copy)
        _swap_into_place(tmp, shared)
    except OSError as exc:
        raise storage_error(shared, exc) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _prune_run_folders(Path(store) / RUNS, keep=run_id[:8])
    return shared / own.name


def release_run(store: Path, run_id: str) -> None:
    """Drop a run's own copies once it has no later step (the shared artifacts stay)."""
    folder = location(store) / RUNS / run_id[:8]
    remove(folder) if is_remote(folder) else shutil.rmtree(folder, ignore_errors=True)
    if is_remote(folder):
        prune_cache(ABANDONED_AFTER.total_seconds())  # this machine's downloads no run has used for a day


def _prune_run_folders(runs, keep: str) -> None:
    now = time.time()
    for folder in children(runs):
        if folder.name == keep:
            continue
        try:
            changed = newest_change(folder) if is_remote(folder) else folder.stat().st_mtime
        except OSError:
            continue
        if changed is not None and now - changed > ABANDONED_AFTER.total_seconds():
            remove(folder) if is_remote(folder) else shutil.rmtree(folder, ignore_errors=True)


def withdraw(folder: Path) -> None:
    """Take an artifact away atomically (renamed aside, then deleted; on an object store its manifest first):
    a reader finds it whole or not at all."""
    folder = location(folder)
    if is_remote(folder):
        try:
            (folder / MANIFEST).unlink(missing_ok=True)
            remove(folder)
        except OSError as exc:
            raise storage_error(folder, exc) from None
        return
    aside = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex}")
    try:
        os.rename(folder, aside)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise storage_error(folder, exc) from None
    shutil.rmtree(aside, ignore_errors=True)


def link_artifact(source: Path, target: Path) -> Path:
    """A complete artifact at `target` made of hard links to the one at `source` (copies where the file system
    has no links), put in place atomically: it costs no space, and stays whole when `source` is replaced or
    deleted. An artifact already at `target` is kept."""
    source, target = location(source), location(target)
    if (target / MANIFEST).is_file():
        return target
    if not (source / MANIFEST).is_file():
        raise ArtifactMissing(f"no complete artifact at {source}: materialise the upstream asset first")
    if is_remote(target):
        _copy_remote(source, target)
        return target
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, tmp, copy_function=_link_or_copy)
        os.rename(tmp, target)
    except FileNotFoundError as exc:  # `source` replaced while it was linked: the caller may try again
        raise ArtifactMissing(f"{source} changed while it was being linked ({exc})") from None
    except OSError as exc:
        raise storage_error(target, exc) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _copy_remote(source, target) -> None:
    """On an object store: a new write of `target` copied from `source`'s current write inside the store (its
    objects are immutable, so the copy is the artifact as it was when its manifest was read)."""
    manifest = read_json(source / MANIFEST)
    if manifest is None:
        raise ArtifactMissing(f"no complete artifact at {source}: materialise the upstream asset first")
    write = new_write_id()
    try:
        copy_prefix(source / manifest["write"], target / write)
        _point(target, manifest["kind"], write)
    except FileNotFoundError as exc:  # `source` replaced while it was copied: the caller may try again
        remove(target / write)
        raise ArtifactMissing(f"{source} changed while it was being copied ({exc})") from None
    except OSError as exc:
        remove(target / write)
        raise storage_error(target, exc) from None


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(src, dst)


def load_artifact(folder: Path):
    folder = location(folder)
    if is_remote(folder):
        return _load_remote(folder)
    manifest = Path(folder) / MANIFEST
    if not manifest.is_file():
        raise ArtifactMissing(f"no complete artifact at {folder}: materialise the upstream asset first")
    return _load_kind(json.loads(manifest.read_text())["kind"], folder, Path(folder))


def _load_remote(folder):
    """The artifact's current write, downloaded once into this machine's cache and loaded from there."""
    for _ in range(3):
        manifest = read_json(folder / MANIFEST)
        if manifest is None:
            raise ArtifactMissing(f"no complete artifact at {folder}: materialise the upstream asset first")
        try:
            local = fetch_folder(folder / manifest["write"])
        except FileNotFoundError:  # replaced between reading the manifest and downloading: read it again
            continue
        return _load_kind(manifest["kind"], folder, local)
    raise ArtifactMissing(f"{folder} kept changing while it was being read")
