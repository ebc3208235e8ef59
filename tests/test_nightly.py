"""Nightly retraining left alone: write, audit, publish; a failed or killed night costs nothing."""

import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from assets.definitions import build_definitions
from assets.nightly import WRITES_VERSIONS_TAG
from pipeline.versions import VersionStore
from tests.helpers import PROJECT_ROOT, materialize, materialized_keys, published_latents

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all


def freeze_logger(raw: Path) -> dict[Path, bytes]:
    """Every sensor of every file stuck at its first reading (a frozen data logger: valid, but carrying no
    information, so every latent dimension comes out constant). Returns the original files."""
    originals = {p: p.read_bytes() for p in sorted(raw.glob("*.csv"))}
    stuck = None
    for path in originals:
        frame = pd.read_csv(path)
        sensors = [c for c in frame.columns if c not in ("timestamp", "regime")]
        stuck = frame[sensors].iloc[0].to_numpy() if stuck is None else stuck
        frame[sensors] = stuck
        frame.to_csv(path, index=False)
    return originals


def test_failed_night_keeps_yesterday_published_and_the_next_good_night_replaces_it(data_root):
    assert materialize(data_root).success
    version_a = VersionStore(data_root).published()
    latents_a, model_a = published_latents(data_root).read_bytes(), (version_a / "autoencoder" / "model.keras")
    model_a_bytes = model_a.read_bytes()

    originals = freeze_logger(data_root / "raw")
    night_b = materialize(data_root)
    assert not night_b.success
    alive = {c.check_name: c for c in night_b.get_asset_check_evaluations()}["latent_dimensions_alive"]
    # identical windows give one latent vector: every dimension constant (at 0 or elsewhere), by construction
    assert not alive.passed and re.search(r"(Dead|Constant) latent dimension\(s\) z_0, z_1, z_2", alive.description)
    assert "published_model" not in materialized_keys(night_b)
    version_b = VersionStore(data_root).latest("audit_latents").parent
    assert version_b != version_a and (version_b / "autoencoder" / "model.keras").exists()
    status_b = VersionStore(data_root).status(version_b)
    assert status_b["status"] == "failed" and status_b["reason"] == alive.description
    assert VersionStore(data_root).published() == version_a
    assert published_latents(data_root).read_bytes() == latents_a and model_a.read_bytes() == model_a_bytes

    for path, content in originals.items():
        path.write_bytes(content)
    night_c = materialize(data_root)
    assert night_c.success
    version_c = VersionStore(data_root).published()
    assert version_c not in (version_a, version_b)
    assert VersionStore(data_root).status(version_c)["status"] == "published"
    assert VersionStore(data_root).list() == sorted([version_a, version_b, version_c])  # all kept (keep_versions 5)
    assert VersionStore(data_root).status(version_b)["status"] == "failed"
    publish = next(m for m in night_c.asset_materializations_for_node("published_model"))
    assert publish.metadata["version"].value == version_c.name


KILLED_RUN = """
import os, signal, sys
from pathlib import Path
from tests.helpers import TINY_RUN_CONFIG, materialize
result = materialize(Path(sys.argv[1]), selection=["raw_readings", "validated_readings", "training_windows",
                                                   "autoencoder", "audit_latents"])
assert result.success
os.kill(os.getpid(), signal.SIGKILL)  # dies after the latents are written and audited, before publishing
"""


def test_a_run_killed_before_publishing_leaves_the_previous_version_published(data_root):
    assert materialize(data_root).success
    version_a = VersionStore(data_root).published()
    latents_a = published_latents(data_root).read_bytes()

    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(data_root)], cwd=PROJECT_ROOT,
                            capture_output=True, timeout=600, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    version_k = VersionStore(data_root).latest("audit_latents").parent
    assert version_k != version_a and VersionStore(data_root).status(version_k)["status"] == "audited"
    assert VersionStore(data_root).published() == version_a
    assert published_latents(data_root).read_bytes() == latents_a

    assert materialize(data_root).success  # the next night runs as usual and publishes its own version
    version_next = VersionStore(data_root).published()
    assert version_next not in (version_a, version_k)
    assert VersionStore(data_root).status(version_next)["status"] == "published"


def test_the_job_carries_the_tag_the_instance_limits_to_one_run_at_a_time(tmp_path):
    """What the queue needs (the run queue itself is Dagster's): the instance settings limit runs with the tag
    to one, the job and so the nightly schedule's runs carry it. Runs that bypass the queue are covered by
    test_interleaving.py."""
    settings = yaml.safe_load((PROJECT_ROOT / "dagster_home" / "dagster.yaml").read_text())
    [limit] = settings["concurrency"]["runs"]["tag_concurrency_limits"]
    [(key, value)] = WRITES_VERSIONS_TAG.items()
    assert limit == {"key": key, "limit": 1}
    defs = build_definitions(str(tmp_path))
    assert defs.resolve_job_def("retrain").tags[key] == value  # the only job that writes versions
