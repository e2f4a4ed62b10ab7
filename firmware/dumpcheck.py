# The dump check (issue 17, part 6): on a board with more than one dump valve any one of them
# vents the boot, so a dump stuck shut stays hidden until the last one jams too, and then the
# leg stays squeezed (VENT_FAILED). After every vent, once each chamber valve is proven open,
# each dump gets a puff of its own: every chamber valve and every other dump closed, only dump
# k open, the pump on for PUFF_MS. Through an open dump the manifold barely moves (1.3 mmHg at
# the reference pump); against a dump stuck shut it climbs VALVE_CHECK_RISE within a few ticks
# and the pump stops there (as a chamber puff into a valve stuck shut).
# Pure logic: the sequencer runs it at the end of its CHECK phase; the app takes the result.
from time import ticks_diff
import limits as L
from sequencer import PUFF_MS, PUFF_VENT_MS
from valves import SAFE, PUMP_ON, DUMP_CLOSED, DUMP_KEEP, closed_mask


class DumpCheck:
    def __init__(self, dumps, chambers):
        self.dumps = dumps
        self.all_stuck = (1 << dumps) - 1
        self._shut = PUMP_ON | DUMP_CLOSED | closed_mask(chambers)
        self.running = False
        self.judged = False     # this check has judged every dump (until cancel)
        self.stuck = 0          # dumps (bit k-1: dump k) the last finished check found shut
        self._result = -1       # the same, once, for take(); -1: no check finished since
        self._k = 0             # the dump being puffed (1-based)
        self._ms = 0
        self._p0 = 0
        self._found = 0         # shut dumps found so far in this check

    def begin(self, now_ms, p):
        """The chamber valves are proven open: puff through dump 1 first."""
        self.running = True
        self.judged = False
        self._found = 0
        self._start(1, now_ms, p)
        return self._shut | DUMP_KEEP

    def cancel(self):
        """The sequencer entered a phase: a check under way proves nothing, the next begins
        afresh."""
        self.running = False
        self.judged = False

    def step(self, now_ms, p):
        """The command for this tick; running is False once the last dump is judged."""
        t = ticks_diff(now_ms, self._ms)
        k = self._k
        bit = 1 << (k - 1)
        if t < PUFF_MS and not self._found & bit:
            if t > 0 and p - self._p0 > L.VALVE_CHECK_RISE_DMMHG:
                self._found |= bit      # the pump met no way out: dump k stays shut
                return SAFE
            return self._shut | (DUMP_KEEP << (k - 1))
        if t < PUFF_MS + PUFF_VENT_MS:
            return SAFE                 # every path open: the puff's air goes out
        if k < self.dumps:
            self._start(k + 1, now_ms, p)
            return self._shut | (DUMP_KEEP << k)
        self.running = False
        self.judged = True
        self.stuck = self._found
        self._result = self._found
        return SAFE

    def take(self):
        """The shut dumps found by the check that just finished (once), else -1."""
        r = self._result
        self._result = -1
        return r

    def _start(self, k, now_ms, p):
        self._k = k
        self._ms = now_ms
        self._p0 = p
