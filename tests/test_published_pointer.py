"""The published pointer is believed only when it is what it claims: a pointer (a symlink on a local root,
published.json on an object store) at a version whose status is not `published` is refused, naming the version
and its status; a corrupt pointer, or one naming a missing version, is a clear error of its own, not "nothing
published"; and publishing again replaces a broken pointer. On a local root and on a real local S3 server."""

from __future__ import annotations

import json
import os

import dagster as dg
import pytest

from assets.latents import published_model
from assets.resources import DataRoot
from pipeline.storage import location
from pipeline.store import save_artifact
from pipeline.versions import PUBLISHED, PUBLISHED_POINTER, PublishedStateError, VersionStore, read_published
from tests.helpers import latent_table
from tests.test_object_store import make_version


def set_status(versions: VersionStore, folder, status: str) -> None:
    record = versions.status(folder)
    (location(folder) / "status.json").write_text(json.dumps({**record, "status": status}))


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    if request.param == "local":
        yield str(tmp_path / "data")
        return
    from tests.objectstore import s3_bucket

    with s3_bucket(tmp_path / "cache") as (url, _):
        yield url


def point_at(versions: VersionStore, name: str) -> None:
    """Aim the published pointer at `name` by hand, as a person or a broken tool might."""
    if str(versions.root).startswith("s3://"):
        (versions.root / PUBLISHED_POINTER).write_text(json.dumps({"version": name}))
    else:
        link = versions.root / PUBLISHED
        link.unlink(missing_ok=True)
        os.symlink(f"versions/{name}", link)


def refused(root: str, *words: str) -> str:
    """published(), read_published and the scoring path all refuse, naming `words`, never 'nothing published'."""
    with pytest.raises(PublishedStateError) as error:
        VersionStore(root).published()
    with pytest.raises(PublishedStateError):
        read_published(root)
    with pytest.raises(dg.Failure) as failure:
        published_model(DataRoot(path=root))
    for text in (str(error.value), failure.value.description):
        assert "nothing has been published" not in text and "no published model" not in text
        for word in words:
            assert word in text, f"{word!r} not in {text}"
    return str(error.value)


@pytest.mark.parametrize("status", ["failed", "audited", "written"])
def test_a_pointer_at_a_version_that_is_not_published_is_refused(root, status):
    versions = VersionStore(root)
    a = make_version(versions, "aaaaaaaa", 1)
    assert versions.publish(a, keep=10).published and versions.published().name == a.name
    set_status(versions, a, status)  # e.g. a status rewritten after publishing
    text = refused(root, a.name, status)
    assert "retrain" in text

    b = make_version(versions, "bbbbbbbb", 2, "written")
    versions.audit(b, passed=False, reason="dead latent dimension z_1")
    point_at(versions, b.name)  # a pointer aimed by hand at a version that failed its audit
    refused(root, b.name, "failed")


@pytest.mark.parametrize("pointer", ["{not json", '{"name": "x"}', '["a"]', '{"version": ""}'])
def test_a_corrupt_store_pointer_is_its_own_error_and_publishing_replaces_it(pointer, tmp_path):
    from tests.objectstore import s3_bucket

    with s3_bucket(tmp_path / "cache") as (root, _):
        versions = VersionStore(root)
        (versions.root / PUBLISHED_POINTER).write_text(pointer)
        text = refused(root, PUBLISHED_POINTER, "corrupt")
        assert "retrain" in text and "delete" in text
        a = make_version(versions, "aaaaaaaa", 1)
        assert versions.publish(a, keep=10).published  # the retrain job's fix: a new pointer
        assert versions.published().name == a.name and len(read_published(root)) == 2


def test_a_pointer_at_a_missing_version_is_its_own_error_and_publishing_replaces_it(root):
    versions = VersionStore(root)
    a = make_version(versions, "aaaaaaaa", 1)
    point_at(versions, "29991231T000000000000Z_gone0000")  # pruned or deleted by hand; sorts after every version
    text = refused(root, "29991231T000000000000Z_gone0000", "does not exist")
    assert "retrain" in text and "delete" in text
    assert versions.publish(a, keep=10).published  # a broken pointer never blocks the next publication
    assert versions.published().name == a.name


def test_a_local_published_path_that_is_not_a_symlink_is_refused(tmp_path):
    versions = VersionStore(tmp_path / "data")
    make_version(versions, "aaaaaaaa", 1)
    (versions.root / PUBLISHED).mkdir()  # e.g. copied over by hand
    refused(str(versions.root), str(versions.root / PUBLISHED), "not a symlink")


def test_nothing_published_is_still_reported_as_such(root):
    versions = VersionStore(root)
    make_version(versions, "aaaaaaaa", 1)
    assert versions.published() is None
    with pytest.raises(FileNotFoundError, match="nothing has been published"):
        read_published(root)
    with pytest.raises(dg.Failure, match="no published model"):
        published_model(DataRoot(path=root))


def test_a_published_version_without_a_model_is_named(root):
    versions = VersionStore(root)
    a = make_version(versions, "aaaaaaaa", 1)
    save_artifact(latent_table(3), location(a) / "audit_latents")
    versions.publish(a, keep=10)
    with pytest.raises(dg.Failure) as failure:
        published_model(DataRoot(path=root))
    assert a.name in failure.value.description and "autoencoder" in failure.value.description
