"""The chip-faithful MicroPython (32-bit words, single floats, ssl and umqtt.simple frozen:
tools/mp32.py, sim/runtimes.py) that the tests and the simulator run the firmware on, and the
chip's heap for a run (a scenario's "chip": {"heap_kb": N}: sim/chipheap.py,
sim/device/heapcap.py). CI builds the runtime (.ci/run sets MICROPYTHON_SRC) and conftest.py
stops the suite if it is missing there; elsewhere the tests that need it say so and skip."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim import paths, runtimes
from sim.session import RunError, build_config, micropython_path, run

ROOT = Path(__file__).resolve().parent.parent
needs32 = pytest.mark.skipif(runtimes.mp32_binary() is None,
                             reason="the 32-bit MicroPython is not set up here (tools/setup.sh "
                                    "with MICROPYTHON_SRC: tools/mp32.py); CI builds it")

FACTS = """
import gc, json, sys, time
def sizes(x):
    gc.collect()
    a = gc.mem_alloc()
    y = x + (x - 1)             # 2**30 - 1: the last small int on the chip
    b = gc.mem_alloc()
    z = x + x                   # 2**30: a long int, on the heap
    c = gc.mem_alloc()
    buf = bytearray(1)
    d = gc.mem_alloc()
    return b - a, c - b, d - c, y, z, buf
small, big, one = sizes(1 << 29)[:3]
print(json.dumps({"maxsize": sys.maxsize, "third": repr(1 / 3), "small": small, "big": big,
                  "bytearray_1": one, "wrap": time.ticks_add(0, -1),
                  "float_digits": repr(0.1 + 0.2)}))
"""


@needs32
def test_the_tests_micropython_is_the_32bit_build(micropython):
    f = micropython(FACTS)
    assert f["maxsize"] == 2 ** 31 - 1
    assert f["third"] == "0.33333334" and f["float_digits"] == "0.3"    # single precision
    assert f["small"] == 0 and f["big"] > 0         # small ints end at 2**30, as on the ESP32
    assert f["bytearray_1"] == 32                   # 16-byte blocks: its object and its data
    assert f["wrap"] == 2 ** 30 - 1                 # the port's own ticks wrap at 2**30


@needs32
def test_the_device_finds_the_frozen_libraries_first(micropython):
    """As on the ESP32 (sys.path '', '.frozen', '/lib'): the image's umqtt.simple, the current
    micropython-lib one, before the PyPI copy in the library folder; ssl and asyncio frozen."""
    import os
    import subprocess
    code = ("import json, ssl, asyncio, umqtt.simple as u\n"
            "print(json.dumps([u.__file__, asyncio.__file__, hasattr(u.MQTTClient, "
            "'unsubscribe')]))")
    env = dict(os.environ, MICROPYPATH=micropython_path(paths.FIRMWARE))
    out = subprocess.run([runtimes.mp32_binary(), "-c", code], capture_output=True, text=True,
                         env=env, timeout=30)
    umqtt_file, asyncio_file, current = json.loads(out.stdout.splitlines()[-1])
    # a frozen module's __file__ is its name in the image; one from a folder has the folder
    assert umqtt_file == "umqtt/simple.py" and asyncio_file == "asyncio/__init__.py"
    assert current, "umqtt.simple is the 2017 PyPI copy, not micropython-lib's current one"


def test_the_runtime_names(monkeypatch):
    monkeypatch.setattr(runtimes, "MP32", Path("/nonexistent/micropython"))
    with pytest.raises(runtimes.RuntimeMissing, match="tools/setup.sh"):
        runtimes.binary("micropython32")
    assert runtimes.binary("micropython") == runtimes.wheel_binary()    # the fallback
    assert runtimes.describe("micropython") == "micropython64"
    assert not runtimes.is_32bit("micropython")


def test_mp32_setup_refuses_archives_that_do_not_check_out(tmp_path, monkeypatch):
    """With MICROPYTHON_SRC given (CI), a bad archive fails the setup: never a silent fallback."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import mp32
    finally:
        sys.path.pop(0)
    for name, _, _, _ in mp32.ARCHIVES:
        (tmp_path / name).write_bytes(b"not an archive")
    (tmp_path / "SHA256SUMS").write_text("".join(f"{'0' * 64}  {name}\n"
                                                 for name, _, _, _ in mp32.ARCHIVES))
    monkeypatch.setenv("MICROPYTHON_SRC", str(tmp_path))
    with pytest.raises(mp32.BuildError, match="SHA-256"):
        mp32._checked_archives(tmp_path)
    assert mp32.setup() == 1


