"""State that is not what it claims is not used: a day-index entry that does not match its file (edited, stale,
naming another file, of the wrong shape) is ignored, said so, and the file indexed again; a dangling symlink in
the raw folder is named, and the day it held fails rather than reading empty. Real files in tmp_path: a copy of
the project's sample raw folder, its index edited as a hand, a bad sync or a restore would leave it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline import list_days
from pipeline.contract import ContractError
from pipeline.ingest import DAY_INDEX, PARSED, IngestError, raw_days, read_raw_files
from pipeline.raw_files import list_raw_files
from pipeline.validate import validate_readings
from tests.helpers import PROJECT_ROOT

FOUR_DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
FILE, NEXT = "machine01_2026-11-02.csv", "machine01_2026-11-03.csv"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A data root holding a copy of the sample raw folder (four days at 20 s, 4320 rows a day)."""
    shutil.copytree(PROJECT_ROOT / "data" / "raw", tmp_path / "data" / "raw")
    return tmp_path / "data"


def index_doc(root: Path) -> dict:
    return json.loads((root / "cache" / DAY_INDEX).read_text())


def edit_index(root: Path, change) -> None:
    doc = index_doc(root)
    change(doc)
    (root / "cache" / DAY_INDEX).write_text(json.dumps(doc))


def key_of(doc: dict, name: str) -> str:
    [key] = [k for k, v in doc["entries"].items() if isinstance(v, dict) and v.get("file") == name]
    return key


def set_entry(name: str, value):
    def change(doc):
        doc["entries"][key_of(doc, name)] = value
    return change


def truth(raw: Path, day: str):
    """The day as read with no index at all (and no parse cache)."""
    return read_raw_files(raw, day=day)


def assert_same_day(read, expected) -> None:
    assert [f.name for f in read.files] == [f.name for f in expected.files]
    pd.testing.assert_frame_equal(read.frame, expected.frame)


def about(logs: list[str], name: str) -> list[str]:
    return [m for m in logs if name in m]


def listed(root: Path, capsys) -> list[str]:
    assert list_days.main([str(root)]) == 0
    return capsys.readouterr().out.split()


# -- (a) the day index ------------------------------------------------------------------------------------------

def test_an_entry_edited_to_claim_another_day_is_ignored_said_and_the_file_indexed_again(root, capsys):
    raw, cache = root / "raw", root / "cache"
    assert raw_days(raw, cache_dir=cache).days == FOUR_DAYS  # builds the index
    edit_index(root, lambda doc: doc["entries"][key_of(doc, FILE)].__setitem__("days", ["2026-11-03"]))

    logs: list[str] = []
    assert raw_days(raw, cache_dir=cache, log=logs.append).days == FOUR_DAYS
    [warning] = about(logs, FILE)
    assert "day index" in warning and "2026-11-03" in warning and "2026-11-02" in warning, warning
    assert index_doc(root)["entries"][key_of(index_doc(root), FILE)]["days"] == ["2026-11-02"]  # rewritten true
    assert listed(root, capsys) == FOUR_DAYS

    edit_index(root, lambda doc: doc["entries"][key_of(doc, FILE)].__setitem__("days", ["2026-11-03"]))
    logs.clear()
    for day in ("2026-11-02", "2026-11-03"):  # the order: the day emptied, then the next one crashed
        read = read_raw_files(raw, cache_dir=cache, day=day, log=logs.append)
        assert_same_day(read, truth(raw, day))
        assert len(read.frame) == 4320
        assert validate_readings(read).success
    assert len(about(logs, FILE)) >= 1 and any("day index" in m for m in about(logs, FILE))


def test_an_entry_naming_another_file_is_not_used_for_this_one(root):
    raw, cache = root / "raw", root / "cache"
    raw_days(raw, cache_dir=cache)
    doc = index_doc(root)
    edit_index(root, set_entry(FILE, doc["entries"][key_of(doc, NEXT)]))  # the next file's entry, copied over

    logs: list[str] = []
    assert raw_days(raw, cache_dir=cache, log=logs.append).days == FOUR_DAYS
    [warning] = [m for m in about(logs, FILE) if "day index" in m]
    assert NEXT in warning, warning
    for day in ("2026-11-02", "2026-11-03"):
        read = read_raw_files(raw, cache_dir=cache, day=day)
        assert_same_day(read, truth(raw, day))
        assert validate_readings(read).success


