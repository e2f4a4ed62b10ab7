# Child process of `boot-sim run`: boots the real firmware (its main.py, as the device does) on
# a virtual board, in MicroPython or CPython, until the scenario's time is up.
#   micropython run.py CONFIG.json      (MICROPYPATH: mpshim, firmware, sim/device, .frozen)
#   python3 run.py CONFIG.json          (sys.path set by the caller the same way, minus mpshim)
# The working directory is the virtual flash: board.json and settings.json are read from it.
import sys
import json

MICROPYTHON = sys.implementation.name == "micropython"

if MICROPYTHON:
    import utime
    start_ticks = utime.ticks_ms()      # the C task queue stamps new tasks with real ticks
    ticks_add = utime.ticks_add
else:
    import cpython_rt
    start_ticks = cpython_rt.TICKS_PERIOD - 45000   # ticks wrap 45 s into the run
    ticks_add = cpython_rt.ticks_add

import simctx
from vboard import VirtualBoard, SimEnd


def emit(line):
    print(line)


def main():
    with open(sys.argv[1]) as f:
        config = json.load(f)
    board = VirtualBoard(config, emit, start_ticks, ticks_add)
    simctx.board = board
    if not MICROPYTHON:
        cpython_rt.install(board)
    emit("@sim " + json.dumps({"sim": "boot", "t_ms": board.ms,
                               "runtime": sys.implementation.name}))
    try:
        import main as firmware_main  # noqa: F401  (runs the firmware, as at power-up)
        why = "the firmware's main.py returned"
    except SimEnd:
        why = None
    except Exception as e:  # the firmware stopped with an error: report it, keep the plant going
        why = "the firmware stopped with %s: %s" % (type(e).__name__, e)
    if why:
        emit("@sim " + json.dumps({"sim": "firmware_exit", "t_ms": board.ms, "why": why}))
        board.run_out()
    emit("@sim " + json.dumps({"sim": "end", "t_ms": board.ms}))


main()
