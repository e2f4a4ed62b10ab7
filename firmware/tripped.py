# What the outputs do while a fault is latched: pure logic. Each tick it gets the time, the
# pressure and the supervisor and returns the command to drive; SAFE (every output off: pump
# off, every valve and the dump open) unless one of these applies, in this order:
#   - isolation: an air source that cannot be stopped and no way out (safety.must_isolate):
#     every chamber valve closed, so the air goes no further into the leg;
#   - VENT_FAILED: every path open, every valve re-actuated now and then (safety.retry_cmd);
#   - once a trip has vented: the valve check, a 40 ms puff per chamber in use, as after every
#     wave. The sensor cannot see a chamber shut in behind a stuck valve, and a trip is when
#     that is most likely. A puff that lifts the manifold trips VENT_FAILED (found_shut says
#     which chamber).
# And when a person asks to acknowledge the fault (begin_ack): the acknowledgement check, which
# proves at that moment that every chamber is empty, in three steps:
#   1. the pump is off: every path closed, pump off, ACK_PROBE_MS; a climb means it still runs;
#   2. the manifold seals: every path closed, a puff of at most ACK_CONTROL_MS must lift the
#      reading VALVE_CHECK_RISE (the one command allowed past the dead-head interlock, valves.
#      CONTROL_PUFF). It proves the pump gives air, the sensor sees it, and that no other path
#      (a valve stuck open, a dump stuck open, a hose off) would swallow a later puff: without
#      it a valve stuck open hides a second one stuck shut;
#   3. a longer puff per chamber in use, which must find the valve open (no sharp climb in the
#      first PUFF_MS, as above) and see its air arrive (a small held rise).
# Only a passed check lets the fault clear: a chamber shut in behind a stuck valve must never
# sit on a leg behind a quiet "ready" boot.
from time import ticks_diff
import limits as L
import safety
from sequencer import PUFF_MS, PUFF_VENT_MS, VENT_MIN_MS, VENTED_DMMHG
from valves import SAFE, PUMP_ON, DUMP_CLOSED, CONTROL_PUFF, closed_mask

# the sensor cannot judge a puff after these
_BLIND = (safety.SENSOR_RANGE, safety.SENSOR_FROZEN, safety.SENSOR_DRIFT, safety.SENSOR_STEP)

# acknowledgement check results (take_ack)
ACK_NONE = 0
ACK_RUNNING = 1
ACK_PASSED = 2
ACK_SHUT = 3        # a puff climbed at once: the chamber's valve is shut (air may be behind it)
ACK_NO_AIR = 4      # a puff did not lift the reading: the pump or the sensor cannot prove it
ACK_CANCELLED = 5   # a press, the stop button, isolation or a sensor out of range ended it
ACK_PUMP_ON = 6     # the manifold climbed with the pump off: the pump still runs
ACK_NO_SEAL = 7     # the closed manifold did not build pressure: a path does not close
ACK_NAMES = ("", "running", "passed", "valve shut", "no air seen", "cancelled",
             "pump still runs", "no pressure in the closed manifold")
_PROBE = -2         # _ack_k during step 1
_CONTROL = -1       # _ack_k during step 2


