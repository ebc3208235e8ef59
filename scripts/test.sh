#!/usr/bin/env bash
# Set up, then run the tests: the fast tier by default (the core, asset bodies, one short real chain; a few
# minutes), every test with --all (also real processes and servers, the bad-input corpus, Hypothesis, whole
# nights: what CI runs). Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
tier=(-m "not slow")
if [ "${1:-}" = "--all" ]; then tier=(); shift; fi
.venv/bin/python -m pytest -p no:cacheprovider "${tier[@]}" "$@"
