# Benchmark helpers that run inside the simulated device process, under the MicroPython unix
# port (`boot-sim bench`, sim/bench.py). MICROPYPATH as for run.py (mpshim, firmware, sim/device,
# .frozen); the working directory is a scratch flash.
#
#   micropython -X heapsize=1M bench_mp.py alloc CONFIG.json     heap per control tick
#   micropython bench_mp.py footprint MOD1 MOD2 ... (or MOD1,MOD2,...) heap each module holds
#   (bench_boot/main.py calls session_heap() inside a normal simulated session)
#
# Heap allocated per control tick in steady state. The firmware's App runs on the virtual board,
# stepped tick by tick as its asyncio tasks would (sim/harness.py does the same under CPython):
# board.advance(10 ms), App.tick, App.supervise every 5th tick, App.service every 10th.
#
# What is counted, and how:
# - micropython.mem_current(): bytes requested from the heap and not explicitly freed. Its change
#   across a call is what the call left on the heap (garbage or kept): what brings the next GC
#   pause closer. Constant time, where gc.mem_alloc() walks the heap's whole allocation table.
# - micropython.mem_total(): every byte requested, including blocks the VM frees again before
#   the call returns (the frames of functions with more than 11 words of locals and stack, which
#   MicroPython puts on the heap; the same rule holds on the ESP32). Reported as "transient".
# - gc.mem_alloc() with gc.disable(), before and after every App.tick of the window: the same
#   as the first, rounded to the heap's blocks (32 bytes here, 16 on the ESP32): a cross-check.
# The simulated `machine` layer (Pin.value, ADC.read_uv, WDT.feed) is C code on the ESP32; here
# it is Python over the plant. Each tick's ADC readings are taken from the plant just before the
# tick (the plant does not move within a tick, so they are the same readings in the same order)
# and handed out from a buffer during it; what the layer still allocates is metered and
# subtracted from every firmware figure. The plant's own advance between ticks is measured on
# its own and never counted as the firmware's.
#
# Three passes over the same deterministic run: "tick" meters only App.tick, App.supervise and
# App.service (so no meter runs inside them); "parts" meters the pieces of the tick; "self"
# meters every method of the firmware's objects with the bytes it allocated itself, less its
# metered callees' (which method allocates). Prints one JSON line:
# {"bench_alloc": {"tick": {...}, "parts": {...}, "self": {...}}}.
import gc
import json
import sys

import micropython
import utime

mem_current = micropython.mem_current
mem_total = micropython.mem_total
mem_alloc = gc.mem_alloc

_N = object()           # "argument not given" (calls are positional only: no tuple, no dict)
_EXN = [0]              # net bytes allocated inside the simulated machine layer
_EXG = [0]              # gross bytes allocated there


def _new_acc():
    # net bytes, transient bytes, calls, largest net call, calls with net allocation
    return [0, 0, 0, 0, 0]


def _meter(func, obj, acc):
    """A function standing in for obj.<func>: calls func(obj, ...) and adds what the call
    allocated, less the simulated machine layer's share, to acc (see _new_acc). Calls are
    positional, up to 11 arguments. What the meter's own frame costs falls outside its window
    (checked by the calibration)."""
    def w(a=_N, b=_N, c=_N, d=_N, e=_N, f=_N, g=_N, h=_N, i=_N, j=_N, k=_N):
        xn = _EXN[0]
        xg = _EXG[0]
        g0 = mem_total()
        n0 = mem_current()
        if a is _N:
            r = func(obj)
        elif b is _N:
            r = func(obj, a)
        elif c is _N:
            r = func(obj, a, b)
        elif d is _N:
            r = func(obj, a, b, c)
        elif e is _N:
            r = func(obj, a, b, c, d)
        elif f is _N:
            r = func(obj, a, b, c, d, e)
        elif g is _N:
            r = func(obj, a, b, c, d, e, f)
        elif h is _N:
            r = func(obj, a, b, c, d, e, f, g)
        elif i is _N:
            r = func(obj, a, b, c, d, e, f, g, h)
        elif j is _N:
            r = func(obj, a, b, c, d, e, f, g, h, i)
        elif k is _N:
            r = func(obj, a, b, c, d, e, f, g, h, i, j)
        else:
            r = func(obj, a, b, c, d, e, f, g, h, i, j, k)
        net = mem_current() - n0 - (_EXN[0] - xn)
        acc[0] += net
        acc[1] += mem_total() - g0 - (_EXG[0] - xg) - net
        acc[2] += 1
        if net > acc[3]:
            acc[3] = net
        if net:
            acc[4] += 1
        return r
    return w


