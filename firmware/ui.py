# Button-and-knob interaction: pure logic. handle() takes the time, what the user did this tick
# (the button's first contact, a button event, knob detents, the stop button), what the boot is
# doing and the target in force, and returns one action for the app to carry out. It never
# drives an output, and it decides nothing about safety on its own: every action goes through
# the app's one gate (gate.py), which refuses anything that inflates too soon after a stop.
#
# What a panicking user's press does, in every state (it must never inflate anything):
#   running: the first contact pauses at once (pump off, everything vents), before the gesture
#     is known; held on, it becomes a stop. paused: a press resumes (the gate refuses it within
#     3 s of the pause); ending, fault, menu: nothing that inflates; idle: a press starts (the
#     gate refuses it within 3 s of a stop, a pause or a fault). The stop button always stops.
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
OPEN_MENU = 8         # the menu opened: load() the stored settings into it
MENU_CLOSED = 9       # the menu was left with the stop button: nothing saved

MENU_ITEMS = ("minutes", "mode")   # then one "chamber N" item per chamber
TARGET_STEP_MMHG = 5
MINUTES_STEP = 5
MENU_TIMEOUT_MS = 30000


class UI:
    def __init__(self, chambers, target_range, minutes_range, modes, settings):
        self.chambers = chambers
        self.target_lo, self.target_hi = target_range
        self.minutes_lo, self.minutes_hi = minutes_range
        self.modes = modes
        self.minutes = settings["minutes"]
        self.mode = settings["mode"]
        self.enabled = list(settings["enabled"])
        self.menu = False
        self.item = 0               # menu item index
        self.value = 0              # action value (SET_TARGET)
        self._menu_ms = 0
        self._contact_paused = False    # this press's first contact already paused the boot

    def items(self):
        return len(MENU_ITEMS) + self.chambers

    def item_name(self):
        if self.item < len(MENU_ITEMS):
            return MENU_ITEMS[self.item]
        return "chamber %d" % (self.item - len(MENU_ITEMS) + 1)

    def expire(self, now_ms):
        """Every tick: a menu left alone MENU_TIMEOUT_MS closes without saving (else the next
        press to start would move to the next item, and a turn would change a setting).
        Returns True when it closed now."""
        if self.menu and ticks_diff(now_ms, self._menu_ms) >= MENU_TIMEOUT_MS:
            self.menu = False
            return True
        return False

    def handle(self, now_ms, ev, detents, stop_pressed, contact, active, paused, ending,
               tripped, target_mmhg):
        """contact: the button's first debounced contact this tick; target_mmhg: the target in
        force (the knob moves it from there, whoever set it last)."""
        if stop_pressed:
            was_menu = self.menu
            self.menu = False
            if active:
                return STOP
            return MENU_CLOSED if was_menu else NONE
        if tripped:
            self.menu = False
            self._contact_paused = False
            return CLEAR if ev == btn.LONG else NONE
        if active:
            self.menu = False
            if contact:
                # safe first: the gesture (a press to pause, a hold to stop) is known later
                self._contact_paused = not paused and not ending
                if self._contact_paused:
                    return PAUSE
            if ev == btn.LONG:
                self._contact_paused = False
                return STOP
            if ending:
                return NONE
            if ev == btn.PRESS:
                if self._contact_paused:
                    self._contact_paused = False    # its contact paused: nothing more
                    return NONE
                return RESUME if paused else PAUSE
            if detents:
                return self._turn_target(detents, target_mmhg)
            return NONE
        self._contact_paused = False
        if self.menu:
            return self._menu(now_ms, ev, detents)
        if ev == btn.LONG:
            self.menu = True
            self.item = 0
            self._menu_ms = now_ms
            return OPEN_MENU
        if ev == btn.PRESS:
            return START
        if detents:
            return self._turn_target(detents, target_mmhg)
        return NONE

    def _turn_target(self, detents, target_mmhg):
        t = target_mmhg + detents * TARGET_STEP_MMHG
        t = min(max(t, self.target_lo), self.target_hi)
        if t == target_mmhg:
            return NONE
        self.value = t
        return SET_TARGET

    def _menu(self, now_ms, ev, detents):
        if ev == btn.LONG:
            self.menu = False
            return SAVE
        if ev != btn.NONE or detents:
            self._menu_ms = now_ms
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

    def load(self, settings):
        """The menu shows what is stored (edits left unsaved last time are gone)."""
        self.minutes = settings["minutes"]
        self.mode = settings["mode"]
        self.enabled = list(settings["enabled"])

    def settings_value(self):
        """The value of the menu item shown."""
        if self.item == 0:
            return "%d min" % self.minutes
        if self.item == 1:
            return self.mode
        k = self.item - len(MENU_ITEMS) + 1
        return "on" if k in self.enabled else "off"

    def settings(self, target_mmhg):
        """The menu's settings, with the target in force (not a copy of its own)."""
        return {"pressure_mmhg": target_mmhg, "minutes": self.minutes, "mode": self.mode,
                "enabled": list(self.enabled)}
