"""Maintenance mode's logic (firmware/maint.py, issue 15) on a simulated clock, under CPython
and MicroPython: entered only from idle; the pump never runs with every path closed, never
longer than limits.MAINT_PUMP_MAX_MS a request, never from MAINT_PUMP_MAX_MMHG; no request for
MAINT_IDLE_MS (the cable pulled) vents and leaves; air held past MAINT_HELD_MAX_MS vents."""
from hypothesis import given, strategies as st

import limits as L
import maint as M
from dual import DET, both
from valves import DUMP_CLOSED, PUMP_ON, SAFE, dead_headed

N = 4
ALL = DUMP_CLOSED | 0b1111


def entered(t=0):
    m = M.Maint(N)
    assert m.enter(t, True) == M.OK and m.on
    return m


def test_entered_only_from_idle():
    m = M.Maint(N)
    assert m.enter(0, False) == M.R_NOT_IDLE and not m.on
    assert m.step(10, 0) == SAFE
    # nothing is accepted before it is entered
    assert m.close(10, 1) == M.R_OFF and m.pump(10, 100, 0) == M.R_OFF
    assert m.step(20, 0) == SAFE


def test_a_pump_request_with_every_path_closed_is_refused():
    m = entered()
    for k in range(N + 1):
        assert m.close(0, k) == M.OK
    assert m.step(10, 0) == ALL                  # shut in, pump off: allowed (the gauge's bulb)
    assert m.pump(10, 100, 0) == M.R_ALL_CLOSED
    assert m.step(20, 0) == ALL and not m.pumping
    assert m.open(20, 2) == M.OK
    assert m.pump(20, 100, 0) == M.OK
    assert m.step(30, 0) == ALL & ~0b10 | PUMP_ON


def test_the_pump_stops_by_itself_and_a_request_is_bounded():
    m = entered()
    m.close(0, 0)
    assert m.pump(0, L.MAINT_PUMP_MAX_MS + 1, 0) == M.R_PUMP_MS
    assert m.pump(0, 0, 0) == M.R_PUMP_MS
    assert m.pump(0, 250, 0) == M.OK
    on = [t for t in range(10, 400, 10) if m.step(t, 0) & PUMP_ON]
    assert on == list(range(10, 250, 10))
    assert m.pump_total_ms == 250


def test_the_pump_stops_at_the_maintenance_ceiling_and_is_refused_from_it():
    m = entered()
    m.close(0, 0)
    m.pump(0, 300, 0)
    assert m.step(10, 300) & PUMP_ON
    assert not m.step(20, L.MAINT_PUMP_MAX_MMHG * 10) & PUMP_ON
    assert m.pump(30, 100, L.MAINT_PUMP_MAX_MMHG * 10) == M.R_HIGH


def test_closing_the_last_open_path_while_pumping_is_refused():
    m = entered()
    for k in (0, 1, 2, 3):
        m.close(0, k)
    m.pump(0, 200, 0)
    assert m.close(10, 4) == M.R_LAST_PATH
    assert m.step(20, 0) == DUMP_CLOSED | 0b0111 | PUMP_ON
    assert m.close(300, 4) == M.OK      # the pump has stopped by then (step at 300 stops it)
    assert m.step(300, 0) & PUMP_ON == 0


def test_no_request_for_the_idle_time_vents_and_leaves():
    m = entered()
    m.close(0, 0)
    m.close(0, 1)
    t = 0
    while t <= L.MAINT_IDLE_MS:
        assert m.step(t, 400) == DUMP_CLOSED | 1
        t += 10
    assert m.step(t, 400) == SAFE and not m.on
    assert m.take_end() == M.END_TIMEOUT and m.take_end() == M.END_NONE
    assert m.pump(t, 100, 0) == M.R_OFF


def test_readings_keep_the_link_alive_but_air_held_too_long_vents():
    m = entered()
    m.close(0, 0)
    t = 0
    while m.on:
        m.touch(t)
        m.step(t, 400)
        t += 500
    assert m.take_end() == M.END_HELD
    assert L.MAINT_HELD_MAX_MS < t <= L.MAINT_HELD_MAX_MS + 1000


def test_leave_and_vent():
    m = entered()
    m.close(0, 0)
    m.pump(0, 100, 0)
    assert m.vent(10) == M.OK and m.step(10, 0) == SAFE and m.on
    m.close(20, 3)
    m.leave(30)
    assert m.step(40, 0) == SAFE and m.take_end() == M.END_LEFT


def test_a_repeated_enter_changes_nothing_and_never_restarts_the_held_clock():
    m = entered()
    m.close(0, 0)
    m.close(0, 2)
    t = 0
    while m.on:
        assert m.enter(t, True) == M.OK             # (a computer that sends enter again)
        assert m.closed == DUMP_CLOSED | 0b10
        m.step(t, 400)
        t += 500
    assert m.take_end() == M.END_HELD and t <= L.MAINT_HELD_MAX_MS + 1000


