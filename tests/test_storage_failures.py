"""Writes the file system refuses (full, too large, not a folder): a clear failure naming the path, and nothing
half-written where a consumer reads."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys

import pytest

from pipeline.store import load_artifact
from tests.helpers import PROJECT_ROOT, make_sample_root, materialize, published_latents

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

LIMITED_RUN = """
import json, sys
from pathlib import Path
from tests.helpers import materialize
result = materialize(Path(sys.argv[1]))
failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
user = failure.step_failure_data.user_failure_data
print(json.dumps({"step": failure.step_key,
                  "description": user.description if user else None,
                  "error": failure.step_failure_data.error.message if failure.step_failure_data.error else None}))
"""


def limit_file_size(max_bytes: int):
    def apply():  # in the child: files may not grow beyond max_bytes, as on a full disk (EFBIG, not a signal)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def test_a_write_the_file_system_refuses_fails_clearly_and_leaves_published_whole(tmp_path):
    root = make_sample_root(tmp_path)
    assert materialize(root).success
    before = published_latents(root).read_bytes()

    run = subprocess.run([sys.executable, "-c", LIMITED_RUN, str(root)], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=600, preexec_fn=limit_file_size(64 * 1024), check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    failure = json.loads(run.stdout.strip().splitlines()[-1])
    assert failure["step"] == "raw_readings", failure  # the first artifact larger than 64 kB
    assert failure["description"] is not None, failure["error"]
    day = root / "store" / "raw_readings" / "2026-11-01"
    assert failure["description"].startswith(f"raw_readings could not be stored: cannot write {day}: ")
    assert "File too large" in failure["description"] or "a short write: the disk is full" in failure["description"]
    assert failure["description"].endswith("what was there before is unchanged")
    assert published_latents(root).read_bytes() == before
    assert len(load_artifact(day).frame) == 1440  # the day as it was stored before
    assert not [p for p in (root / "store").rglob("*") if ".tmp-" in p.name]  # no half-written artifact left


def test_a_store_path_taken_by_a_file_names_it(tmp_path):
    root = make_sample_root(tmp_path)
    (root / "store").write_text("a file where the store folder goes")
    result = materialize(root, selection=["raw_readings"], run_config={}, days=("2026-11-01",))
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    description = failure.step_failure_data.user_failure_data.description
    day = root / "store" / "raw_readings" / "2026-11-01"
    assert description.startswith(f"raw_readings could not be stored: cannot write {day}: Not a directory")
    assert description.endswith("; what was there before is unchanged")
