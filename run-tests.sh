#!/usr/bin/env bash
# Set up (first time only: the simulator and the tests' tools) and run the whole test suite.
# Extra options go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
tools/setup.sh dev
exec .venv/bin/python -m pytest "$@"
