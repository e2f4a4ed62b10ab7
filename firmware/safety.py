# Safety supervisor: pure logic that can only trip. It sees every pressure sample and the session
# clock; on the first sign of trouble it latches a fault, and while a fault is latched the
# caller must drive every output safe (pump off, every valve and the dump open). It then checks
# that the manifold really falls below SAFE_MMHG within the vent budget, else VENT_FAILED.
# Only a user may clear a fault, and only once the boot is verified vented.
from time import ticks_diff
import limits as L
from valves import DUMP_CLOSED

RETRY_EVERY_MS = 2000
# A vent is verified only once the manifold has read safe this long without a break: at the
# instant of a trip it may read low (a fill with a dead pump) while a full chamber's air is
# still on its way to it through a valve that has just opened.
VENT_CONFIRM_MS = 300
# Tripped, every path open and the pump off, yet the manifold stays above the ceiling this long:
# an air source that cannot be stopped (the pump's driver failed on) and no way out (the dump
# stuck shut). Every chamber valve then closes, so the air goes no further into the leg; the
# mechanical relief valve caps the manifold. A working dump empties the manifold in ~20 ms.
ISOLATE_AFTER_MS = 100
ISOLATE_RELEASE_DMMHG = 200     # ...until the reading is this far below the ceiling again
# A pump known stuck on (PUMP_STUCK_ON latched): with every path open its air goes out of the
# dump (1-5 mmHg). A climb this far above the lowest reading since the trip is the dump not
# letting it out: isolate then, before the leg takes the pump's air up to the ceiling (issue
# 17, part 5: a short in idle, then a jammed dump, took the leg to 136 mmHg). Released when the
# manifold drains again (the dump freed), to below the lowest reading + PUMP_OFF_RISE.
ISOLATE_CLIMB_DMMHG = 100
RETRY_PULSE_MS = 100


def _overdue(now_ms, since_ms, wait_ms):
    """A wait that trips when it runs out: wait_ms have passed since since_ms. An age that reads
    negative has passed half the tick period (6.2 days) and counts as run out, never as just
    begun: a stamp kept across a stall or a shelf must not hold a trip back for days."""
    age_ms = ticks_diff(now_ms, since_ms)
    return age_ms < 0 or age_ms >= wait_ms

NONE = 0
OVER_PRESSURE = 1
SENSOR_RANGE = 2
SESSION_OVERRUN = 3
VENT_FAILED = 4
ZERO_OFFSET = 5
NO_RISE = 6
TASK_CRASH = 7
LOOP_STALL = 8
PUMP_STUCK_ON = 9
BLOCKED = 10
SENSOR_FROZEN = 11
SENSOR_DRIFT = 12
TIME_AT_PRESSURE = 13
FIT_FAILED = 14
VALVE_LEAK = 15
SENSOR_STEP = 16
HOLD_LOSS = 17

# Stable codes (never renumber: the index is in fault logs) and what to tell the user.
CODES = ("NONE", "OVER_PRESSURE", "SENSOR_RANGE", "SESSION_OVERRUN", "VENT_FAILED",
         "ZERO_OFFSET", "NO_RISE", "TASK_CRASH", "LOOP_STALL", "PUMP_STUCK_ON", "BLOCKED",
         "SENSOR_FROZEN", "SENSOR_DRIFT", "TIME_AT_PRESSURE", "FIT_FAILED", "VALVE_LEAK",
         "SENSOR_STEP", "HOLD_LOSS")
# High priority: the boot may still hold pressure or the pump cannot be stopped: act now.
HIGH_PRIORITY = (OVER_PRESSURE, VENT_FAILED, PUMP_STUCK_ON, BLOCKED, TIME_AT_PRESSURE,
                 VALVE_LEAK, SENSOR_STEP)
