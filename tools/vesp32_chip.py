# The inside of the virtual board (tools/vesp32.py): one boot of the "chip". Runs in the
# MicroPython unix port, started fresh for every hard or soft reset:
#   micropython vesp32_chip.py BOOT.json    (MICROPYPATH: sim/device/mpshim, sim/device, .frozen)
# with a pipe open as the control channel back to the host program (BOOT["ctl_fd"]).
#
# It attaches the simulated `machine` (sim/device) to a virtual board with a virtual clock, makes
# the flash directory the root of the filesystem, runs boot.py (and main.py after a reset in
# friendly mode) and then executes what the host sends, as the REPL on a real board would.
#
# Host -> device (stdin):   "E <kind> <n>\n" + n bytes of source; kind is "exec" (raw REPL,
#                           paste mode) or "single" (one friendly REPL entry)
# Device -> host (control):    "B\n"            set up: boot.py and main.py run now (Ctrl-C works)
#                           "I <wdt> <banner>\n"  booted, waiting for input; wdt: the
#                                            running watchdog's timeout (ms, 0: none), which
#                                            nothing feeds now
#                           "D <n>\n" + n bytes   finished; the bytes are the exception text
#                           "X\n"            SystemExit / machine.soft_reset(): soft reboot
#                           "R <cause>\n"    the chip resets (machine.reset(), watchdog, brown-out)
#                           "W\n"            the program polls stdin (maintlink.py): the serial
#                                            line's bytes go to stdin, raw, until it ends
# Everything the code prints goes to stdout (stderr is joined to it), as the UART would carry it.
import sys
import os
import json
import utime

_sys = sys
with open(sys.argv[1]) as _f:
    BOOT = json.load(_f)
CTL = open("/dev/fd/%d" % BOOT["ctl_fd"], "wb")     # unbuffered: no flush (fsync on a pipe fails)
ME = sys.argv[0]

# The simulator's modules are imported now: once the flash directory is the filesystem root
# the host's directories are out of reach, as they would be on a chip.
import time  # noqa: E402  (sim/device/mpshim/time.py: the virtual clock)
import select  # noqa: E402,F401  (its poll lets virtual time pass while asyncio waits)
import simctx  # noqa: E402
import machine  # noqa: E402  (sim/device/machine.py)
from vboard import VirtualBoard, SimEnd, BoardReset  # noqa: E402
import chipclock  # noqa: E402


def _emit(line):
    pass                # plant samples and simulator events are for traces, not the console


# The C task queue stamps new tasks with the real ticks: start the virtual clock a minute
# ahead of them, as sim/device/run.py does, so such tasks are simply due.
BOARD = VirtualBoard(BOOT["config"], _emit, utime.ticks_add(utime.ticks_ms(), 60000),
                     utime.ticks_add)
BOARD.reset_cause = BOOT["reset_cause"]
simctx.board = BOARD

# Time: the first fast_forward_ms after the reset pass as fast as the simulator can go (the
# boot log shows a session starting at once); after that the virtual clock keeps pace with the
# wall clock, so the firmware runs on like a chip's, until it is interrupted or reset.
BOARD.end_ms = 1 << 40
_advance = BOARD.advance
_pace = [None, 0]               # wall ticks and board ms when real-time pacing began


SPEED = BOOT.get("speed", 1)    # simulated seconds a wall second once paced (--speed)

# The bench (--bench-dir): a reference gauge on the manifold, and its hand bulb. Opened now,
# before the flash becomes the filesystem root. Every BENCH_MS of simulated time the gauge file
# gets "MANIFOLD_MMHG BOARD_MS CHAMBER1_MMHG ...": the true pressures (what a person's gauge and
# hands find), and a new line "SEQ MMHG" in the bulb file pumps the manifold to MMHG by hand
# (commission/virtual.py: the calibration's bulb).
BENCH_MS = 100
_bench = [None, None, b"", 0]           # gauge file, bulb file, last bulb line, next due ms
if BOOT.get("bench_dir"):
    _bench[0] = open(BOOT["bench_dir"] + "/gauge", "w")
    _bench[1] = open(BOOT["bench_dir"] + "/bulb", "rb")


