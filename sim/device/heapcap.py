# The chip's heap in the simulated device (the 32-bit MicroPython only): a scenario's
# "chip": {"heap_kb": N} leaves the firmware N KB of heap, what MicroPython itself holds at
# start-up included (as on the chip), so a MemoryError comes where it would on the chip.
#
# The simulator (plant, virtual board, the stand-ins for machine/time/select/socket/network)
# shares the process and its heap. sim/session.py starts the process with N KB plus a reserve;
# mpstart.py takes the firmware's N KB as one block before any simulator code runs (hold), so
# it is whole and untouched, as the chip's heap is at boot; the simulator sets itself up in the
# reserve; install() then fills what is left of the reserve and lets the firmware's block go.
# From then on the free heap is the firmware's N KB, to a 16-byte block. How honest that is
# (docs/PLANT.md, "The chip's heap"):
# - the simulator's objects made before install() are outside the N; what it allocates later
#   (the plant's boxed floats and big ints every step, a sample line) comes out of the N: that
#   garbage is collected like the firmware's, and at any instant it holds at most one step's
#   worth (the bench measures it), so a MemoryError can come that much early, never late;
# - the firmware and the frozen libraries run as on the chip: the firmware from .mpy files
#   (sim/chipheap.py), asyncio, ssl and umqtt.simple frozen (their code in the image, their
#   objects in the heap); the stand-ins for the chip's C modules are loaded before install().
import gc
import json

# the simulator's modules that stand in for the chip's built-in ones (C code in its image, no
# heap): loaded before install(), so their code is not taken from the firmware's share
STAND_INS = ("machine", "time", "select", "socket", "network")
STATE = {"startup_bytes": 0, "block_bytes": 0, "sim_bytes": 0, "cap_bytes": 0,
         "firmware_free_bytes": 0}
_BLOCK = []         # the firmware's block, until install()
_FILL = []          # what install() fills (slots made before the heap is full)
FILL_SLOTS = 256    # the reserve's holes, and the block's rounding (the last 8 slots)
SPARE_BYTES = 4096  # lent to the simulator while a reset forgets the old firmware
_SPARE = [None]


def hold(startup_bytes, cap_bytes):
    """mpstart.py: the firmware's block, taken first (cap_bytes less what the interpreter held
    at start-up, startup_bytes). Made and let go only in functions of their own: a pointer left
    in a live frame would keep the block from the collector (it scans the stack as it finds it)."""
    n = cap_bytes - startup_bytes - 16     # its data; with its 16-byte object block
    STATE["startup_bytes"] = startup_bytes
    STATE["block_bytes"] = n
    _BLOCK.append(bytearray(n))
    _FILL.extend([None] * FILL_SLOTS)


def _release():
    _BLOCK.pop()


def _fill(k):
    """Fill every free byte outside the firmware's block (still held), largest pieces first,
    from slot k on; returns the next free slot."""
    size = gc.mem_free()
    while size >= 16 and k < len(_FILL) - 8:
        try:
            _FILL[k] = bytearray(size)
        except MemoryError:     # no free run that long: a shorter piece
            size //= 2
            continue
        k += 1
        size = min(size, gc.mem_free())
    return k


def install(cap_bytes, emit):
    """Let the firmware's block go; from now on the free heap is cap_bytes less the start-up."""
    gc.collect()
    STATE["sim_bytes"] = gc.mem_alloc() - STATE["startup_bytes"] - STATE["block_bytes"] - 16
    STATE["cap_bytes"] = cap_bytes
    _SPARE[0] = bytearray(SPARE_BYTES)      # from the reserve, for the simulator's resets
    k = _fill(0)
    _release()          # the firmware's block: free at the next collection
    gc.collect()
    want = cap_bytes - STATE["startup_bytes"]
    while k < len(_FILL):   # what rounding left over: taken from the block's start
        extra = gc.mem_free() - want
        if extra >= 48:
            _FILL[k] = bytearray(extra - 32)
        elif extra >= 16:
            _FILL[k] = k + 0.5  # a boxed float: one 16-byte block
        else:
            break
        k += 1
    gc.collect()
    STATE["firmware_free_bytes"] = gc.mem_free()
    emit("@sim " + json.dumps(dict(STATE, sim="heap_cap")))


def reset_begins():
    """A reset: the simulator forgets the old firmware's modules, which takes a list and some
    dictionary work while the old firmware's objects (a heap it filled, perhaps) are still
    referenced. The spare from the reserve is lent for it: on the chip a reset needs no heap."""
    _SPARE[0] = None
    gc.collect()


def reset_done():
    """The old firmware's objects are collected: the spare goes back out of the heap (its whole
    share free again), so the next boot has the cap's heap as the first one had."""
    gc.collect()
    _SPARE[0] = bytearray(SPARE_BYTES)


def lift():
    """The firmware has stopped (its objects stay referenced): the simulator gets the filled
    reserve back, to run the plant on to the run's end."""
    for k in range(len(_FILL)):
        _FILL[k] = None
    gc.collect()