class TripResponse:
    def __init__(self, chambers):
        self.chambers = chambers
        self._all_closed = closed_mask(chambers)
        self.found_shut = 0         # chamber whose valve the check found shut (read, then 0)
        self.reset()

    def reset(self):
        """No fault latched: the next trip starts its valve check afresh."""
        self._k = -1                # chamber being puffed; -1 not started, 0 done
        self._ms = 0
        self._p0 = 0
        self._ack = ACK_NONE
        self._ack_k = 0             # chamber the acknowledgement check is puffing
        self._ack_ms = 0            # (its own clock and base: the post-trip valve check's
        self._ack_p0 = 0            # _k, _ms and _p0 go on where they were after it)
        self._ack_peak = 0
        self._ack_last = 0
        self.ack_chamber = 0        # the chamber an acknowledgement check failed on

    # --- the acknowledgement check ----------------------------------------------------------
    def begin_ack(self, now_ms, p, enabled_mask):
        """A person asked to acknowledge: prove every chamber in use open, now."""
        self.ack_chamber = 0
        self._ack = ACK_RUNNING
        self._ack_start(_PROBE, now_ms, p)

    def ack_running(self):
        return self._ack == ACK_RUNNING

    def busy(self):
        """A valve check or an acknowledgement check is puffing (its timing must not be held up
        by a flash write: App.at_rest)."""
        return self._k > 0 or self._ack == ACK_RUNNING

    def cancel_ack(self):
        if self._ack == ACK_RUNNING:
            self._ack_end(ACK_CANCELLED)

    def take_ack(self):
        """The check's result once it has one (then ACK_NONE again), else ACK_NONE."""
        r = self._ack
        if r == ACK_NONE or r == ACK_RUNNING:
            return ACK_NONE
        self._ack = ACK_NONE
        return r

    def _ack_start(self, k, now_ms, p):
        self._ack_k = k
        self._ack_ms = now_ms
        self._ack_p0 = p
        self._ack_peak = 0
        self._ack_last = 0
        if not k:
            self._ack = ACK_PASSED

    def _ack_end(self, result):
        self._ack = result
        self.ack_chamber = self._ack_k if self._ack_k > 0 else 0
        self._ack_k = 0
        return SAFE

    def _ack_check(self, now_ms, p, bad_run, enabled_mask):
        if bad_run:
            return self._ack_end(ACK_CANCELLED)     # the sensor cannot judge: prove nothing
        t = ticks_diff(now_ms, self._ack_ms)
        if t < 0:
            # the step's start reads as the future (half the tick period on: never on a
            # running chip): begin the step again, so a puff's pump cannot run on
            self._ack_ms = now_ms
            t = 0
        k = self._ack_k
        rise = p - self._ack_p0
        if k == _PROBE:
            if t > 0 and rise > L.PUMP_OFF_RISE_DMMHG:
                return self._ack_end(ACK_PUMP_ON)
            if t < L.ACK_PROBE_MS:
                return self._all_closed | DUMP_CLOSED
            self._ack_start(_CONTROL, now_ms, p)
            k = _CONTROL
            t = 0
            rise = 0
        if k == _CONTROL:
            if self._ack_peak == 0:
                if t > 0 and rise > L.VALVE_CHECK_RISE_DMMHG:
                    self._ack_peak = rise           # sealed: stop the puff at once
                    self._ack_ms = now_ms
                    return SAFE
                if t < L.ACK_CONTROL_MS:
                    return CONTROL_PUFF | PUMP_ON | DUMP_CLOSED | self._all_closed
                return self._ack_end(ACK_NO_SEAL)
            if t >= PUFF_VENT_MS:
                self._ack_start(self._next(0, enabled_mask), now_ms, p)
            return SAFE
        if t < L.ACK_PUFF_MS:
            if t > 0 and t < PUFF_MS and rise > L.VALVE_CHECK_RISE_DMMHG:
                return self._ack_end(ACK_SHUT)
            # the air seen: the rise held over two readings in a row (one noisy sample is not
            # air arriving)
            held = rise if rise < self._ack_last else self._ack_last
            self._ack_last = rise
            if held > self._ack_peak:
                self._ack_peak = held
            return PUMP_ON | DUMP_CLOSED | (self._all_closed & ~(1 << (k - 1)))
        if self._ack_peak < L.ACK_AIR_DMMHG:
            return self._ack_end(ACK_NO_AIR)
        if t >= L.ACK_PUFF_MS + PUFF_VENT_MS:
            self._ack_start(self._next(k, enabled_mask), now_ms, p)
        return SAFE

    # --- each tick while tripped ------------------------------------------------------------
    def command(self, now_ms, p, sup, bad_run, enabled_mask):
        if sup.must_isolate(now_ms, p, bad_run):
            if self._ack == ACK_RUNNING:
                self._ack_end(ACK_CANCELLED)
            return self._all_closed         # pump off, dump open (as asked), chambers shut
        if self._ack == ACK_RUNNING:
            return self._ack_check(now_ms, p, bad_run, enabled_mask)
        if sup.fault == safety.VENT_FAILED:
            return safety.retry_cmd(now_ms, sup.fault_ms, self.chambers)
        return self._valve_check(now_ms, p, sup, bad_run, enabled_mask)

    def _next(self, after, enabled_mask):
        for k in range(after + 1, self.chambers + 1):
            if enabled_mask & (1 << (k - 1)):
                return k
        return 0

    def _valve_check(self, now_ms, p, sup, bad_run, enabled_mask):
        if self._k == 0 or sup.venting or bad_run or sup.first_fault in _BLIND:
            return SAFE                     # done, not vented yet, or the sensor cannot judge
        if self._k < 0:
            # as after a wave's vent: once the manifold has drained, for at least VENT_MIN_MS
            # (with the dump open it reads far below a chamber still letting its air out, and
            # a puff then would find that air); but in time to finish within the vent budget
            since = ticks_diff(now_ms, sup.fault_ms)
            if since < VENT_MIN_MS or (p >= VENTED_DMMHG and since < L.POST_CHECK_BY_MS):
                return SAFE
            self._start(self._next(0, enabled_mask), now_ms, p)
        t = ticks_diff(now_ms, self._ms)
        k = self._k
        if k == 0:
            return SAFE
        if t < 0:
            self._start(k, now_ms, p)       # (as in _ack_check: this chamber's puff again)
            t = 0
        if t < PUFF_MS:
            if t > 0 and p - self._p0 > L.VALVE_CHECK_RISE_DMMHG:
                self.found_shut = k         # the puff found no chamber behind the valve
                sup.trip(safety.VENT_FAILED, now_ms)
                self._k = 0
                return SAFE
            return PUMP_ON | DUMP_CLOSED | (self._all_closed & ~(1 << (k - 1)))
        if t >= PUFF_MS + PUFF_VENT_MS:
            self._start(self._next(k, enabled_mask), now_ms, p)
        return SAFE

    def _start(self, k, now_ms, p):
        self._k = k
        self._ms = now_ms
        self._p0 = p