def _bench_step():
    if BOARD.ms < _bench[3]:
        return
    _bench[3] = BOARD.ms + BENCH_MS
    plant = BOARD.plant
    g = _bench[0]
    g.seek(0)
    g.write("%10.3f %12d" % (plant.p_manifold, BOARD.ms) +
            "".join(" %8.2f" % x for x in plant.p_chambers) + "\n")
    g.flush()
    b = _bench[1]
    b.seek(0)
    line = b.read(64).strip()
    if line and line != _bench[2]:
        _bench[2] = line
        plant.bulb_to(float(line.split()[1].decode()))


def _paced_advance(ms):
    target = BOARD.ms + ms
    if target > BOOT["fast_forward_ms"]:
        if _pace[0] is None:
            _pace[0], _pace[1] = utime.ticks_ms(), BOARD.ms
        wait = utime.ticks_diff(utime.ticks_add(_pace[0], int((target - _pace[1]) / SPEED)),
                                utime.ticks_ms())
        if wait > 0:
            utime.sleep_ms(wait)
    _advance(ms)
    if _bench[0] is not None:
        _bench_step()


BOARD.advance = _paced_advance

# A program that polls the console's stdin (maintlink.py): the host passes the serial line's
# bytes to stdin while it runs ("W"), once an execution (the host ends it with the execution)
_stdin_told = [False]


def _stdin_wanted():
    if not _stdin_told[0]:
        _stdin_told[0] = True
        _ctl("W\n")


simctx.on_stdin_poll = _stdin_wanted

# The hardware watchdog outlives the program that started it: once machine.WDT runs, the
# chip resets unless fed, at the REPL too and across a soft reset (the host keeps its timer).
WDT_MS = [BOOT["wdt_ms"]]
_WDT = machine.WDT


class _WDTWatched(_WDT):
    def __init__(self, id=0, timeout=5000):
        super().__init__(id, timeout)
        WDT_MS[0] = timeout


machine.WDT = _WDTWatched


def _ctl(text):
    CTL.write(text.encode())


def _soft_reset():
    raise SystemExit


machine.soft_reset = _soft_reset        # machine.reset() is the simulator's: BoardReset


class _Implementation:
    """What the chip says it is: the version is the interpreter's own; the name, the machine
    and the .mpy architecture are those of the ESP32 the board stands in for (an honest
    'Virtual' in the machine string)."""

    def __init__(self, real, ident):
        self.name = ident.get("name", real.name)
        v = ident.get("version")
        self.version = tuple(v) if v else real.version
        self._machine = ident["machine"]
        mpy = real._mpy
        # keep the bytecode version and sub-version, present the chip's native architecture
        self._mpy = (mpy & 0x3FF) | (ident["arch"] << 10)
        self._build = ident.get("build", "ESP32_GENERIC")
        self._thread = getattr(real, "_thread", None)

    def __repr__(self):
        return "(name='%s', version=%r, _machine='%s', _mpy=%d, _build='%s')" % (
            self.name, self.version, self._machine, self._mpy, self._build)


class _Sys:
    """`import sys` in code on the virtual board finds this: the real sys, except for what
    the board presents (sys.implementation, sys.platform)."""

    def __getattr__(self, name):
        return getattr(_sys, name)


def _banner(impl):
    v = impl.version
    tag = "-" + v[3] if len(v) > 3 and v[3] else ""
    date = _sys.version.split(" on ")[-1] if " on " in _sys.version else "?"
    return "MicroPython v%d.%d.%d%s on %s; %s" % (v[0], v[1], v[2], tag, date, impl._machine)


_fake = _Sys()
_fake.implementation = _Implementation(_sys.implementation, BOOT["identity"])
_fake.platform = BOOT["identity"].get("platform", "esp32")
BANNER = _banner(_fake.implementation)

# The flash directory becomes "/", the working directory "/", and the module path the ESP32's.
os.umount("/")
os.mount(os.VfsPosix(BOOT["flash"]), "/")
os.chdir("/")
_sys.path[:] = ["", ".frozen", "/lib"]
_sys.modules["sys"] = _fake



