"""Fixtures: small real sample files made by the project's own generator."""

from __future__ import annotations

from pathlib import Path

# Imported here, at collection: otherwise Hypothesis's pytest plugin imports it at the end of a session, and on
# Python 3.11 that late parse can fail after TensorFlow and GX have run ("AST constructor recursion depth").
import hypothesis  # noqa: F401
import pytest

from tests.helpers import make_sample_root


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return make_sample_root(tmp_path)
