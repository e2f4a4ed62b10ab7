# Maintenance mode (issue 15): what a builder's computer may ask of an idle boot over the
# console, as pure logic. It takes the time, the reading and the request, and returns the output
# command to drive (valves.py's bits) or why a request is refused. It never drives a pin: the
# App applies what step() returns through valves.Outputs, whose dead-head interlock stays in
# force, and the supervisor, the ceiling, the hazard monitor's sensor and pump-off checks and
# the watchdog judge every tick as in a session (app.py).
#
# The primitives, all of them:
#   enter        only from idle: no session, no fault latched, every path open
#   close(k)     close one path: k = 0 the dump (every dump of the board), 1..n a chamber valve
#   open(k)      open it again
#   pump(ms)     run the pump for ms (at most limits.MAINT_PUMP_MAX_MS), only with a path open
#                and the manifold below limits.MAINT_PUMP_MAX_MMHG; it stops by itself
#   touch        a reading asked for: keeps the link alive, drives nothing
#   bulb         every path already closed: a person pumps the reference gauge's hand bulb
#                (commissioning's calibration). No pump request is taken until a path opens,
#                and the App's pump-off check is not run meanwhile (its rise is the bulb's);
#                above limits.MAINT_BULB_MAX_MMHG the App trips PUMP_STUCK_ON (a pump running
#                on its own into the shut manifold), and the ceiling stays
#   vent         every path open, pump off (stays in maintenance)
#   leave        every path open, pump off, maintenance over
# Every request, and every refused one, counts as the link being alive; none for
# limits.MAINT_IDLE_MS (the cable pulled, the computer gone) and the boot vents and leaves.
# Not seen vented (every path open, below limits.SAFE_MMHG) for limits.MAINT_HELD_MAX_MS: air
# held too long; the boot vents and leaves too.
# Integers only in step() (it runs in the control tick): no allocation.
from time import ticks_diff
import limits as L
from valves import SAFE, DUMP_CLOSED, PUMP_ON, closed_mask
from safety import VENT_CONFIRM_MS

# Refusals: codes and their texts (rows: one place for both).
OK = 0
R_OFF = 1
R_NOT_IDLE = 2
R_PATH = 3
R_PUMP_MS = 4
R_ALL_CLOSED = 5
R_LAST_PATH = 6
R_HIGH = 7
R_NO_RISE = 8
R_ENDED = 9
R_BULB_PATHS = 10
R_BULB = 11
REFUSALS = (
    "",
    "not in maintenance: enter it first (from idle)",
    "maintenance is entered only from idle: no session running and no fault latched",
    "no such path: 0 is the dump, 1 to the board's chambers a chamber valve",
    "the pump runs for 1 to limits.MAINT_PUMP_MAX_MS ms a request",
    "every path is closed: the pump would run into a closed manifold (open a chamber or the "
    "dump first)",
    "the pump is running: closing this path would leave it none",
    "the manifold reads at or above limits.MAINT_PUMP_MAX_MMHG: no more pumping",
    "the pump ran limits.FILL_STALL_MS with the dump shut and the reading did not rise "
    "1 mmHg: a hose off, a missing chamber or the sensor's hose off; vent, then check them",
    "maintenance just ended (or a person stopped it at the boot): not again until the boot "
    "has vented, or, after a press, until the next power-on",
    "the gauge's bulb is for a shut manifold: close the dump and every chamber first",
    "the gauge's bulb is in use: no pumping until a path opens",
)

# Why maintenance ended (taken once: take_end()).
END_NONE = 0
END_LEFT = 1
END_TIMEOUT = 2
END_HELD = 3
END_FAULT = 4
END_INPUT = 5
END_NAMES = ("", "left", "timeout", "held too long", "fault", "button or knob")
NO_READING = -0x20000000    # no reading to beat yet (the next pumped tick's is it); a small int
                            # on the 32-bit chip (no allocation in step())


