import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from pipeline.ingest import IngestSettings, read_raw_files
from pipeline.latents import ROW_GROUP
from pipeline.storage import ArtifactMissing
from pipeline.store import load_artifact, save_artifact
from pipeline.validate import validated_day
from pipeline.windows import make_training_windows
from tests.helpers import latent_table


def test_readings_and_windows_round_trip(data_root, tmp_path):
    readings = read_raw_files(data_root / "raw")
    path = save_artifact(readings, tmp_path / "r")
    assert path.name == "sensors.npy"
    back = load_artifact(tmp_path / "r")
    pd.testing.assert_frame_equal(back.frame, readings.frame)
    assert back.contract == readings.contract and back.folder == tmp_path / "r"
    assert isinstance(back.sensor_block(), np.memmap)  # the stored readings are memory-mapped, never loaded

    f = readings.frame
    w = make_training_windows(f[readings.sensors].to_numpy(), f["timestamp"].to_numpy(), readings.sensors, 12)
    save_artifact(w, tmp_path / "w")
    wb = load_artifact(tmp_path / "w")
    assert isinstance(wb.values, np.memmap)  # batches are read from disk pages, not a loaded copy
    np.testing.assert_array_equal(wb.values, w.values)
    np.testing.assert_array_equal(wb.timestamps, w.timestamps)
    np.testing.assert_array_equal(wb.index.train_starts, w.index.train_starts)
    assert wb.scaler == w.scaler and wb.sensors == w.sensors and wb.index.window_length == 12


def test_stored_readings_keep_what_was_stored_when_replaced(data_root, tmp_path):
    readings = read_raw_files(data_root / "raw")
    save_artifact(readings, tmp_path / "r")
    back = load_artifact(tmp_path / "r")
    one_day = read_raw_files(data_root / "raw", IngestSettings(pattern="*11-01.csv"))
    save_artifact(one_day, tmp_path / "r")  # replaced meanwhile
    pd.testing.assert_frame_equal(back.frame, readings.frame)  # what was stored when it was loaded
    source = back.frame["source_file"]
    assert list(source.cat.categories) == ["machine01_2026-11-01.csv", "machine01_2026-11-02.csv"]
    assert back.summary() == readings.summary()


def test_a_validated_day_links_the_readings_it_validated_instead_of_copying_them(data_root, tmp_path):
    raw = save_artifact(read_raw_files(data_root / "raw", day="2026-11-02"), tmp_path / "raw").parent
    day = validated_day("2026-11-02", load_artifact(raw))
    save_artifact(day, tmp_path / "validated")
    for name in ("sensors.npy", "timestamps.npy", "source.npy"):  # the same file, not a second copy
        assert os.path.samefile(raw / name, tmp_path / "validated" / name)
    back = load_artifact(tmp_path / "validated")
    assert back.day == "2026-11-02" and back.rows == 1440 and back.segments.tolist() == [[0, 1440]]
    shutil.rmtree(raw)  # the raw day re-ingested or pruned: the validated day keeps its readings
    assert len(load_artifact(tmp_path / "validated").readings.frame) == 1440


def test_one_column_and_sensor_chunks_stream_in_row_order(data_root, tmp_path):
    readings = read_raw_files(data_root / "raw")
    save_artifact(readings, tmp_path / "r")
    expected = readings.frame[readings.sensors].to_numpy()
    for source in (readings, load_artifact(tmp_path / "r")):
        chunks = list(source.sensor_chunks(rows=700))
        assert max(len(c) for c in chunks) == 700 and len(chunks) >= 5
        assert all(c.dtype == np.float64 and c.shape[1] == 9 and c.flags.c_contiguous for c in chunks)
        np.testing.assert_array_equal(np.concatenate(chunks), expected)
        np.testing.assert_array_equal(source.column("timestamp"), readings.frame["timestamp"].to_numpy())
        assert source.column("timestamp").dtype == "datetime64[ns]"
    with pytest.raises(KeyError, match="no column 'oil'"):
        load_artifact(tmp_path / "r").column("oil")


def test_failed_write_leaves_the_previous_artifact_whole(tmp_path):
    save_artifact(latent_table(10), tmp_path / "latents")
    before = (tmp_path / "latents" / "latents.parquet").read_bytes()
    broken = latent_table(ROW_GROUP + 5)
    broken.window_end = broken.window_end[: ROW_GROUP + 1]  # the second row group cannot be built
    with pytest.raises(ValueError, match="not all the same length"):  # after the first row group was written
        save_artifact(broken, tmp_path / "latents")
    assert (tmp_path / "latents" / "latents.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latents"]  # no temporary folder left behind
    assert json.loads((tmp_path / "latents" / "manifest.json").read_text()) == {"kind": "latent_table"}
    assert len(load_artifact(tmp_path / "latents")) == 10


def test_missing_artifact_says_what_to_do(tmp_path):
    with pytest.raises(ArtifactMissing, match="materialise the upstream asset first"):
        load_artifact(tmp_path / "autoencoder")


def test_unknown_type_is_refused(tmp_path):
    with pytest.raises(TypeError, match="no on-disk format for dict"):
        save_artifact({"a": 1}, tmp_path / "x")
