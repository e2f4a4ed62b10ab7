# MicroPython only: shadows the built-in `time` so the firmware and the frozen asyncio run on the
# virtual board's clock. The built-in stays reachable as `utime`.
import utime as _real
import simctx
import chipclock

# The chip's ticks arithmetic: its period (2**30 on the ESP32 and the S3; chipclock.py), not the
# unix port's 2**62. asyncio keeps the port's own (chipclock.loop_on_host_clock).
ticks_diff, ticks_add = chipclock.make_diff(chipclock.PERIOD["esp32"])


def ticks_ms():
    return simctx.board.ticks_ms()


def ticks_us():
    return simctx.board.ticks_us()


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