def _capped(heap_kb, **scenario):
    sc = {"settings": {"minutes": 1}}
    sc.update(scenario)
    sc["chip"] = {"heap_kb": heap_kb}
    return build_config(sc)


def test_a_heap_cap_needs_the_32bit_runtime():
    with pytest.raises(RunError, match="32-bit MicroPython"):
        run(_capped(112), "cpython", quiet=True)
    with pytest.raises(RunError, match="32-bit MicroPython"):
        run(_capped(112), "micropython64", quiet=True)


NULL_FIRMWARE = """
import gc, json, micropython, time
lo = hi = None
step = 0
for i in range(200):
    t = micropython.mem_total()
    time.sleep_ms(100)          # 20 plant steps of 5 ms meanwhile, in the same heap
    step = max(step, (micropython.mem_total() - t) // 20)
    gc.collect()
    f = gc.mem_free()
    lo = f if lo is None or f < lo else lo
    hi = f if hi is None or f > hi else hi
print(json.dumps({"lo": lo, "hi": hi, "step": step}))
"""


@needs32
def test_a_heap_cap_leaves_the_firmware_its_heap_and_the_plant_takes_little(tmp_path):
    """A firmware that only waits (its main.py; the simulator patches flashfs and console in
    as always): the free heap at its start is the cap less the interpreter's start-up share, to
    a 16-byte block. What the simulator allocates after that comes out of the firmware's heap
    (harsher, never kinder): the plant's state stays put (the free heap after a collection
    moves by a block or two over 20 s), and a 5 ms step leaves under 2 KB of garbage (its
    floats and the trace's sample lines), collected like the firmware's."""
    fw = tmp_path / "fw"
    fw.mkdir()
    for p in paths.FIRMWARE.glob("*.py"):       # the modules the simulator patches are there
        (fw / p.name).write_text(p.read_text())
    (fw / "main.py").write_text(NULL_FIRMWARE)
    trace = tmp_path / "t.jsonl"
    summary, follower = run(_capped(48, duration_s=25), "micropython", str(trace), quiet=True,
                            firmware_dir=str(fw))
    events = [json.loads(x) for x in trace.read_text().splitlines()]
    cap = [e for e in events if e.get("event") == "heap_cap"][0]
    want = 48 * 1024 - cap["startup_bytes"]
    assert want - 16 <= cap["firmware_free_bytes"] <= want, cap
    seen = [json.loads(x) for x in follower.console if '"lo"' in x][0]
    assert seen["hi"] <= cap["firmware_free_bytes"]
    assert seen["hi"] - seen["lo"] <= 64, seen
    assert 0 < seen["step"] < 2560, seen


@needs32
def test_a_heap_too_small_is_a_memory_error_and_a_big_enough_one_runs(tmp_path):
    """The firmware as flashed (.mpy) does not load into 24 KB (a MemoryError while it boots,
    as on a chip with that heap); in 256 KB a session runs to its end."""
    trace = tmp_path / "small.jsonl"
    run(_capped(24), "micropython", str(trace), quiet=True)
    exits = [e for e in map(json.loads, trace.read_text().splitlines())
             if e.get("event") == "firmware_exit"]
    assert exits and "MemoryError" in exits[0]["why"], exits
    summary, _ = run(_capped(256), "micropython", None, quiet=True)
    assert summary["end_reason"] == "complete", summary


# A classic ESP32 without PSRAM: MicroPython's heap grown once, what its port leaves Wi-Fi and
# TLS room for (sim/bench_heap.py, CHIP_HEAP_KB; micropython PR 13219: 111,936 bytes)
STOCK_HEAP_KB = 112


def _events(trace):
    return [r for r in map(json.loads, Path(trace).read_text().splitlines())
            if r.get("kind") == "event"]


