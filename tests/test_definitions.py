import datetime as dt
import subprocess
import sys
from zoneinfo import ZoneInfo

import dagster as dg

from assets.definitions import build_definitions
from tests.helpers import PROJECT_ROOT


def test_nightly_schedule_ticks_at_two_in_its_timezone_and_its_run_config_is_valid(tmp_path):
    defs = build_definitions(str(tmp_path), timezone="Europe/Berlin")
    schedule = defs.resolve_schedule_def("nightly_retrain")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.execution_timezone == "Europe/Berlin"
    tick = dt.datetime(2026, 11, 30, 2, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 01:00 UTC in winter
    data = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick))
    [request] = data.run_requests
    job = defs.resolve_job_def(schedule.job_name)
    assert dg.validate_run_config(job, request.run_config)
    assert build_definitions(str(tmp_path), timezone="UTC").resolve_schedule_def(
        "nightly_retrain").execution_timezone == "UTC"
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "raw_readings", "validated_readings", "training_windows", "autoencoder", "latent_vectors", "published_latents"}
    assert sorted(c.name for c in graph.asset_check_keys) == ["latent_dimensions_alive", "latent_space_healthy"]


def test_loading_the_code_location_imports_no_heavy_library():
    """The webserver and the daemon load the location often: TensorFlow, Keras, GX and matplotlib are only
    imported by the steps that use them."""
    code = ("import sys, assets.definitions; "
            "print(','.join(m for m in ('tensorflow', 'keras', 'great_expectations', 'matplotlib') "
            "if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    assert run.stdout.strip() == ""
