#!/usr/bin/env python3
"""vesp32: a virtual ESP32 on a pseudo-terminal, for flashing and testing without hardware.

    .venv/bin/python tools/vesp32.py --flash DIR [--chip esp32|esp32s3] [--link PATH]

Prints the serial port it presents (a /dev/pts/N), then serves MicroPython's REPL on it the way
a board does over USB serial: the friendly REPL (Ctrl-C interrupts, Ctrl-D soft-resets, Ctrl-E
paste mode), the raw REPL (Ctrl-A; Ctrl-D executes and answers "OK", the output, \\x04, the
exception, \\x04, ">"; Ctrl-B leaves), raw-paste mode (Ctrl-E 'A' Ctrl-A, with its flow-control
window) and soft reset. mpremote drives it like a real board: `exec`, `fs cp/ls/mkdir/rm`,
`mip install`, `soft-reset`, `reset`.

What runs the code is the real MicroPython unix port (tools/vesp32_chip.py inside it): one
interpreter per boot, with DIR as its filesystem root and working directory, the ESP32's module
path ("", ".frozen", "/lib") and the simulator's `machine` (sim/device) wired to the simulated
boot (pump, valves, chambers, pressure transducer). So `import machine` and the flashed firmware
work, on a virtual clock.

How it stands in for a chip:
- it presents itself as an ESP32: sys.implementation._machine reads "Virtual ESP32 (boot-sim
  vesp32) with ESP32", sys.platform "esp32", and sys.implementation._mpy carries the ESP32's
  native architecture (xtensawin) with the interpreter's own bytecode version, so
  tools/flash.sh takes its normal path. The version is the unix port's own.
- time is virtual. After a reset in friendly mode (power-on, machine.reset(), Ctrl-D at
  ">>>") boot.py and main.py run; the first --boot-seconds (default 20) of simulated time
  pass as fast as the simulator goes, with a button press starting a session after --press-at
  seconds, so the boot log shows a session at once; then the virtual clock keeps pace with the
  wall clock and the firmware runs on, as on a chip. A soft reset in raw mode runs boot.py
  only, as on a chip.
- the hardware watchdog is kept as the ESP32 keeps it: once the firmware has started
  machine.WDT, interrupting the firmware leaves nobody feeding it, and the board resets when it
  runs out (at the REPL too, and across a soft reset). tools/flash.sh copes with that.
- loading a module from flash takes --import-ms of wall time, as on a chip: main.py's start-up
  can be interrupted before the firmware starts its watchdog, as on a chip.
- it has no `network` module: `import network` (the firmware's, with a secrets.json on the
  flash, or yours) raises ImportError saying so and where MQTT can be tried instead
  (`boot-sim run --flash DIR --pace 1`, docs/MQTT.md); the boot runs on without the network.
- a program that reads the console (the firmware's maintenance link, maintlink.py, started
  from the raw REPL) gets the serial line's bytes on its stdin while it runs, as on a chip's
  UART; Ctrl-C still interrupts it.
- for boot-commission --virtual: --speed N runs the paced clock N times the wall clock;
  --scenario FILE gives the plant its parameters, faults and seed (the board is the flash's
  board.json: a scenario's "transducer" can differ from it); --bench-dir DIR is the bench:
  DIR/gauge gets the true manifold and chamber pressures every 0.1 simulated s, and a new line
  "SEQ MMHG" in DIR/bulb pumps the manifold to MMHG by hand.
- the filesystem root is a host directory: not a security boundary.
- its image is the interpreter's: --micropython BINARY runs another build, e.g. one with the
  firmware frozen in (tools/mp32.py frozen-image), whose modules come after the flash's root
  and before /lib, as on a chip.
"""
import argparse
import codeop
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim import paths  # noqa: E402
from sim.session import build_config, micropython_binary  # noqa: E402

paths.import_device_modules()
import boardcfg  # noqa: E402

DRIVER = Path(__file__).resolve().parent / "vesp32_chip.py"
CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = 1, 2, 3, 4, 5
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
PASTE_WINDOW = 128          # an ESP32's stdin buffer is 256 bytes; the window is half of it
OUT_MAX = 256 * 1024        # output nobody reads is dropped beyond this, as a UART would
CHIPS = {"esp32": "ESP32", "esp32s3": "ESP32S3"}
ARCH_XTENSAWIN = 10
PWRON_RESET = 1
WDT_RESET = 3
RESET_CAUSES = {1: "power on", 2: "hard reset", 3: "watchdog", 5: "soft reset"}


