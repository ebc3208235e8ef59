"""Where a run's steps execute: in the run's own process (the default), or as tasks on Celery workers.

`PIPELINE_EXECUTOR=celery` sends every step to the Celery workers listening on the broker at
`$PIPELINE_CELERY_BROKER` (results through `$PIPELINE_CELERY_BACKEND`, default the broker), started with
`dagster-celery worker start -A dagster_celery.app -y deploy/celery.yaml`. Each day of a backfill is a run of its
own, so the steps of many days run side by side on as many workers; a worker needs only the data root (an
object store, or a folder every worker mounts), the instance and the same environment as the code location.
"""

from __future__ import annotations

import os

import dagster as dg

EXECUTOR_ENV = "PIPELINE_EXECUTOR"
BROKER_ENV, BACKEND_ENV = "PIPELINE_CELERY_BROKER", "PIPELINE_CELERY_BACKEND"
EXECUTORS = ("in_process", "celery")


def step_executor(environ=os.environ) -> dg.ExecutorDefinition:
    kind = environ.get(EXECUTOR_ENV) or "in_process"
    if kind == "in_process":  # each run's steps form a chain: step processes would buy imports, not speed
        return dg.in_process_executor
    if kind == "celery":
        if not environ.get(BROKER_ENV):
            raise ValueError(f"{EXECUTOR_ENV}=celery needs {BROKER_ENV}, the Celery broker's URL "
                             "(e.g. redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//)")
        from dagster_celery import celery_executor

        return celery_executor.configured({
            "broker": {"env": BROKER_ENV},
            "backend": {"env": BACKEND_ENV if environ.get(BACKEND_ENV) else BROKER_ENV},
        }, name="celery")
    raise ValueError(f"{EXECUTOR_ENV}={kind!r}: expected one of {', '.join(EXECUTORS)}")
