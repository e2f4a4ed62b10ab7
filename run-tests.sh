#!/usr/bin/env bash
# Set up (first time only) and run the whole test suite. Extra options go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
tools/setup.sh
exec .venv/bin/python -m pytest "$@"