_STACK = [0] * 64       # per call depth: what the metered callees of that call allocated
_DEPTH = [0]
_IN_TICK = [False]      # an App.tick is running (the self pass also counts bytes in ticks)


def _self_meter(func, obj, acc):
    """Like _meter, but adds only the call's own bytes: what it allocated less what its metered
    callees did (so the method that allocates is the one that shows)."""
    def w(a=_N, b=_N, c=_N, d=_N, e=_N, f=_N, g=_N, h=_N, i=_N, j=_N, k=_N):
        dep = _DEPTH[0]
        _STACK[dep] = 0
        _DEPTH[0] = dep + 1
        xn = _EXN[0]
        n0 = mem_current()
        try:
            if a is _N:
                r = func(obj)
            elif b is _N:
                r = func(obj, a)
            elif c is _N:
                r = func(obj, a, b)
            elif d is _N:
                r = func(obj, a, b, c)
            elif e is _N:
                r = func(obj, a, b, c, d)
            elif f is _N:
                r = func(obj, a, b, c, d, e)
            elif g is _N:
                r = func(obj, a, b, c, d, e, f)
            elif h is _N:
                r = func(obj, a, b, c, d, e, f, g)
            elif i is _N:
                r = func(obj, a, b, c, d, e, f, g, h)
            elif j is _N:
                r = func(obj, a, b, c, d, e, f, g, h, i)
            elif k is _N:
                r = func(obj, a, b, c, d, e, f, g, h, i, j)
            else:
                r = func(obj, a, b, c, d, e, f, g, h, i, j, k)
        finally:
            net = mem_current() - n0 - (_EXN[0] - xn)
            _DEPTH[0] = dep
            own = net - _STACK[dep]
            if dep:
                _STACK[dep - 1] += net
            acc[0] += own
            if _IN_TICK[0]:
                acc[1] += own
            acc[2] += 1
            if own > acc[3]:
                acc[3] = own
            if own:
                acc[4] += 1
        return r
    return w


def _firmware_objects(app, hw):
    """The firmware's objects the control path uses: the App, the Hardware, and every object of
    a firmware class they hold (not the simulated machine layer's)."""
    import machine
    skip = tuple(getattr(machine, c) for c in ("Pin", "ADC", "WDT", "I2C") if
                 hasattr(machine, c)) + (int, float, str, bytes, bytearray, bool, list, tuple,
                                         dict, type(None))
    found = [app, hw]
    for owner in (app, hw):
        for name in dir(owner):
            if name.startswith("__"):
                continue
            v = getattr(owner, name)
            t = type(v)
            if t in skip or t.__name__ in ("function", "bound_method", "closure", "module",
                                           "type", "generator"):
                continue
            if v not in found and hasattr(t, "__dict__"):
                found.append(v)
    return found


def _excluded(func):
    """For a method of the simulated machine layer (patched on its class): its allocation is
    the simulator's, added to _EXN/_EXG. Small on purpose: its frame stays on the C stack."""
    def w(self, a=_N):
        g = mem_total()
        n = mem_current()
        r = func(self) if a is _N else func(self, a)
        _EXN[0] += mem_current() - n
        _EXG[0] += mem_total() - g
        return r
    return w


def _excluded3(func):
    """_excluded for I2C.writeto(addr, buf[, stop]) (the display, in the service task). Its
    larger frame goes on the heap: a transient cost to its caller, never a net one."""
    def w(self, a, b, c=True):
        g = mem_total()
        n = mem_current()
        r = func(self, a, b, c)
        _EXN[0] += mem_current() - n
        _EXG[0] += mem_total() - g
        return r
    return w


