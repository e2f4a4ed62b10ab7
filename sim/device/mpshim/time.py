# MicroPython only: shadows the built-in `time` so the firmware and the frozen asyncio run on the
# virtual board's clock. The built-in stays reachable as `utime`.
import utime as _real
import simctx

# The port's own ticks arithmetic (its period is what the C task queue uses).
ticks_add = _real.ticks_add
ticks_diff = _real.ticks_diff


def ticks_ms():
    return simctx.board.ticks_ms()


def ticks_us():
    return _real.ticks_add(0, simctx.board.ms * 1000)


ticks_cpu = ticks_us


def sleep_ms(ms):
    """A blocking sleep: simulated time passes, and nothing else runs."""
    if ms > 0:
        simctx.board.advance(ms)


def sleep_us(us):
    sleep_ms((us + 999) // 1000)


def sleep(s):
    sleep_ms(int(s * 1000))


def time():
    return 1767225600 + simctx.board.ms // 1000     # 2026-01-01 plus the board's uptime


def time_ns():
    return (1767225600000 + simctx.board.ms) * 1000000


def localtime(secs=None):
    return _real.localtime(time() if secs is None else secs)


gmtime = localtime
mktime = _real.mktime
