# The chip's tick counter, as the virtual board gives it to the firmware. Runs in both runtimes.
#
# On the ESP32 and the ESP32-S3, time.ticks_ms() and ticks_us() wrap at 2**30 (the port's
# MICROPY_PY_TIME_TICKS_PERIOD: the largest small int) and ticks_diff() is right only for ages
# under 2**29 ms (6.2 days): a timestamp kept longer reads as negative, then as young again. The
# unix port's period is 2**62 and CPython has none, so both runtimes use this module instead:
# the firmware's `time` (mpshim/time.py, cpython_rt.py) counts with the chip's period.
#
# The counter starts at power-on at "uptime_s" of the scenario's "chip" section (by default 45 s
# before the wrap, so every run crosses it early: harsher than the chip, which starts at 0), and
# starts there again after every reset, as the chip's restarts at 0.

PERIOD = {"esp32": 1 << 30, "esp32s3": 1 << 30}
DEFAULT_UPTIME_MS = (1 << 30) - 45000
# the "idle" action jumps the counter by S in steps each past half a period (see jump_steps)
IDLE_ROUND_MS = 200
IDLE_SETTLE_MS = 120000    # ... once the pump and valves have been at rest this long (the longest
#                            let-down after a session, and the other waits, have run out) ...
IDLE_QUIET_MS = 300         # ... and the dump this long (idle's probes shut it every 1.8 s)
IDLE_WAIT_MS = 240000       # ... or this long after the action's time, settled or not


def make_diff(period):
    """ticks_diff and ticks_add with the chip's period (MicroPython's extmod/modtime.c: the
    same results, the same refusals). On the chip they are C and allocate nothing; here, on a
    32-bit MicroPython, a sum past 2**30 would be a heap-allocated long int every call, counted
    as the firmware's garbage (boot-sim bench, row 1): so tick values (0 to the period) are
    worked on without leaving the small-int range (which ends below 2**30, the period)."""
    half = period >> 1
    mask = period - 1

    def ticks_diff(a, b):
        # the chip reads both as small ints (MP_OBJ_SMALL_INT_VALUE): anything past the 32-bit
        # port's small-int range gives garbage there, so it is an error here
        if 0 <= a < period and 0 <= b < period:
            d = a - b
            if d >= half:
                return d - half - half      # (the period itself is no small int: 2**30)
            if d < -half:
                return d + half + half
            return d
        if not (-period <= a < period and -period <= b < period):
            raise OverflowError("ticks_diff(%r, %r): not a tick value (the chip's small ints "
                                "end at 2**30; it would read garbage)" % (a, b))
        return ((a - b + half) & mask) - half

    def ticks_add(t, delta):
        # the chip's ticks_add refuses an interval ticks_diff could not give back
        if not -half < delta < half:
            raise OverflowError("ticks interval overflow (ticks_add(%r, %r): the chip's ticks "
                                "wrap at 2**30)" % (t, delta))
        if 0 <= t < period:
            return ((t if t < half else t - half - half) + delta) & mask
        if not -period <= t < period:
            raise OverflowError("ticks_add(%r, %r): not a tick value (the chip's small ints "
                                "end at 2**30; it would read garbage)" % (t, delta))
        return (t + delta) & mask
    return ticks_diff, ticks_add


def jump_steps(skip_ms, period):
    """The idle action's jumps of the tick counter: one or two steps, each in (period/2,
    period), adding up to skip_ms modulo the period. A stamp the firmware refreshes every round
    then only ever sees a short step back, never a stalled loop; a stamp it keeps while idle ends
    skip_ms older, as on the chip after skip_ms of idle."""
    half = period >> 1
    r = skip_ms % period
    if r > half:
        return [r]
    first = (r + period) // 2
    return [first, r + period - first]


def loop_on_host_clock(board, host_ticks_diff, host_ticks_add):
    """MicroPython: asyncio schedules on the virtual board's continuous clock, with the host
    port's arithmetic, as its C task queue (which stamps ready tasks with the host's own ticks
    and orders them with the host's period) needs; the firmware counts on the chip's. On the
    chip both are the one counter, with one period; here they must differ, and asyncio's part
    in the chip's wrap (its queue uses that period too) is MicroPython's, tested upstream.
    Call after the board exists and before the firmware's first `import asyncio` runs a task."""
    import asyncio.core as core
    core.ticks = board.loop_ticks_ms
    core.ticks_diff = host_ticks_diff
    core.ticks_add = host_ticks_add
