# The one gate every command passes, whatever asked (the button, the knob, the menu, the stop
# button, MQTT, or any later source): pure logic, no I/O. App.command (commands.py) asks it before
# anything that could inflate, and tells it of every stop, pause, fault and acknowledgement.
#
# Rules:
#   - nothing that inflates (start, resume, a higher target) within PANIC_MS of the last stop,
#     pause, fault or acknowledgement from any source: a person who has just stopped the boot,
#     or a second person on the dashboard, must not have it filling again a moment later;
#   - a remote source may start or resume only when the owner allowed it (mqtt.allow_start in
#     secrets.json, off by default): remote resume refills the legs just as a start does;
#   - stopping, pausing and lowering the target are never refused.
# The quiet window is kept as a flag cleared by tick() once it has run out, never as an old
# timestamp compared later: ticks_ms wraps on the ESP32, and a stale stamp would come back
# "recent" after 2**29 ms (6.2 days) on a shelf.
from time import ticks_diff

PANIC_MS = 3000         # presses this soon after a stop, pause or fault cannot inflate
LOCAL = 0               # the button, the knob, the menu, the stop button
REMOTE = 1              # MQTT (telemetry.py)
SOURCES = ("local", "remote")

QUIET_TEXT = ("nothing may inflate within 3 s of a stop, pause, fault or acknowledgement: "
              "wait 3 s and try again")
REMOTE_TEXT = ("start and resume over MQTT are off (set mqtt.allow_start in secrets.json to "
               "allow them)")


class Gate:
    def __init__(self):
        self.remote_inflate = False     # mqtt.allow_start: set by the MQTT service
        self.quiet = False              # within PANIC_MS of the last stop, pause or fault
        self._quiet_ms = 0
        self._contact_quiet = False     # it was quiet when the button's contact closed

    def calm_down(self, now_ms):
        """A stop, a pause, a fault or an acknowledgement, from any source."""
        self.quiet = True
        self._quiet_ms = now_ms

    def tick(self, now_ms):
        """Every control tick: end the quiet window once it has run out."""
        if self.quiet and ticks_diff(now_ms, self._quiet_ms) >= PANIC_MS:
            self.quiet = False

    def note_contact(self):
        """The button's contact closed: a press is judged from that moment, not its release
        (a press begun in the quiet window and released after it is still refused)."""
        self._contact_quiet = self.quiet

    def why_not(self, now_ms, name, source, raises_target=False, pressed=False):
        """None if the command may go on, else why not (a short text for the person).
        name: the command; source: LOCAL or REMOTE; raises_target: a set_target above the
        target in force; pressed: it comes from a button press (judged at its contact)."""
        self.tick(now_ms)
        inflates = name == "start" or name == "resume" or raises_target
        if not inflates:
            return None
        if source == REMOTE and name != "set_target" and not self.remote_inflate:
            return REMOTE_TEXT
        if self.quiet or (pressed and self._contact_quiet):
            return QUIET_TEXT
        return None