ADVICE = (
    "",
    "pressure went above the ceiling: check for a kinked hose or a valve that does not open",
    "pressure sensor reads outside its range: every valve is open but the vent cannot be "
    "checked, so make sure the chambers are soft; then check the sensor wires and supply",
    "session ran past its time limit: the firmware stopped it; report this as a bug",
    "the boot could not be verified vented: open the chamber hoses by hand now, then check "
    "the dump valve, the chamber valves and the pressure sensor",
    "sensor does not read zero with the boot vented, or not what it read before (air held in "
    "the boot: a dump valve that does not open): unplug the hoses, restart, recalibrate",
    "pressure did not rise while pumping: check the pump, the hoses and the garment fit",
    "a firmware task crashed: the boot is vented; restart it and report the trace",
    "the control loop stalled: the boot is vented; restart it and report the trace",
    "the pump runs while switched off: unplug the boot's power, then check the pump driver",
    "a chamber took no air and the pressure shot up: check that chamber's hose for a kink and "
    "its valve; if the chamber stays tight, disconnect its hose",
    "pressure sensor reading is frozen: every valve is open but the vent cannot be checked, "
    "so make sure the chambers are soft; then check the sensor wiring and supply",
    "pressure sensor does not read zero with the boot vented: make sure the chambers are "
    "soft, then recalibrate or replace the sensor",
    "a chamber stayed under pressure too long without a break: the boot is vented; report this",
    "the fit check found a problem on a chamber (see the chamber and class): fix the garment or "
    "the hose, or switch that chamber off in the settings",
    "pressure came back into the manifold with every chamber valve closed: a chamber valve "
    "does not close (or the sensor's reading jumped), so no valve can be proven open; open "
    "the chamber hoses by hand, then test each valve and the sensor",
    "the pressure reading did what no air can do (far below zero, a sudden fall while the "
    "pump filled an open chamber, or a climb far slower than the chamber's last fill): the "
    "sensor's zero, span or wiring moved, so the chambers may "
    "be fuller than it reads. Make sure every chamber is soft (open the hoses by hand), then "
    "check the sensor's wires and recalibrate",
    "a chamber read more than 10 mmHg below its target at the end of two holds in a row (see "
    "the chamber and its loss): a torn tube or a loose connector; the boot is vented. Check "
    "that chamber's hose and fittings, or switch the chamber off in the settings",
)


