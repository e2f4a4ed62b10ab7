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
from time import ticks_diff
import limits as L
import safety
from sequencer import PUFF_MS, PUFF_VENT_MS, VENT_MIN_MS, VENTED_DMMHG
from valves import SAFE, PUMP_ON, DUMP_CLOSED, closed_mask

# the sensor cannot judge a puff after these
_BLIND = (safety.SENSOR_RANGE, safety.SENSOR_FROZEN, safety.SENSOR_DRIFT)


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

    def command(self, now_ms, p, sup, bad_run, enabled_mask):
        if sup.must_isolate(now_ms, p, bad_run):
            return self._all_closed         # pump off, dump open (as asked), chambers shut
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
