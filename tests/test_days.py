"""Days: incremental nights read from the event log, a window across midnight, scoring a new day with the
published model, and day latents going stale when a newer model is published."""

from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest  # the UI's staleness, computed as the webserver does

from assets.definitions import build_definitions
from assets.resources import DataRoot
from pipeline.synthetic import generate, write_daily_files
from pipeline.versions import VersionStore
from tests.helpers import TINY_RUN_CONFIG, day_latents, make_sample_root, materialize, materialized_keys

pytestmark = pytest.mark.slow  # the full tier: scripts/test.sh --all

WINDOW = TINY_RUN_CONFIG["ops"]["training_windows"]["config"]["window_length"]


def add_day(data_root: Path, day: str) -> Path:
    """A new day's file in the raw folder (the files of the other days untouched)."""
    frame = generate(days=1, period_s=60, start=f"{day} 00:00:00", seed=5)
    [path] = write_daily_files(frame, data_root / "raw")
    return path


def night(defs: dg.Definitions, instance: dg.DagsterInstance, data_root: Path, tick: str) -> list[str]:
    """One night as the daemon runs it: the schedule's day runs, then the follow-up sensor's retraining and
    scoring runs, each executed when requested. Returns the days the schedule asked for."""
    schedule = defs.resolve_schedule_def("nightly")
    context = dg.build_schedule_context(instance=instance, resources={"data_root": DataRoot(path=str(data_root))},
                                        scheduled_execution_time=dt.datetime.fromisoformat(tick),
                                        repository_def=defs.get_repository_def())
    data = schedule.evaluate_tick(context)
    requests = data.run_requests or []
    for request in requests:
        defs.resolve_job_def(request.job_name or "ingest_days").execute_in_process(
            partition_key=request.partition_key, instance=instance, tags=request.tags, raise_on_error=False)
    sensor = defs.resolve_sensor_def("nightly_follow_up")
    for _ in range(2):  # retrain, then score
        result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        for request in result.run_requests or []:
            config = {"ops": {k: v for k, v in TINY_RUN_CONFIG["ops"].items()}} if request.job_name == "retrain" \
                else {}
            defs.resolve_job_def(request.job_name).execute_in_process(
                partition_key=request.partition_key, instance=instance, tags=request.tags, run_config=config,
                raise_on_error=False)
    return [r.partition_key for r in requests]


@contextmanager
def fresh_instance():
    """An in-memory Dagster instance of the test's own. Not entered as a context manager: an entered instance
    stays the thread's current definitions-state storage after it is disposed, and a later in-process run in
    the same test session then fails on the dead instance."""
    instance = dg.DagsterInstance.ephemeral()
    try:
        yield instance
    finally:
        instance.dispose()


def materialised_days(instance: dg.DagsterInstance, asset: str) -> list[str]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
    return sorted(r.partition_key for r in records)


def test_a_night_materialises_only_new_or_changed_days_then_trains_and_scores(data_root):
    defs = build_definitions(str(data_root))
    with fresh_instance() as instance:
        assert night(defs, instance, data_root, "2026-11-03T02:00:00+00:00") == ["2026-11-01", "2026-11-02"]
        first_version = VersionStore(data_root).published()
        assert first_version is not None

        add_day(data_root, "2026-11-03")
        assert night(defs, instance, data_root, "2026-11-04T02:00:00+00:00") == ["2026-11-03"]
        # the event log: yesterday's partitions were not materialised again, the new day once
        assert materialised_days(instance, "raw_readings") == ["2026-11-01", "2026-11-02", "2026-11-03"]
        assert materialised_days(instance, "validated_readings") == ["2026-11-01", "2026-11-02", "2026-11-03"]
        retrains = instance.get_runs(filters=dg.RunsFilter(job_name="retrain"))
        assert len(retrains) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in retrains)
        second_version = VersionStore(data_root).published()
        assert second_version != first_version
        assert VersionStore(data_root).status(second_version)["days_used"] == ["2026-11-01", "2026-11-02",
                                                                               "2026-11-03"]
        scored = pd.read_parquet(day_latents(data_root, "2026-11-03"))
        assert (scored["model_version"] == second_version.name).all()

        assert night(defs, instance, data_root, "2026-11-05T02:00:00+00:00") == []  # nothing new: nothing runs

        changed = data_root / "raw" / "machine01_2026-11-01.csv"
        frame = pd.read_csv(changed)
        frame.loc[5, "motor_current"] += 1.0  # a corrected file arrives for an old day
        frame.to_csv(changed, index=False)
        os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
        assert night(defs, instance, data_root, "2026-11-06T02:00:00+00:00") == ["2026-11-01"]
        assert materialised_days(instance, "raw_readings") == ["2026-11-01", "2026-11-01", "2026-11-02",
                                                               "2026-11-03"]


