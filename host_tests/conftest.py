"""Shared test helpers: run code under the real MicroPython interpreter, run simulated sessions.

`micropython(code)` runs a snippet in the MicroPython unix port with the firmware on its path
and returns what it printed; a test compares that with the same logic under CPython."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim import paths  # noqa: E402

paths.import_device_modules()

from sim.session import micropython_binary  # noqa: E402
from sim import runtimes  # noqa: E402

# CI builds the chip-faithful 32-bit MicroPython (.ci/run sets MICROPYTHON_SRC, tools/mp32.py)
# and the tests' MicroPython is that build: never the 64-bit fallback without saying so
if os.environ.get("MICROPYTHON_SRC") and runtimes.mp32_binary() is None:
    pytest.exit("MICROPYTHON_SRC is set but the 32-bit MicroPython is missing (.venv/mp32/): "
                "tools/setup.sh did not build it", returncode=3)


def run_micropython(code, extra_path=(), timeout=120, lib_path=()):
    """Run code under MicroPython with firmware/ and sim/device/ importable (the built-in time,
    not the simulator's). lib_path: folders after the frozen modules, as /lib is on the chip.
    Returns stdout; raises AssertionError with stderr on failure."""
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join(
        [*map(str, extra_path), str(paths.FIRMWARE), str(paths.DEVICE), ".frozen",
         *map(str, lib_path)])
    # 2 MB, the 64-bit port's default heap (the 32-bit one's is 1 MB): a snippet tests logic;
    # the chip's heap is a heap-capped run's (chip.heap_kb, sim/chipheap.py)
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=2M", "-c", code],
                          capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"micropython failed ({proc.returncode}):\n{proc.stderr}"
                             f"\n{proc.stdout}")
    return proc.stdout


def micropython_json(code, **kw):
    """Run code that prints one JSON value as its last line; return that value."""
    out = run_micropython(code, **kw).strip().splitlines()
    return json.loads(out[-1])


@pytest.fixture
def micropython():
    return micropython_json


# Hypothesis profiles: "ci" keeps the suite quick and repeatable; "soak" is the long run.
from hypothesis import HealthCheck, settings as hyp_settings  # noqa: E402

hyp_settings.register_profile(
    "ci", max_examples=300, stateful_step_count=12, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow])
hyp_settings.register_profile(
    "soak", max_examples=10000, stateful_step_count=12, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow])
hyp_settings.register_profile(     # a shorter soak, e.g. two of them side by side
    "soak-2500", max_examples=2500, stateful_step_count=12, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow])
hyp_settings.register_profile(     # half a soak: two of them side by side, seeds apart
    "soak-5000", max_examples=5000, stateful_step_count=12, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow])
hyp_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