def test_vented_means_every_path_open_and_low_for_the_vent_confirm_time():
    """The manifold falls first with the dump open: one low reading is not a vented boot."""
    m = entered()
    m.close(0, 1)
    t = 0
    while m.on:
        m.touch(t)
        m.open(t, 1)
        m.step(t, 100)                  # one low tick with every path open ...
        m.close(t + 10, 1)
        m.step(t + 10, 400)             # ... and shut again
        t += 1000
    assert m.take_end() == M.END_HELD and t <= L.MAINT_HELD_MAX_MS + 2000
    m = entered()
    m.close(0, 1)
    m.step(0, 400)
    m.open(10, 1)
    for t in range(10, 400, 10):
        m.step(t, 100)                  # low and open for longer than VENT_CONFIRM_MS
    m.close(400, 1)
    for t in range(400, L.MAINT_HELD_MAX_MS, 1000):
        m.touch(t)
        m.step(t, 400)
    assert m.on                         # the clock began again at the vent


def test_no_enter_again_until_the_end_is_taken_nor_after_a_press():
    m = entered()
    m.leave(10)
    assert m.enter(20, True) == M.R_ENDED           # (the App has not vented it yet)
    assert m.take_end() == M.END_LEFT
    assert m.enter(30, True) == M.OK
    m.leave(40, M.END_INPUT)
    m.take_end()
    assert m.enter(5000, True) == M.R_ENDED and not m.on    # a person stopped it


def test_the_pump_with_the_dump_shut_must_raise_the_reading():
    """A hose off (or a sensor off its hose): pumping stops after FILL_STALL_MS of pump time
    without a 1 mmHg rise, and is refused until a vent; with the dump open nothing is judged."""
    m = entered()
    t = 0
    m.pump(t, 300, 50)
    for t in range(10, 300, 10):
        assert m.step(t, 50) & PUMP_ON              # the dump open: the air goes out
    m.close(300, 0)
    on_ms = 0
    t = 300
    while t < 5000:
        if not m.pumping and m.pump(t, 300, 50) == M.R_NO_RISE:
            break
        t += 10
        if m.step(t, 50) & PUMP_ON:
            on_ms += 10
    assert m.no_rise and L.FILL_STALL_MS - 100 <= on_ms <= L.FILL_STALL_MS + 10   # (ticks)
    assert m.vent(t) == M.OK and m.close(t, 0) == M.OK and m.pump(t, 300, 50) == M.OK
    p = 50
    for t in range(t + 10, t + 300, 10):            # a rising reading: pumping goes on
        p += 5
        assert m.step(t, p) & PUMP_ON


REQUEST = st.tuples(st.sampled_from(["close", "open", "pump", "touch", "vent", "enter",
                                     "bulb", "none"]),
                    st.integers(-1, N + 1), st.integers(-50, 600), st.integers(1, 1500),
                    st.integers(-100, 900))


@DET
@given(steps=st.lists(REQUEST, min_size=1, max_size=60))
def test_no_request_sequence_breaks_the_rules(steps):
    """Any requests at any times (gaps up to 15 s), any readings: the pump never runs with every
    path closed, at or above the maintenance ceiling, longer than MAINT_PUMP_MAX_MS after an
    accepted request, nor after MAINT_IDLE_MS without a request; off, it drives SAFE."""
    m = entered()
    t = 0
    last_req = 0
    pump_ok_at = None
    open_low_at = 0
    for what, k, ms, gap, p in steps:
        if what != "none" and m.on:
            last_req = t
        if what == "close":
            m.close(t, k)
        elif what == "open":
            m.open(t, k)
        elif what == "pump":
            if m.pump(t, ms, p) == M.OK:
                assert 1 <= ms <= L.MAINT_PUMP_MAX_MS and p < L.MAINT_PUMP_MAX_MMHG * 10
                pump_ok_at = t
        elif what == "touch":
            m.touch(t)
        elif what == "bulb":
            if m.bulb(t) == M.OK:
                assert m.closed & DUMP_CLOSED and m.closed & 0xF == 0xF and not m.pumping
        elif what == "vent":
            m.vent(t)
        elif what == "enter":
            was_on = m.on
            if m.enter(t, True) == M.OK and not was_on:
                open_low_at = t
        for t in range(t + 10, t + gap + 1, 10):
            cmd = m.step(t, p)
            if m.on and (m.closed or p >= L.SAFE_MMHG * 10):
                # air may be held: never past MAINT_HELD_MAX_MS since the boot was last open
                # and low (plus the vent's confirmation), whatever was asked meanwhile
                assert t - open_low_at <= L.MAINT_HELD_MAX_MS + 20
            elif m.on:
                open_low_at = t
            assert not dead_headed(cmd, N)
            if m.bulb_on:
                assert m.closed & DUMP_CLOSED and m.closed & 0xF == 0xF     # every path shut
            if cmd & PUMP_ON:
                assert not m.bulb_on
                assert pump_ok_at is not None and t - pump_ok_at < L.MAINT_PUMP_MAX_MS
                assert p < L.MAINT_PUMP_MAX_MMHG * 10
            if t - last_req > L.MAINT_IDLE_MS or not m.on:
                assert cmd == SAFE and not m.on


