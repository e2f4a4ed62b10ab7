# MicroPython only: shadows the built-in `socket` (which stays reachable as `usocket`). The sockets
# are the computer's own, so the firmware talks to real programs (an MQTT broker); but the device
# runs on the virtual clock, where a blocking call would cost no time at all. So every call here
# charges the real time it took to the virtual board, and a call that would block waits in short
# slices, charging each one: a read stuck on a broker that never answers makes simulated time
# pass exactly as the device's would, and the watchdog, the heartbeat and the loop-gap check
# react as they would on the ESP32 (a reset raises out of the blocked call, as the chip would
# drop it). Name lookups listed in the run config's "network"/"dns" block for their delay_ms.
import io
import usocket as _s
import uselect
import utime
import simctx
import simopts

AF_INET = _s.AF_INET
SOCK_STREAM = _s.SOCK_STREAM
SOCK_DGRAM = _s.SOCK_DGRAM
SOL_SOCKET = _s.SOL_SOCKET
SO_REUSEADDR = _s.SO_REUSEADDR

_EAGAIN = 11
_EINPROGRESS = 115
_ETIMEDOUT = 110
_ECONNREFUSED = 111
_SLICE_MS = 5
_POLL_STREAM = 3            # MP_STREAM_POLL, as the select shim asks
_carry_us = [0]


def _charge(t0_us):
    """Let the real time since t0_us pass on the virtual board (fractions of a ms carried)."""
    us = utime.ticks_diff(utime.ticks_us(), t0_us) + _carry_us[0]
    ms = us // 1000
    _carry_us[0] = us - ms * 1000
    if ms > 0:
        simctx.board.advance(ms)


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    entry = simopts.NET.get("dns", {}).get(host)
    if entry is not None:
        delay = entry.get("delay_ms", 0)
        while delay > 0:                      # a slow DNS server: the lookup blocks
            step = min(delay, 10)
            simctx.board.advance(step)
            delay -= step
        host = entry["addr"]
    t0 = utime.ticks_us()
    try:
        return _s.getaddrinfo(host, port, af, type, proto, flags)
    finally:
        _charge(t0)


class socket(io.IOBase):
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0):
        self._s = _s.socket(af, type, proto)
        self._s.setblocking(False)            # the real one never blocks; see _wait
        self._timeout_ms = -1                 # what the firmware asked: -1 blocking, 0 not
        self._poll = uselect.poll()
        self._poll.register(self._s, 0)

    # --- blocking, on the virtual clock ------------------------------------------------------
    def _ready(self, mask, wait_ms):
        self._poll.modify(self._s, mask)
        ev = self._poll.poll(wait_ms)
        return ev[0][1] if ev else 0

    def _wait(self, mask):
        """Block as the firmware asked, charging the wait to the virtual board. False if the
        socket is non-blocking; OSError(ETIMEDOUT) when a timeout runs out."""
        if self._timeout_ms == 0:
            return False
        start_ms = simctx.board.ms
        while True:
            t0 = utime.ticks_us()
            ev = self._ready(mask, _SLICE_MS)
            _charge(t0)                       # may raise: the watchdog reset the board
            if ev:
                return True
            if 0 <= self._timeout_ms <= simctx.board.ms - start_ms:
                raise OSError(_ETIMEDOUT)

    def _call(self, fn, *args):
        t0 = utime.ticks_us()
        try:
            return fn(*args)
        finally:
            _charge(t0)

    # --- the socket API the firmware and umqtt use --------------------------------------------
    def setblocking(self, flag):
        self._timeout_ms = -1 if flag else 0

    def settimeout(self, t):
        self._timeout_ms = -1 if t is None else int(t * 1000)

    def connect(self, addr):
        try:
            self._call(self._s.connect, addr)
            return
        except OSError as e:
            if e.args[0] != _EINPROGRESS:
                raise
        if not self._wait(uselect.POLLOUT):
            raise OSError(_EINPROGRESS)
        if self._ready(uselect.POLLOUT, 0) & (uselect.POLLERR | uselect.POLLHUP):
            raise OSError(_ECONNREFUSED)

    def read(self, n=-1):
        while True:
            data = self._call(self._s.read, n) if n >= 0 else self._call(self._s.read)
            if data is not None or not self._wait(uselect.POLLIN):
                return data

    def readinto(self, buf, n=-1):
        while True:
            r = self._call(self._s.readinto, buf) if n < 0 else \
                self._call(self._s.readinto, buf, n)
            if r is not None or not self._wait(uselect.POLLIN):
                return r

    def recv(self, n):
        while True:
            try:
                return self._call(self._s.recv, n)
            except OSError as e:
                if e.args[0] != _EAGAIN or not self._wait(uselect.POLLIN):
                    raise

    def write(self, buf, n=None):
        view = memoryview(buf)
        if n is not None:
            view = view[:n]
        if self._timeout_ms == 0:
            return self._call(self._s.write, view)
        sent = 0
        while sent < len(view):
            r = self._call(self._s.write, view[sent:])
            if r:
                sent += r
            else:
                self._wait(uselect.POLLOUT)
        return sent

    def send(self, buf):
        return self.write(buf)

    def sendall(self, buf):
        self.write(buf)

    def ioctl(self, req, arg):
        if req == _POLL_STREAM:               # asked by the select shim (asyncio, poll)
            return self._ready(arg, 0)
        return 0

    def setsockopt(self, *args):
        self._s.setsockopt(*args)

    def fileno(self):
        return self._s.fileno()

    def close(self):
        self._s.close()