class _AdcFeed:
    """The ADC readings of one tick, taken from the plant before the tick."""

    def __init__(self, read_uv):
        self.read_uv = read_uv      # the simulated machine.ADC.read_uv
        self.buf = [0] * 64
        self.n = 0
        self.i = 0
        self.want = 4
        self.short = 0              # reads the buffer did not cover (went to the plant)
        self.adc = None

    def fill(self):
        # as many as the last tick took (the firmware's oversampling), read now
        if self.i > 0:
            self.want = min(self.i, len(self.buf))
        self.n = self.want if self.adc is not None else 0
        for k in range(self.n):
            self.buf[k] = self.read_uv(self.adc)
        self.i = 0

    def read(self, adc):
        self.adc = adc
        i = self.i
        self.i = i + 1
        if i < self.n:
            return self.buf[i]
        self.short += 1
        return self.read_uv(adc)


_FEED = [None]


def _fed_read_uv(self):
    return _FEED[0].read(self)


# the simulated machine layer's methods the firmware calls while it runs, and their meters
_MACHINE = (("Pin", "value", _excluded), ("WDT", "feed", _excluded),
            ("I2C", "writeto", _excluded3))


def _install_machine_meters():
    import machine
    _FEED[0] = _AdcFeed(machine.ADC.read_uv)
    machine.ADC.read_uv = _excluded(_fed_read_uv)
    for cls, name, meter in _MACHINE:
        c = getattr(machine, cls, None)
        if c is not None and name in c.__dict__:
            setattr(c, name, meter(c.__dict__[name]))


def _calibrate():
    """Meters must add nothing of their own: a metered no-op reads 0, and a call through an
    excluded (machine layer) wrapper costs its caller nothing."""
    class Nop:
        def nop(self, a, b, c, d, e, f, g, h, i):
            return a

        def small(self, a):
            return a

    acc = _new_acc()
    o = Nop()
    nop = _meter(Nop.nop, o, acc)
    small = _meter(Nop.small, o, acc)
    ex = _excluded(Nop.small)
    for _round in range(2):     # the first round warms up (one-time lookups); the second counts
        for k in range(len(acc)):
            acc[k] = 0
        g = mem_total()
        n = mem_current()
        for _ in range(50):
            ex(o, 1)
        g = mem_total() - g
        n = mem_current() - n
        for _ in range(50):
            nop(1, 2, 3, 4, 5, 6, 7, 8, 9)
            small(1)
    return {"meter_net": acc[0], "excluded_wrapper_total": g, "excluded_wrapper_net": n}


