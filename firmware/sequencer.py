# Wave sequencer: pure logic. step(now_ms, p_dmmhg) takes the time (ticks_ms) and the manifold
# pressure and returns the output command; it never touches hardware.
#
# One cycle: fill chamber 1 (foot) to the target with only its valve open, let the manifold
# settle and top up if short, close it and check every valve seals; the same for chamber 2 up
# to chamber N (thigh); hold with every chamber closed; vent all; check every valve opens;
# rest; repeat until the session time is up. A stop, or the end of the session, vents at once, checks the valves, then idles.
from time import ticks_diff, ticks_add
from limits import PROBE_EVERY_MS, PROBE_MS, GRADIENT_SLACK_MMHG, SAFE_MMHG, LETDOWN_MIN_S, \
    IDLE_PROBE_EVERY_MS, \
    MAX_PRESSED_PCT, WAVE_PLAN_MS, FILL_PLAN_MS, MAX_AT_PRESSURE_MS, WAVE_VENT_ALLOW_MS
from valves import SAFE, DUMP_CLOSED, PUMP_ON, closed_mask
from holdwatch import chamber_dmmhg

IDLE = 0
ZERO = 1        # everything vented, capturing the sensor's zero
FILL = 2        # pump into one chamber
SETTLE = 3      # pump off, chamber valve still open: manifold and chamber equalise
HOLD = 4        # every chamber full and closed
VENT = 5        # every path open
REST = 6        # vented, waiting for the next wave
PAUSED = 7      # vented, session clock running
CHECK = 8       # after a vent: prove every chamber valve opens (a puff per chamber)
DWELL = 9       # a program's extra hold after a chamber's fill (zone boost, custom)
RELEASE = 10    # pulse: the chamber below the one just filled partly lets air out
FIT = 11        # fit check at start: fill one chamber a little, timing how long it takes
FIT_VENT = 12   # ...then let it out before the next
SEAL = 13       # after each fill: every chamber closed, the manifold drained, then shut
PEEK = 14       # end of the hold: what each chamber kept, read through the shut manifold
PHASES = ("idle", "zero", "fill", "settle", "hold", "vent", "rest", "paused", "check", "dwell",
          "release", "fit", "fit_vent", "seal", "peek")
# fit check classes
FIT_NORMAL = 1
FIT_NO_GARMENT = 2      # no garment around the leg, or the hose is off: it never gets firm
FIT_BLOCKED = 3         # kinked or blocked: the manifold alone firms up at once
FIT_CLASSES = ("", "normal", "no garment or hose off", "kinked or blocked")
# phases with the pump off, when the pump-off probe runs
_PROBE_PHASES = (1 << HOLD) | (1 << VENT) | (1 << REST) | (1 << PAUSED) | (1 << DWELL) | \
    (1 << IDLE)     # idle too: a pump driver that shorts after a stop (issue 17, part 5)

ZERO_VENT_MS = 2000     # vent before taking the zero: a chamber may still hold air
ZERO_SAMPLE_MS = 500    # then average the sensor for this long
SETTLE_MS = 300         # manifold-chamber equalisation after the pump stops (plant: ~100 ms)
FILL_MIN_MS = 50        # the manifold still holds the last chamber's air for a few ms
TOPUP_BELOW_DMMHG = 20  # settled more than 2 mmHg short: pump again
MAX_TOPUPS = 3
VENT_MIN_MS = 1500
VENT_MAX_MS = 8000
VENTED_DMMHG = 30       # manifold below 3 mmHg with every path open: the wave has drained
# Valve check: with the dump closed and only chamber k's valve open, a short puff of the pump
# barely moves the manifold when the valve opens onto the soft, empty chamber, and shoots it
# up when the valve is stuck closed (the monitor watches). Then the dump lets the puff out.
PUFF_MS = 40
PUFF_VENT_MS = 120
PROBE_HOLDOFF_MS = 300  # no pump-off probe until the pump has been off this long
PROBE_VENT_MS = 1000    # nor in the first second of a vent
# Seal check after every fill: with every chamber closed the dump drains the manifold (about
# 20 ms), then the dump closes too. A chamber valve that does not close lets its chamber's air
# back into the shut manifold, and the monitor sees it climb. Found there, a valve stuck open
# never gets the chance to hide a second fault from the valve check.
SEAL_DRAIN_MS = 50
SEAL_SHUT_MS = 50
# Hold watch (holdwatch.py): at the end of the hold each chamber in use, foot to thigh, is read
# through the manifold. Drained and shut (a pump-off check, as in the seal check), the manifold
# (40 mL) joins the chamber for PEEK_MS and reads a little below it (it takes a share of the
# air); drained again and joined again, it reads the same share lower: the two readings give
# the share, and so what the chamber held (holdwatch.chamber_dmmhg). 190 ms a chamber.
PEEK_MS = 40            # the manifold equalises with a chamber in about 10 ms (plant)
PEEK_DRAIN_MS = 30      # the dump empties the 40 mL manifold in a few ms
PEEK_SHUT_MS = 50       # as SEAL_SHUT_MS: a climb is judged on the two ticks after it
PEEK_JOINED_MS = 20     # a joined reading this long after the valve opened is settled
# when each of the four readings (shut manifold, joined, drained, joined again) is taken
_PEEK_AT = (PEEK_DRAIN_MS + PEEK_SHUT_MS, PEEK_DRAIN_MS + PEEK_SHUT_MS + PEEK_MS,
            2 * PEEK_DRAIN_MS + PEEK_SHUT_MS + PEEK_MS, 2 * (PEEK_DRAIN_MS + PEEK_MS) + PEEK_SHUT_MS)
