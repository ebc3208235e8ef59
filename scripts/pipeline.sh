#!/usr/bin/env bash
# Set up, then run the whole pipeline on the data root ($PIPELINE_DATA_DIR, by default data/): ingest and validate
# every day of the raw folder (one run per day, as the nightly schedule does), train on the span of valid days,
# audit and publish the model, then score every day with it (one run over the range).
#
#   scripts/pipeline.sh [--raw-dir DIR] [--separator X] [--timestamp-column C] [--exclude-columns a,b] ...
#
# The raw folder is the data root's raw/ unless --raw-dir names another; it is read with raw_readings' settings
# given here (--raw-dir, --pattern, --contract, --separator, --timestamp-column, --timestamp-format,
# --timestamp-unit, --exclude-columns; unset ones: the contract's, or the defaults), which every day run gets.
# The day partitions start on the data's first day; the last line printed opens these days in the UI. Other
# arguments go to the model run: --config-json JSON or -c FILE (YAML), e.g.
# --config-json '{"ops": {"autoencoder": {"config": {"epochs": 3}}}}'. Each run is forked from one process
# (python -m assets.build), recorded in $DAGSTER_HOME as the CLI would record it.
set -euo pipefail
absolute() { case $1 in *://* | /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }  # paths as the caller meant them
read_args=()   # the raw folder and how to read it: for pipeline.list_days, and each day run's raw_readings config
model_args=()  # the rest: the training run's
while [ $# -gt 0 ]; do
  case $1 in
    --raw-dir | --contract | --pattern | --separator | --timestamp-column | --timestamp-format | --timestamp-unit | \
      --exclude-columns)
      [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }
      case $1 in --raw-dir | --contract) value=$(absolute "$2") ;; *) value=$2 ;; esac
      read_args+=("$1" "$value"); shift 2 ;;
    --raw-dir=* | --contract=*) read_args+=("${1%%=*}" "$(absolute "${1#*=}")"); shift ;;
    --pattern=* | --separator=* | --timestamp-column=* | --timestamp-format=* | --timestamp-unit=* | \
      --exclude-columns=*) read_args+=("${1%%=*}" "${1#*=}"); shift ;;
    *) model_args+=("$1"); shift ;;
  esac
done
[ -z "${PIPELINE_DATA_DIR:-}" ] || export PIPELINE_DATA_DIR=$(absolute "$PIPELINE_DATA_DIR")
cd "$(dirname "$0")/.."
scripts/setup.sh
export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/dagster_home}  # run history for `dagster dev`, run-queue limits
mkdir -p "$DAGSTER_HOME"
DATA=${PIPELINE_DATA_DIR:-$PWD/data}
build() { .venv/bin/python -m assets.build "$@"; }
list_days() { .venv/bin/python -m pipeline.list_days "$DATA" ${read_args[@]+"${read_args[@]}"} "$@"; }
day_config='{}'  # every day run's config: raw_readings' read settings
if [ ${#read_args[@]} -gt 0 ]; then
  # the partitions cut days where the listing does: in the day time zone of the contract the read uses
  timezone=$(list_days --day-timezone)
  export PIPELINE_DAY_TIMEZONE=$timezone
  day_config=$(list_days --run-config)
fi
# the days in the partitions' time zone (the contract's day_timezone unless $PIPELINE_DAY_TIMEZONE is set)
days=$(list_days)
[ -n "$days" ] || { echo "no readings in the raw folder (see above)" >&2; exit 1; }
first=$(echo "$days" | head -1); last=$(echo "$days" | tail -1)
if [ -z "${PIPELINE_FIRST_DAY:-}" ]; then
  export PIPELINE_FIRST_DAY=$first  # the day partitions start on the data's first day
elif [[ $PIPELINE_FIRST_DAY > $first ]]; then
  echo "PIPELINE_FIRST_DAY=$PIPELINE_FIRST_DAY is after the data's first day $first: unset it, or set it earlier" >&2
  exit 1
fi
echo "$(echo "$days" | wc -l) day(s) of readings, $first to $last (day partitions from $PIPELINE_FIRST_DAY);" \
  "data root $DATA"
set -- ${model_args[@]+"${model_args[@]}"}  # the arguments that are not read settings: the model run's
# each day in a run of its own (a failing day is reported and the others go on), the model run, the scored range
build "$@" --day-config-json "$day_config" --days $days
list_days --outputs  # where the results are, on this data root
# The UI with these days: the partitions start on the first and end on the last (no day after the data shown
# as Missing); the same settings the runs had
ui_env="PIPELINE_FIRST_DAY=$PIPELINE_FIRST_DAY PIPELINE_LAST_DAY=${PIPELINE_LAST_DAY:-$last}"
[ -z "${PIPELINE_DATA_DIR:-}" ] || ui_env="PIPELINE_DATA_DIR=$PIPELINE_DATA_DIR $ui_env"
[ -z "${PIPELINE_DAY_TIMEZONE:-}" ] || ui_env="$ui_env PIPELINE_DAY_TIMEZONE=$PIPELINE_DAY_TIMEZONE"
echo "in the UI: $ui_env DAGSTER_HOME=$DAGSTER_HOME .venv/bin/dagster dev -w workspace.yaml"
