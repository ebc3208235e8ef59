import dataclasses
import enum
import os
import subprocess
import sys

import dagster as dg
import pytest

from assets.anomalies import AnomalyEventsConfig
from assets.definitions import build_definitions
from assets.ingest import RawReadingsConfig
from assets.latents import AuditLatentsConfig, LatentVectorsConfig
from assets.partitions import DAYS
from assets.publish import PublishedModelConfig
from assets.train import AutoencoderConfig
from assets.validate import ValidatedReadingsConfig
from assets.windows import TrainingWindowsConfig
from pipeline.drift import DriftLimits
from pipeline.events import EventSettings
from pipeline.ingest import IngestSettings
from pipeline.latents import EncodingSettings
from pipeline.model import Architecture, TrainingConfig
from pipeline.validate import Engine, ValidationSettings
from pipeline.versions import PublishSettings
from pipeline.windows import Scaling, WindowSettings
from tests.helpers import PROJECT_ROOT


def test_the_graph_its_partitions_jobs_and_nightly_schedule(tmp_path):
    defs = build_definitions(str(tmp_path))
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "raw_readings", "validated_readings", "training_windows", "autoencoder", "audit_latents",
        "latent_regimes", "latent_view", "published_model", "latent_vectors", "anomaly_events", "day_latent_view"}
    daily = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is not None}
    assert daily == {"raw_readings", "validated_readings", "latent_vectors", "anomaly_events", "day_latent_view"}
    assert graph.get(dg.AssetKey("raw_readings")).partitions_def == DAYS and DAYS.timezone == "UTC"
    assert sorted(c.name for c in graph.asset_check_keys) == [
        "day_latents_alive", "latent_dimensions_alive", "latent_space_comparable", "latent_space_healthy",
        "latent_space_informative",
        "no_days_skipped", "no_drift"]
    schedule = defs.resolve_schedule_def("nightly")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.job_name == "ingest_days"
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"ingest_days", "retrain", "score_days"}
    assert {j.name for j in defs.resolve_sensor_def("nightly_follow_up").jobs} == {"retrain", "score_days"}


def test_publishing_is_the_retrain_runs_last_step(tmp_path):
    """published_model releases the run's own store copies (the training windows): every other asset of the
    retrain job must come before it, or a step on another worker (Celery) can find them gone."""
    defs = build_definitions(str(tmp_path))
    graph = defs.resolve_asset_graph()
    retrain = {k.to_user_string() for k in defs.resolve_job_def("retrain").asset_layer.selected_asset_keys}
    before = {k.to_user_string() for k in graph.upstream_key_iterator(dg.AssetKey("published_model"))}

    def ancestors(keys: set[str]) -> set[str]:
        found = set(keys)
        for key in keys:
            found |= ancestors({k.to_user_string() for k in graph.upstream_key_iterator(dg.AssetKey(key))})
        return found

    assert retrain - {"published_model"} <= ancestors(before), retrain - {"published_model"} - ancestors(before)


def test_loading_the_code_location_imports_no_heavy_library():
    """The webserver and the daemon load the location often: TensorFlow, Keras, GX, matplotlib and Plotly are
    only imported by the steps that use them."""
    code = ("import sys, assets.definitions; "
            "print(','.join(m for m in ('tensorflow', 'keras', 'great_expectations', 'matplotlib', 'plotly') "
            "if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    assert run.stdout.strip() == ""


def test_the_core_never_imports_dagster():
    """The layering rule: pipeline/ is plain Python; only assets/ wires it into Dagster."""
    modules = sorted(f"pipeline.{p.stem}" for p in (PROJECT_ROOT / "pipeline").glob("*.py") if p.stem != "__init__")
    code = f"import sys; [__import__(m) for m in {modules!r}]; print('dagster' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=300, check=True)
    assert {"pipeline.ingest", "pipeline.versions", "pipeline.train"} <= set(modules)
    assert run.stdout.strip() == "False"


# asset config -> the core settings it mirrors, and the fields only the asset has
CONFIGS = {
    RawReadingsConfig: (IngestSettings, {"raw_dir"}),
    ValidatedReadingsConfig: (ValidationSettings, set()),
    TrainingWindowsConfig: (WindowSettings, {"training_days", "last_day", "strict"}),
    AutoencoderConfig: (TrainingConfig, set()),
    AuditLatentsConfig: (EncodingSettings, {"audit_windows"}),
    LatentVectorsConfig: (EncodingSettings, {"stride", "drift_psi", "drift_day_factor", "drift_error_ratio"}),
    AnomalyEventsConfig: (EventSettings, set()),
    PublishedModelConfig: (PublishSettings, set()),
}


def _plain(value):
    """A config default as the core holds it: enums as their text, lists as tuples."""
    return str(value) if isinstance(value, enum.Enum) else tuple(value) if isinstance(value, list) else value


@pytest.mark.parametrize("config", list(CONFIGS), ids=lambda c: c.__name__)
def test_every_asset_config_has_the_cores_fields_and_defaults(config):
    core, own = CONFIGS[config]
    fields = {f.name: f.default for f in dataclasses.fields(core)}
    asset = {name: _plain(f.default) for name, f in config.model_fields.items() if name not in own}
    assert asset == fields
    assert all(f.description for f in config.model_fields.values())  # the launchpad explains every setting


def test_the_drift_limits_default_to_the_cores():
    fields = LatentVectorsConfig.model_fields
    assert (fields["drift_psi"].default, fields["drift_day_factor"].default, fields["drift_error_ratio"].default) \
        == (DriftLimits.psi, DriftLimits.day_factor, DriftLimits.error_ratio)


def test_choices_are_offered_as_choices():
    assert AutoencoderConfig.model_fields["architecture"].annotation is Architecture
    assert TrainingWindowsConfig.model_fields["scaling"].annotation is Scaling
    assert ValidatedReadingsConfig.model_fields["engine"].annotation is Engine
    assert [str(a) for a in Architecture] == ["default", "seed"] and [str(s) for s in Scaling] == ["zscore", "none"]


def test_a_bad_day_setting_is_refused_naming_it():
    for env, says in (({"PIPELINE_DAY_TIMEZONE": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
                      ({"PIPELINE_FIRST_DAY": "2026-13-01"}, "PIPELINE_FIRST_DAY='2026-13-01'"),
                      ({"PIPELINE_LAST_DAY": "11/04/2026"}, "PIPELINE_LAST_DAY='11/04/2026'"),
                      ({"PIPELINE_LAST_DAY": "2026-10-31"}, "before the first day 2026-11-01")):
        run = subprocess.run([sys.executable, "-c", "import assets.definitions"], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, timeout=120, env={**os.environ, **env}, check=False)
        assert run.returncode != 0 and "day partitions: " in run.stderr and says in run.stderr, run.stderr[-500:]


def test_a_recorded_dataset_s_partitions_end_on_its_last_day():
    """With PIPELINE_LAST_DAY the UI shows no day after the data as Missing; without it they run to yesterday."""
    code = "from assets.partitions import DAYS; keys = DAYS.get_partition_keys(); print(keys[0], keys[-1], len(keys))"
    for last, says in (("2026-11-04", "2026-11-01 2026-11-04 4"), ("", None)):
        env = {**os.environ, "PIPELINE_LAST_DAY": last, "PIPELINE_FIRST_DAY": "2026-11-01"}
        run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=120, env=env, check=True)
        if says:
            assert run.stdout.split() == says.split()
        else:  # a live feed: up to yesterday
            assert int(run.stdout.split()[2]) > 4