RELEASE_MAX_MS = 4000   # a pulse release ends by this time whatever the reading
RELEASE_PERIOD_MS = 150 # release: bleed through the dump, then shut it and let it settle
RELEASE_BLEED_MS = 50
TICK_GUESS_MS = 20      # the last ticks of a period read a settled manifold
FIT_DMMHG = 100         # the fit check fills each chamber to 10 mmHg...
FIT_FAST_MS = 100       # ...faster than this: nothing behind the valve takes the air
FIT_BLOCKED_DMMHG = 300 # (30 mmHg within FIT_FAST_MS: only a closed manifold climbs so fast)
FIT_TIMEOUT_MS = 8000   # ...not by this time: no garment, or a hose off (0.3-1.5 L: 0.5-5 s)
FIT_VENT_MS = 1000
FIT_FINAL_VENT_MS = 3000    # then every chamber open together before the first wave
TUNE_LIMIT_DMMHG = 300  # self-tuning never stops the pump more than 30 mmHg early...
TUNE_LATE_DMMHG = -50   # ...or more than 5 mmHg late
# Let-down (limits.LETDOWN_MIN_S, MAX_PRESSED_PCT): a wave's squeeze runs from its first fill
# until the vent reads below SAFE_MMHG with every path open; the next wave's first fill waits
# until the chambers have been let down LETDOWN_MIN_MS, and at least the share that keeps the
# squeeze at MAX_PRESSED_PCT of the time. The monitor checks the same from the outputs.
LETDOWN_MIN_MS = LETDOWN_MIN_S * 1000
LETDOWN_MARGIN_MS = 50  # a few ticks more than the monitor's last line asks
# The wave plan (limits.WAVE_PLAN_MS; waveplan.py checks programs at load, with the same
# figures): each wave vents within WAVE_PLAN_MS of its first fill. A fill starts only if the
# longest it could take (the monitor's budget for it, fill_budget, at most the fill timeout;
# every top-up, the seal check, a pulse release) and the peeks still end by the gate,
# MAX_AT_PRESSURE_MS - WAVE_VENT_ALLOW_MS after the wave's first fill: else the wave goes on to
# its hold without it. On entering a dwell or the hold it is cut to what both leave, the fills
# still to come counted at their time in the last wave (or the last fill's, or FILL_PLAN_MS).
# The caller says so (plan_cut, plan_trimmed_ms).
PEEK_EACH_MS = _PEEK_AT[3]      # the hold watch's four readings of one chamber
FILL_AFTER_MS = SETTLE_MS + SEAL_DRAIN_MS + SEAL_SHUT_MS        # a fill's settle and seal
FILL_AFTER_MAX_MS = SETTLE_MS * (MAX_TOPUPS + 1) + SEAL_DRAIN_MS + SEAL_SHUT_MS

END_NONE = 0
END_COMPLETE = 1
END_STOPPED = 2
END_NAMES = ("", "complete", "stopped")


