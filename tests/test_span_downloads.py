"""On an object store, the model run downloads the span's days and nothing else: a fresh worker with 40 stored
days and training_days 28 fetches exactly the latest 28 days' validated readings (each write once), not the
history."""

from __future__ import annotations

import pytest

from pipeline.catalog import Catalog
from pipeline.ingest import raw_days, read_raw_files
from pipeline.storage import backend
from pipeline.storage.objectstore import DOWNLOADS, cache_root, download_name
from pipeline.store import run_folder
from pipeline.validate import validated_day
from tests.helpers import make_sample_root, run_assets

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

HISTORY, SPAN = 40, 28


@pytest.fixture
def store_with_history(tmp_path):
    from tests.objectstore import s3_bucket

    raw = make_sample_root(tmp_path / "history", days=HISTORY) / "raw"
    with s3_bucket(tmp_path / "writer-cache") as (url, _):
        catalog = Catalog(url)
        days = raw_days(raw).days
        assert len(days) == HISTORY
        for day in days:
            catalog.save_day("validated_readings", day, validated_day(day, read_raw_files(raw, day=day)))
        yield url, days


def test_a_fresh_worker_downloads_only_the_span(store_with_history, tmp_path, monkeypatch):
    url, days = store_with_history
    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(tmp_path / "fresh-worker"))  # a machine that has seen nothing
    catalog = Catalog(url)
    expected = {download_name(backend(catalog.root).files_of(catalog.day_folder("validated_readings", d)))
                for d in days[-SPAN:]}
    result = run_assets(url, ["training_windows"], {"ops": {"training_windows": {"config": {
        "window_length": 12, "training_days": SPAN}}}})
    assert result.success
    written = download_name(backend(catalog.root).files_of(run_folder(catalog.store_dir, result.run_id,
                                                                      "training_windows")))
    held = {p.name for p in (cache_root() / DOWNLOADS).iterdir() if not p.name.startswith(".")}
    assert held - {written} == expected, f"{len(held - {written})} writes downloaded, {len(expected)} expected"
    assert written in held  # what the run wrote is this machine's copy of it: no download to read it back
    span = result.asset_materializations_for_node("training_windows")[0].metadata
    assert span["days_used"].value == SPAN and span["first_day"].value == days[-SPAN]
