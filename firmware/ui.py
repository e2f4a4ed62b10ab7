# Button-and-knob interaction: pure logic. handle() takes the time, what the user did this tick
# (a button event, knob detents, the stop button) and what the boot is doing, and returns one
# action for the app to carry out. It never drives an output.
#
# What a panicking user's press does, in every state (it must never inflate anything):
#   running: pauses (everything vents); paused: resumes, but not within PANIC_MS of the pause;
#   ending, fault, menu: nothing that inflates; idle: starts a session, but not within
#   PANIC_MS of a stop, a pause or a fault. The stop button and a long press always stop.
from time import ticks_diff
import button as btn

NONE = 0
START = 1
STOP = 2
PAUSE = 3
RESUME = 4
CLEAR = 5
SET_TARGET = 6        # value: the new target, mmHg
SAVE = 7              # the menu was left with a long press: store the settings

MENU_ITEMS = ("minutes", "mode")   # then one "chamber N" item per chamber
TARGET_STEP_MMHG = 5
MINUTES_STEP = 5
PANIC_MS = 3000       # presses this soon after a stop, pause or fault cannot inflate
MENU_TIMEOUT_MS = 30000


class UI:
    def __init__(self, chambers, target_range, minutes_range, modes, settings):
        self.chambers = chambers
        self.target_lo, self.target_hi = target_range
        self.minutes_lo, self.minutes_hi = minutes_range
        self.modes = modes
        self.target_mmhg = settings["pressure_mmhg"]
        self.minutes = settings["minutes"]
        self.mode = settings["mode"]
        self.enabled = list(settings["enabled"])
        self.menu = False
        self.item = 0               # menu item index
        self.value = 0              # action value (SET_TARGET)
        self._calm_ms = 0           # presses before this time cannot inflate
        self._calm_set = False
        self._menu_ms = 0

    def items(self):
        return len(MENU_ITEMS) + self.chambers

    def item_name(self):
        if self.item < len(MENU_ITEMS):
            return MENU_ITEMS[self.item]
        return "chamber %d" % (self.item - len(MENU_ITEMS) + 1)

    def calm_down(self, now_ms):
        """Something alarming happened (stop, pause, fault): ignore inflating presses a while."""
        self._calm_ms = now_ms
        self._calm_set = True

    def _calm(self, now_ms):
        return not self._calm_set or ticks_diff(now_ms, self._calm_ms) >= PANIC_MS

    def handle(self, now_ms, ev, detents, stop_pressed, active, paused, ending, tripped):
        if stop_pressed:
            self.menu = False
            if active:
                self.calm_down(now_ms)
                return STOP
            return NONE
        if tripped:
            self.menu = False
            if ev == btn.LONG:
                self.calm_down(now_ms)
                return CLEAR
            return NONE
        if active:
            self.menu = False
            if ev == btn.LONG:
                self.calm_down(now_ms)
                return STOP
            if ending:
                return NONE
            if ev == btn.PRESS:
                if paused:
                    return RESUME if self._calm(now_ms) else NONE
                self.calm_down(now_ms)
                return PAUSE
            if detents:
                return self._turn_target(detents)
            return NONE
        if self.menu:
            return self._menu(now_ms, ev, detents)
        if ev == btn.LONG:
            self.menu = True
            self.item = 0
            self._menu_ms = now_ms
            return NONE
        if ev == btn.PRESS:
            return START if self._calm(now_ms) else NONE
        if detents:
            return self._turn_target(detents)
        return NONE

    def _turn_target(self, detents):
        t = self.target_mmhg + detents * TARGET_STEP_MMHG
        t = min(max(t, self.target_lo), self.target_hi)
        if t == self.target_mmhg:
            return NONE
        self.target_mmhg = t
        self.value = t
        return SET_TARGET

    def _menu(self, now_ms, ev, detents):
        if ev == btn.LONG:
            self.menu = False
            return SAVE
        if ev != btn.NONE or detents:
            self._menu_ms = now_ms
        elif ticks_diff(now_ms, self._menu_ms) >= MENU_TIMEOUT_MS:
            self.menu = False           # left alone: leave without saving
            return NONE
        if ev == btn.PRESS:
            self.item = (self.item + 1) % self.items()
            return NONE
        if not detents:
            return NONE
        if self.item == 0:
            m = self.minutes + detents * MINUTES_STEP
            self.minutes = min(max(m, self.minutes_lo), self.minutes_hi)
        elif self.item == 1:
            i = (self.modes.index(self.mode) + detents) % len(self.modes)
            self.mode = self.modes[i]
        else:
            k = self.item - len(MENU_ITEMS) + 1
            if detents % 2:
                if k in self.enabled:
                    if len(self.enabled) > 1:       # at least one chamber stays enabled
                        self.enabled.remove(k)
                else:
                    self.enabled.append(k)
                    self.enabled.sort()
        return NONE

    def settings_value(self):
        """The value of the menu item shown."""
        if self.item == 0:
            return "%d min" % self.minutes
        if self.item == 1:
            return self.mode
        k = self.item - len(MENU_ITEMS) + 1
        return "on" if k in self.enabled else "off"

    def settings(self):
        return {"pressure_mmhg": self.target_mmhg, "minutes": self.minutes, "mode": self.mode,
                "enabled": list(self.enabled)}
