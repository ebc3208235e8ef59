"""Property: whatever odd CSV a day arrives as, the days it touches are either ingested, validated and scored
with the published model into finite latents whose windows are dated as the file meant, or refused at
ingestion or validation with a dagster.Failure naming the file; `published/` is untouched either way.

Hypothesis generates the odd files from the real sample: nulls, extreme and non-finite values, bad, ambiguous and
out-of-range timestamps, empty, blank, duplicate, dropped and swapped rows, odd and reserved column names, other
timestamp layouts. Each example is real in-process runs of the day assets (one run per day, then the scoring
run), as a night does. The examples are derived deterministically (derandomize), so the test never depends on
luck.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.synthetic import generate, write_daily_files
from tests.helpers import SAMPLE_DAYS, SHIPPED_CONTRACT, day_latents, materialize, published_latents

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

PERIOD_S = 300
DAY = "machine01_2026-11-02.csv"
CONFIG = {"ops": {"training_windows": {"config": {"window_length": 12}},
                  "autoencoder": {"config": {"epochs": 1, "units": 4, "batch_size": 64}}}}
UNRANGED = ("oil_pressure", "flow_rate", "shaft_speed")  # sensors whose contract gives no range

ODD_VALUES = ["", "1e308", "-1e308", "1e200", "3.5e38", "3e38", "1e30", "-1e30", "inf", "-inf", "nan", "NaN",
              "NULL", "1e-300", "0", " 12.5 ", "12,5"]
# text written into a timestamp cell -> what the writer meant (None: no timestamp at all)
ODD_TIMESTAMPS = {"": None, "2026-13-45 25:00:00": None, "yesterday": None,
                  "01/11/2026 00:10:00": pd.Timestamp("2026-11-01 00:10:00"),  # day first, as its writer meant
                  "2300-01-01 00:00:00": pd.Timestamp("2300-01-01"),
                  "2026-11-02T00:02:30Z": pd.Timestamp("2026-11-02 00:02:30"),
                  "1793577900": pd.Timestamp("2026-11-02 00:05:00"),
                  "2026-11-02 00:00:00.5": pd.Timestamp("2026-11-02 00:00:00.5")}
ODD_NAMES = ["segment", "source_file", "interval_s", "NO", " flow_rate", "temperature_°C", "timestamp", "regime",
             "timestamp "]
LAYOUTS = ["%d/%m/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S+00:00", "%Y-%m-%dT%H:%M:%S.%f",
           "%m/%d/%Y %H:%M"]


@dataclass
class OddFile:
    """A CSV as lines of fields, with what each row's timestamp means to its writer."""

    header: list[str]
    rows: list[list[str]]
    meant: list[pd.Timestamp | None]
    extra_lines: dict[int, str] = field(default_factory=dict)  # lines inserted before row i

    def text(self) -> str:
        lines = [",".join(self.header)]
        for i, row in enumerate(self.rows):
            if i in self.extra_lines:
                lines.append(self.extra_lines[i])
            lines.append(",".join(row))
        return "\n".join(lines) + "\n"


def apply(odd: OddFile, op: tuple) -> None:
    kind, n = op[0], len(odd.rows)
    if kind == "cell":
        _, row, col, value = op
        odd.rows[row % n][1 + col % (len(odd.header) - 1)] = value
    elif kind == "timestamp":
        _, row, value = op
        odd.rows[row % n][0], odd.meant[row % n] = value, ODD_TIMESTAMPS[value]
    elif kind in ("duplicate_row", "drop_row", "swap_rows"):
        i = op[1] % n
        if kind == "duplicate_row":
            odd.rows.insert(i, list(odd.rows[i]))
            odd.meant.insert(i, odd.meant[i])
        elif kind == "drop_row" and n > 1:
            del odd.rows[i], odd.meant[i]
        elif kind == "swap_rows" and i + 1 < n:
            odd.rows[i], odd.rows[i + 1] = odd.rows[i + 1], odd.rows[i]
            odd.meant[i], odd.meant[i + 1] = odd.meant[i + 1], odd.meant[i]
    elif kind in ("empty_row", "blank_line"):
        odd.extra_lines[op[1] % n] = "," * (len(odd.header) - 1) if kind == "empty_row" else ""
    elif kind == "rename_column":
        odd.header[1 + op[1] % (len(odd.header) - 1)] = op[2]
    elif kind == "layout":  # the same instants written another way (all lie on whole minutes)
        for row, when in zip(odd.rows, odd.meant, strict=True):
            if when is not None:
                row[0] = when.strftime(op[1])


