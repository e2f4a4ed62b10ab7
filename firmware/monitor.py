# Hazard monitor: pure logic beside the supervisor. Each control tick it sees the time, the
# pressure, the raw sensor reading, the command that was driven and what the sequencer is doing,
# and returns a fault code (safety.*) when something physical is wrong. It never drives an
# output; the caller trips the supervisor with the code. Thresholds live in limits.py.
from time import ticks_diff
import limits as L
import safety
from valves import PUMP_ON, DUMP_CLOSED


_NO_BASE = 1 << 30                   # no drained reading yet in this hold


class Monitor:
    def __init__(self, chambers):
        self.chambers = chambers
        self._all = (1 << chambers) - 1
        self.chamber = 0                 # chamber of the last fault, for the message
        self.skip_mask = 0               # valves of chambers out of use (held shut)
        self._last_cmd = -1
        self._state_ms = 0               # when the current command started
        # fill progress (pump on)
        self._win_p = 0
        self._win_ms = 0
        self._last_p = 0
        self._fill_chamber = 0
        self._fill_ms = 0                # pump-on time into the current chamber this wave
        self.fill_peak = 0               # highest settled reading in the current fill
        self._last_tick_ms = 0
        self.expected_fill_ms = [0] * chambers   # learned per chamber; 0 = not yet known
        # the slow-rise rule's own learning: this session's fills (each from empty: the fit
        # check's air is let out before the first wave), how long and what they read
        self.slow_ms = [0] * chambers
        self.learned_dmmhg = [0] * chambers
        self._slow_judged = False        # this fill was compared with the learned one
        self._rw_p = 0                   # the climb window: a reading SLOW_RISE_WINDOW_MS ago
        self._rw_ms = 0
        self._rw_p2 = 0                  # ...and the one before it
        self._rw_ms2 = 0
        self._rw_n = 0                   # window readings taken in this fill
        # pump off with the dump closed
        self._hold_min = 0
        self._probe_p0 = 0
        self._rise_dmmhg = 0             # sealed with air held: the first tick's climb, 0 = none
        self._rise_seen = False          # ...and the tick after it was seen
        self._hold_base = _NO_BASE       # hold: the drained manifold's lowest reading
        # sensor
        self._same_uv = 0
        self._last_uv = -1
        self._drift_ms = -1
        # time at pressure
        self.last_vented_ms = 0
        # let-down (limits.LETDOWN_MIN_S, MAX_PRESSED_PCT), judged from the outputs alone
        self._pressed = False            # a fill ran since the boot was last seen let down
        self._press_ms = 0
        self._letdown_known = False      # never squeezed since power-up: let down for long
        self._letdown_ms = 0             # when the boot was last seen let down after a squeeze
        self._pressed_total_ms = 0       # this session's squeezes, ended ones
        self._session_ms = 0
        # impossible readings
        self._low_run = 0
        self._fall_p = _NO_BASE          # a fill's reading just after a sharp fall, to judge

    def begin_session(self, now_ms):
        self.last_vented_ms = now_ms
        for i in range(self.chambers):      # a garment strapped anew fills anew
            self.slow_ms[i] = 0
            self.learned_dmmhg[i] = 0
        self._session_ms = now_ms
        self._pressed_total_ms = 0
        if self._pressed:
            # a squeeze a fault cut short (the trip's vent is not watched here): let down
            # from now, the cautious end
            self._pressed = False
            self.letdown_from(now_ms)
        # a climb still being judged when the last session tripped for another reason
        self._rise_dmmhg = 0
        self._rise_seen = False
        self._hold_base = _NO_BASE
        self._fill_chamber = 0
        self._drift_ms = -1

    def letdown_from(self, now_ms):
        """The boot is known let down only from now (a reset cut a session short)."""
        self._letdown_known = True
        self._letdown_ms = now_ms

    def _check_squeeze(self, now_ms, pump_fill):
        # A fill begins a squeeze: the boot must have been let down LETDOWN_MIN_S since the
        # last one, and the session squeezed at most MAX_PRESSED_PCT of its time so far.
        if not pump_fill or self._pressed:
            return safety.NONE
        self._pressed = True
        self._press_ms = now_ms
        if self._letdown_known and \
                ticks_diff(now_ms, self._letdown_ms) < L.LETDOWN_MIN_S * 1000:
            return safety.TIME_AT_PRESSURE
        if self._pressed_total_ms * 100 > \
                L.MAX_PRESSED_PCT * ticks_diff(now_ms, self._session_ms):
            return safety.TIME_AT_PRESSURE
        return safety.NONE

    def begin_fill(self, chamber):
        """A fresh fill of chamber (1-based) starts (not a top-up)."""
        self._fill_chamber = chamber
        self._fill_ms = 0
        self.fill_peak = 0
        self._slow_judged = False
        self._rw_n = 0

    def fill_done(self, chamber, cycle=0):
        """The sequencer reached the target in chamber (1-based) in wave `cycle`: learn its
        fill time (and, from the second wave on, the slow-rise rule's figures)."""
        if self._fill_chamber == chamber and self._fill_ms > 0:
            self.expected_fill_ms[chamber - 1] = self._fill_ms
            if cycle >= 1:
                self.slow_ms[chamber - 1] = self._fill_ms
                self.learned_dmmhg[chamber - 1] = self.fill_peak

    def pump_silent(self):
        """The current fill never read PUMP_SILENT_DMMHG: the pump gave no air at all."""
        return self.fill_peak <= L.PUMP_SILENT_DMMHG

    def fill_lost(self, p):
        """The current fill's chamber had some air (SAFE_MMHG) and the manifold now reads less
        than half of it: the chamber went out of the sensor's sight (its valve shut, its hose
        came off), since a fill's reading otherwise only climbs."""
        return self.fill_peak >= L.SAFE_MMHG * 10 and 2 * p < self.fill_peak

    def fill_budget_ms(self, chamber):
        learned = self.expected_fill_ms[chamber - 1]
        if not learned:
            return L.FILL_TIMEOUT_MS
        return max(L.FILL_BUDGET_MIN_MS, L.FILL_BUDGET_FACTOR * learned)

    def check_reading(self, p, zeroed, in_window):
        """Every tick, whatever the boot does: a zeroed reading far below zero for
        IMPOSSIBLE_LOW_TICKS in a row, while the sensor's voltage is inside its plausible
        window (outside it is SENSOR_RANGE's), is no air at all: SENSOR_STEP."""
        if zeroed and in_window and p < L.IMPOSSIBLE_LOW_DMMHG:
            self._low_run += 1
            if self._low_run >= L.IMPOSSIBLE_LOW_TICKS:
                return safety.SENSOR_STEP
        else:
            self._low_run = 0
        return safety.NONE

    def check(self, now_ms, p, uv, cmd, filling, chamber, probing, resting_ms, checking=0,
              holding=False, in_window=True):
        """One tick. p: zeroed pressure (tenths of mmHg); uv: raw mean reading; cmd: the
        command driven; filling: the sequencer is in a fill of chamber (1-based); probing: the
        command is the pump-off probe; resting_ms: ms the boot has been fully open in a rest
        (-1 when not resting); checking: chamber whose valve gets a check puff, or 0; holding:
        full chambers are closed in (seal check, hold, dwell); in_window: the sensor's voltage
        is inside its plausible window (outside it, SENSOR_RANGE judges). Returns a fault code,
        or safety.NONE."""
        if self._rise_dmmhg:
            # the tick after a climb in the sealed manifold (read before this tick's command
            # took effect, so still sealed): a pump keeps climbing, a leaking valve levels off
            return self._judge_rise(p)
        if cmd != self._last_cmd:
            self._new_command(now_ms, p, cmd, filling, chamber)
        in_state = ticks_diff(now_ms, self._state_ms)
        dt = ticks_diff(now_ms, self._last_tick_ms)
        self._last_tick_ms = now_ms
        fault = safety.NONE
        # sensor frozen: a live transducer and ADC never repeat the same mean reading for long
        if uv == self._last_uv:
            self._same_uv += 1
        else:
            self._same_uv = 0
        self._last_uv = uv
        if cmd & PUMP_ON:
            if filling:
                self._fill_ms += dt
            if self._same_uv >= L.FROZEN_SAMPLES:
                fault = safety.SENSOR_FROZEN
            elif checking and p - self._probe_p0 > L.VALVE_CHECK_RISE_DMMHG:
                self.chamber = checking         # the puff found no chamber behind the valve
                fault = safety.BLOCKED
            elif filling:
                fault = self._check_fill(now_ms, p, chamber, in_state >= L.FILL_IGNORE_MS,
                                         in_window)
        elif cmd & DUMP_CLOSED:
            fault = self._check_pump_off(p, cmd, in_state, probing, holding)
        elif holding:
            fault = self._check_hold(p, in_state)
        if not holding:
            self._hold_base = _NO_BASE
        if cmd & ~self.skip_mask == 0 and p < L.SAFE_MMHG * 10:
            self.last_vented_ms = now_ms
            if self._pressed:
                self._pressed = False
                self._pressed_total_ms += ticks_diff(now_ms, self._press_ms)
                self._letdown_known = True
                self._letdown_ms = now_ms
        if self._letdown_known and not self._pressed and \
                ticks_diff(now_ms, self._letdown_ms) >= L.LETDOWN_MIN_S * 1000:
            self._letdown_known = False     # long enough: forget it (before the tick wraps)
        if not fault:
            fault = self._check_squeeze(now_ms, filling and cmd & PUMP_ON)
        if resting_ms >= L.DRIFT_SETTLE_MS and not fault:
            fault = self._check_drift(now_ms, p)
        else:
            self._drift_ms = -1
        self._last_p = p
        return fault

    def check_time_at_pressure(self, now_ms, active):
        """A session must vent fully at least every MAX_AT_PRESSURE_MS."""
        if active and ticks_diff(now_ms, self.last_vented_ms) > L.MAX_AT_PRESSURE_MS:
            return safety.TIME_AT_PRESSURE
        return safety.NONE

    def _new_command(self, now_ms, p, cmd, filling, chamber):
        self._last_cmd = cmd
        self._state_ms = now_ms
        self._hold_min = p
        self._probe_p0 = p
        self._fall_p = _NO_BASE
        if filling:
            self._win_p = p
            self._win_ms = now_ms

    def _check_fill(self, now_ms, p, chamber, settled, in_window):
        # too fast: air going nowhere (a kinked hose, or a valve that did not open). Checked
        # from the first tick: the manifold equalising with the chamber only ever falls.
        if p - self._last_p > L.FAST_RISE_DMMHG_PER_TICK:
            self.chamber = chamber
            return safety.BLOCKED
        if not settled:
            return safety.NONE
        # a sharp fall while the pump fills an open chamber: air escaping (a hose off, a torn
        # chamber) keeps falling on the next tick; a sensor that stepped reads on as before
        if self._fall_p != _NO_BASE:
            fall_p = self._fall_p
            self._fall_p = _NO_BASE
            if p - fall_p > L.FILL_FALL_NEXT_DMMHG and in_window:
                self.chamber = chamber
                return safety.SENSOR_STEP
        elif self._last_p - p > L.FILL_FALL_DMMHG:
            self._fall_p = p
        if p > self.fill_peak:
            self.fill_peak = p
        if self._slow_rise(now_ms, p, chamber, in_window):
            self.chamber = chamber
            return safety.SENSOR_STEP
        # progress: the pressure must gain FILL_PROGRESS_DMMHG every FILL_STALL_MS
        if p < self._win_p:
            self._win_p = p
        elif p >= self._win_p + L.FILL_PROGRESS_DMMHG:
            self._win_p = p
            self._win_ms = now_ms
        if ticks_diff(now_ms, self._win_ms) >= L.FILL_STALL_MS:
            self.chamber = chamber
            return safety.NO_RISE
        if self._fill_ms > self.fill_budget_ms(chamber):
            self.chamber = chamber
            return safety.NO_RISE
        return safety.NONE

    def _slow_rise(self, now_ms, p, chamber, in_window):
        # A fill that has pumped as long as this chamber's learned fill should read about what
        # that fill reached (same pump, leg and chamber, from empty). Reading much less while
        # still climbing steadily: the sensor sees only part of the air (its span is off), and
        # the chamber would be filled past its target. Judged once per fill.
        if ticks_diff(now_ms, self._rw_ms) >= L.SLOW_RISE_WINDOW_MS:
            self._rw_p2 = self._rw_p
            self._rw_ms2 = self._rw_ms
            self._rw_p = p
            self._rw_ms = now_ms
            self._rw_n += 1
        learned = self.slow_ms[chamber - 1]
        if self._slow_judged or not learned or self._fill_ms < learned:
            return False
        self._slow_judged = True
        lp = self.learned_dmmhg[chamber - 1]
        span = ticks_diff(now_ms, self._rw_ms2)
        if not in_window or lp < L.SAFE_MMHG * 10 or self._rw_n < 2 or \
                span > 3 * L.SLOW_RISE_WINDOW_MS:
            return False
        if not L.SLOW_RISE_FLOOR_PCT * lp <= 100 * p < L.SLOW_RISE_PCT * lp:
            return False
        # still climbing: (p - p2) / span >= RATE_PCT % of lp / learned, in integers
        return (p - self._rw_p2) * learned * 100 >= L.SLOW_RISE_RATE_PCT * lp * span

    def _check_pump_off(self, p, cmd, in_state, probing, holding):
        # pump commanded off, dump closed: the pressure must not climb
        if probing:
            if p - self._probe_p0 > L.PUMP_OFF_RISE_DMMHG:
                if not holding:
                    return safety.PUMP_STUCK_ON     # nothing holds air: only a pump can do it
                # full chambers are shut in: the pump, or a valve letting one back in. Two more
                # ticks tell (well inside the 2 s budget).
                self._rise_dmmhg = p - self._last_p if p - self._last_p > 1 else 1
            return safety.NONE
        if in_state < L.PUMP_OFF_SETTLE_MS:
            self._hold_min = p
            return safety.NONE
        if p < self._hold_min:
            self._hold_min = p
        elif p - self._hold_min > L.PUMP_OFF_RISE_DMMHG:
            return safety.PUMP_STUCK_ON
        return safety.NONE

    def _check_hold(self, p, in_state):
        # full chambers shut in, dump open: the manifold drains in about 20 ms and then reads
        # flat. A valve that lets go blows its chamber's air through it: a bump that a slow
        # probe could miss once the chamber has emptied. The drained level is kept across the
        # probes of one hold: a bump that starts while a probe's air drains is still a bump.
        if in_state < L.HOLD_DRAIN_MS:
            return safety.NONE
        if p < self._hold_base:
            self._hold_base = p
        if p - self._hold_base > L.HOLD_BUMP_DMMHG:
            # judged on the next tick, as in a probe: a pump blowing into a dump that did not
            # open keeps climbing, a valve's air does not
            self._rise_dmmhg = p - self._last_p if p - self._last_p > 1 else 1
        return safety.NONE

    def _judge_rise(self, p):
        # Two more ticks tell them apart (read before each tick's command takes effect, so
        # still under the command that saw the climb): a running pump keeps climbing at its
        # steady rate (spin-up only makes it faster); air from a chamber equalises within a few
        # ms and levels off (docs/SAFETY.md, row 19).
        step = p - self._last_p
        self._last_p = p
        if not self._rise_seen:
            self._rise_seen = True
            self._rise_dmmhg = step if step > 1 else 1
            return safety.NONE
        first = self._rise_dmmhg
        self._rise_dmmhg = 0
        self._rise_seen = False
        if step >= L.PUMP_CLIMB_DMMHG_PER_TICK and 2 * step >= first:
            return safety.PUMP_STUCK_ON
        return safety.VALVE_LEAK

    def _check_drift(self, now_ms, p):
        # fully open and rested: the sensor must read close to zero
        if -L.DRIFT_DMMHG <= p <= L.DRIFT_DMMHG:
            self._drift_ms = -1
            return safety.NONE
        if self._drift_ms < 0:
            self._drift_ms = now_ms
        elif ticks_diff(now_ms, self._drift_ms) >= L.DRIFT_CONFIRM_MS:
            return safety.SENSOR_DRIFT
        return safety.NONE
