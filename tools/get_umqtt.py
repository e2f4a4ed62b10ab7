#!/usr/bin/env python3
"""Fetch umqtt.simple for the simulated device and the tests: .venv/mplib/umqtt/simple.py.

On a real ESP32 the library comes from micropython-lib: `mpremote mip install umqtt.simple`.
On PyPI it exists only as an old sdist (micropython-umqtt.simple 1.3.4) that pip downloads but
refuses to install (it has no setup.py); `pip download --no-clean` leaves it unpacked in the
temporary directory, where this script picks up umqtt/simple.py and checks its SHA-256.
The firmware uses only what 1.3.4 and micropython-lib's current 1.8 both have (docs/MQTT.md).

Safe to run again: does nothing when the file is already there with the right hash.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / ".venv" / "mplib" / "umqtt" / "simple.py"
PACKAGE = "micropython-umqtt.simple==1.3.4"
SHA256 = "8555d2f654deb8eb0d724f79b0811a78cc94029d070f3d96bbd74288653d63a5"


def _ok(path):
    return path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == SHA256


def fetch():
    if _ok(DEST):
        return DEST
    with tempfile.TemporaryDirectory(prefix="get-umqtt-") as tmp:
        env = dict(os.environ, TMPDIR=tmp)
        # pip fails after unpacking ("does not appear to be a Python project"): expected
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-clean",
                        "--no-binary", ":all:", "--dest", str(Path(tmp) / "dl"), PACKAGE],
                       env=env, capture_output=True, text=True)
        found = [p for p in Path(tmp).rglob("umqtt/simple.py") if _ok(p)]
        if not found:
            raise SystemExit(f"get_umqtt: could not fetch {PACKAGE} from PyPI (or its "
                             f"umqtt/simple.py did not have SHA-256 {SHA256})")
        DEST.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found[0], DEST)
    return DEST


if __name__ == "__main__":
    print(fetch())
