# Wi-Fi station: join with a time limit, back off, rejoin. Every call here returns at once
# (the ESP32's WLAN.connect only starts the join); waiting is done with asyncio sleeps, so the
# control task keeps ticking. Switching the radio on is the one call whose duration the port does
# not promise, so it is made only while no session runs.
import asyncio
from os import urandom
from time import ticks_ms, ticks_diff

JOIN_TIMEOUT_MS = 15000       # a join that takes longer is abandoned and retried
POLL_MS = 100
BACKOFF_FIRST_MS = 1000
BACKOFF_MAX_MS = 60000


class Backoff:
    """1 s, 2 s, 4 s ... up to the maximum, with a little spread so boots do not retry in step."""

    def __init__(self, first_ms=BACKOFF_FIRST_MS, max_ms=BACKOFF_MAX_MS):
        self.first_ms = first_ms
        self.max_ms = max_ms
        self.next_ms = first_ms

    def reset(self):
        self.next_ms = self.first_ms

    def take(self):
        ms = self.next_ms
        self.next_ms = min(self.max_ms, ms * 2)
        return ms + urandom(1)[0]


class Wifi:
    def __init__(self, wlan, ssid, password):
        self.wlan = wlan          # network.WLAN(STA_IF), from board.wlan()
        self.ssid = ssid
        self.password = password
        self.why = ""             # why the last join failed

    def connected(self):
        return self.wlan.isconnected()

    async def up(self, may_block, beat=None):
        """Join if needed. Returns True when connected, False when the join failed (self.why
        says why; the caller backs off). may_block(): True when a call of unknown length is
        acceptable now. beat(): called at every wait step (the caller's heartbeat)."""
        if self.wlan.isconnected():
            return True
        if not self.wlan.active():
            while not may_block():
                if beat is not None:
                    beat()
                await asyncio.sleep_ms(POLL_MS)
            self.wlan.active(True)
        self.wlan.connect(self.ssid, self.password)
        t0 = ticks_ms()
        while ticks_diff(ticks_ms(), t0) < JOIN_TIMEOUT_MS:
            if beat is not None:
                beat()
            await asyncio.sleep_ms(POLL_MS)
            if self.wlan.isconnected():
                return True
            status = self.wlan.status()
            if status in _FATAL:
                self.why = _FATAL[status]
                break
        else:
            self.why = "no connection within %d s" % (JOIN_TIMEOUT_MS // 1000)
        self.wlan.disconnect()
        return False


# network.STAT_* codes that end a join attempt early (ESP32 values; the names are standard)
_FATAL = {202: "wrong Wi-Fi password", 201: "Wi-Fi network not found",
          203: "Wi-Fi join failed", 204: "Wi-Fi handshake timeout"}
