#!/usr/bin/env bash
# Set up, then run the tests: the fast tier by default (the core, asset bodies, one short real chain; a few
# minutes), every test with --all (also real processes and servers, the bad-input corpus, Hypothesis, whole
# nights: what CI runs). Other arguments go to pytest. Tests run in two pytest-xdist workers (-n 2; pass -n 0 for
# one process, e.g. to debug): most slow tests wait on processes and servers, so two workers halve the wall time
# even on 2 cores. Each test has its own folders, bucket, database and ports, so they may run side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
tier=(-m "not slow")
if [ "${1:-}" = "--all" ]; then tier=(); shift; fi
.venv/bin/python -m pytest -p no:cacheprovider -n 2 "${tier[@]}" "$@"