class _Os:
    """`import os` finds this: the real os, except that ilistdir gives the size as its fourth
    item, as the ESP32's littlefs does (mpremote's `ls` shows it)."""

    def __getattr__(self, name):
        return getattr(_os, name)

    def ilistdir(self, path="."):
        for entry in _os.ilistdir(path):
            try:
                size = _os.stat((path.rstrip("/") + "/" if path != "." else "") + entry[0])[6]
            except OSError:
                size = 0
            yield (entry[0], entry[1], entry[2], size if entry[1] == 0x8000 else 0)


_os = os
_sys.modules["os"] = _Os()

# Loading a module from flash takes time on a chip (an ESP32 needs several ms per .mpy): each
# first import of a flash module takes import_ms of wall time here. It also gives main.py the
# interruptible start-up a chip's has, before the firmware starts its watchdog.
import builtins  # noqa: E402
_import = builtins.__import__


NO_NETWORK = ("no module named 'network': the virtual ESP32 (tools/vesp32.py) has no Wi-Fi; "
              "to try the boot with MQTT, run the simulator with secrets.json in its flash "
              "directory: boot-sim run --flash DIR --pace 1 (docs/MQTT.md)")


def _timed_import(name, *args):
    if name == "network":       # not the simulator's (sim/device/network.py): none here
        raise ImportError(NO_NETWORK)
    new = name not in _sys.modules
    module = _import(name, *args)
    if new and BOOT["import_ms"] and hasattr(module, "__file__"):
        utime.sleep_ms(BOOT["import_ms"])
    return module


builtins.__import__ = _timed_import
G = {"__name__": "__main__"}


def _format(e):
    """The exception as the REPL prints it, without this driver's own frames."""
    try:
        import io
        buf = io.StringIO()
        _sys.print_exception(e, buf)
        lines = buf.getvalue().split("\n")
    except Exception:
        lines = ["%s: %s" % (type(e).__name__, e), ""]
    return "\n".join(x for x in lines if ME not in x)


def _run(source, kind, name="<stdin>"):
    """Execute; return None, the exception text, SystemExit (soft reboot) or a BoardReset."""
    _stdin_told[0] = False
    try:
        exec(compile(source, name, kind), G)
    except SimEnd:
        return "the virtual board's simulated time is up\n"
    except BoardReset as e:
        return e
    except SystemExit:
        return SystemExit
    except BaseException as e:  # noqa: B036  (KeyboardInterrupt too: it ends the program)
        return _format(e)
    return None


def _run_file(name):
    try:
        with open(name) as f:
            source = f.read()
    except OSError:
        return None
    return _run(source, "exec", name)


def _boot():
    # asyncio on the board's continuous clock, the firmware on the chip's ticks (chipclock.py)
    chipclock.loop_on_host_clock(BOARD, utime.ticks_diff, utime.ticks_add)
    for name in ("boot.py", "main.py") if BOOT["run_main"] else ("boot.py",):
        err = _run_file(name)
        if _ended(err):
            return False
        if err:
            print(err, end="")
    return True


def _ended(err):
    """A soft reboot or a reset ends this interpreter: tell the host which."""
    if err is SystemExit:
        _ctl("X\n")
        return True
    if isinstance(err, BoardReset):
        _ctl("R %d\n" % err.cause)
        return True
    return False


def _read(n):
    data = b""
    while len(data) < n:
        chunk = _sys.stdin.buffer.read(n - len(data))
        if not chunk:
            raise SystemExit        # the host has gone: end this process
        data += chunk
    return data


def _serve():
    while True:
        try:
            header = _sys.stdin.buffer.readline()
        except KeyboardInterrupt:   # a Ctrl-C that arrived after the code had finished
            continue
        if not header:
            return
        if not header.startswith(b"E "):
            continue            # a line of the serial's passed to a program that has ended
        _, kind, n = header.decode().split()
        source = _read(int(n)).decode()
        try:
            err = _run(source, kind)
        except KeyboardInterrupt:
            err = "KeyboardInterrupt: \n"
        if _ended(err):
            return
        text = (err or "").encode()
        CTL.write(b"D %d\n" % len(text) + text)


def main():
    try:
        _ctl("B\n")
        ok = _boot()
    except KeyboardInterrupt:
        ok = True
    if not ok:
        return
    _ctl("I %d %s\n" % (WDT_MS[0], BANNER))
    _serve()


main()
