"""The Dagster layer: thin wiring of the pure core (pipeline/) into assets, checks, jobs and schedules."""

import warnings

import dagster as dg

# Two beta parameters are used deliberately, and said once here rather than in every run's log: the backfill
# policies (a day per run for ingestion, a range in one run for scoring; assets/metadata.py) and scoring's
# partition mapping that lets a first day have no previous day (assets/latents.py).
for _parameter in ("backfill_policy", "allow_nonexistent_upstream_partitions"):
    warnings.filterwarnings("ignore", message=f"Parameter `{_parameter}` of .* is currently in beta",
                            category=dg.BetaWarning)