@needs32
def test_a_stock_esp32_heap_runs_the_plain_install_and_its_menu_saves_for_the_next_boot(
        tmp_path):
    """Issue 14: the firmware as tools/flash.sh installs it (.mpy), without the network, runs a
    whole session in a stock ESP32's heap (it failed loading, with MemoryError, before the
    boot's file checkers were forgotten after use: firmware/lazy.py). The menu's save needs
    those checkers again; this heap cannot hold them beside the running boot (measured: about
    16 KB free, in pieces of 1 KB at most), so the values are stored for the next power-on,
    whose boot checks them, and the boot says so, instead of crashing."""
    flash = tmp_path / "flash"
    trace = tmp_path / "menu.jsonl"
    sc = {"settings": {"minutes": 1, "fit_check": False}, "duration_s": 110,
          "actions": [{"t_s": 1, "do": "long_press"}, {"t_s": 4, "do": "turn", "detents": 1},
                      {"t_s": 6, "do": "long_press"}, {"t_s": 12, "do": "press"}]}
    summary, _ = run(_capped(STOCK_HEAP_KB, **sc), "micropython", str(trace), quiet=True,
                     flash_dir=str(flash))
    assert summary["end_reason"] == "complete" and not summary.get("firmware_exit"), summary
    assert not summary["faults"] and summary["vented_at_end"], summary
    ev = _events(trace)
    kept = [e for e in ev if e["event"] == "warning" and "next power-on" in e["text"]]
    assert len(kept) == 1 and not [e for e in ev if e["event"] == "settings"], kept
    assert [e for e in ev if e["event"] == "start"][0]["minutes"] == 1    # not in use yet
    stored = json.loads((flash / "settings.json").read_text())
    assert stored["minutes"] == 6                                          # 1 + one detent
    # the next power-on, same flash: the boot checks them and uses them (run() writes the
    # scenario's settings to the flash: give it the stored ones, as the device keeps them)
    trace2 = tmp_path / "next.jsonl"
    run(_capped(STOCK_HEAP_KB, settings=stored, duration_s=5), "micropython", str(trace2),
        quiet=True, flash_dir=str(flash))
    boot = [e for e in _events(trace2) if e["event"] == "boot"][0]
    assert boot["settings"]["minutes"] == 6


@needs32
def test_a_stock_esp32_heap_with_the_network_configured_boots_without_it_and_says_why(
        tmp_path):
    """Issue 14: with secrets.json set the connected boot needs limits.NET_HEAP_KB more than
    a stock ESP32's heap leaves: the boot runs the session without the network and says why
    and what to do (firmware/netstart.py), where it failed with MemoryError mid-boot."""
    trace = tmp_path / "net.jsonl"
    config = _capped(STOCK_HEAP_KB, settings={"minutes": 1, "fit_check": False},
                     duration_s=80, actions=[{"t_s": 2, "do": "start"}])
    config["network"] = {"ssid": "home", "password": "home-pass"}
    secrets = {"wifi": {"ssid": "home", "password": "home-pass"},
               "mqtt": {"host": "127.0.0.1", "port": 1883}}
    summary, _ = run(config, "micropython", str(trace), quiet=True,
                     flash_files={"secrets.json": json.dumps(secrets)})
    assert summary["end_reason"] == "complete" and not summary.get("firmware_exit"), summary
    assert not summary["faults"] and summary["vented_at_end"], summary
    ev = _events(trace)
    said = [e["text"] for e in ev if e["event"] == "warning" and "network needs" in e["text"]]
    assert len(said) == 1 and "frozen image" in said[0] and "PSRAM" in said[0], said
    free_kb = int(said[0].split(" KB of heap and ")[1].split(" KB")[0])
    assert free_kb < 32
    assert not [e for e in ev if e["event"] == "network"], "the network was started"


PROBE = """
import json, sys
sys.path.insert(0, '.')
from sim.session import run
config = json.loads(sys.argv[1])
run(config, 'micropython', sys.argv[2], quiet=True)
print(json.dumps([r for r in map(json.loads, open(sys.argv[2])) if r.get('event') == 'heap_end']))
"""


@needs32
def test_a_capped_runs_heap_does_not_depend_on_where_the_checkout_lies(tmp_path):
    """Issue 14: CI's checkout (/check/work/main) ran the stock-heap session out of heap where
    /work/main ran it: paths the interpreter keeps (the entry's real folder first in sys.path,
    the board file's path in the run config) and the simulator's names sharing the firmware's
    name pools. The same capped run from a copy of the checkout 80 characters deeper ends with
    the same free heap, to the byte."""
    deep = tmp_path / ("d" * 40) / ("e" * 40) / "main"
    for part in ("firmware", "sim", "boards", "programs", "tools"):
        shutil.copytree(paths.ROOT / part, deep / part,
                        ignore=shutil.ignore_patterns("__pycache__", "out"))
    (deep / ".venv").symlink_to(paths.ROOT / ".venv")
    config = _capped(STOCK_HEAP_KB, settings={"minutes": 1, "fit_check": False},
                     duration_s=20, actions=[{"t_s": 2, "do": "start"}])
    ends = []
    for root in (paths.ROOT, deep):
        proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(config),
                               str(tmp_path / "trace.jsonl")], cwd=root,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        ends.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert ends[0] and ends[0] == ends[1], ends
