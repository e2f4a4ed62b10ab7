# The device process's entry under a heap cap (sim/session.py; the 32-bit MicroPython only):
#   micropython mpstart.py CONFIG.json CAP_BYTES
# Before any simulator code, the firmware's heap is taken whole (what the interpreter holds
# already is the chip's too, and counts in it); the simulator sets itself up in the rest, which
# heapcap.install() then fills, and the firmware's heap is let go, untouched, just before the
# firmware boots (sim/device/heapcap.py). Then sim/device/run.py runs as usual.
import gc
import sys
gc.collect()
_held = gc.mem_alloc()
import heapcap  # noqa: E402
heapcap.hold(_held, int(sys.argv[2]))
import run  # noqa: E402,F401
