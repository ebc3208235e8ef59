import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.versions import PublishError, StatusError, VersionStore


def make_version(versions: VersionStore, run_id: str, second: int, status: str = "audited") -> Path:
    folder = versions.for_run(run_id, now=datetime(2026, 11, 30, 2, 0, second, tzinfo=UTC))
    (folder / "latents.parquet").write_text(run_id)
    if status != "written":
        versions.advance(folder, status)
    return folder


def test_a_run_keeps_one_version_folder_named_by_time_and_run(tmp_path):
    versions = VersionStore(tmp_path)
    a = versions.for_run("aaaaaaaa-1111", now=datetime(2026, 11, 30, 2, 0, 5, tzinfo=UTC))
    assert a.name == "20261130T020005000000Z_aaaaaaaa"
    assert versions.for_run("aaaaaaaa-1111") == a  # later assets of the same run land beside it
    assert versions.find("aaaaaaaa-1111") == a and versions.find("bbbbbbbb-2222") is None
    assert versions.status(a)["status"] == "written" and versions.status(a)["run_id"] == "aaaaaaaa-1111"


def test_status_only_moves_forward_and_failed_is_final(tmp_path):
    versions = VersionStore(tmp_path)
    failed, audited = make_version(versions, "aaaaaaaa", 1, "written"), make_version(versions, "bbbbbbbb", 2, "written")
    versions.audit(failed, passed=False, reason="dead latent dimension z_1")
    for status in ("audited", "published", "written"):
        with pytest.raises(StatusError, match="is failed and cannot become"):
            versions.advance(failed, status)
    assert versions.status(failed) | {"failed_at": None} == {
        "run_id": "aaaaaaaa", "status": "failed", "reason": "dead latent dimension z_1",
        "written_at": versions.status(failed)["written_at"], "failed_at": None}
    versions.audit(audited, passed=True, reason="all 3 dimensions vary")
    with pytest.raises(StatusError, match="is audited and cannot become failed"):
        versions.audit(audited, passed=False, reason="late")
    with pytest.raises(StatusError, match="is written and cannot become published"):
        versions.advance(make_version(versions, "cccccccc", 3, "written"), "published")


def test_publish_switches_the_pointer_and_refuses_failed_unaudited_or_incomplete_versions(tmp_path):
    versions = VersionStore(tmp_path)
    a, b, c = (make_version(versions, r, s) for r, s in [("aaaaaaaa", 1), ("bbbbbbbb", 2), ("cccccccc", 3)])
    assert versions.publish(a, keep=10).published
    assert versions.published() == a.resolve()
    assert (tmp_path / "published" / "latents.parquet").read_text() == "aaaaaaaa"
    d = make_version(versions, "dddddddd", 4, "written")
    versions.audit(d, passed=False, reason="dead latent dimension z_1")
    with pytest.raises(PublishError, match="failed its audit"):
        versions.publish(d, keep=10)
    e = make_version(versions, "eeeeeeee", 5, "written")  # never audited: e.g. published_latents selected alone
    with pytest.raises(PublishError, match="have not passed the latent check"):
        versions.publish(e, keep=10)
    with pytest.raises(PublishError, match="lacks autoencoder"):
        versions.publish(b, keep=10, required=("autoencoder",))
    assert versions.published() == a.resolve() and versions.status(d)["status"] == "failed"
    assert os.readlink(tmp_path / "published") == "versions/" + a.name  # relative: the data root can move

    assert versions.publish(c, keep=10).published
    late = versions.publish(b, keep=10)  # audited before c, publishing after it: consumers never go back
    assert not late.published and late.current == c.resolve()
    assert versions.published() == c.resolve() and versions.status(b)["status"] == "audited"


def test_prune_keeps_the_newest_the_published_and_runs_in_progress(tmp_path):
    versions = VersionStore(tmp_path)
    folders = [make_version(versions, f"{i:08d}", i) for i in range(6)]
    running = make_version(versions, "99999999", 0, "written")  # started first, still writing
    versions.publish(folders[1], keep=10)
    outcome = versions.publish(folders[3], keep=2)
    assert sorted(p.name for p in outcome.pruned) == sorted(f.name for f in (folders[0], folders[1], folders[2]))
    assert versions.list() == sorted([running, folders[3], folders[4], folders[5]])


def test_pin_links_another_runs_artifact_into_the_runs_own_version(tmp_path):
    versions = VersionStore(tmp_path)
    trained = versions.for_run("aaaaaaaa-trains") / "autoencoder"
    save_artifact_folder(trained)
    versions.record_latest("autoencoder", trained)

    pinned = versions.pin("bbbbbbbb-encodes", "autoencoder")
    own = versions.find("bbbbbbbb-encodes")
    assert pinned == own / "autoencoder" and versions.holds(own, "autoencoder")
    assert os.path.samefile(pinned / "weights.bin", trained / "weights.bin")  # a hard link, not a copy
    assert versions.status(own)["autoencoder_from"] == trained.parent.name
    assert versions.pin("bbbbbbbb-encodes", "autoencoder") == pinned  # once pinned, always the same
    with pytest.raises(FileNotFoundError, match="no latent_vectors has been written"):
        versions.pin("bbbbbbbb-encodes", "latent_vectors")


def save_artifact_folder(folder: Path) -> None:
    """A minimal complete artifact folder (a manifest written last), as pipeline.store leaves one."""
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\x00" * 64)
    (folder / "manifest.json").write_text('{"kind": "autoencoder"}')


def test_old_written_versions_are_abandoned_and_may_be_pruned(tmp_path):
    versions = VersionStore(tmp_path)
    old = make_version(versions, "00000000", 0, "written")
    record = versions.status(old)
    record["written_at"] = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    (old / "status.json").write_text(json.dumps(record))
    newest = make_version(versions, "11111111", 1)
    assert versions.publish(newest, keep=1).pruned == [old]

