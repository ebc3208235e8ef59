"""Fixtures: small real sample files made by the project's own generator."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.synthetic import generate, write_daily_files
from tests.helpers import SHIPPED_CONTRACT


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A data root holding two days of sample files at 60 s (2 x 1440 rows) and the shipped contract."""
    raw = tmp_path / "data" / "raw"
    write_daily_files(generate(days=2, period_s=60, seed=11), raw)
    shutil.copy(SHIPPED_CONTRACT, raw / "sensors.yaml")
    return tmp_path / "data"