ROW = st.integers(0, 10_000)
OPS = st.lists(st.one_of(
    st.tuples(st.just("cell"), ROW, st.integers(0, 20), st.sampled_from(ODD_VALUES)),
    st.tuples(st.just("timestamp"), ROW, st.sampled_from(list(ODD_TIMESTAMPS))),
    st.tuples(st.sampled_from(["duplicate_row", "drop_row", "swap_rows", "empty_row", "blank_line"]), ROW),
    st.tuples(st.just("rename_column"), st.integers(0, 20), st.sampled_from(ODD_NAMES)),
    st.tuples(st.just("layout"), st.sampled_from(LAYOUTS)),
), min_size=1, max_size=3)


@pytest.fixture(scope="module")
def good_root(tmp_path_factory) -> Path:
    """Two days at 5 minutes, some sensors without a range, and a published version made from them."""
    root = tmp_path_factory.mktemp("odd") / "data"
    write_daily_files(generate(days=2, period_s=PERIOD_S, seed=3), root / "raw")
    contract = SHIPPED_CONTRACT.read_text().replace("sampling_period_s: 20\n", f"sampling_period_s: {PERIOD_S}\n")
    contract = contract.replace("max_gap_s: 60 ", f"max_gap_s: {3 * PERIOD_S} ")
    for sensor in UNRANGED:
        start = contract.index(f"  {sensor}:")
        line = contract[start: contract.index("\n", start)]
        contract = contract.replace(line, line[: line.index(", min")] + "}")
    (root / "raw" / "sensors.yaml").write_text(contract)
    assert materialize(root, run_config=CONFIG).success
    return root


def odd_day(raw: Path) -> OddFile:
    lines = (raw / DAY).read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    return OddFile(lines[0].split(","), rows, [pd.Timestamp(r[0]) for r in rows])


def meant_timestamps(raw: Path, odd: OddFile) -> set:
    first = pd.read_csv(raw / "machine01_2026-11-01.csv", usecols=["timestamp"])["timestamp"]
    return set(pd.to_datetime(first)) | {t for t in odd.meant if t is not None}


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=OPS)
def test_an_odd_day_is_scored_correctly_or_refused_naming_the_file(good_root, ops):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        shutil.copytree(good_root, root, symlinks=True)
        published_before = os.readlink(root / "published"), published_latents(root).read_bytes()
        odd = odd_day(root / "raw")
        for op in ops:
            apply(odd, op)
        (root / "raw" / DAY).write_text(odd.text())

        result = materialize(root, ["raw_readings", "validated_readings", "latent_vectors"], run_config={},
                             days=SAMPLE_DAYS)
        if result.success:
            latents = pd.concat([pd.read_parquet(day_latents(root, d)) for d in SAMPLE_DAYS])
            for c in ("window_start", "window_end"):  # UTC in the file; the meant times are naive UTC
                latents[c] = latents[c].dt.tz_convert("UTC").dt.tz_localize(None)
            z = latents[[c for c in latents.columns if c.startswith("z_")]].to_numpy()
            assert np.isfinite(z).all() and np.isfinite(latents["reconstruction_error"]).all(), ops
            assert latents["window_start"].notna().all() and latents["window_end"].notna().all(), ops
            meant = meant_timestamps(root / "raw", odd)
            misdated = set(latents["window_start"]) - meant
            assert not misdated, f"{ops}: windows start at timestamps no file meant: {sorted(misdated)[:3]}"
            assert (os.readlink(root / "published"), published_latents(root).read_bytes()) == published_before, ops
            return
        failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert failures, f"{ops}: the run failed without a failed step"
        failure = failures[0]
        user = failure.step_failure_data.user_failure_data
        assert user is not None, f"{ops}: not a dagster.Failure: {failure.step_failure_data.error.message[:800]}"
        assert failure.step_key in ("raw_readings", "validated_readings"), f"{ops}: refused late: {user.description}"
        assert DAY in user.description, f"{ops}: the file is not named: {user.description[:500]}"
        assert (os.readlink(root / "published"), published_latents(root).read_bytes()) == published_before, ops
