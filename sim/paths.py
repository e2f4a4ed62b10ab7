"""Where the parts of the repository are, for the host side."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
DEVICE = ROOT / "sim" / "device"
MPSHIM = DEVICE / "mpshim"
BOARDS = ROOT / "boards"
DEFAULT_BOARD = BOARDS / "esp32-devkitc-4ch.json"
MPLIB = ROOT / ".venv" / "mplib"     # MicroPython libraries for the simulated device (umqtt)


def import_device_modules():
    """Make the device-side modules (plant, vboard, firmware logic) importable on the host.
    The firmware's time-based modules also need MicroPython's ticks functions."""
    for p in (str(DEVICE), str(FIRMWARE)):
        if p not in sys.path:
            sys.path.append(p)
    import cpython_rt
    cpython_rt.install_ticks()