SNIPPET = r'''
import json
import maint as M
from valves import PUMP_ON
m = M.Maint(4)
out = [m.enter(0, False), m.enter(0, True)]
for k in range(5):
    out.append(m.close(0, k))
out.append(m.pump(0, 100, 0))
out.append(m.open(10, 3))
out.append(m.pump(10, 200, 0))
out.append(m.close(20, 3))
cmds = []
for t in range(20, 300, 10):
    cmds.append(m.step(t, 100))
out.append(m.pump(300, 100, 600))
t = 300
while m.on:
    t += 10
    m.step(t, 0)
print(json.dumps([out, cmds, m.pump_total_ms, m.take_end(), t]))
'''


def test_same_decisions_under_micropython(micropython):
    out, cmds, pumped, end, t_end = both(micropython, SNIPPET)
    assert out[:2] == [M.R_NOT_IDLE, M.OK]
    assert out[7] == M.R_ALL_CLOSED and out[9] == M.OK and out[10] == M.R_LAST_PATH
    assert out[11] == M.R_HIGH
    assert sum(1 for c in cmds if c & PUMP_ON) == 19 and pumped == 200
    assert end == M.END_TIMEOUT and t_end == 300 + L.MAINT_IDLE_MS + 10


def test_opening_the_dump_for_a_moment_does_not_restart_the_no_rise_clock():
    """A blind sensor (off its hose): pump requests with the dump shut, and between them the
    dump opened and shut again: the pump time without a rise still adds up to FILL_STALL_MS."""
    m = entered()
    m.close(0, 0)
    t, on_ms = 0, 0
    while t < 20000 and not m.no_rise:
        if m.pump(t, 300, 50) == M.OK:
            for _ in range(30):
                t += 10
                if m.step(t, 50) & PUMP_ON:
                    on_ms += 10
        m.open(t, 0)                    # the dump for a moment ...
        m.pump(t, 20, 50)
        t += 10
        m.step(t, 50)
        m.close(t, 0)                   # ... and shut again
        t += 10
        m.step(t, 50)
    assert m.no_rise and on_ms <= L.FILL_STALL_MS + 300
    assert m.pump(t, 300, 50) == M.R_NO_RISE


def test_pump_time_with_the_dump_open_does_not_count_and_another_chamber_fills_from_zero():
    """A hostile review: the no-rise time counted pump time with the dump open (a false
    NO_RISE), and the reading to beat stood when another chamber was opened (filling
    chamber 2 from 0 with chamber 1 holding 40 mmHg was refused)."""
    m = entered()
    m.close(0, 0)
    for k in (2, 3, 4):
        m.close(0, k)
    t, p = 0, 0
    while p < 400:                      # chamber 1 to 40 mmHg, the reading rising
        if not m.pumping:
            assert m.pump(t, 300, p) == M.OK
        t += 10
        p += 4
        m.step(t, p)
    m.open(t, 0)                        # the dump open: 1.8 s of pump time, not judged
    for _ in range(6):
        assert m.pump(t, 300, 0) == M.OK
        for _ in range(30):
            t += 10
            m.step(t, 0)
    m.close(t, 0)
    m.close(t, 1)                       # chamber 1 holds; chamber 2 fills from 0
    m.open(t, 2)
    p = 0
    for _ in range(100):
        if not m.pumping:
            assert m.pump(t, 300, p) == M.OK, M.REFUSALS[m.pump(t, 300, p)]
        t += 10
        p += 3
        assert m.step(t, p) & PUMP_ON or not m.pumping
    assert not m.no_rise


def test_the_gauges_bulb_needs_a_shut_manifold_and_locks_the_pump_off():
    """Commissioning's calibration: bulb() only with every path closed and the pump still; then
    no pump request until a path opens; opening one, venting or leaving ends it."""
    m = entered()
    assert m.bulb(0) == M.R_BULB_PATHS
    for k in range(N + 1):
        m.close(0, k)
    m.open(0, 2)
    assert m.bulb(0) == M.R_BULB_PATHS          # one chamber still open
    m.close(0, 2)
    assert m.bulb(0) == M.OK and m.bulb_on
    assert m.pump(10, 100, 0) == M.R_BULB
    assert not m.step(20, 400) & PUMP_ON
    m.open(30, 1)
    assert not m.bulb_on and m.pump(40, 100, 0) == M.OK
    m.vent(50)
    for k in range(N + 1):
        m.close(60, k)
    assert m.bulb(60) == M.OK
    m.vent(70)
    assert not m.bulb_on
