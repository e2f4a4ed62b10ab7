# Push button: debounced, with short and long presses. Pure logic: update() takes the time and
# the raw level, polled every control tick, and returns an event.
#
# A long press fires as soon as the button has been held long enough, not on release, so a user
# who wants the boot to stop does not have to guess when to let go.
from time import ticks_diff

NONE = 0
PRESS = 1       # released before long_ms
LONG = 2        # held for long_ms (fires once per press)


class Button:
    debounce_ms = 30
    long_ms = 1500

    def __init__(self):
        self._raw = False
        self._raw_since_ms = 0
        self.down = False           # debounced state
        self._down_since_ms = 0
        self._long_sent = False

    def update(self, now_ms, pressed):
        if pressed != self._raw:
            self._raw = pressed
            self._raw_since_ms = now_ms
            return NONE
        if pressed != self.down and ticks_diff(now_ms, self._raw_since_ms) >= self.debounce_ms:
            self.down = pressed
            if pressed:
                self._down_since_ms = now_ms
                self._long_sent = False
                return NONE
            if not self._long_sent:
                return PRESS
            return NONE
        if self.down and not self._long_sent and \
                ticks_diff(now_ms, self._down_since_ms) >= self.long_ms:
            self._long_sent = True
            return LONG
        return NONE
