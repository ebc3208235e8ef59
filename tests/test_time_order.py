"""A raw file's rows must be in time order, with no row far from the rest; the day listing holds the days
files actually hold. Real files written to tmp_path: the sample, edited as a broken logger would write it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline import list_days
from pipeline.days import DayClock
from pipeline.ingest import IngestError, IngestSettings, raw_days, read_raw_files
from tests.helpers import SKAB, make_sample_root

FOUR_DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
FILE = "machine01_2026-11-02.csv"


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    return make_sample_root(tmp_path, days=4) / "raw"


def edit(raw: Path, change, name: str = FILE) -> None:
    frame = pd.read_csv(raw / name)
    change(frame)
    frame.to_csv(raw / name, index=False)


def set_timestamp(row: int, value: str):
    """Set the timestamp of pandas row `row` (data row row + 1, line row + 2 of the CSV)."""
    return lambda f: f.__setitem__("timestamp", f["timestamp"].where(f.index != row, value))


def listed(raw: Path, capsys) -> list[str]:
    assert list_days.main([str(raw.parent)]) == 0  # the data root whose raw folder `raw` is
    return capsys.readouterr().out.split()


def test_a_stray_1970_row_is_refused_naming_file_and_row_and_lists_only_the_files_day(raw, tmp_path, capsys):
    edit(raw, set_timestamp(600, "1970-01-01 00:00:00"))  # data row 601, line 602; the row before: 09:59:00
    for cache in (None, tmp_path / "cache"):
        assert raw_days(raw, cache_dir=cache).days == FOUR_DAYS  # not 20,762 days
        with pytest.raises(IngestError) as err:
            read_raw_files(raw, day="2026-11-02", cache_dir=cache)
        message = str(err.value)
        for words in (FILE, "data row 601", "line 602", "1970-01-01 00:00:00",
                      "earlier than the row before it (2026-11-02 09:59:00)", "time order"):
            assert words in message, message
        assert len(read_raw_files(raw, day="2026-11-01", cache_dir=cache).frame) == 1440  # other days unharmed
    assert listed(raw, capsys) == FOUR_DAYS
    with pytest.raises(IngestError, match="data row 601"):
        read_raw_files(raw)


def test_a_file_refused_after_it_was_indexed_stays_on_the_days_it_held(raw, tmp_path):
    cache = tmp_path / "cache"
    assert raw_days(raw, cache_dir=cache).days == FOUR_DAYS
    edit(raw, set_timestamp(10, "2099-01-01 00:00:00"))
    (raw / FILE).rename(raw / "export.csv")  # no date in the name: the day it held when last read is lost...
    assert raw_days(raw, cache_dir=cache).days == ["2026-11-01", "2026-11-03", "2026-11-04"]
    days = raw_days(raw, cache_dir=cache)
    assert [name for name, _ in days.unplaced] == ["export.csv"]  # ...so it is reported, not silently dropped
    assert "time order" in dict(days.unplaced)["export.csv"]
    (raw / "export.csv").rename(raw / FILE)
    edit(raw, set_timestamp(10, "2026-11-02 00:10:00"))  # fixed, read, indexed
    assert raw_days(raw, cache_dir=cache).days == FOUR_DAYS
    edit(raw, lambda f: f.__setitem__("timestamp", f["timestamp"].iloc[::-1].to_numpy()))  # rows reversed
    assert raw_days(raw, cache_dir=cache).days == FOUR_DAYS  # the day it held when last read
    with pytest.raises(IngestError, match=r"data row 1 \(line 2\): 2026-11-02 23:59:00 is later than the row "
                                          r"after it .* \(1439 rows go back in time\)"):
        read_raw_files(raw, day="2026-11-02", cache_dir=cache)


def test_shuffled_rows_are_refused_naming_the_first_row_out_of_order(raw):
    edit(raw, lambda f: f.__setitem__("timestamp", f["timestamp"].sample(frac=1, random_state=3).to_numpy()))
    shuffled = pd.read_csv(raw / FILE)["timestamp"]
    first_bad = next(i for i in range(1, len(shuffled)) if shuffled[i] < shuffled[i - 1])
    with pytest.raises(IngestError) as err:
        read_raw_files(raw, day="2026-11-02")
    message = str(err.value)
    earlier = f"data row {first_bad + 1} (line {first_bad + 2}): {shuffled[first_bad]} is earlier than the row " \
              f"before it ({shuffled[first_bad - 1]})"
    later = f"data row {first_bad} (line {first_bad + 1}): {shuffled[first_bad - 1]} is later than the row after " \
            f"it ({shuffled[first_bad]})"
    assert (earlier in message or later in message) and FILE in message and "time order" in message, message


def test_a_stray_late_row_mid_file_is_the_row_named(raw):
    edit(raw, set_timestamp(600, "2099-01-01 00:00:00"))  # the row after it (10:01:00) goes back in time
    with pytest.raises(IngestError, match=r"data row 601 \(line 602\): 2099-01-01 00:00:00 is later than the row "
                                          r"after it \(2026-11-02 10:01:00\): the file's rows must be in time order"):
        read_raw_files(raw, day="2026-11-02")
    edit(raw, lambda f: f.loc.__setitem__(([50, 51], "timestamp"), f.loc[[51, 50], "timestamp"].to_numpy()))
    edit(raw, set_timestamp(600, "2026-11-02 10:00:00"))  # two rows swapped: the earlier one is named
    with pytest.raises(IngestError, match=r"data row 52 \(line 53\): 2026-11-02 00:50:00 is earlier than the row "
                                          r"before it \(2026-11-02 00:51:00\)"):
        read_raw_files(raw, day="2026-11-02")


def test_a_row_far_from_the_rest_is_refused_even_in_time_order(raw):
    edit(raw, set_timestamp(0, "1970-01-01 00:00:00"))  # in order, 56 years before the rest
    with pytest.raises(IngestError) as err:
        read_raw_files(raw, day="2026-11-02")
    message = str(err.value)
    for words in (FILE, "data row 1 (line 2)", "1970-01-01 00:00:00", "before the row after it"):
        assert words in message, message
    edit(raw, set_timestamp(0, "2026-11-02 00:00:00"))
    edit(raw, lambda f: f.__setitem__("timestamp", f["timestamp"].where(f.index != len(f) - 1, "2099-12-31 23:59:00")))
    with pytest.raises(IngestError, match=r"data row 1440 \(line 1441\): 2099-12-31 23:59:00 lies .* after the row "
                                          r"before it"):
        read_raw_files(raw)


def test_a_file_spanning_two_days_lists_exactly_those_two_days(tmp_path, capsys):
    raw = make_sample_root(tmp_path, days=3) / "raw"
    noon = pd.concat([pd.read_csv(raw / "machine01_2026-11-01.csv").iloc[720:],
                      pd.read_csv(raw / "machine01_2026-11-02.csv").iloc[:720]])
    for name in ("machine01_2026-11-01.csv", "machine01_2026-11-02.csv", "machine01_2026-11-03.csv"):
        (raw / name).unlink()
    noon.to_csv(raw / "noon_to_noon.csv", index=False)
    assert listed(raw, capsys) == ["2026-11-01", "2026-11-02"]
    assert len(read_raw_files(raw, day="2026-11-02").frame) == 720
    assert listed(raw, capsys) == ["2026-11-01", "2026-11-02"]


def test_a_file_with_a_pause_of_days_lists_the_days_it_holds_not_those_between(raw, capsys):
    week = pd.concat([pd.read_csv(raw / n) for n in ("machine01_2026-11-01.csv", "machine01_2026-11-04.csv")])
    for day in FOUR_DAYS:
        (raw / f"machine01_{day}.csv").unlink()
    week.to_csv(raw / "export.csv", index=False)  # the logger was off for two days
    assert listed(raw, capsys) == ["2026-11-01", "2026-11-04"]
    assert raw_days(raw, clock=DayClock("America/New_York")).days == ["2026-10-31", "2026-11-01", "2026-11-03",
                                                                      "2026-11-04"]
    assert len(read_raw_files(raw, day="2026-11-04").frame) == 1440


def test_a_file_with_ordinary_gaps_is_accepted(raw):
    edit(raw, lambda f: f.drop(index=range(300, 660), inplace=True))  # six hours off
    edit(raw, lambda f: f.drop(index=range(1, 1439), inplace=True), "machine01_2026-11-03.csv")  # first and last
    assert raw_days(raw).days == FOUR_DAYS
    assert len(read_raw_files(raw, day="2026-11-02").frame) == 1080
    assert len(read_raw_files(raw, day="2026-11-03").frame) == 2


def test_duplicated_timestamps_are_left_to_validation(raw):
    edit(raw, set_timestamp(40, "2026-11-02 00:39:00"))
    assert len(read_raw_files(raw, day="2026-11-02").frame) == 1440  # validation reports the duplicate


@pytest.mark.skipif(not SKAB.exists(), reason="SKAB data not present beside the project")
def test_every_skab_file_is_accepted_with_its_gaps():
    settings = IngestSettings(timestamp_column="datetime", separator=";", pattern="**/*.csv")
    days = raw_days(SKAB, settings)
    assert not days.unplaced
    held = set()
    for path in SKAB.glob("**/*.csv"):
        stamps = pd.to_datetime(pd.read_csv(path, sep=";")["datetime"])
        held |= set(stamps.dt.strftime("%Y-%m-%d"))
    assert days.days == sorted(held)
    assert len(read_raw_files(SKAB / "valve1", settings).frame) > 0
