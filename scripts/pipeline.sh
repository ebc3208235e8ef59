#!/usr/bin/env bash
# Set up, then materialise every asset (and run the latent check) on the data root, by default data/.
# Extra arguments go to `dagster asset materialize`, e.g. --config-json '{"ops": {...}}'.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/dagster_home}  # run history for `dagster dev`, run-queue limits
mkdir -p "$DAGSTER_HOME"
.venv/bin/dagster asset materialize -m assets.definitions --select '*' "$@"
echo "published latents: ${PIPELINE_DATA_DIR:-$PWD/data}/published/latent_vectors/latents.parquet"
