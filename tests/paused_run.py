"""A real run of the pipeline in a process of its own that stops itself (SIGSTOP) at a chosen point, so a test
can run another run in between and then let this one go on (SIGCONT).

    python -m tests.paused_run <data root> <asset,asset,...> <pause point>

Pause points: `after:<node>` stops right after that step succeeded (e.g. `after:audit_latents`,
`after:latent_quality_checks`). The run's id and outcome are printed as JSON on the last line.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import dagster as dg

from assets.definitions import ASSETS, CHECKS, build_resources
from tests.helpers import TINY_RUN_CONFIG


def pause_after(node: str) -> dg.HookDefinition:
    @dg.success_hook(name="pause_after")
    def pause(context: dg.HookContext):
        if context.op.name == node:
            os.kill(os.getpid(), signal.SIGSTOP)  # the test sees state T, runs its other run, then SIGCONTs
    return pause


def main(root: str, selection: str, point: str) -> None:
    kind, _, node = point.partition(":")
    assert kind == "after", f"unknown pause point {point!r}"
    job = dg.define_asset_job("paused_run", selection=selection.split(","), hooks={pause_after(node)})
    defs = dg.Definitions(assets=ASSETS, asset_checks=CHECKS, jobs=[job], resources=build_resources(root),
                          executor=dg.in_process_executor)
    # a training run with the tests' tiny training; a re-encoding run needs no settings
    result = defs.resolve_job_def("paused_run").execute_in_process(
        run_config=TINY_RUN_CONFIG if "autoencoder" in selection else {}, raise_on_error=False)
    print(json.dumps({"run_id": result.run_id, "success": result.success}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
