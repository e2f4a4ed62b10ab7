# Child process of `boot-sim run`: boots the real firmware (its main.py, as the device does) on
# a virtual board, in MicroPython or CPython, until the scenario's time is up.
#   micropython run.py CONFIG.json      (MICROPYPATH: mpshim, firmware, sim/device, .frozen)
#   python3 run.py CONFIG.json          (sys.path set by the caller the same way, minus mpshim)
# The working directory is the virtual flash: board.json and settings.json are read from it.
# A reset (watchdog, brown-out) throws the running firmware away and boots main.py afresh.
import gc
import sys
import json

MICROPYTHON = sys.implementation.name == "micropython"

if MICROPYTHON:
    import utime
    # The C task queue stamps new tasks with the real ticks_ms. Starting the virtual clock a
    # minute ahead of the real one makes such tasks simply due, whatever the real time is, so
    # runs are repeatable; the simulation outruns real time from then on.
    start_ticks = utime.ticks_add(utime.ticks_ms(), 60000)
    ticks_add = utime.ticks_add
else:
    import cpython_rt
    start_ticks = 0             # the event loop's clock: board.ms (cpython_rt._Loop.time)
    ticks_add = cpython_rt.ticks_add

import simctx
from vboard import VirtualBoard, SimEnd, BoardReset


def emit(line):
    print(line)


def _where(e):
    """The innermost firmware line of e's traceback, as the chip's console would show it."""
    import io
    buf = io.StringIO()
    if MICROPYTHON:
        sys.print_exception(e, buf)
    else:
        import traceback
        traceback.print_exception(type(e), e, e.__traceback__, file=buf)
    lines = [x.strip() for x in buf.getvalue().split("\n") if x.strip().startswith("File ")]
    return lines[-1] if lines else ""


def boot_firmware(board):
    """Run main.py until the run ends (True) or the firmware stops by itself (False)."""
    try:
        if MICROPYTHON:
            import chipclock
            gc.collect()
            before = gc.mem_alloc()
            chipclock.loop_on_host_clock(board, utime.ticks_diff, utime.ticks_add)
            gc.collect()
            simctx.asyncio_bytes = gc.mem_alloc() - before  # the firmware's (bench_mp.py)
        import main  # noqa: F401  (runs the firmware, as at power-up)
        why = "the firmware's main.py returned"
    except SimEnd:
        return True
    except Exception as e:  # the firmware stopped with an error: report it, keep the plant going
        why = "the firmware stopped with %s: %s" % (type(e).__name__, e)
        if "heapcap" in sys.modules:
            sys.modules["heapcap"].lift()   # the chip would have reset; the plant runs on
        where = _where(e)
        if where:
            why += " (" + where + ")"
    if "heapcap" in sys.modules:
        sys.modules["heapcap"].lift()
    emit("@sim " + json.dumps({"sim": "firmware_exit", "t_ms": board.ms, "why": why}))
    board.run_out()
    return False


def main():
    with open(sys.argv[1]) as f:
        config = json.load(f)
    board = VirtualBoard(config, emit, start_ticks, ticks_add)
    simctx.board = board
    import simopts     # opt-in: real-time pacing, tick-gap meter, simulated network
    simopts.install(board, config, emit)
    if not MICROPYTHON:
        cpython_rt.install(board)
    import flashmodel  # the flash and the console take the chip's time
    cap = (config.get("chip") or {}).get("heap_kb")
    if cap and MICROPYTHON:
        # the simulator's stand-ins for the chip's built-in modules (C on the chip: no heap)
        # and the bench's helpers load now, outside the firmware's share; the firmware's
        # modules that flashmodel patches (flashfs, console) after, inside it
        import heapcap
        for name in heapcap.STAND_INS + tuple(config.get("sim_preload", ())):
            __import__(name)
        heapcap.install(int(cap * 1024), emit)  # the firmware's heap from here on
    for name in config.get("sim_preload", ()):
        __import__(name)
    if MICROPYTHON:     # the firmware's modules flashmodel patches load now: what they hold
        gc.collect()    # is the firmware's (bench_mp.py counts it so)
        before = gc.mem_alloc()
        import flashfs  # noqa: F401
        import console  # noqa: F401
        gc.collect()
        simctx.firmware_preloaded = gc.mem_alloc() - before
    flashmodel.install_flash()
    flashmodel.install_console(emit)
    preloaded = set(sys.modules)
    emit("@sim " + json.dumps({"sim": "boot", "t_ms": board.ms,
                               "runtime": sys.implementation.name}))
    while True:
        try:
            boot_firmware(board)
            break
        except BoardReset:
            capped = sys.modules.get("heapcap")
            if capped:
                capped.reset_begins()
            # forget every module the firmware loaded (asyncio's queues included, under
            # MicroPython) so the next boot starts from nothing, as a real reset does
            for name in list(sys.modules):
                if name not in preloaded:
                    del sys.modules[name]
            gc.collect()        # the old firmware's objects go while the chip is still reset
            if capped:
                capped.reset_done()
            board.power_up()
            emit("@sim " + json.dumps({"sim": "boot", "t_ms": board.ms,
                                       "runtime": sys.implementation.name}))
    if "heapcap" in sys.modules:
        # the firmware's heap as the run ends, collected (a run's figure that must not depend
        # on where the checkout lies: host_tests/test_chip_runtime.py)
        gc.collect()
        emit("@sim " + json.dumps({"sim": "heap_end", "t_ms": board.ms,
                                   "free_bytes": gc.mem_free()}))
        sys.modules["heapcap"].lift()   # the run is over: the reports are the simulator's
    if board.oled_addr is not None:
        emit("@sim " + json.dumps({"sim": "screen", "t_ms": board.ms,
                                   "frames": board.oled_frames, "ram": board.screen_hex()}))
    emit("@sim " + json.dumps(dict(board.chipio.report(), sim="chipio", t_ms=board.ms)))
    emit("@sim " + json.dumps({"sim": "end", "t_ms": board.ms}))


main()
if not MICROPYTHON:
    # End now: interpreter shutdown would run finalisers of firmware objects from before a
    # reset (asyncio reports a dead task's exception when it is collected), which a reset chip
    # never runs.
    import os
    sys.stdout.flush()
    os._exit(0)