class Supervisor:
    def __init__(self, ceiling_dmmhg, safe_dmmhg, vent_budget_ms, bad_samples, grace_ms):
        self.ceiling_dmmhg = ceiling_dmmhg
        self.safe_dmmhg = safe_dmmhg
        self.vent_budget_ms = vent_budget_ms
        self.bad_samples = bad_samples
        self.grace_ms = grace_ms
        self.fault = NONE           # latched code, NONE when healthy
        self.first_fault = NONE     # the fault that started it (VENT_FAILED may follow it)
        self.fault_ms = 0
        self.venting = False        # a vent is under way and not yet verified
        self._vent_start_ms = 0
        self._safe_since_ms = -1    # when the manifold last came down below safe_dmmhg
        self.isolated = False       # every chamber valve closed against an unstoppable source
        self._above_since_ms = -1
        self._climb_isolated = False    # isolated by the stuck pump's climb (not the ceiling)
        self._low_dmmhg = 1 << 30       # lowest reading since the stuck pump's trip
        self._climb_since_ms = -1
        self._climb_armed = False       # the boot read vented since the trip: a climb counts

    def tripped(self):
        return self.fault != NONE

    def trip(self, code, now_ms):
        """Latch a fault and start verifying the vent. A later fault does not replace the first,
        except VENT_FAILED, which is worse."""
        if self.fault == NONE:
            self.first_fault = code
            self.fault = code
            self.fault_ms = now_ms
            self._climb_isolated = False
            self._low_dmmhg = 1 << 30
            self._climb_since_ms = -1
            self._climb_armed = False
            self.begin_vent(now_ms)
            if code == BLOCKED or code == VALVE_LEAK:
                # BLOCKED: air may be held behind a valve that will not open. VALVE_LEAK: a
                # valve that stays open joins its chamber to every valve check, which then
                # cannot see another valve stuck shut. Either way no vent can be proven.
                self.fault = VENT_FAILED
        elif code == VENT_FAILED:
            self.fault = code
        return self.fault

    def begin_vent(self, now_ms):
        """Every path was opened: from now, the manifold must fall below safe_dmmhg in time."""
        if not self.venting:
            self.venting = True
            self._vent_start_ms = now_ms
            self._safe_since_ms = -1

    def check_sample(self, now_ms, p_dmmhg, bad_run, all_open=False, live=True):
        """Check one pressure sample. all_open: every path was commanded open (idle, tripped,
        rest); live: the raw reading has moved lately (after SENSOR_FROZEN only a live reading
        can verify a vent). Returns the latched fault code (NONE if healthy)."""
        if all_open and not self.venting and p_dmmhg >= self.safe_dmmhg:
            # everything is open yet the pressure is up: something is still pumping, or a
            # vent path is blocked; it must come down within the vent budget
            self.begin_vent(now_ms)
        if p_dmmhg > self.ceiling_dmmhg:
            self.trip(OVER_PRESSURE, now_ms)
        if bad_run >= self.bad_samples:
            self.trip(SENSOR_RANGE, now_ms)
        if self.venting:
            # a vented boot reads near zero: far below it is a sensor off its zero, no vent;
            # and a live one: a frozen reading verifies nothing, whatever the first fault was
            # (a frozen sensor is only found while pumping; the soak found a hold watch's trip
            # on its reading "verified" by it, with the dump stuck and every chamber at 35 mmHg)
            if bad_run == 0 and -self.safe_dmmhg < p_dmmhg < self.safe_dmmhg and live:
                if self._safe_since_ms < 0:
                    self._safe_since_ms = now_ms
                elif ticks_diff(now_ms, self._safe_since_ms) >= VENT_CONFIRM_MS:
                    self.venting = False
            else:
                self._safe_since_ms = -1
            if self.venting and self._safe_since_ms < 0 and \
                    _overdue(now_ms, self._vent_start_ms, self.vent_budget_ms):
                # not verified vented in time, either because it did not vent or because the
                # sensor cannot tell: the user must check the chambers by hand
                self.trip(VENT_FAILED, now_ms)
        return self.fault

    def must_isolate(self, now_ms, p_dmmhg, bad_run):
        """While tripped: True when every chamber valve must close (see ISOLATE_AFTER_MS). A
        sensor out of its window cannot tell, so the last decision stands."""
        if self.fault == NONE:
            self.isolated = False
            self._above_since_ms = -1
            self._climb_isolated = False
            self._low_dmmhg = 1 << 30
            self._climb_since_ms = -1
            return False
        if bad_run:
            return self.isolated
        if self.first_fault == PUMP_STUCK_ON and self._stuck_pump_climbs(now_ms, p_dmmhg):
            return True
        if p_dmmhg > self.ceiling_dmmhg:
            if self._above_since_ms < 0:
                self._above_since_ms = now_ms
            elif _overdue(now_ms, self._above_since_ms, ISOLATE_AFTER_MS):
                self.isolated = True
        else:
            self._above_since_ms = -1
            if p_dmmhg < self.ceiling_dmmhg - ISOLATE_RELEASE_DMMHG:
                self.isolated = False
        return self.isolated

    def _stuck_pump_climbs(self, now_ms, p_dmmhg):
        if self._climb_isolated:
            # the chambers are shut: the manifold alone reads; drained again, the dump works
            if p_dmmhg < self._low_dmmhg + L.PUMP_OFF_RISE_DMMHG:
                self._climb_isolated = False
                self.isolated = False
                self._climb_since_ms = -1
            return self._climb_isolated
        # armed only once the boot has read vented since the trip: until then the chambers' own
        # air letting out through the opened paths lifts the reading above a probe's low
        if p_dmmhg < self.safe_dmmhg:
            self._climb_armed = True
        if not self._climb_armed:
            return False
        if p_dmmhg < self._low_dmmhg:
            self._low_dmmhg = p_dmmhg
        if p_dmmhg - self._low_dmmhg > ISOLATE_CLIMB_DMMHG:
            if self._climb_since_ms < 0:
                self._climb_since_ms = now_ms
            elif _overdue(now_ms, self._climb_since_ms, ISOLATE_AFTER_MS):
                self._climb_isolated = True
                self.isolated = True
                return True
        else:
            self._climb_since_ms = -1
        return False

    def check_session(self, now_ms, active, start_ms, session_ms):
        """Trip if a session outlives its length plus the grace; returns the latched code."""
        if active and ticks_diff(now_ms, start_ms) > session_ms + self.grace_ms:
            self.trip(SESSION_OVERRUN, now_ms)
        return self.fault

    def may_clear(self, p_dmmhg, bad_run):
        """The vent is verified and the manifold reads near zero now: the acknowledgement
        check (tripped.py) may start."""
        return not (self.venting or bad_run or p_dmmhg >= self.safe_dmmhg or
                    p_dmmhg <= -self.safe_dmmhg or self.isolated)

    def clear(self, now_ms, p_dmmhg, bad_run):
        """A user acknowledges the fault. Allowed only once the vent is verified (the caller
        has also proven every chamber open: commands.ack_done)."""
        if self.fault == NONE:
            return True
        if not self.may_clear(p_dmmhg, bad_run):
            return False
        self.fault = NONE
        self.first_fault = NONE
        return True


def retry_cmd(now_ms, since_ms, chambers):
    """While VENT_FAILED: keep every path open, but every RETRY_EVERY_MS close and reopen every
    valve for RETRY_PULSE_MS, which can free a sticking valve. The pump is never commanded."""
    if ticks_diff(now_ms, since_ms) % RETRY_EVERY_MS >= RETRY_EVERY_MS - RETRY_PULSE_MS:
        return ((1 << chambers) - 1) | DUMP_CLOSED
    return 0