@pytest.mark.parametrize("bad", ["garbage", 42, None, [], {}, {"file": FILE}, {"file": FILE, "days": "2026-11-02"},
                                 {"file": FILE, "days": [20261102]}, {"file": FILE, "days": ["2026-13-45"]},
                                 {"file": FILE, "days": ["2026-11-02", "2026-11-02"]},
                                 {"file": FILE, "days": ["2026-11-03", "2026-11-02"]}])
def test_an_entry_of_the_wrong_shape_is_ignored_said_and_the_file_indexed_again(root, bad):
    raw, cache = root / "raw", root / "cache"
    raw_days(raw, cache_dir=cache)
    edit_index(root, set_entry(FILE, bad))

    logs: list[str] = []
    assert raw_days(raw, cache_dir=cache, log=logs.append).days == FOUR_DAYS
    assert any("day index" in m for m in about(logs, FILE)), logs
    assert index_doc(root)["entries"][key_of(index_doc(root), FILE)]["days"] == ["2026-11-02"]
    edit_index(root, set_entry(FILE, bad))
    for day in ("2026-11-02", "2026-11-03"):
        assert_same_day(read_raw_files(raw, cache_dir=cache, day=day), truth(raw, day))


@pytest.mark.parametrize("text", ["{not json", "[]", '{"entries": [], "last_days": {}}',
                                  '{"entries": {}, "last_days": ["x"]}', '{"entries": {"k": 1}}'])
def test_an_index_that_is_not_an_index_is_said_and_rebuilt(root, text):
    raw, cache = root / "raw", root / "cache"
    logs: list[str] = []
    assert raw_days(raw, cache_dir=cache, log=logs.append).days == FOUR_DAYS
    assert not [m for m in logs if "day index" in m]  # no index yet: nothing to say
    (cache / DAY_INDEX).write_text(text)

    assert raw_days(raw, cache_dir=cache, log=logs.append).days == FOUR_DAYS
    [warning] = [m for m in logs if "day index" in m]
    assert str(cache / DAY_INDEX) in warning, warning
    logs.clear()
    assert raw_days(raw, cache_dir=cache, log=logs.append).days == FOUR_DAYS  # rebuilt: sound again
    assert not [m for m in logs if "day index" in m], logs


def test_a_damaged_record_of_the_days_a_file_held_is_not_used(root):
    raw, cache = root / "raw", root / "cache"
    raw_days(raw, cache_dir=cache)
    edit_index(root, lambda doc: doc["last_days"].__setitem__(FILE, "xyz"))
    (raw / FILE).write_text("timestamp,vibration_x\nyesterday,1.0\n")  # now unreadable: placed by last_days

    logs: list[str] = []
    assert raw_days(raw, cache_dir=cache, log=logs.append).days == FOUR_DAYS  # the date in its name, not x, y, z
    assert any("day index" in m for m in about(logs, FILE)), logs
    with pytest.raises(IngestError, match=FILE):
        read_raw_files(raw, cache_dir=cache, day="2026-11-02")


def test_a_file_rewritten_under_the_same_size_and_mtime_is_found_out_when_its_day_is_read(root):
    raw, cache = root / "raw", root / "cache"
    assert raw_days(raw, cache_dir=cache).days == FOUR_DAYS
    path = raw / FILE
    before = path.stat()
    path.write_text(path.read_text().replace("2026-11-02", "2026-11-05"))  # same length: the same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # as a restore or `rsync -t` leaves it
    assert path.stat().st_size == before.st_size
    shutil.rmtree(cache / PARSED)  # the parse cache pruned to free space; the small index kept

    logs: list[str] = []
    read = read_raw_files(raw, cache_dir=cache, day="2026-11-02", log=logs.append)
    assert_same_day(read, truth(raw, "2026-11-02"))  # the file no longer holds the day: truly empty
    assert read.files == () and len(read.frame) == 0
    validate_readings(read)
    assert any("day index" in m for m in about(logs, FILE)), logs
    assert raw_days(raw, cache_dir=cache).days == ["2026-11-01", "2026-11-03", "2026-11-04", "2026-11-05"]
    fifth = read_raw_files(raw, cache_dir=cache, day="2026-11-05")
    assert_same_day(fifth, truth(raw, "2026-11-05"))
    assert len(fifth.frame) == 4320