class Maint:
    # for the App, which does not import this module until maintenance is entered
    END_INPUT = END_INPUT
    END_FAULT = END_FAULT
    END_NAMES = END_NAMES

    def __init__(self, chambers):
        """chambers: the board's chamber count (1..limits.CHAMBERS_MAX)."""
        self.chambers = chambers
        self._valves = closed_mask(chambers)
        self.on = False
        self.closed = 0             # command bits of the paths held closed
        self.pumping = False
        self._pump_ms = 0           # the pump request's length and start
        self._pump_from_ms = 0
        self._seen_ms = 0           # the last request
        self._vented_ms = 0         # last seen vented: every path open, below SAFE_MMHG
        self._low_since_ms = -1     # ... for safety.VENT_CONFIRM_MS in a row (as a vent is
                                    # verified: the manifold falls first, the chambers after)
        self.pump_total_ms = 0      # pump-on time since enter (ms, as commanded)
        self._end = END_NONE        # why it ended, not yet taken (take_end)
        self.ended = END_NONE       # why it last ended (kept until the next enter)
        # the pump with the dump shut must raise the reading: the reading to beat (re-taken
        # when a path opens or closes), the pump time with the dump shut since the reading
        # last gained FILL_PROGRESS_DMMHG (ms), and no pumping once that ran out
        self._rise_dmmhg = NO_READING
        self._stall_ms = 0
        self._ran_ms = 0            # the pump request's time at the last tick judged
        self.no_rise = False
        self.bulb_on = False        # a person pumps the gauge's bulb (bulb(): every path shut)

    # --- requests (from the link, not the control tick) -----------------------------------
    def enter(self, now_ms, idle):
        """idle: no session runs, no fault is latched, every output is released, the last
        vent verified. Already on: nothing changes (a repeated enter never restarts the held
        air's clock). Refused while the last end is untaken and, after a person's press, for
        good (R_ENDED)."""
        if self.on:
            self._seen_ms = now_ms
            return OK
        if self._end != END_NONE or self.ended == END_INPUT:
            return R_ENDED
        if not idle:
            return R_NOT_IDLE
        self.on = True
        self.closed = 0
        self.bulb_on = False
        self.pumping = False
        self.pump_total_ms = 0
        self._seen_ms = now_ms
        self._vented_ms = now_ms
        self._low_since_ms = -1
        self.ended = END_NONE
        self._rearm()
        return OK

    def touch(self, now_ms):
        if not self.on:
            return R_OFF
        self._seen_ms = now_ms
        return OK

    def bulb(self, now_ms):
        """A person pumps the reference gauge's bulb into the shut manifold: every path must be
        closed and the pump not running; until a path opens (open, vent, leave), no pumping."""
        if not self.on:
            return R_OFF
        self._seen_ms = now_ms
        if self.pumping or not self._all_closed(self.closed):
            return R_BULB_PATHS
        self.bulb_on = True
        return OK

    def _bit(self, k):
        if k == 0:
            return DUMP_CLOSED
        if 1 <= k <= self.chambers:
            return 1 << (k - 1)
        return 0

    def close(self, now_ms, k):
        """Close path k (0 the dump, 1..chambers a chamber valve)."""
        if not self.on:
            return R_OFF
        self._seen_ms = now_ms
        bit = self._bit(k)
        if not bit:
            return R_PATH
        closed = self.closed | bit
        if self.pumping and not 0 <= ticks_diff(now_ms, self._pump_from_ms) < self._pump_ms:
            self._stop_pump(now_ms)         # its time is up (step() would stop it)
        if self.pumping and self._all_closed(closed):
            return R_LAST_PATH
        if closed != self.closed:
            self._rise_dmmhg = NO_READING   # another path: another reading to beat
        self.closed = closed
        return OK

    def open(self, now_ms, k):
        if not self.on:
            return R_OFF
        self._seen_ms = now_ms
        bit = self._bit(k)
        if not bit:
            return R_PATH
        if self.closed & bit:
            self._rise_dmmhg = NO_READING
        self.closed &= ~bit
        self.bulb_on = False        # (a path open: the bulb's air goes; the checks as before)
        return OK

    def pump(self, now_ms, ms, p_dmmhg):
        """Run the pump for ms (1..MAINT_PUMP_MAX_MS) from now; p_dmmhg: the last reading."""
        if not self.on:
            return R_OFF
        self._seen_ms = now_ms
        if ms < 1 or ms > L.MAINT_PUMP_MAX_MS:
            return R_PUMP_MS
        if self.bulb_on:
            return R_BULB
        if self._all_closed(self.closed):
            return R_ALL_CLOSED
        if p_dmmhg >= L.MAINT_PUMP_MAX_MMHG * 10:
            return R_HIGH
        if self.no_rise:
            return R_NO_RISE
        self.pumping = True
        self._ran_ms = 0
        self._pump_ms = ms
        self._pump_from_ms = now_ms
        return OK

    def vent(self, now_ms):
        if not self.on:
            return R_OFF
        self._seen_ms = now_ms
        self._stop_pump(now_ms)
        self.closed = 0
        self.bulb_on = False
        self._rearm()
        return OK

    def leave(self, now_ms, why=END_LEFT):
        """Every path open, pump off, maintenance over (why: END_*)."""
        if self.on:
            self._stop_pump(now_ms)
            self.on = False
            self.closed = 0
            self.bulb_on = False
            self._end = why
            self.ended = why

    def take_end(self):
        """Why maintenance ended since the last call (END_*), once; END_NONE if it did not."""
        e = self._end
        self._end = END_NONE
        return e

    # --- the control tick -----------------------------------------------------------------
    def _all_closed(self, closed):
        return closed & DUMP_CLOSED and closed & self._valves == self._valves

    def _stop_pump(self, now_ms):
        if self.pumping:
            ran = ticks_diff(now_ms, self._pump_from_ms)
            self.pump_total_ms += ran if 0 < ran < self._pump_ms else self._pump_ms
            self.pumping = False

    def step(self, now_ms, p_dmmhg):
        """One control tick: the command to drive. SAFE once maintenance is over."""
        if not self.on:
            return SAFE
        if ticks_diff(now_ms, self._seen_ms) > L.MAINT_IDLE_MS or \
                ticks_diff(now_ms, self._seen_ms) < 0:
            self.leave(now_ms, END_TIMEOUT)     # (a stamp that reads as the future: gone too)
            return SAFE
        if not self.closed and p_dmmhg < L.SAFE_MMHG * 10 and self._low_since_ms >= 0 and \
                ticks_diff(now_ms, self._low_since_ms) >= VENT_CONFIRM_MS:
            self._vented_ms = now_ms
        else:
            if self.closed or p_dmmhg >= L.SAFE_MMHG * 10:
                self._low_since_ms = -1
            elif self._low_since_ms < 0:
                self._low_since_ms = now_ms
            held = ticks_diff(now_ms, self._vented_ms)
            if held > L.MAINT_HELD_MAX_MS or held < 0:
                self.leave(now_ms, END_HELD)
                return SAFE
        cmd = self.closed
        if self.pumping:
            ran = ticks_diff(now_ms, self._pump_from_ms)
            if ran >= self._pump_ms or ran < 0 or p_dmmhg >= L.MAINT_PUMP_MAX_MMHG * 10 or \
                    self._all_closed(cmd) or self._not_rising(ran, p_dmmhg, cmd):
                self._stop_pump(now_ms)
            else:
                cmd |= PUMP_ON
        return cmd

    def _rearm(self):
        self.no_rise = False
        self._stall_ms = 0
        self._rise_dmmhg = NO_READING

    def _not_rising(self, ran_ms, p_dmmhg, cmd):
        """The pump with the dump shut: the reading must gain limits.FILL_PROGRESS_DMMHG on
        the reading to beat within limits.FILL_STALL_MS of such pump time (as a fill must:
        monitor.py), else no more pumping until a vent: a live sensor that reads a hose it is
        no longer on would let a chamber fill unseen. Only pump time with the dump shut counts
        (with it open the air goes out: nothing to judge). Opening or closing a path re-takes
        the reading to beat (another chamber's), never the time: a reading that does not move
        runs the time out whatever paths are toggled; only vent() starts it again."""
        delta = ran_ms - self._ran_ms       # (two durations of one request: no wrap)
        self._ran_ms = ran_ms
        if not cmd & DUMP_CLOSED:
            return False
        if delta > 0:
            self._stall_ms += delta
        if self._rise_dmmhg == NO_READING:          # the first tick on these paths
            self._rise_dmmhg = p_dmmhg
        elif p_dmmhg >= self._rise_dmmhg + L.FILL_PROGRESS_DMMHG:
            self._rise_dmmhg = p_dmmhg
            self._stall_ms = 0
        if self._stall_ms >= L.FILL_STALL_MS:
            self.no_rise = True
        return self.no_rise