def crlf(data):
    return data.replace(b"\n", b"\r\n")


class VirtualESP32:
    def __init__(self, flash, chip="esp32", boot_seconds=20, press_at=1.0, heapsize="2M",
                 implementation=None, version=None, log=None, import_ms=10, binary=None,
                 speed=1.0, scenario=None, bench_dir=None):
        self.flash = Path(flash).resolve()
        self.binary = binary or micropython_binary()
        self.flash.mkdir(parents=True, exist_ok=True)
        self.identity = {"machine": f"Virtual {CHIPS[chip]} (boot-sim vesp32) with {CHIPS[chip]}",
                         "arch": ARCH_XTENSAWIN, "platform": "esp32"}
        if implementation:
            self.identity["name"] = implementation
        if version:
            self.identity["version"] = [int(x) for x in version.split(".")] + [""]
        self.boot_seconds = boot_seconds
        self.import_ms = import_ms
        self.speed = speed
        self.scenario = scenario or {}     # the plant, its faults and seed (not the board)
        self.bench_dir = str(Path(bench_dir).resolve()) if bench_dir else None
        if self.bench_dir:
            for name in ("gauge", "bulb"):
                (Path(self.bench_dir) / name).touch()
        self.passthrough = False    # the running program reads stdin (maintlink.py): "W"
        self.press_at = press_at
        self.heapsize = heapsize
        self.log = open(log, "ab") if log else None
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.port = os.ttyname(self.slave)
        self.out = bytearray()
        self.inq = bytearray()
        self.mode = "friendly"
        # off, starting (interpreter setting up), booting (boot.py, main.py), idle (waiting
        # for input), busy (executing what it was sent)
        self.state = "off"
        self.child = None
        self.ctl = None
        self.ctlbuf = bytearray()
        self.banner = b"MicroPython"
        self.exec_raw = False
        self.failed_boots = 0
        self.reset_cause = PWRON_RESET
        self.run_main = False
        self.wdt_ms = 0             # the hardware watchdog's timeout once started (0: never)
        self.wdt_due = None         # when it resets the chip, unless the firmware feeds it
        self._reset_parser()
        self.tmp = tempfile.mkdtemp(prefix="vesp32-")

    # --- the interpreter ---------------------------------------------------------------
    def _config(self):
        board = self.flash / "board.json"
        try:
            boardcfg.load(str(board))
        except boardcfg.BoardError:
            board = paths.DEFAULT_BOARD     # no valid board file yet: wire the default boot
        actions = [{"t_s": self.press_at, "do": "start"}] if self.press_at >= 0 else []
        scenario = {k: v for k, v in self.scenario.items()
                    if k in ("plant", "faults", "seed", "chip")}
        scenario.update({"duration_s": max(self.boot_seconds, 60), "actions": actions})
        config = build_config(scenario, str(board))
        config["sample_ms"] = 1000
        return config

    def boot(self, run_main):
        self._kill()
        self.run_main = run_main
        r, w = os.pipe()
        boot = {"flash": str(self.flash), "config": self._config(), "run_main": run_main,
                "identity": self.identity, "ctl_fd": w, "reset_cause": self.reset_cause,
                "fast_forward_ms": int(self.boot_seconds * 1000), "wdt_ms": self.wdt_ms,
                "import_ms": self.import_ms, "speed": self.speed, "bench_dir": self.bench_dir}
        boot_file = Path(self.tmp) / "boot.json"
        boot_file.write_text(json.dumps(boot))
        env = dict(os.environ)
        env["MICROPYPATH"] = os.pathsep.join([str(paths.MPSHIM), str(paths.DEVICE), ".frozen"])
        self.child = subprocess.Popen(
            [self.binary, "-X", f"heapsize={self.heapsize}", str(DRIVER),
             str(boot_file)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, pass_fds=(w,), env=env, cwd=self.flash)
        os.close(w)
        self.ctl = r
        os.set_blocking(self.child.stdout.fileno(), False)
        self.ctlbuf = bytearray()
        self.passthrough = False
        self.state = "starting"     # until the interpreter is set up: Ctrl-C is lost
        self._reset_parser()

    def _kill(self):
        if self.child is not None:
            if self.child.poll() is None:
                self.child.kill()
            self.child.wait()
            for f in (self.child.stdin, self.child.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            self.child = None
        if self.ctl is not None:
            os.close(self.ctl)
            self.ctl = None

    def soft_reboot(self):
        """Ctrl-D, sys.exit(): a new interpreter, but the chip (and its watchdog) runs on."""
        self.emit(b"MPY: soft reboot\r\n")
        self.boot(run_main=self.mode == "friendly")

    def hard_reset(self, why, cause=PWRON_RESET):
        self.emit(b"\r\nvirtual ESP32: reset (%s)\r\n" % why.encode())
        self.reset_cause = cause
        self.wdt_ms = 0
        self.wdt_due = None
        self.mode = "friendly"
        self.boot(run_main=True)

    def execute(self, source, kind, raw):
        self.exec_raw = raw
        self.state = "busy"
        self.passthrough = False
        try:
            self.child.stdin.write(b"E %s %d\n" % (kind.encode(), len(source)) + bytes(source))
            self.child.stdin.flush()
        except OSError:
            pass                    # the interpreter has died: its end is handled in poll

    def _drain_child(self):
        while self.child is not None:
            try:
                data = os.read(self.child.stdout.fileno(), 65536)
            except BlockingIOError:
                return
            if not data:
                return
            self.emit(crlf(data))

    def _on_ctl(self):
        data = os.read(self.ctl, 65536)
        if not data:
            self._drain_child()
            code = self.child.wait() if self.child else None
            if self.state in ("starting", "booting"):
                self.failed_boots += 1
                if self.failed_boots >= 3:
                    raise SystemExit(f"vesp32: the interpreter fails at every boot (exit {code}):"
                                     " see its output above")
            self.hard_reset(f"the interpreter exited with code {code}")
            return
        self.ctlbuf += data
        while b"\n" in self.ctlbuf:
            line, _, rest = bytes(self.ctlbuf).partition(b"\n")
            kind = line[:1]
            if kind == b"D":
                n = int(line[2:])
                if len(rest) < n:
                    return
                text, rest = rest[:n], rest[n:]
                self.ctlbuf = bytearray(rest)
                self._drain_child()
                self._done(text)
                continue
            self.ctlbuf = bytearray(rest)
            self._drain_child()
            if kind == b"B":
                self.state = "booting"
                if self.run_main:
                    self.wdt_due = None     # main.py runs: feeding the watchdog is its job
            elif kind == b"I":
                wdt, _, banner = line[2:].partition(b" ")
                self.failed_boots = 0
                self.banner = banner
                self.wdt_ms = int(wdt)
                if self.wdt_ms and self.wdt_due is None:
                    # nothing feeds it at the REPL: the chip resets when it runs out
                    self.wdt_due = time.monotonic() + self.wdt_ms / 1000
                self.state = "idle"
                if self.mode == "raw":
                    self.emit(RAW_BANNER + b">")
                else:
                    self._friendly_banner()
            elif kind == b"W":
                self.passthrough = True     # the serial's bytes to the program's stdin
            elif kind == b"X":
                if self.state == "busy" and self.exec_raw:
                    self.emit(b"\x04\x04")
                self.soft_reboot()
                return
            elif kind == b"R":
                cause = int(line[2:])
                self.hard_reset(RESET_CAUSES.get(cause, "reset"), cause)
                return

    def _done(self, exc):
        self.state = "idle"
        self.passthrough = False
        if self.exec_raw:
            self.emit(b"\x04" + crlf(exc) + b"\x04>")
        else:
            self.emit(crlf(exc) + b">>> ")

    # --- the REPL as the chip's pyexec.c runs it ----------------------------------------
    def _reset_parser(self):
        self.line = bytearray()         # raw REPL line, or the friendly REPL's current line
        self.lines = []                 # friendly REPL: lines of a compound statement so far
        self.paste = None               # friendly paste mode buffer
        self.raw_paste = None           # raw-paste mode buffer
        self.window = 0
        self.esc = 0

    def _friendly_banner(self):
        self.emit(self.banner + b"\r\nType \"help()\" for more information.\r\n>>> ")

    def feed(self):
        """Consume queued input while the REPL is waiting for it; while a program that reads
        the console runs, hand it over as the chip's UART would (Ctrl-C interrupts it still:
        _on_input)."""
        if self.inq and self.state == "busy" and self.passthrough:
            data, self.inq = bytes(self.inq), bytearray()
            try:
                self.child.stdin.write(data)
                self.child.stdin.flush()
            except OSError:
                pass                # the interpreter has died: its end is handled in poll
            return
        while self.inq and self.state == "idle":
            c = self.inq.pop(0)
            if self.mode == "raw":
                self._raw_char(c)
            else:
                self._friendly_char(c)

    def _raw_char(self, c):
        if self.raw_paste is not None:
            if c in (CTRL_C, CTRL_D):
                self.emit(b"\x04")
                src, self.raw_paste = self.raw_paste, None
                if c == CTRL_D:
                    self.execute(src, "exec", raw=True)
                else:
                    self.emit(b"\x04Traceback (most recent call last):\r\nKeyboardInterrupt: "
                              b"\r\n\x04>")
                return
            self.raw_paste.append(c)
            self.window -= 1
            if self.window == 0:
                self.emit(b"\x01")
                self.window = PASTE_WINDOW
            return
        if c == CTRL_A:
            if len(self.line) == 2 and self.line[0] == CTRL_E:
                if self.line[1] == ord("A"):
                    self.emit(b"R\x01" + PASTE_WINDOW.to_bytes(2, "little") + b"\x01")
                    self.raw_paste = bytearray()
                    self.window = PASTE_WINDOW
                else:
                    self.emit(b"R\x00>")
                self.line = bytearray()
                return
            self.line = bytearray()
            self.emit(RAW_BANNER + b">")
        elif c == CTRL_B:
            self.emit(b"\r\n")
            self.mode = "friendly"
            self._reset_parser()
            self._friendly_banner()
        elif c == CTRL_C:
            self.line = bytearray()
        elif c == CTRL_D:
            self.emit(b"OK")
            src, self.line = self.line, bytearray()
            if not src:
                self.emit(b"\r\n")
                self.soft_reboot()
            else:
                self.execute(src, "exec", raw=True)
        else:
            self.line.append(c)

    def _friendly_char(self, c):
        if self.paste is not None:
            if c == CTRL_C:
                self.paste = None
                self.emit(b"\r\n>>> ")
            elif c == CTRL_D:
                self.emit(b"\r\n")
                src, self.paste = self.paste, None
                self.execute(src, "exec", raw=False)
            else:
                self.paste.append(c)
                self.emit(b"\r\n=== " if c == 13 else bytes([c]))
            return
        if self.esc:                    # swallow terminal escape sequences (arrow keys)
            self.esc = 2 if (self.esc == 1 and c == ord("[")) else 0
            return
        empty = not self.line and not self.lines
        if c == 27:
            self.esc = 1
        elif c == CTRL_A and empty:
            self.emit(b"\r\n")
            self.mode = "raw"
            self._reset_parser()
            self.emit(RAW_BANNER + b">")
        elif c == CTRL_B and empty:
            self.emit(b"\r\n")
            self._friendly_banner()
        elif c == CTRL_C:
            self._reset_parser()
            self.emit(b"\r\n>>> ")
        elif c == CTRL_D and not self.line:
            if self.lines:
                self._friendly_exec()
            else:
                self.emit(b"\r\n")
                self.soft_reboot()
        elif c == CTRL_E and empty:
            self.emit(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
            self.paste = bytearray()
        elif c == 13:
            self.emit(b"\r\n")
            line, self.line = bytes(self.line), bytearray()
            if not line and not self.lines:
                self.emit(b">>> ")
                return
            if self.lines and not line.strip():
                self._friendly_exec()
                return
            self.lines.append(line)
            if self._incomplete(b"\n".join(self.lines)):
                self.emit(b"... ")
            else:
                self._friendly_exec()
        elif c in (8, 127):
            if self.line:
                self.line.pop()
                self.emit(b"\x08 \x08")
        elif c >= 32:
            self.line.append(c)
            self.emit(bytes([c]))

    @staticmethod
    def _incomplete(src):
        try:
            return codeop.compile_command(src.decode("utf-8", "replace"), "<stdin>",
                                          "single") is None
        except (SyntaxError, ValueError, OverflowError):
            return False            # let MicroPython report it

    def _friendly_exec(self):
        src = b"\n".join(self.lines) + b"\n"
        self.lines = []
        self.execute(src, "single", raw=False)

    # --- the serial line ---------------------------------------------------------------
    def emit(self, data):
        self.out += data
        if len(self.out) > OUT_MAX:
            del self.out[:len(self.out) - OUT_MAX]
        if self.log:
            self.log.write(data)
            self.log.flush()

    def _on_input(self, data):
        if self.log:
            self.log.write(b"\n<<< " + repr(data).encode() + b"\n")
        for c in data:
            if c == CTRL_C and self.state in ("booting", "busy"):
                # the UART's interrupt character: KeyboardInterrupt in the running program
                if self.child is not None and self.child.poll() is None:
                    os.kill(self.child.pid, signal.SIGINT)
            else:
                self.inq.append(c)

    def poll(self, timeout=0.5):
        if self.wdt_due is not None:
            left = self.wdt_due - time.monotonic()
            if left <= 0:
                self.hard_reset("watchdog", WDT_RESET)
                left = timeout
            timeout = min(timeout, left)
        rlist = [self.master]
        if self.child is not None:
            rlist.append(self.child.stdout.fileno())
        if self.ctl is not None:
            rlist.append(self.ctl)
        r, w, _ = select.select(rlist, [self.master] if self.out else [], [], timeout)
        if self.child is not None and self.child.stdout.fileno() in r:
            self._drain_child()
        if self.ctl is not None and self.ctl in r:
            self._on_ctl()
        if self.master in r:
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                data = b""
            if data:
                self._on_input(data)
        self.feed()
        if self.out and (self.master in w or not w):
            try:
                n = os.write(self.master, self.out)
                del self.out[:n]
            except (BlockingIOError, OSError):
                pass

    def serve(self):
        self.hard_reset("power on")
        while True:
            self.poll()

    def close(self):
        self._kill()
        shutil.rmtree(self.tmp, ignore_errors=True)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flash", required=True, help="directory that is the board's flash")
    ap.add_argument("--chip", choices=sorted(CHIPS), default="esp32")
    ap.add_argument("--link", help="also make this path a symlink to the serial port")
    ap.add_argument("--port-file", help="write the serial port's path to this file")
    ap.add_argument("--boot-seconds", type=float, default=20,
                    help="simulated seconds that pass at once after a reset, before the clock "
                    "keeps pace with the wall clock (default 20)")
    ap.add_argument("--press-at", type=float, default=1.0,
                    help="press the button (start) this many simulated seconds after a reset; "
                    "negative: never (default 1)")
    ap.add_argument("--heapsize", default="2M", help="MicroPython heap (default 2M)")
    ap.add_argument("--import-ms", type=int, default=10,
                    help="wall time each first import of a module from flash takes, as on a "
                    "chip (default 10)")
    ap.add_argument("--log", help="append the serial traffic to this file")
    ap.add_argument("--speed", type=float, default=1.0,
                    help="once paced, simulated seconds per wall second (default 1: a chip's "
                    "pace; more for tests and a virtual commissioning)")
    ap.add_argument("--scenario", help="a scenario file whose plant, faults and seed the "
                    "virtual boot has (its board is the flash's board.json)")
    ap.add_argument("--bench-dir", help="a folder for the bench: 'gauge' gets the manifold's "
                    "true pressure, a line 'SEQ MMHG' in 'bulb' pumps it by hand "
                    "(boot-commission --virtual)")
    ap.add_argument("--micropython", metavar="BINARY",
                    help="the MicroPython unix port that runs the chip (default: the "
                    "simulator's); tools/mp32.py frozen-image builds one whose image holds the "
                    "firmware, as an ESP32 flashed with tools/esp32_manifest.py does")
    ap.add_argument("--implementation", help=argparse.SUPPRESS)    # tests: not MicroPython
    ap.add_argument("--version", dest="fake_version", help=argparse.SUPPRESS)  # tests: too old
    args = ap.parse_args(argv)
    vb = VirtualESP32(args.flash, args.chip, args.boot_seconds, args.press_at, args.heapsize,
                      args.implementation, args.fake_version, args.log, args.import_ms,
                      args.micropython, args.speed,
                      json.loads(Path(args.scenario).read_text()) if args.scenario else None,
                      args.bench_dir)

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    if args.link:
        link = Path(args.link)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(vb.port)
    if args.port_file:
        Path(args.port_file).write_text(vb.port + "\n")
    print(f"vesp32: virtual {CHIPS[args.chip]} on {vb.port} (flash: {vb.flash})", flush=True)
    try:
        vb.serve()
    except KeyboardInterrupt:
        pass
    finally:
        vb.close()
        if args.link and Path(args.link).is_symlink():
            Path(args.link).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
