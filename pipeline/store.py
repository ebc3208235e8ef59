"""Artifacts: one folder per artifact, written whole and swapped into place, wherever the data root lives.

`save_artifact` writes an object in its format (pipeline.formats) and makes it a complete artifact atomically
through the data root's storage backend (pipeline.storage); a reader sees the previous complete artifact or the
new complete one, never a half-written one. `save_for_run` adds each run's own copy, so that a run's later
steps read what it wrote whatever another run writes meanwhile.
"""

from __future__ import annotations

import time

from pipeline.formats import FINGERPRINT_FILE, FORMATS, kind_of, load_kind
from pipeline.storage import ABANDONED_AFTER, backend, location

RUNS = ".runs"  # <store>/.runs/<run id prefix>/<asset>: each run's own copy of what it wrote to the store


def save_artifact(obj, folder):
    """Write `obj` as a complete artifact folder at `folder`, replacing any previous one atomically.
    Returns the path of the artifact's main file (e.g. the latents Parquet)."""
    name, folder = kind_of(obj), location(folder)
    files = backend(folder).put_artifact(folder, name, lambda local: FORMATS[name].save(obj, local))
    return files / FORMATS[name].main_file


def load_artifact(folder):
    """The object stored at `folder` (ArtifactMissing when there is no complete artifact, ArtifactDamaged when
    its files cannot be read)."""
    folder = location(folder)
    kind, local = backend(folder).open_artifact(folder)
    return load_kind(kind, folder, local)


def is_artifact(folder) -> bool:
    folder = location(folder)
    return backend(folder).is_complete(folder)


def artifact_file(folder, name: str):
    """Where the file `name` of the complete artifact at `folder` is (ArtifactMissing when there is none)."""
    folder = location(folder)
    return backend(folder).files_of(folder) / name


def read_fingerprint(folder) -> str | None:
    """The fingerprint of the raw files a stored day of readings was read from, if it is complete."""
    try:
        path = artifact_file(folder, FINGERPRINT_FILE)
    except FileNotFoundError:  # ArtifactMissing
        return None
    return backend(path).read_text(path)


def run_folder(store, run_id: str, asset: str):
    return location(store) / RUNS / run_id[:8] / asset


def save_for_run(obj, store, run_id: str, asset: str):
    """Write `obj` as the run's own artifact (`run_folder`), then share it as `<store>/<asset>` (on a folder
    hard links, on a store a copy inside it; swapped in atomically), so that later steps of this run read what
    this run wrote, whatever another run writes to the shared artifact meanwhile. Returns the shared
    artifact's main file."""
    own, shared = run_folder(store, run_id, asset), location(store) / asset
    main = save_artifact(obj, own).name
    storage = backend(shared)
    storage.copy_artifact(own, shared, replace=True)
    _prune_run_folders(location(store) / RUNS, keep=run_id[:8])
    return storage.files_of(shared) / main


def release_run(store, run_id: str) -> None:
    """Drop a run's own copies once it has no later step (the shared artifacts stay)."""
    folder = location(store) / RUNS / run_id[:8]
    backend(folder).remove(folder)
    backend(folder).released()


def _prune_run_folders(runs, keep: str) -> None:
    storage, now = backend(runs), time.time()
    for folder in storage.children(runs):
        if folder.name == keep:
            continue
        changed = storage.changed_at(folder)
        if changed is not None and now - changed > ABANDONED_AFTER.total_seconds():
            storage.remove(folder)


def withdraw(folder) -> None:
    """Take an artifact away atomically: a reader finds it whole or not at all."""
    folder = location(folder)
    backend(folder).withdraw(folder)


def link_artifact(source, target):
    """A complete artifact at `target` with `source`'s files (hard links on a folder, a copy inside a store),
    put in place atomically: it costs no space on a folder, and stays whole when `source` is replaced or
    deleted. An artifact already at `target` is kept."""
    source, target = location(source), location(target)
    backend(target).copy_artifact(source, target, replace=False)
    return target

