"""The plots attached to materialisations: real PNGs of the documented size, downsampled evenly."""

import base64
import io

import numpy as np
import pytest

from pipeline.events import find_events
from pipeline.plots import (
    DPI,
    FIGSIZE,
    anomaly_timeline_png,
    hours_since_start,
    latent_scatter_png,
    loss_curve_png,
    png_markdown,
    project_3d,
)
from pipeline.usefulness import evenly_spaced_positions

SIZE = (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))


def png_size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        return image.size


def test_evenly_spaced_positions_keep_everything_up_to_the_limit_then_space_evenly():
    assert list(evenly_spaced_positions(7, 10)) == list(range(7))
    keep = evenly_spaced_positions(12_001, 5000)
    assert len(keep) == 5000 and keep[0] == 0 and keep[-1] == 12_000
    assert (np.diff(keep) > 0).all() and set(np.diff(keep)) <= {2, 3}


def test_projection_keeps_up_to_three_dimensions_and_takes_principal_components_beyond():
    rng = np.random.default_rng(0)
    z2 = rng.normal(size=(100, 2))
    coords, names = project_3d(z2)
    assert names == ["z_0", "z_1"] and np.allclose(coords, z2)
    z5 = rng.normal(size=(500, 5)) * [1, 10, 0.1, 5, 2]
    coords, names = project_3d(z5)
    assert names == ["PC1", "PC2", "PC3"] and coords.shape == (500, 3)
    assert list(np.round(coords.std(axis=0), 0)) == [10, 5, 2]  # the three widest directions, widest first


@pytest.mark.parametrize("dims", [1, 2, 3, 5])
def test_latent_scatter_is_a_small_png_for_any_latent_size(dims):
    rng = np.random.default_rng(dims)
    z = rng.normal(size=(6000, dims))
    png = latent_scatter_png(z, np.arange(6000.0), "hours", "Latent space", max_points=5000)
    assert png_size(png) == SIZE and len(png) < 200_000


def test_loss_curve_with_and_without_validation():
    for history in ({"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.7], "best_epoch": 2},
                    {"loss": [1.0]}):
        assert png_size(loss_curve_png(history)) == SIZE


def test_anomaly_timeline_with_and_without_events():
    ends = np.datetime64("2026-11-01T00:00", "ns") + np.arange(30_000).astype("timedelta64[s]")
    scores = np.full(30_000, 0.2)
    scores[1000:1500] = 3.0
    events = find_events(ends - np.timedelta64(30, "s"), ends, scores)
    assert len(events) == 1
    assert png_size(anomaly_timeline_png(ends, scores, events, "Anomaly score")) == SIZE
    assert png_size(anomaly_timeline_png(ends, np.zeros(30_000), events.iloc[:0], "Anomaly score")) == SIZE


def test_markdown_embeds_the_png_bytes_and_hours_count_from_the_first_timestamp():
    md = png_markdown(b"\x89PNG-bytes", "loss")
    assert md.startswith("![loss](data:image/png;base64,") and md.endswith(")")
    assert base64.b64decode(md[len("![loss](data:image/png;base64,"):-1]) == b"\x89PNG-bytes"
    ts = np.array(["2026-11-01T00:00", "2026-11-01T01:30", "2026-11-02T00:00"], dtype="datetime64[ns]")
    assert list(hours_since_start(ts)) == [0.0, 1.5, 24.0]