def _run(config, mode):
    import simctx
    from vboard import VirtualBoard
    import limits as L
    import board as fw_board
    import app as fw_app
    import sequencer as sq

    # the virtual clock starts close to the wrap, as in sim/harness.py
    board = VirtualBoard(config, lambda line: None, utime.ticks_add(0, -45000),
                         utime.ticks_add)
    simctx.board = board
    feed = _FEED[0]
    feed.adc = None
    feed.i = 0
    _EXN[0] = _EXG[0] = 0
    cfg = config["board"]
    events = [0]

    def emit(line):
        events[0] += 1

    hw = fw_board.Hardware(cfg)
    app = fw_app.App(cfg, hw, config["settings"], emit=emit, flash_dir="")
    app.restore(board.ticks_ms())
    hw.start_watchdog(L.WDT_TIMEOUT_MS)

    meters = {}

    def wrap(label, obj, name):
        acc = _new_acc()
        meters[label] = acc
        setattr(obj, name, _meter(getattr(type(obj), name), obj, acc))

    if mode == "self":
        for obj in _firmware_objects(app, hw):
            cls = type(obj)
            for name, val in cls.__dict__.items():
                if name.startswith("__") or type(val).__name__ != "function":
                    continue
                acc = _new_acc()
                meters[cls.__name__ + "." + name] = acc
                setattr(obj, name, _self_meter(val, obj, acc))
    else:
        wrap("App.tick", app, "tick")
        wrap("App.supervise", app, "supervise")
        wrap("App.service", app, "service")
    if mode == "parts":
        # leaves first: their transient figures are exact (no meter inside them)
        wrap("Sensor.read", app.sensor, "read")
        wrap("Supervisor.check_sample", app.sup, "check_sample")
        wrap("Supervisor.check_session", app.sup, "check_session")
        wrap("Hardware.button_pressed", hw, "button_pressed")
        wrap("Button.update", app.button, "update")
        wrap("WaveSequencer.step", app.seq, "step")
        wrap("Outputs.apply", app.outputs, "apply")
        wrap("Monitor.check", app.monitor, "check")
        wrap("Monitor.check_time_at_pressure", app.monitor, "check_time_at_pressure")
        wrap("Monitor.check_reading", app.monitor, "check_reading")
        wrap("App._indicators", app, "_indicators")
        wrap("App.event", app, "event")
        # the service task's slow work
        wrap("App.status", app, "status")
        if getattr(hw, "display", None) is not None:
            wrap("Display.draw", hw.display, "draw")
        # these contain metered calls: their transient figure includes the meters' frames
        wrap("App._control", app, "_control")
        wrap("App._report_changes", app, "_report_changes")

    bench = config.get("bench", {})
    warm_cycles = bench.get("warm_cycles", 1)
    window_ticks = bench.get("window_ticks", 0)       # 0: one whole wave
    max_ms = bench.get("max_ms", 600000)
    tick_ms = L.TICK_MS
    seq = app.seq
    tick_acc = meters["App.tick"]
    n = 0
    measuring = False
    start_cycle = 0
    t_start = 0
    ticks = 0
    plant = [0, 0]                  # bytes the plant's advance allocated, ticks
    by_phase = {}                   # phase at the tick's start: [net bytes, ticks, largest]
    quiet = [0, 0, 0, 0]            # ticks without an event: net bytes, ticks, largest, allocating
    blocks = [0, 0]                 # gc.mem_alloc() over App.tick (gc disabled): bytes, largest
    ev_before = 0
    gc.collect()
    collected = mem_total()
    while board.ms < max_ms:
        if mem_total() - collected > 300000:
            gc.collect()            # the plant's garbage; never inside a measured call
            collected = mem_total()
        m = mem_current()
        board.advance(tick_ms)      # the plant (the simulator's, never the firmware's)
        dp = mem_current() - m
        feed.fill()
        n += 1
        now = board.ticks_ms()
        if not measuring and seq.cycle >= warm_cycles + 1:
            # steady state from here: every meter starts again from zero
            measuring = True
            start_cycle = seq.cycle
            for acc in meters.values():
                for k in range(len(acc)):
                    acc[k] = 0
            events[0] = 0
            t_start = board.ms
        if measuring:
            plant[0] += dp
            plant[1] += 1
            phase = sq.PHASES[seq.phase]
            b0 = tick_acc[0]
            ev_before = events[0]
            gc.disable()
            a0 = mem_alloc()
            _IN_TICK[0] = True
        app.tick(now)
        _IN_TICK[0] = False
        if measuring:
            a1 = mem_alloc() - a0
            gc.enable()
            blocks[0] += a1
            if a1 > blocks[1]:
                blocks[1] = a1
        if n % 5 == 0:
            app.supervise(now)
        if n % 10 == 0:
            app.service(now)
        if measuring:
            ticks += 1
            tb = tick_acc[0] - b0
            slot = by_phase.get(phase)
            if slot is None:
                slot = by_phase[phase] = [0, 0, 0]
            slot[0] += tb
            slot[1] += 1
            if tb > slot[2]:
                slot[2] = tb
            if events[0] == ev_before:
                quiet[0] += tb
                quiet[1] += 1
                if tb > quiet[2]:
                    quiet[2] = tb
                if tb:
                    quiet[3] += 1
            if window_ticks and ticks >= window_ticks:
                break
            if not window_ticks and seq.cycle > start_cycle:
                break
            if app.sup.tripped():
                break
    return {
        "measured": measuring,
        "fault": app.sup.fault,
        "ticks": ticks,
        "window_ms": board.ms - t_start if measuring else 0,
        "cycle": start_cycle,
        "events": events[0],
        "meters": meters,
        "plant_advance": plant,
        "by_phase": by_phase,
        "quiet_ticks": quiet,
        "gc_mem_alloc_tick": blocks,
        "machine_layer": [_EXN[0], _EXG[0]],
        "adc_reads_not_buffered": feed.short,
    }