class WaveSequencer:
    def __init__(self, chambers, target_dmmhg, hold_ms, rest_ms, session_ms, fill_timeout_ms):
        self.chambers = chambers
        self.target_dmmhg = target_dmmhg
        self.hold_ms = hold_ms
        self.rest_ms = rest_ms
        self.session_ms = session_ms
        self.fill_timeout_ms = fill_timeout_ms
        self._all_closed = closed_mask(chambers)
        self.enabled_mask = self._all_closed    # chambers in use (zone skip)
        self.skip_mask = 0                      # their valves: held shut while in session
        self.next_target_dmmhg = target_dmmhg   # the target in force (set_target)
        self._wave_dmmhg = target_dmmhg         # the base this wave fills to (see _begin_fill)
        self.program = None         # program.Program (modes); None: the plain wave
        self.tuning = True          # learn each chamber's overshoot and stop early by it
        self.fit_check = False      # check the garment and hoses at the start (the app sets it)
        self.fit_ms = [0] * chambers        # time each chamber took to 10 mmHg
        self.fit_class = [0] * chambers     # FIT_* per chamber, 0 = not checked
        self.fit_failed = 0         # chamber that failed the fit check (the caller trips)
        self._resuming = False      # a resume goes through a vent and the valve check
        self._release = 0           # chamber releasing (pulse), 0 when none
        self._release_to = 0
        # Per-chamber pressure at which to stop the pump, below target: 0 is the naive baseline.
        self.stop_early_dmmhg = [0] * chambers
        self.phase = IDLE
        self.chamber = 0            # 1-based chamber being filled, 0 when none
        self.checking = 0           # 1-based chamber whose valve is being puff-checked, or 0
        self.cycle = 0
        self.topups = 0
        self.end_reason = END_NONE
        self.fill_timed_out = False
        self.want_zero = False      # True while the caller should feed zero samples
        self.session_start_ms = 0
        self.probing = False        # True while the pump-off probe command is out
        self.sealing = False        # True while the manifold is shut on full, closed chambers
                                    # (the seal check, and each chamber's peek)
        self._probe_start_ms = 0
        self._next_probe_ms = 0
        self._phase_start_ms = 0
        self._fill_start_ms = 0
        self._filled = 0            # the chamber filled last in this wave
        self._dwell_ms = 0
        self._hold_for_ms = 0       # this wave's hold (the plan may cut it)
        self._took_ms = [0] * chambers  # each chamber's last fill, start to seal (0: not yet)
        self._last_took_ms = 0      # the last fill's, any chamber
        self.plan_cut = 0           # the first chamber this wave left unfilled, and how much
        self.plan_trimmed_ms = 0    # of its dwells and hold the plan cut
        self.fill_budget = None     # chamber -> the monitor's budget for its fill, ms (the app
                                    # sets it: monitor.fill_budget_ms); None: the fill timeout
        self.plan_note_cycle = 0    # a wave the plan changed: the caller says so, once a session
        self._plan_said = False
        self._targets = [target_dmmhg] * chambers   # each chamber's target in this wave
        # hold watch: what each chamber was left at (-1: unknown), when, and what it must keep
        self.kept_dmmhg = [-1] * chambers
        self.kept_ms = [0] * chambers
        self.keep_to_dmmhg = [0] * chambers         # its fill target, or a release's level
        self.held_dmmhg = [0] * chambers            # what the peek found it held
        self.peeking = 0            # 1-based chamber being read in the peek, or 0
        self.peeked = 0             # chamber just read (the caller judges it and clears this)
        self._peek_stage = 0
        self._peek_p = [0] * 4      # the peek's four readings (see _PEEK_AT)
        self._peek_prev = 0         # the reading of the tick before, and when in the peek
        self._peek_prev_ms = 0
        self.dump_check = None      # dumpcheck.DumpCheck on a board with more than one dump
        # let-down: a squeeze runs from its wave's first fill until the vent reads let down
        self._pressed = False       # squeezed and not yet let down
        self._press_ms = 0          # when the squeeze began
        self._letdown_known = False # False: never squeezed since power-up (let down for long)
        self._letdown_ms = 0        # when the chambers were last seen let down after a squeeze
        self._need_letdown_ms = LETDOWN_MIN_MS   # how long that let-down must last
        self._rest_for_ms = rest_ms # this rest's length (may be longer than rest_ms)
        self.rest_note_ms = 0       # a rest lengthened past the setting: the caller says so once
        self._calm_ms = -1          # idle: reading below SAFE_MMHG since (-1: not yet seen)
        self._idle_is_calm = False
        self._rest_said = False

    # --- commands -------------------------------------------------------------------------
    def start(self, now_ms):
        self.session_start_ms = now_ms
        self._rest_said = False
        self._plan_said = False
        self.plan_cut = 0
        self.plan_trimmed_ms = 0
        self.plan_note_cycle = 0
        if self._pressed:
            # a squeeze that a fault cut short: its vent was never seen here, so the let-down
            # is counted from now (the first wave waits LETDOWN_MIN_MS at most)
            self._pressed = False
            self.letdown_from(now_ms)
        self.end_reason = END_NONE
        self.fill_timed_out = False
        self.cycle = 0
        self.probing = False
        self._next_probe_ms = now_ms
        self._enter(ZERO, now_ms)

    def stop(self, now_ms, reason=END_STOPPED):
        """End the session: every path opens at once; once vented, the valves are checked,
        then idle."""
        if self.phase != IDLE and self.end_reason == END_NONE:
            self.end_reason = reason
            if self.phase != CHECK:
                self._enter(VENT, now_ms)

    def abort(self, now_ms):
        """Straight to idle (a fault: the supervisor holds every output safe)."""
        if self.phase != IDLE:
            self._enter(IDLE, now_ms)

    def pause(self, now_ms):
        if self.end_reason == END_NONE and self.phase not in (IDLE, ZERO, PAUSED):
            self._resuming = False
            self._enter(PAUSED, now_ms)

    def resume(self, now_ms):
        """Start a new wave from the foot, but only through a full vent and the valve check:
        a chamber may still hold air from before the pause, and a fill must start from empty."""
        if self.phase == PAUSED:
            self._resuming = True
            self._enter(VENT, now_ms)

    def letdown_from(self, now_ms):
        """The chambers are known let down only from now (a reset cut a session short: the
        let-down before it is unknown)."""
        self._letdown_known = True
        self._letdown_ms = now_ms
        self._need_letdown_ms = LETDOWN_MIN_MS

    def set_target(self, dmmhg):
        """The target in force. A lower one applies from the next fill (it hurts: now); a
        higher one from the foot of the next wave, so no wave climbs the leg in pressure."""
        self.next_target_dmmhg = dmmhg
        if dmmhg < self._wave_dmmhg:
            self._wave_dmmhg = dmmhg

    def set_enabled(self, chambers):
        """Chambers in use (1-based); the others are never inflated nor checked."""
        mask = 0
        for k in chambers:
            mask |= 1 << (k - 1)
        self.enabled_mask = mask & self._all_closed or self._all_closed
        self.skip_mask = self._all_closed & ~self.enabled_mask

    def _next_enabled(self, after):
        """The first chamber in use after chamber `after` (1-based), or 0."""
        for k in range(after + 1, self.chambers + 1):
            if self.enabled_mask & (1 << (k - 1)):
                return k
        return 0

    def active(self):
        return self.phase != IDLE

    def ending(self):
        return self.end_reason != END_NONE

    def in_phase_ms(self, now_ms):
        return ticks_diff(now_ms, self._phase_start_ms)

    def remaining_ms(self, now_ms):
        if self.phase == IDLE or self.end_reason != END_NONE:
            return 0
        return max(0, self.session_ms - ticks_diff(now_ms, self.session_start_ms))

    # --- the step -------------------------------------------------------------------------
    def step(self, now_ms, p_dmmhg):
        cmd = self._decide(now_ms, p_dmmhg)
        if cmd == SAFE and self.phase != IDLE:
            # vent, rest, pause: every chamber in use open; a chamber out of use stays shut so
            # it never takes air, not even from a venting manifold (idle opens everything)
            cmd = self.skip_mask
        if self._pressed and cmd & ~self.skip_mask == 0 and p_dmmhg < SAFE_MMHG * 10:
            self._let_down(now_ms)
        if self._letdown_known and not self._pressed and \
                ticks_diff(now_ms, self._letdown_ms) >= self._need_letdown_ms:
            # let down long enough: forget the time, or 6.2 days on (the tick's half period)
            # it would read as the future and hold the next session in its rest
            self._letdown_known = False
        if cmd & PUMP_ON:
            # a stopped pump coasts for a few tens of ms: probe only once it has stood still
            holdoff = ticks_add(now_ms, PROBE_HOLDOFF_MS)
            if ticks_diff(holdoff, self._next_probe_ms) > 0:
                self._next_probe_ms = holdoff
        phase = self.phase
        if phase == IDLE and not self.probing and not self._idle_calm(now_ms, p_dmmhg):
            self.probing = False
            return cmd
        if not (_PROBE_PHASES >> phase) & 1:
            # the zero phase probes too (after a first vent, before its samples are taken)
            if not (phase == ZERO and PROBE_VENT_MS <= self.in_phase_ms(now_ms) <
                    ZERO_VENT_MS - PROBE_MS - 2 * PROBE_MS):
                self.probing = False
                return cmd
        # Pump off: every PROBE_EVERY_MS close every path for PROBE_MS, so the monitor can see
        # a pump that runs when it should not (it would climb fast in the closed manifold).
        if self.probing:
            if ticks_diff(now_ms, self._probe_start_ms) < PROBE_MS:
                return self._all_closed | DUMP_CLOSED
            self.probing = False
            self._next_probe_ms = ticks_add(
                now_ms, IDLE_PROBE_EVERY_MS if phase == IDLE else PROBE_EVERY_MS)
        elif (ticks_diff(now_ms, self._next_probe_ms) >= 0 or
              ticks_diff(self._next_probe_ms, now_ms) > PROBE_HOLDOFF_MS + IDLE_PROBE_EVERY_MS) \
                and (self.phase != VENT or self.in_phase_ms(now_ms) >= PROBE_VENT_MS):
            # (a time further ahead than any set here is stale: set before a tick wrap, or
            # never, at power-up)
            # (not in the first second of a vent: let most of the air out first)
            self.probing = True
            self._probe_start_ms = now_ms
            return self._all_closed | DUMP_CLOSED
        return cmd

    def _idle_calm(self, now_ms, p_dmmhg):
        """Idle, the pump probe waits until the boot has read below SAFE_MMHG for
        PROBE_VENT_MS (after a reset or a stop the chambers may still be letting their air
        out, which a shut manifold would read as a pump). A flag once calm, not an old time:
        idle may last past the tick's half period."""
        if p_dmmhg >= SAFE_MMHG * 10 or self._calm_ms < 0:
            self._idle_is_calm = False
            self._calm_ms = now_ms
        elif not self._idle_is_calm and ticks_diff(now_ms, self._calm_ms) >= PROBE_VENT_MS:
            self._idle_is_calm = True
        return self._idle_is_calm

    def _decide(self, now_ms, p_dmmhg):
        if self.phase == IDLE:
            return SAFE
        if self.end_reason == END_NONE and \
                ticks_diff(now_ms, self.session_start_ms) >= self.session_ms:
            self.stop(now_ms, END_COMPLETE)
        phase = self.phase
        in_phase = ticks_diff(now_ms, self._phase_start_ms)
        if phase == ZERO:
            self.want_zero = in_phase >= ZERO_VENT_MS
            if in_phase >= ZERO_VENT_MS + ZERO_SAMPLE_MS:
                self.want_zero = False
                if self.fit_check:
                    for i in range(self.chambers):
                        self.fit_class[i] = 0
                    return self._begin_fit(self._next_enabled(0), now_ms)
                return self._next_wave(now_ms)
            return SAFE
        if phase == FIT:
            k = self.chamber
            # first FIT_FAST_MS: only a closed path reaches FIT_BLOCKED_DMMHG (a strong pump's
            # flow through the valve alone can read above FIT_DMMHG); then stop at FIT_DMMHG
            fast = in_phase < FIT_FAST_MS
            if (fast and p_dmmhg >= FIT_BLOCKED_DMMHG) or (not fast and p_dmmhg >= FIT_DMMHG) \
                    or in_phase >= FIT_TIMEOUT_MS:
                cls = FIT_BLOCKED if fast else \
                    FIT_NO_GARMENT if p_dmmhg < FIT_DMMHG else FIT_NORMAL
                self.fit_ms[k - 1] = in_phase
                self.fit_class[k - 1] = cls
                if cls != FIT_NORMAL:
                    self.fit_failed = k
                    self.stop(now_ms, END_STOPPED)
                    return SAFE
                self._enter(FIT_VENT, now_ms)
                self.chamber = k
                return SAFE
            return self._fill_cmd()
        if phase == FIT_VENT:
            if in_phase < FIT_VENT_MS:
                return SAFE
            k = self._next_enabled(self.chamber)
            if k:
                return self._begin_fit(k, now_ms)
            # every chamber open a while before the first wave: the first ones checked still
            # hold some of their fit air (a first fill from there is faster than any later
            # one, and the monitor learns each chamber's fill from it)
            return self._rest(now_ms, FIT_FINAL_VENT_MS)
        if phase == FILL:
            if in_phase >= FILL_MIN_MS and \
                    p_dmmhg >= self.target_dmmhg - self.stop_early_dmmhg[self.chamber - 1]:
                self._enter(SETTLE, now_ms)
                return self._settle_cmd()
            if ticks_diff(now_ms, self._fill_start_ms) >= self.fill_timeout_ms:
                self.fill_timed_out = True
                self.stop(now_ms, END_STOPPED)
                return SAFE
            return self._fill_cmd()
        if phase == SETTLE:
            if in_phase < SETTLE_MS:
                return self._settle_cmd()
            if self.tuning and self.topups == 0:
                # learn: where the pressure settles against where the pump stopped
                i = self.chamber - 1
                e = self.stop_early_dmmhg[i] + p_dmmhg - self.target_dmmhg
                self.stop_early_dmmhg[i] = min(max(e, TUNE_LATE_DMMHG), TUNE_LIMIT_DMMHG)
            if p_dmmhg < self.target_dmmhg - TOPUP_BELOW_DMMHG and self.topups < MAX_TOPUPS:
                self.topups += 1
                self._enter(FILL, now_ms)
                return self._fill_cmd()
            self._keep(self.chamber, p_dmmhg, self.target_dmmhg, now_ms)
            took = ticks_diff(now_ms, self._fill_start_ms)
            self._took_ms[self.chamber - 1] = took
            self._last_took_ms = took
            self._enter(SEAL, now_ms)
            return self._all_closed
        if phase == SEAL:
            if in_phase < SEAL_DRAIN_MS:
                return self._all_closed
            if in_phase < SEAL_DRAIN_MS + SEAL_SHUT_MS:
                self.sealing = True
                return self._all_closed | DUMP_CLOSED
            self.sealing = False
            dwell = self.program.dwell_ms(self._filled) if self.program else 0
            if dwell:
                dwell = self._plan_cut_ms(now_ms, dwell, self._filled)
            if dwell:
                self._dwell_ms = dwell
                self._enter(DWELL, now_ms)
                self.chamber = self._filled
                return self._all_closed
            return self._after_fill(now_ms)
        if phase == DWELL:
            if in_phase >= self._dwell_ms:
                return self._after_fill(now_ms)
            return self._all_closed
        if phase == RELEASE:
            # Let air out in short bleeds. With the dump open the manifold reads far below the
            # chamber, so judge only after the dump has been shut a while and the manifold
            # matches the chamber again.
            t = in_phase % RELEASE_PERIOD_MS
            judged = t >= RELEASE_PERIOD_MS - TICK_GUESS_MS
            if in_phase >= RELEASE_MAX_MS or (judged and in_phase >= RELEASE_PERIOD_MS and
                                                p_dmmhg <= self._release_to):
                # what the hold watch compares with: a settled reading, else none
                k = self._release
                if judged:
                    self._keep(k, p_dmmhg, min(self._release_to, p_dmmhg), now_ms)
                else:
                    self.kept_dmmhg[k - 1] = -1
                self._release = 0
                return self._next_fill(now_ms)
            joined = self._all_closed & ~(1 << (self._release - 1))
            return joined if t < RELEASE_BLEED_MS else joined | DUMP_CLOSED
        if phase == HOLD:
            if in_phase >= self._hold_for_ms:
                return self._begin_peek(self._next_enabled(0), now_ms)
            return self._all_closed
        if phase == PEEK:
            # take each of the four readings once, as its step ends (see _PEEK_AT)
            st = self._peek_stage
            if in_phase >= _PEEK_AT[st]:
                # a joined reading: with the one before it, once joined PEEK_JOINED_MS (noise)
                q = p_dmmhg
                if (st == 1 or st == 3) and \
                        self._peek_prev_ms >= _PEEK_AT[st - 1] + PEEK_JOINED_MS:
                    q = (p_dmmhg + self._peek_prev) // 2
                self._peek_p[st] = q
                st += 1
                self._peek_stage = st
                if st == 4:
                    k = self.peeking
                    r = self._peek_p
                    self.held_dmmhg[k - 1] = chamber_dmmhg(r[0], r[1], r[2], r[3])
                    self.peeked = k
                    return self._begin_peek(self._next_enabled(k), now_ms)
            self._peek_prev = p_dmmhg
            self._peek_prev_ms = in_phase
            if st == 0 and in_phase >= PEEK_DRAIN_MS:
                self.sealing = True     # the shut manifold: a climb is the pump or a valve
                return self._all_closed | DUMP_CLOSED
            self.sealing = False
            if st == 1 or st == 3:
                return DUMP_CLOSED | (self._all_closed & ~(1 << (self.peeking - 1)))
            return self._all_closed
        if phase == VENT:
            if in_phase >= VENT_MAX_MS or (in_phase >= VENT_MIN_MS and p_dmmhg < VENTED_DMMHG):
                self._enter(CHECK, now_ms)
                self.checking = self._next_enabled(0)
                # puff at once, as for the later chambers: the first gets the full PUFF_MS too
                return self._puff_cmd()
            return SAFE
        if phase == CHECK:
            dc = self.dump_check
            if dc is not None and dc.running:
                cmd = dc.step(now_ms, p_dmmhg)
                if dc.running:
                    return cmd
                self.checking = self.chambers       # every dump judged: what follows the check
                in_phase = PUFF_MS + PUFF_VENT_MS
            if in_phase < PUFF_MS:
                return self._puff_cmd()
            if in_phase < PUFF_MS + PUFF_VENT_MS:
                return SAFE
            k = self._next_enabled(self.checking)
            if k:
                self._enter(CHECK, now_ms)
                self.checking = k
                return self._puff_cmd()
            if dc is not None and not dc.judged:
                self.checking = 0       # a dump's puff, no chamber's: a climb is not BLOCKED
                return dc.begin(now_ms, p_dmmhg)
            self.checking = 0
            if self.end_reason == END_NONE and self._resuming:
                self._resuming = False
                return self._next_wave(now_ms)
            if self.end_reason != END_NONE:
                self._enter(IDLE, now_ms)
                return SAFE
            return self._rest(now_ms, self._rest_ms())
        if phase == REST:
            if in_phase >= self._rest_for_ms:
                return self._next_wave(now_ms)
            return SAFE
        return SAFE  # PAUSED, or a phase this code does not know: vented

    # --- helpers --------------------------------------------------------------------------
    def _enter(self, phase, now_ms):
        self.phase = phase
        self._phase_start_ms = now_ms
        self._calm_ms = -1              # (idle's probe waits for a calm boot again)
        if phase != FILL and phase != SETTLE:
            self.chamber = 0
        if phase != CHECK:
            self.checking = 0
        if phase != PEEK:
            self.peeking = 0
        if self.dump_check is not None:
            self.dump_check.cancel()
        if phase != ZERO:
            self.want_zero = False      # a stop in the zero phase takes no zero
        self.sealing = False

    def _let_down(self, now_ms):
        # the vent reads let down: the squeeze that just ended sets how long the let-down
        # must last (at least LETDOWN_MIN_MS; squeeze * (100 - MAX) / MAX keeps the share)
        self._pressed = False
        pressed_ms = ticks_diff(now_ms, self._press_ms)
        share = (pressed_ms * (100 - MAX_PRESSED_PCT) + MAX_PRESSED_PCT - 1) // MAX_PRESSED_PCT
        self._letdown_known = True
        self._letdown_ms = now_ms
        self._need_letdown_ms = max(LETDOWN_MIN_MS, share) + LETDOWN_MARGIN_MS

    def _left_ms(self, now_ms):
        """How much longer the chambers must stay let down before the next squeeze."""
        if self._pressed:
            return LETDOWN_MIN_MS + LETDOWN_MARGIN_MS   # not seen let down yet: wait, watch
        if not self._letdown_known:
            return 0
        return max(0, self._need_letdown_ms - ticks_diff(now_ms, self._letdown_ms))

    def _rest(self, now_ms, rest_ms):
        """Rest at least rest_ms, longer if the let-down needs it (said once a session)."""
        left = self._left_ms(now_ms)
        if left > rest_ms:
            if not self._rest_said and rest_ms == self._rest_ms():
                self._rest_said = True
                self.rest_note_ms = left
            rest_ms = left
        self._rest_for_ms = rest_ms
        self._enter(REST, now_ms)
        return SAFE

    def _next_wave(self, now_ms):
        """The next wave's first fill, once the chambers have been let down long enough
        (after the zero phase, a fit check, a resume or a rest); until then, a rest."""
        if self._left_ms(now_ms) > 0:
            return self._rest(now_ms, 0)
        self._start_cycle(now_ms)
        return self._fill_cmd()

    def _keep(self, k, p_dmmhg, keep_to, now_ms):
        """Chamber k's valve closes on p_dmmhg: the hold watch's reference."""
        self.kept_dmmhg[k - 1] = p_dmmhg
        self.kept_ms[k - 1] = now_ms
        self.keep_to_dmmhg[k - 1] = keep_to

    def _begin_peek(self, k, now_ms):
        if not k:
            if (self.plan_cut or self.plan_trimmed_ms) and not self._plan_said:
                self._plan_said = True
                self.plan_note_cycle = self.cycle       # (the caller clears the three)
            elif not self.plan_note_cycle:
                self.plan_cut = 0
                self.plan_trimmed_ms = 0
            self._enter(VENT, now_ms)
            return SAFE
        self._enter(PEEK, now_ms)
        self.peeking = k
        self._peek_stage = 0
        self._peek_prev_ms = 0
        return self._all_closed

    def _start_cycle(self, now_ms):
        for i in range(self.chambers):
            self.kept_dmmhg[i] = -1         # each wave is judged on its own fills
        self._pressed = True
        self._press_ms = now_ms
        self.cycle += 1
        self._wave_dmmhg = self.next_target_dmmhg
        self._begin_fill(self._next_enabled(0), now_ms)

    def _begin_fit(self, chamber, now_ms):
        self._enter(FIT, now_ms)
        self.chamber = chamber
        return self._fill_cmd()

    def _hold_ms(self):
        return self.program.hold_rest_ms(self.hold_ms, self.rest_ms)[0] if self.program \
            else self.hold_ms

    def _rest_ms(self):
        return self.program.hold_rest_ms(self.hold_ms, self.rest_ms)[1] if self.program \
            else self.rest_ms

    def _after_fill(self, now_ms):
        """After chamber _filled is full: pulse releases the one below it, then the next."""
        k = self._filled
        if self.program and self.program.release_pct:
            below = 0
            for j in range(k - 1, 0, -1):
                if self.enabled_mask & (1 << (j - 1)):
                    below = j
                    break
            if below:
                self._release = below
                self._release_to = self._targets[below - 1] * self.program.release_pct // 100
                self._enter(RELEASE, now_ms)
                return self._all_closed & ~(1 << (below - 1))
        return self._next_fill(now_ms)

    def _next_fill(self, now_ms):
        k = self._next_enabled(self._filled)
        if k and not self._may_fill(now_ms, k):
            self.plan_cut = k
            k = 0
        if k:
            self._begin_fill(k, now_ms)
            return self._fill_cmd()
        self._hold_for_ms = self._plan_cut_ms(now_ms, self._hold_ms(), self.chambers)
        self._enter(HOLD, now_ms)
        return self._all_closed

    def _peeks_ms(self):
        n = 0
        k = self._next_enabled(0)
        while k:
            n += 1
            k = self._next_enabled(k)
        return n * PEEK_EACH_MS

    def _plan_ms(self, k):
        """Chamber k's fill as planned: its time in the last wave (or the last fill's, or
        FILL_PLAN_MS), with its settle and seal."""
        return (self._took_ms[k - 1] or self._last_took_ms or FILL_PLAN_MS) + FILL_AFTER_MS

    def _longest_ms(self, k):
        """The longest chamber k's fill could take before the boot gives up on it."""
        ms = self.fill_timeout_ms
        if self.fill_budget is not None:
            ms = min(ms, self.fill_budget(k))
        ms += FILL_AFTER_MAX_MS
        if self.program and self.program.release_pct:
            ms += RELEASE_MAX_MS
        return ms

    def _plan_cut_ms(self, now_ms, want_ms, after):
        """A dwell after chamber `after`'s fill (the hold: after = chambers), cut to what the
        plan leaves: the fills after it as planned, within WAVE_PLAN_MS, and each of them
        started by the gate (see above)."""
        squeezed = ticks_diff(now_ms, self._press_ms)
        peeks = self._peeks_ms()
        room = WAVE_PLAN_MS - squeezed - peeks
        latest = MAX_AT_PRESSURE_MS      # the latest the next fill may start (none: no limit)
        for k in range(self.chambers, after, -1):
            if self.enabled_mask & (1 << (k - 1)):
                plan = self._plan_ms(k)
                room -= plan
                latest = min(MAX_AT_PRESSURE_MS - WAVE_VENT_ALLOW_MS - peeks -
                             self._longest_ms(k), latest - plan)
        room = min(room, latest - squeezed)
        if want_ms <= room:
            return want_ms
        room = max(room, 0)
        self.plan_trimmed_ms += want_ms - room
        return room

    def _may_fill(self, now_ms, k):
        """Chamber k's fill, at its longest, still lets the wave vent in time."""
        return ticks_diff(now_ms, self._press_ms) + self._longest_ms(k) + self._peeks_ms() <= \
            MAX_AT_PRESSURE_MS - WAVE_VENT_ALLOW_MS

    def _begin_fill(self, chamber, now_ms):
        base = self._wave_dmmhg
        prog = self.program
        t = prog.target_dmmhg(self.cycle, chamber, base) if prog else base
        # gradient order: never more than GRADIENT_SLACK_MMHG above the chamber filled below
        # it in this wave (a higher pressure up the leg pushes fluid back down), except where
        # a program raises one zone on purpose (zone boost; its check says so)
        below = self._filled if self._filled < chamber else 0
        if below and not (prog and prog.raises(chamber)):
            cap = self._targets[below - 1] + GRADIENT_SLACK_MMHG * 10
            if t > cap:
                t = cap
        self.target_dmmhg = t
        self._targets[chamber - 1] = self.target_dmmhg
        self._filled = chamber
        self.chamber = chamber
        self.topups = 0
        self._fill_start_ms = now_ms
        self._enter(FILL, now_ms)

    def _fill_cmd(self):
        # every valve closed but the filling chamber's; dump closed; pump on
        return PUMP_ON | DUMP_CLOSED | (self._all_closed & ~(1 << (self.chamber - 1)))

    def _puff_cmd(self):
        # the valve check: pump on, dump closed, only the checked chamber joined
        return PUMP_ON | DUMP_CLOSED | (self._all_closed & ~(1 << (self.checking - 1)))

    def _settle_cmd(self):
        # pump off, dump still closed, the chamber still joined to the manifold
        return DUMP_CLOSED | (self._all_closed & ~(1 << (self.chamber - 1)))