# -- (b) dangling symlinks ---------------------------------------------------------------------------------------

def test_a_dangling_link_is_named_and_fails_the_day_it_held_instead_of_emptying_it(root, tmp_path, capsys):
    raw, cache, mount = root / "raw", root / "cache", tmp_path / "mnt"
    mount.mkdir()
    shutil.move(raw / FILE, mount / FILE)
    (raw / FILE).symlink_to(mount / FILE)  # the file lives on a mount, linked into the raw folder
    assert raw_days(raw, cache_dir=cache).days == FOUR_DAYS
    assert_same_day(read_raw_files(raw, cache_dir=cache, day="2026-11-02"), truth(raw, "2026-11-02"))
    (mount / FILE).unlink()  # the mount is gone: the link dangles

    listing = list_raw_files(raw, known=(raw / "sensors.yaml",))
    assert raw / FILE not in listing.files  # not counted as a raw file...
    [why] = [w for name, w in listing.skipped if name == FILE]  # ...but listed, with why
    assert "dangling" in why and str(mount / FILE) in why, why

    logs: list[str] = []
    days = raw_days(raw, cache_dir=cache, log=logs.append)
    assert days.days == FOUR_DAYS and raw / FILE in days.of("2026-11-02")  # the day it held stays listed
    assert any("dangling" in m for m in about(logs, FILE)), logs
    assert listed(root, capsys) == FOUR_DAYS

    with pytest.raises(IngestError) as err:  # its day fails, naming the link, rather than reading empty
        read_raw_files(raw, cache_dir=cache, day="2026-11-02")
    for words in (FILE, "dangling", str(mount / FILE)):
        assert words in str(err.value), str(err.value)
    logs.clear()
    other = read_raw_files(raw, cache_dir=cache, day="2026-11-03", log=logs.append)  # other days are read...
    assert len(other.frame) == 4320 and [f.name for f in other.files] == [NEXT]
    assert FILE in dict(other.skipped_files) and "dangling" in dict(other.skipped_files)[FILE]  # ...and warned
    assert any("dangling" in m for m in about(logs, FILE)), logs
    with pytest.raises(IngestError, match="dangling"):  # the whole folder cannot be read without it
        read_raw_files(raw, cache_dir=cache)


def test_a_dangling_link_never_read_falls_on_the_date_in_its_name_else_is_reported_unplaced(root, tmp_path):
    raw = root / "raw"
    (raw / "machine01_2026-11-05.csv").symlink_to(tmp_path / "never-there.csv")
    (raw / "export.csv").symlink_to(tmp_path / "nor-this.csv")
    logs: list[str] = []
    days = raw_days(raw, log=logs.append)
    assert days.days == [*FOUR_DAYS, "2026-11-05"]
    assert [name for name, _ in days.unplaced] == ["export.csv"] and "dangling" in dict(days.unplaced)["export.csv"]
    for name in ("machine01_2026-11-05.csv", "export.csv"):
        assert any("dangling" in m for m in about(logs, name)), logs
    with pytest.raises(IngestError, match=r"machine01_2026-11-05\.csv.*dangling"):
        read_raw_files(raw, day="2026-11-05")
    first = read_raw_files(raw, day="2026-11-01")
    assert len(first.frame) == 4320
    assert sorted(n for n, _ in first.skipped_files) == ["export.csv", "machine01_2026-11-05.csv"]  # once each


def test_a_dangling_contract_link_is_refused_not_replaced_by_inferred_sensors(root, tmp_path):
    raw = root / "raw"
    (raw / "sensors.yaml").unlink()
    (raw / "sensors.yaml").symlink_to(tmp_path / "shared" / "sensors.yaml")
    for read in (lambda: read_raw_files(raw, day="2026-11-01"), lambda: raw_days(raw)):
        with pytest.raises(ContractError, match=r"sensors\.yaml.*dangling"):
            read()