def alloc(config):
    _install_machine_meters()
    out = {"runtime": sys.implementation.name,
           "version": sys.version,
           "word_bytes": 8 if sys.maxsize > 2 ** 32 else 4,
           "calibration": _calibrate()}
    out["tick"] = _run(config, "tick")
    out["parts"] = _run(config, "parts")
    # where: every method of the firmware's objects metered, each call's own bytes (less what
    # its metered callees allocated)
    try:
        out["self"] = _run(config, "self")
    except Exception as e:      # a call this meter cannot stand in for (keywords): say so
        out["self"] = {"error": repr(e)}
    print(json.dumps({"bench_alloc": out}))


# --- peak heap during a whole session -------------------------------------------------------
# sim/device/bench_boot/main.py stands in for the firmware's main.py in a normal `boot-sim run`
# device process (run.py; MICROPYPATH puts bench_boot first) and calls session_heap(), which
# watches the heap while the real firmware's main.py runs under asyncio as usual.
#
# Whenever the virtual clock is about to move (the event loop has nothing to run, so the
# firmware is between task steps) and the firmware has allocated since the last look
# (micropython.mem_current, less the simulated machine layer), the heap is collected and
# gc.mem_alloc() read: the live heap at that instant. The base (the simulator: plant, virtual
# board, run.py) is read the same way before anything of the firmware is loaded, and subtracted.

def _load_mqtt(mode):
    """Import the MQTT client the way the device would have it; returns what was loaded."""
    why = ""
    if mode == "telemetry":
        try:
            import telemetry  # noqa: F401  (firmware/telemetry.py, loaded by main.py)
            from umqtt.simple import MQTTClient  # noqa: F401  (telemetry imports it later)
            return "firmware/telemetry.py and umqtt.simple"
        except Exception as e:      # fall back to the bare client, and say why
            why = "firmware/telemetry.py failed to import (%r); " % e
            mode = "umqtt"
    if mode == "umqtt":
        from umqtt.simple import MQTTClient
        # a client object as telemetry would make one; no broker: it never connects
        _KEEP.append(MQTTClient("boot-bench", "127.0.0.1", keepalive=30))
        return why + "umqtt.simple imported and one MQTTClient made (not connected)"
    return "none"


_KEEP = []
BOOT_LOOK_MS = 3000     # looks before this include the imports (and their compile garbage)
LOOK_EVERY_MS = 50      # collect and read the live heap at most this often...
LOOK_BURST = 2048       # ...unless the firmware allocated this much since the last reading


def session_heap(firmware_main, mqtt_mode):
    import simctx
    # the simulator's stand-ins for built-in modules (C on the ESP32) belong to the base
    for name in SIM_MODULES:
        try:
            __import__(name)
        except ImportError:
            pass
    _install_excluded_layer()
    board = simctx.board
    gc.collect()
    # run.py loaded asyncio before the firmware (to put it on the host's clock: chipclock.py),
    # and the firmware's flashfs and console (the simulator patches them), and measured them:
    # they are the firmware's, so they come off the base
    base = mem_alloc() - getattr(simctx, "asyncio_bytes", 0) - \
        getattr(simctx, "firmware_preloaded", 0)
    # asyncio is the firmware's whatever the network does: loaded first, so it is not counted
    # as the MQTT client's (it stays in the firmware's figure, above the base)
    import asyncio  # noqa: F401
    gc.collect()
    m0 = mem_alloc()
    before = [k for k in sys.modules]
    loaded = _load_mqtt(mqtt_mode)
    mqtt_modules = [k for k in sys.modules if k not in before]
    gc.collect()
    st = {"base": base, "mqtt_bytes": mem_alloc() - m0, "mqtt": loaded,
          "mqtt_modules": mqtt_modules,
          "peak_live": 0, "peak_live_ms": 0, "peak_bound": 0, "boot_live": 0, "boot_burst": 0,
          "peak_live_running": 0, "peak_burst_running": 0, "samples": 0, "looks": 0,
          "allocated_running": 0, "heapsize": mem_alloc() + gc.mem_free(),
          "min_free": gc.mem_free(), "min_free_ms": 0,
          "word_bytes": 8 if sys.maxsize > 2 ** 32 else 4}
    # [mem_current at the last look, machine layer's bytes then, allocated since the last
    #  reading, live heap at the last reading, time of the last reading]
    last = [mem_current(), _EXN[0], 0, 0, -LOOK_EVERY_MS]
    orig = board.advance

    def advance(ms):
        st["looks"] += 1
        fw = mem_current() - last[0] - (_EXN[0] - last[1])
        if fw > 0:
            last[2] += fw
            if board.ms < BOOT_LOOK_MS:
                if fw > st["boot_burst"]:
                    st["boot_burst"] = fw
            else:
                st["allocated_running"] += fw
                if fw > st["peak_burst_running"]:
                    st["peak_burst_running"] = fw
        if last[2] and (board.ms - last[4] >= LOOK_EVERY_MS or last[2] >= LOOK_BURST):
            # what was live before + what the firmware allocated since: a bound on the live
            # heap at any instant in between
            bound = last[3] + last[2]
            if bound > st["peak_bound"]:
                st["peak_bound"] = bound
            gc.collect()
            live = mem_alloc() - base
            free = gc.mem_free()    # under a heap cap (heapcap.py): the firmware's own free
            if free < st["min_free"]:
                st["min_free"] = free
                st["min_free_ms"] = board.ms
            st["samples"] += 1
            if live > st["peak_live"]:
                st["peak_live"] = live
                st["peak_live_ms"] = board.ms
            if board.ms < BOOT_LOOK_MS:
                st["boot_live"] = live
                st["peak_bound"] = 0        # the imports' compile garbage is not the session's
            elif live > st["peak_live_running"]:
                st["peak_live_running"] = live
            last[2] = 0
            last[3] = live
            last[4] = board.ms
        orig(ms)
        last[0] = mem_current()
        last[1] = _EXN[0]

    board.advance = advance
    try:
        with open(firmware_main) as f:
            src = f.read()
        exec(src, {"__name__": "__main__"})
    finally:
        board.advance = orig
        gc.collect()
        end_live = mem_alloc() - base       # small ints: nothing allocated
        end_ms = board.ms
        if "heapcap" in sys.modules:        # the report is the simulator's, not the chip's
            sys.modules["heapcap"].lift()
        st["end_live"] = end_live
        st["end_ms"] = end_ms
        st["modules"] = [k for k in sys.modules]
        print("BENCH " + json.dumps({"session_heap": st}))


