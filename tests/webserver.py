"""The real Dagster webserver in a subprocess, and its GraphQL API: used by the UI test and by
scripts/screenshot.py. Every wait is bounded; the server's whole process group is stopped on exit."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from tests.helpers import PROJECT_ROOT

WEBSERVER = str(Path(sys.executable).with_name("dagster-webserver"))
LOCATION = "sensor_latents"
REPOSITORY = "__repository__"

# Direct launches start the run in a subprocess at once (no daemon); the project's own dagster_home queues
# runs, which needs `dagster dev` or the daemon. No telemetry, no first-visit dialog in the UI.
INSTANCE_YAML = """run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
nux:
  enabled: false
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Webserver:
    """`dagster-webserver -w workspace.yaml` on 127.0.0.1 against `data_root`, with `dagster_home` as its
    instance. Use as a context manager."""

    def __init__(self, data_root: Path, dagster_home: Path, log_file: Path, port: int | None = None):
        self.data_root, self.home, self.log_file = Path(data_root), Path(dagster_home), Path(log_file)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        self.home.mkdir(parents=True, exist_ok=True)
        if not (self.home / "dagster.yaml").exists():
            (self.home / "dagster.yaml").write_text(INSTANCE_YAML)
        env = {**os.environ, "PIPELINE_DATA_DIR": str(self.data_root), "DAGSTER_HOME": str(self.home),
               "PYTHONPATH": str(PROJECT_ROOT)}
        self._log = open(self.log_file, "wb")
        self.proc = subprocess.Popen(
            [WEBSERVER, "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=PROJECT_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=15)
            else:  # the server is gone; its children (code server, runs) may not be
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            self._log.close()
            self.proc = None

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_file.read_text(errors="replace")[-chars:]

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            payload = json.loads(resp.read())
        assert "errors" not in payload, payload["errors"]
        return payload["data"]

    def wait_until_loaded(self, timeout: float = 90) -> dict:
        """Wait until the server answers and the code location has loaded; returns the location's entry."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, \
                f"webserver exited ({self.proc.returncode}):\n{self.log_tail()}"
            try:
                data = self.graphql(LOCATION_STATUS, timeout=5)
                entries = data["workspaceOrError"]["locationEntries"]
                last = next((e for e in entries if e["name"] == LOCATION), None)
                if last and last["loadStatus"] == "LOADED":
                    return last
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"code location {LOCATION} not loaded after {timeout} s: {last}\n{self.log_tail()}")

    def launch_job(self, job: str, run_config: dict, tags: dict[str, str] | None = None) -> str:
        """Launch `job` as the UI's launchpad does; `tags` such as `dagster/partition` pick its day(s)."""
        data = self.graphql(LAUNCH, {"params": {
            "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job},
            "runConfigData": run_config,
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}}})
        result = data["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return result["run"]["runId"]

    def wait_for_run(self, run_id: str, timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            status = self.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                return status
            time.sleep(1)
        raise AssertionError(f"run {run_id} still {status} after {timeout} s\n{self.log_tail()}")

    def run_messages(self, run_id: str) -> list[tuple[str | None, str]]:
        """(step, message) of every event in the run's log."""
        events = self.graphql(RUN_LOG, {"runId": run_id})["logsForRun"]["events"]
        return [(e.get("stepKey"), e.get("message") or "") for e in events]

    def partition_stats(self, asset: str) -> dict[str, int]:
        """The per-day status counts the UI's partition bar shows for `asset`."""
        return self.graphql(PARTITIONS, {"key": {"path": [asset]}})["assetNodeOrError"]["partitionStats"]

    def latest_metadata(self, asset: str) -> dict[str, dict]:
        """The metadata entries of the asset's latest materialisation, by label."""
        data = self.graphql(MATERIALIZATION, {"key": {"path": [asset]}})
        [materialization] = data["assetOrError"]["assetMaterializations"]
        return {e["label"]: e for e in materialization["metadataEntries"]}


LOCATION_STATUS = """
query { workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""

ASSETS_AND_CHECKS = """
query { assetNodes { assetKey { path } groupName description opVersion
  kinds owners { __typename ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
  assetChecksOrError { ... on AssetChecks { checks { name } } }
  repository { name location { name } } } }
"""

LAUNCH = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on PythonError { message stack }
  ... on RunConfigValidationInvalid { errors { message } }
  ... on InvalidSubsetError { message }
  ... on PipelineNotFoundError { message }
} }
"""

RUN_STATUS = """
query($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }
"""

PARTITIONS = """
query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename ... on AssetNode {
  partitionStats { numMaterialized numFailed numMaterializing numPartitions } } } }
"""

MATERIALIZATION = """
query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { __typename ... on Asset {
  assetMaterializations(limit: 1) { runId metadataEntries {
    __typename label
    ... on MarkdownMetadataEntry { mdStr }
    ... on TextMetadataEntry { text }
    ... on UrlMetadataEntry { url }
    ... on PathMetadataEntry { path }
    ... on IntMetadataEntry { intValue }
    ... on FloatMetadataEntry { floatValue }
    ... on TableMetadataEntry { table { records } }
    ... on TableSchemaMetadataEntry { schema { columns { name type } } }
  } } } } }
"""

RUN_LOG = """
query($runId: ID!) { logsForRun(runId: $runId, limit: 5000) { __typename
  ... on EventConnection { events { ... on MessageEvent { message stepKey } } } } }
"""
