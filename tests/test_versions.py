import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.versions import (
    PublishError,
    list_versions,
    publish,
    published_version,
    read_status,
    version_folder,
    write_status,
)


def make_version(root: Path, run_id: str, second: int) -> Path:
    folder = version_folder(root, run_id, now=datetime(2026, 11, 30, 2, 0, second, tzinfo=UTC))
    (folder / "latents.parquet").write_text(run_id)
    write_status(folder, "audited")
    return folder


def test_a_run_keeps_one_version_folder_named_by_time_and_run(tmp_path):
    a = version_folder(tmp_path, "aaaaaaaa-1111", now=datetime(2026, 11, 30, 2, 0, 5, tzinfo=UTC))
    assert a.name == "20261130T020005000000Z_aaaaaaaa"
    assert version_folder(tmp_path, "aaaaaaaa-1111") == a  # later assets of the same run land beside it
    assert read_status(a)["status"] == "written" and read_status(a)["run_id"] == "aaaaaaaa-1111"


def test_publish_switches_the_pointer_and_refuses_failed_or_older_versions(tmp_path):
    a, b, c = (make_version(tmp_path, r, s) for r, s in [("aaaaaaaa", 1), ("bbbbbbbb", 2), ("cccccccc", 3)])
    publish(tmp_path, a, keep=10)
    assert published_version(tmp_path) == a.resolve()
    assert (tmp_path / "published" / "latents.parquet").read_text() == "aaaaaaaa"
    write_status(b, "failed", reason="dead latent dimension z_1")
    with pytest.raises(PublishError, match="failed its audit"):
        publish(tmp_path, b, keep=10)
    assert published_version(tmp_path) == a.resolve() and read_status(b)["status"] == "failed"
    publish(tmp_path, c, keep=10)
    with pytest.raises(PublishError, match="already published and newer"):
        publish(tmp_path, a, keep=10)
    assert published_version(tmp_path) == c.resolve()
    assert os.readlink(tmp_path / "published") == "versions/" + c.name  # relative: the data root can move
    d = version_folder(tmp_path, "dddddddd")  # written, never audited: e.g. published_latents selected alone
    with pytest.raises(PublishError, match="has not passed|have not passed"):
        publish(tmp_path, d, keep=10)


def test_prune_keeps_the_newest_the_published_and_those_in_use(tmp_path):
    folders = [make_version(tmp_path, f"{i:08d}", i) for i in range(6)]
    publish(tmp_path, folders[1], keep=10)
    pruned = publish(tmp_path, folders[3], keep=2, in_use={folders[0]})
    assert sorted(p.name for p in pruned) == [folders[1].name, folders[2].name]
    assert list_versions(tmp_path) == [folders[0], folders[3], folders[4], folders[5]]
