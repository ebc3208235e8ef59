import json

import numpy as np
import pandas as pd
import pytest

from pipeline.ingest import read_raw_files
from pipeline.store import ArtifactMissing, load_artifact, save_artifact
from pipeline.windows import make_training_windows


def test_readings_and_windows_round_trip(data_root, tmp_path):
    readings = read_raw_files(data_root / "raw")
    path = save_artifact(readings, tmp_path / "r")
    assert path.name == "readings.parquet"
    back = load_artifact(tmp_path / "r")
    pd.testing.assert_frame_equal(back.frame, readings.frame)
    assert back.contract == readings.contract

    f = readings.frame
    w = make_training_windows(f[readings.sensors].to_numpy(), f["timestamp"].to_numpy(), readings.sensors, 12)
    save_artifact(w, tmp_path / "w")
    wb = load_artifact(tmp_path / "w")
    assert isinstance(wb.values, np.memmap)  # batches are read from disk pages, not a loaded copy
    np.testing.assert_array_equal(wb.values, w.values)
    np.testing.assert_array_equal(wb.timestamps, w.timestamps)
    np.testing.assert_array_equal(wb.split.train_starts, w.split.train_starts)
    assert wb.scaler == w.scaler and wb.sensors == w.sensors and wb.window_length == 12


def test_failed_write_leaves_the_previous_artifact_whole(tmp_path):
    good = pd.DataFrame({"window_start": pd.to_datetime(["2026-01-01"]), "z_0": [1.0]})
    save_artifact(good, tmp_path / "latents")
    before = (tmp_path / "latents" / "latents.parquet").read_bytes()
    bad = pd.DataFrame({"window_start": [object()], "z_0": [2.0]})  # Parquet cannot store this column
    with pytest.raises(ValueError):  # pyarrow.ArrowInvalid
        save_artifact(bad, tmp_path / "latents")
    assert (tmp_path / "latents" / "latents.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latents"]  # no temporary folder left behind
    assert json.loads((tmp_path / "latents" / "manifest.json").read_text()) == {"kind": "latent_table"}


def test_missing_artifact_says_what_to_do(tmp_path):
    with pytest.raises(ArtifactMissing, match="materialise the upstream asset first"):
        load_artifact(tmp_path / "autoencoder")


def test_unknown_type_is_refused(tmp_path):
    with pytest.raises(TypeError, match="no on-disk format for dict"):
        save_artifact({"a": 1}, tmp_path / "x")
