"""The firmware type-checks against the MicroPython ESP32 port's published stubs
(micropython-esp32-stubs, see tools/mypy.ini), and a call the ESP32 port does not have fails."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tools" / "mypy.ini"
STUBS = ROOT / ".venv" / "mpy-stubs"


def mypy(*files):
    if not (STUBS / "machine.pyi").exists():
        pytest.fail(f"the ESP32 stubs are missing from {STUBS}: run tools/setup.sh (it runs "
                    "pip install --target .venv/mpy-stubs micropython-esp32-stubs)")
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.fail("mypy is missing: run tools/setup.sh (pip install mypy)")
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(CONFIG), *files],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_firmware_type_checks_against_the_esp32_stubs():
    proc = mypy()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_a_call_the_esp32_does_not_have_is_reported(tmp_path):
    wrong = tmp_path / "wrong.py"
    wrong.write_text("import machine\nimport time\n"
                     "adc = machine.ADC(machine.Pin(34))\n"
                     "print(adc.read_uv())\n"          # exists on the ESP32
                     "print(adc.read_mv())\n"          # does not
                     "print(time.ticks_ms())\n"        # MicroPython's time
                     "print(time.monotonic())\n")      # CPython's, not on the ESP32
    proc = mypy(str(wrong))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, proc.stdout
    assert 'wrong.py:5: error: "ADC" has no attribute "read_mv"' in proc.stdout
    assert 'wrong.py:7: error: Module has no attribute "monotonic"' in proc.stdout
