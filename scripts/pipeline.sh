#!/usr/bin/env bash
# Set up, then run the whole pipeline on the data root (by default data/): ingest and validate every day of
# the raw folder (one run per day, as the nightly schedule does), train on the span of valid days, audit and
# publish the model, then score every day with it (one run over the range).
# Extra arguments go to the training run's `dagster asset materialize`, e.g. --config-json '{"ops": {...}}'.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/dagster_home}  # run history for `dagster dev`, run-queue limits
mkdir -p "$DAGSTER_HOME"
DATA=${PIPELINE_DATA_DIR:-$PWD/data}
materialize() { .venv/bin/dagster asset materialize -m assets.definitions "$@"; }
# the days in the partitions' time zone (the contract's day_timezone unless $PIPELINE_DAY_TIMEZONE is set)
days=$(.venv/bin/python -m pipeline.list_days "$DATA")
[ -n "$days" ] || { echo "no readings in $DATA/raw" >&2; exit 1; }
for day in $days; do
  materialize --select raw_readings,validated_readings --partition "$day" || echo "day $day failed (quarantined?)"
done
materialize --select training_windows,autoencoder,audit_latents,published_model "$@"
first=$(echo "$days" | head -1); last=$(echo "$days" | tail -1)
materialize --select latent_vectors,anomaly_events --partition-range "$first...$last"
.venv/bin/python -m pipeline.list_days --outputs "$DATA"  # where the results are, on this data root