# the simulator's stand-ins for the ESP32's built-in modules, and its own modules
SIM_MODULES = ("simctx", "vboard", "plant", "simopts", "machine", "time", "select", "socket",
               "network")


def footprint(modules):
    """Heap each module holds once imported (code, constants, globals), imported one by one in
    the order given (each after what it imports), after the simulator's own modules."""
    import simctx  # noqa: F401
    for name in SIM_MODULES:
        try:
            __import__(name)
        except ImportError:
            pass
    gc.collect()
    before = mem_alloc()
    sizes = {}
    failed = {}
    for name in modules:
        gc.collect()
        a = mem_alloc()
        try:
            __import__(name)
        except Exception as e:
            failed[name] = repr(e)
            continue
        gc.collect()
        sizes[name] = mem_alloc() - a
    gc.collect()
    total = mem_alloc() - before
    extra = {}
    for name in ("umqtt.simple",):
        gc.collect()
        a = mem_alloc()
        try:
            __import__(name)
            gc.collect()
            extra[name] = mem_alloc() - a
        except Exception as e:
            failed[name] = repr(e)
    print(json.dumps({"bench_footprint": {"modules": sizes, "firmware_total": total,
                                          "libraries": extra, "failed": failed}}))


def _install_excluded_layer():
    # the simulated machine layer's allocations (the plant's floats behind ADC.read_uv) are
    # the simulator's: counted aside (on the ESP32 these are C functions returning small ints)
    import machine
    if getattr(machine.ADC, "_bench", False):
        return
    machine.ADC.read_uv = _excluded(machine.ADC.read_uv)
    for cls, name, meter in _MACHINE:
        c = getattr(machine, cls, None)
        if c is not None and name in c.__dict__:
            setattr(c, name, meter(c.__dict__[name]))
    machine.ADC._bench = True


def main():
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "alloc":
        with open(arg) as f:
            alloc(json.load(f))
    elif mode == "footprint":
        # one argument per module, or several to one argument: the unix port fails (a fatal
        # "uncaught NLR") on an argument of 256 characters or more
        footprint(",".join(sys.argv[2:]).split(","))
    else:
        raise SystemExit("bench_mp: unknown mode %r" % mode)


if __name__ == "__main__":
    main()