def test_a_window_across_midnight_is_scored_once_by_the_day_it_ends_in(tmp_path):
    data_root = make_sample_root(tmp_path)
    raw = data_root / "raw"
    frame = pd.concat([pd.read_csv(p) for p in sorted(raw.glob("*.csv"))])
    for p in raw.glob("*.csv"):
        p.unlink()
    frame.to_csv(raw / "machine01_logger.csv", index=False)  # one file running on through midnight

    assert materialize(data_root).success
    first, second = (pd.read_parquet(day_latents(data_root, d)) for d in ("2026-11-01", "2026-11-02"))
    assert len(first) == 1440 - WINDOW + 1
    assert len(second) == 1440  # its own 1429 windows and the 11 that start before midnight
    midnight = pd.Timestamp("2026-11-02", tz="UTC")  # the files say their times are UTC
    crossing = second[second["window_start"] < midnight]
    assert len(crossing) == WINDOW - 1 and crossing["window_start"].min() == pd.Timestamp("2026-11-01 23:49", tz="UTC")
    assert (second["window_end"] >= midnight).all()
    # every window of the continuous series, each exactly once, none lost at midnight
    starts = pd.concat([first["window_start"], second["window_start"]])
    assert starts.is_unique and len(starts) == 2 * 1440 - WINDOW + 1
    assert (starts.diff().dropna() == pd.Timedelta(minutes=1)).all()


def test_a_new_day_is_scored_with_the_published_model_without_training(data_root):
    assert materialize(data_root).success
    versions = VersionStore(data_root)
    published, before = versions.published(), versions.list()
    add_day(data_root, "2026-11-03")

    result = materialize(data_root, ["raw_readings", "validated_readings", "latent_vectors"], days=("2026-11-03",))
    assert result.success
    assert materialized_keys(result) == {"raw_readings", "validated_readings", "latent_vectors"}
    assert versions.list() == before and versions.published() == published  # no training, no new version
    scored = pd.read_parquet(day_latents(data_root, "2026-11-03"))
    assert len(scored) == 1440 - WINDOW + 1 and (scored["model_version"] == published.name).all()
    [event] = result.asset_materializations_for_node("latent_vectors")
    assert event.metadata["model_version"].value == published.name


def test_day_latents_go_stale_when_a_newer_model_is_published_and_a_backfill_rescores_them(data_root):
    defs = build_definitions(str(data_root))
    days = ["2026-11-01", "2026-11-02"]

    def statuses(instance):
        resolver = CachingStaleStatusResolver(instance, defs.resolve_asset_graph(), LoadingContextForTest(instance))
        return [resolver.get_status(dg.AssetKey("latent_vectors"), d) for d in days]

    def run(job, instance, **kwargs):
        assert defs.resolve_job_def(job).execute_in_process(instance=instance, **kwargs).success

    with fresh_instance() as instance:
        for day in days:
            run("ingest_days", instance, partition_key=day)
        run("retrain", instance, run_config=TINY_RUN_CONFIG)
        rescore = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
        run("score_days", instance, tags=rescore)
        assert statuses(instance) == [StaleStatus.FRESH, StaleStatus.FRESH]
        old = VersionStore(data_root).published().name

        run("retrain", instance, run_config=TINY_RUN_CONFIG)  # a newer model is published
        new = VersionStore(data_root).published().name
        assert new != old
        assert statuses(instance) == [StaleStatus.STALE, StaleStatus.STALE]
        for day in days:  # consumers can tell which model made which rows
            assert (pd.read_parquet(day_latents(data_root, day))["model_version"] == old).all()

        run("score_days", instance, tags=rescore)  # the backfill
        assert statuses(instance) == [StaleStatus.FRESH, StaleStatus.FRESH]
        for day in days:
            assert (pd.read_parquet(day_latents(data_root, day))["model_version"] == new).all()
