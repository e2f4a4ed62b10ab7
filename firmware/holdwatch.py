# Hold watch (issue 17, part 4): pure logic. A chamber that bleeds behind its closed valve (a
# torn tube at its connector, a seam) still reaches the target at every fill, then loses its
# pressure unseen while its neighbours hold: less therapy, and a reversed gradient up the leg.
# At the end of each hold the sequencer reads every chamber in use (sequencer.PEEK); this
# judges what it found against what the chamber was left at when its valve closed, and when.
# Pressures in tenths of a mmHg; figures in limits.py.
import limits as L

OK = 0
WARN = 1        # a leak the pump has to make up at every wave: say so, naming the chamber
FAULT = 2       # read more than HOLD_LOSS_FAULT_MMHG below its target a second wave in a row:
                # the chamber cannot be kept there (a leak repeats at every wave)
DROP = 3        # ...the first such reading: a warning (a torn tube, or a leg that shifted off
                # something pressing on the chamber through its fill: that does not repeat)
OVER = 4        # read more than HOLD_OVER_MMHG above what it was left at: something presses on
                # the closed chamber from outside (lying on it, the other leg): a warning


def chamber_dmmhg(m1, r1, m2, r2):
    """What a chamber held, from the peek's readings: the manifold shut at m1 joins the chamber
    and reads r1 = a p + (1 - a) m1 (a = C / (C + C_manifold): the manifold takes a share of
    the air); drained to m2 and joined again it reads r2 = a r1 + (1 - a) m2. So a is
    (r2 - m2) / (r1 - m2), and p = m1 + (r1 - m1) / a. Noise can put a above 1 (then r1 is
    the answer) or make it tiny on an empty chamber: the correction is at most doubled."""
    num = r1 - m2
    den = r2 - m2
    if num <= 0 or den <= 0 or den >= num:
        return r1
    if 2 * den < num:
        den = num // 2
    return m1 + (r1 - m1) * num // den


class HoldWatch:
    def __init__(self):
        self.warned = 0             # bit mask of the chambers already announced this session
        self.low = 0                # ...read too far below their target at their last peek
        self.pressed = 0            # ...announced as pressed over what they were filled to
        self.lost_dmmhg = 0         # the last judged chamber: lost since its valve closed
        self.rate_dmmhg_per_min = 0 # ...and at what rate

    def begin_session(self):
        self.warned = 0
        self.low = 0
        self.pressed = 0

    def judge(self, k, keep_to, kept, held, sealed_ms):
        """Chamber k (1-based) was left at kept with keep_to to keep (its target, or the level a
        pulse let it down to), and held held sealed_ms later. Returns OK, WARN, DROP or OVER
        (each once a session a chamber: WARN and DROP share it) or FAULT (read too low at two
        peeks in a row)."""
        lost = kept - held
        self.lost_dmmhg = lost
        self.rate_dmmhg_per_min = lost * 60000 // (sealed_ms if sealed_ms > 0 else 1)
        bit = 1 << (k - 1)
        if -lost > L.HOLD_OVER_MMHG * 10:
            self.low &= ~bit
            if self.pressed & bit:
                return OK
            self.pressed |= bit
            return OVER
        floor = keep_to if keep_to < kept else kept
        if held < floor - L.HOLD_LOSS_FAULT_MMHG * 10:
            if self.low & bit:
                return FAULT
            self.low |= bit
            if self.warned & bit:
                return OK
            self.warned |= bit
            return DROP
        self.low &= ~bit
        if not self.warned & bit and lost >= L.HOLD_LOSS_MIN_MMHG * 10 and \
                self.rate_dmmhg_per_min >= L.HOLD_LOSS_WARN_MMHG_PER_MIN * 10:
            self.warned |= bit
            return WARN
        return OK
