"""Stored state damaged after it was written (a truncated model or latents file, windows the model could not
score) fails the run with a message naming the object and what to do, never a reader's traceback, and is
never taken for normal."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from pipeline.events import latent_events
from pipeline.latents import ANOMALY_SCORE
from tests.helpers import SAMPLE_DAYS, day_latents, make_sample_root, materialize, run_assets

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all


@pytest.fixture(scope="module")
def scored_root(tmp_path_factory):
    """The sample after one whole pass: days ingested, a model published, both days scored."""
    root = make_sample_root(tmp_path_factory.mktemp("scored"))
    assert materialize(root).success
    return root


@pytest.fixture
def root(scored_root, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(scored_root, copy, symlinks=True)  # `published` is a relative symlink: it stays inside
    return copy


def failure_text(result) -> str:
    return "\n".join(e.event_specific_data.error.message for e in result.all_events
                     if e.event_type_value == "STEP_FAILURE")


def truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_truncated_published_model_fails_scoring_naming_it(root):
    model = (root / "published" / "autoencoder" / "model.keras").resolve()
    truncate(model)
    result = run_assets(root, ["latent_vectors"], partition_key=SAMPLE_DAYS[-1])
    assert not result.success
    text = failure_text(result)
    assert "autoencoder is damaged" in text and "materialise it again" in text
    assert "File not found" not in text  # Keras' word for a damaged .keras file, which exists


def test_truncated_day_latents_fail_the_events_naming_the_day(root):
    truncate(day_latents(root, SAMPLE_DAYS[-1]))
    result = run_assets(root, ["anomaly_events"], partition_key=SAMPLE_DAYS[-1])
    assert not result.success
    text = failure_text(result)
    assert f"latent_vectors/{SAMPLE_DAYS[-1]} is damaged" in text and "ArrowInvalid" in text


def test_windows_without_an_anomaly_score_are_refused_not_taken_for_normal():
    times = pd.date_range("2026-11-02", periods=6, freq="min")
    latents = pd.DataFrame({"window_start": times, "window_end": times + pd.Timedelta("1min"),
                            ANOMALY_SCORE: [0.2, 0.3, np.nan, 3.0, 0.1, np.nan]})
    with pytest.raises(ValueError, match=r"2 of 6 windows have no anomaly_score \(NaN\), the first starting "
                                         r"2026-11-02 00:02:00"):
        latent_events(latents)
    assert len(latent_events(latents.fillna(0.0))) == 1  # the same table scored: one event
