"""Fixtures: small real sample files made by the project's own generator."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_sample_root


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return make_sample_root(tmp_path)
