#!/usr/bin/env bash
# Set up (first time only) and run a simulated session: the real firmware under MicroPython on
# a simulated boot. Extra options go to `boot-sim run` (see README), for example --minutes 5.
set -euo pipefail
cd "$(dirname "$0")"
tools/setup.sh
mkdir -p out
exec .venv/bin/boot-sim run --trace out/session.jsonl --plot out/session.png "$@"
