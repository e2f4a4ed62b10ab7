"""Safety supervisor (firmware/safety.py): trips, latching, vent verification, clearing; under
CPython and MicroPython."""
import time

import pytest
from hypothesis import given, strategies as st

import safety as sf
from dual import DET, both
from limits import (SAFE_MMHG, SENSOR_BAD_SAMPLES, SESSION_GRACE_MS, VENT_BUDGET_MS)
from valves import PUMP_ON

CEILING = 1500
SAFE = SAFE_MMHG * 10


def sup():
    return sf.Supervisor(CEILING, SAFE, VENT_BUDGET_MS, SENSOR_BAD_SAMPLES, SESSION_GRACE_MS)


def test_codes_and_advice_tables_line_up():
    assert len(sf.CODES) == len(sf.ADVICE)
    assert sf.CODES[sf.NONE] == "NONE" and sf.ADVICE[sf.NONE] == ""
    for name in sf.CODES[1:]:
        code = getattr(sf, name)
        assert sf.CODES[code] == name and sf.ADVICE[code], name
    assert set(sf.HIGH_PRIORITY) <= set(range(1, len(sf.CODES)))
    assert sf.OVER_PRESSURE in sf.HIGH_PRIORITY and sf.VENT_FAILED in sf.HIGH_PRIORITY


def test_healthy_samples_never_trip():
    s = sup()
    for t in range(0, 100000, 10):
        assert s.check_sample(t, CEILING, 0) == sf.NONE          # at the ceiling is allowed
        assert s.check_session(t, True, 0, 100000) == sf.NONE
    assert not s.tripped() and s.first_fault == sf.NONE


def test_ceiling_trips_on_the_first_sample_above():
    s = sup()
    assert s.check_sample(0, CEILING, 0) == sf.NONE
    assert s.check_sample(10, CEILING + 1, 0) == sf.OVER_PRESSURE
    assert s.tripped() and s.first_fault == sf.OVER_PRESSURE and s.fault_ms == 10
    assert s.venting


@pytest.mark.parametrize("bad_first", [0, 1, 2])
def test_sensor_range_needs_that_many_consecutive_bad_samples(bad_first):
    s = sup()
    for run in range(1, SENSOR_BAD_SAMPLES):
        assert s.check_sample(run * 10, 0, run) == sf.NONE
    # a good sample resets the run (the sensor's bad_run does that; the supervisor sees it)
    assert s.check_sample(100, 0, 0) == sf.NONE
    assert s.check_sample(110, 0, SENSOR_BAD_SAMPLES - 1) == sf.NONE
    assert s.check_sample(120 + bad_first, 0, SENSOR_BAD_SAMPLES) == sf.SENSOR_RANGE
    assert s.fault_ms == 120 + bad_first


def test_sensor_range_from_a_real_sensor_reading_an_open_wire():
    from pressure import Sensor
    level = [1000000]                       # 1.0 V at the ADC: inside the window
    sensor = Sensor(lambda: level[0], 0.5, 4.5, 300, 0.5)
    s = sup()
    sensor.read()
    assert s.check_sample(0, sensor.p_dmmhg, sensor.bad_run) == sf.NONE
    level[0] = 0                            # the wire breaks
    for i in range(1, SENSOR_BAD_SAMPLES):
        sensor.read()
        assert s.check_sample(i * 10, sensor.p_dmmhg, sensor.bad_run) == sf.NONE
    sensor.read()
    assert s.check_sample(SENSOR_BAD_SAMPLES * 10, sensor.p_dmmhg, sensor.bad_run) == \
        sf.SENSOR_RANGE


def test_fault_latches_and_clear_waits_for_a_verified_vent():
    s = sup()
    s.check_sample(0, CEILING + 50, 0)
    assert s.fault == sf.OVER_PRESSURE
    # pressure falls but is still above safe: latched, vent not verified, clear refused
    assert s.check_sample(10, SAFE, 0) == sf.OVER_PRESSURE and s.venting
    assert not s.clear(20, SAFE - 1, 0)                 # still venting (not yet seen below)
    assert s.fault == sf.OVER_PRESSURE
    assert s.check_sample(30, SAFE - 1, 0) == sf.OVER_PRESSURE and s.venting
    assert not s.clear(35, SAFE - 1, 0)                 # seen below, not for long enough yet
    assert s.check_sample(30 + sf.VENT_CONFIRM_MS - 10, SAFE - 1, 0) and s.venting
    assert s.check_sample(30 + sf.VENT_CONFIRM_MS, SAFE - 1, 0) == sf.OVER_PRESSURE
    assert not s.venting
    # vent verified, but clear() checks the pressure it is given too
    assert not s.clear(40, SAFE, 0)
    assert not s.clear(40, SAFE - 1, 1)                 # sensor out of window right now
    assert s.tripped() and s.first_fault == sf.OVER_PRESSURE
    assert s.clear(50, SAFE - 1, 0)
    assert (s.fault, s.first_fault, s.tripped()) == (sf.NONE, sf.NONE, False)
    assert s.clear(60, 5000, 9)                         # nothing to clear: True, no change
    # and it can trip again, with the new fault first
    assert s.check_sample(70, 0, SENSOR_BAD_SAMPLES) == sf.SENSOR_RANGE
    assert s.first_fault == sf.SENSOR_RANGE and s.fault_ms == 70


def test_first_fault_is_kept():
    s = sup()
    s.trip(sf.NO_RISE, 5)
    s.check_sample(10, CEILING + 1, SENSOR_BAD_SAMPLES)
    s.check_session(20, True, 0, 1)
    s.trip(sf.LOOP_STALL, 30)
    assert (s.fault, s.first_fault, s.fault_ms) == (sf.NO_RISE, sf.NO_RISE, 5)


@pytest.mark.parametrize("t0", [0, 123456, -1, -3000])
def test_vent_failed_after_the_budget(t0):
    t0 = time.ticks_add(0, t0)              # negative: just below the ticks wrap
    s = sup()
    s.check_sample(t0, CEILING + 1, 0)
    for dt in range(0, VENT_BUDGET_MS, 10):
        assert s.check_sample(time.ticks_add(t0, dt), SAFE, 0) == sf.OVER_PRESSURE
    # the budget is "within 5 s": at 5 s exactly it has run out
    assert s.check_sample(time.ticks_add(t0, VENT_BUDGET_MS), SAFE, 0) == sf.VENT_FAILED
    assert s.first_fault == sf.OVER_PRESSURE and s.fault_ms == t0
    # VENT_FAILED stands until the vent is finally seen, and clear() is refused till then
    assert not s.clear(time.ticks_add(t0, 9000), 0, 0)
    s.check_sample(time.ticks_add(t0, 9000), SAFE - 1, 0)
    s.check_sample(time.ticks_add(t0, 9000 + sf.VENT_CONFIRM_MS), SAFE - 1, 0)
    assert s.fault == sf.VENT_FAILED and not s.venting
    assert s.clear(time.ticks_add(t0, 9010), SAFE - 1, 0) and not s.tripped()


def test_a_normal_vent_is_verified_too():
    # begin_vent() without a fault (every wave's vent): too slow is a fault on its own
    s = sup()
    s.begin_vent(1000)
    s.begin_vent(3000)                      # a second call does not restart the budget
    assert s.check_sample(999 + VENT_BUDGET_MS, 800, 0) == sf.NONE
    assert s.check_sample(1000 + VENT_BUDGET_MS, 800, 0) == sf.VENT_FAILED
    assert s.first_fault == sf.VENT_FAILED
    s = sup()
    s.begin_vent(0)
    assert s.check_sample(4000, SAFE - 1, 0) == sf.NONE and s.venting
    assert s.check_sample(4000 + sf.VENT_CONFIRM_MS, SAFE - 1, 0) == sf.NONE and not s.venting
    assert s.check_sample(90000, CEILING, 0) == sf.NONE      # not venting: no budget runs


def test_a_vent_is_verified_only_by_a_steady_safe_reading():
    """A trip during a fill with a dead pump: the manifold reads low at once, but a full
    chamber's air reaches it a few ms later through its newly opened valve. A dip is not a
    vent; and a reading that came down in time but is still confirming at the budget is no
    failure, while one that rises again after the budget is."""
    s = sup()
    s.trip(sf.NO_RISE, 0)
    assert s.check_sample(10, 90, 0) == sf.NO_RISE and s.venting     # the dip
    assert s.check_sample(20, 650, 0) == sf.NO_RISE and s.venting    # the chamber's air
    for t in range(30, 4900, 10):
        s.check_sample(t, 300, 0)
    assert s.check_sample(4900, SAFE - 1, 0) == sf.NO_RISE           # down at 4.9 s
    assert s.check_sample(VENT_BUDGET_MS + 10, SAFE - 1, 0) == sf.NO_RISE and s.venting
    assert s.check_sample(4900 + sf.VENT_CONFIRM_MS, 0, 0) == sf.NO_RISE and not s.venting
    s = sup()
    s.trip(sf.NO_RISE, 0)
    s.check_sample(4900, SAFE - 1, 0)
    assert s.check_sample(VENT_BUDGET_MS + 10, SAFE, 0) == sf.VENT_FAILED    # back up: failed


def test_a_sensor_out_of_window_cannot_confirm_a_vent():
    s = sup()
    s.check_sample(0, CEILING + 1, 0)
    # out-of-window samples (bad_run > 0) never confirm the vent: unverified -> VENT_FAILED
    for t in range(10, VENT_BUDGET_MS, 10):
        assert s.check_sample(t, 0, 1) == sf.OVER_PRESSURE
    assert s.venting
    assert s.check_sample(VENT_BUDGET_MS, 0, 1) == sf.VENT_FAILED
    assert s.first_fault == sf.OVER_PRESSURE


def test_a_sensor_fault_escalates_when_unverified_and_clears_once_the_sensor_reads_sane():
    s = sup()
    s.check_sample(0, 0, SENSOR_BAD_SAMPLES)
    for t in range(10, VENT_BUDGET_MS, 10):         # it reads high, plausibly
        assert s.check_sample(t, 800, 0) == sf.SENSOR_RANGE
    # nobody can tell the boot vented: the user must check by hand (high priority)
    assert s.check_sample(VENT_BUDGET_MS, 800, 0) == sf.VENT_FAILED
    assert s.first_fault == sf.SENSOR_RANGE
    assert s.venting and not s.clear(30000, 800, 0)
    assert not s.clear(30010, 0, 1)                # nor while it is out of its window
    assert s.check_sample(30020, 0, 0) == sf.VENT_FAILED and s.venting       # repaired...
    assert s.check_sample(30020 + sf.VENT_CONFIRM_MS, 0, 0) == sf.VENT_FAILED
    assert not s.venting                                                    # ...and steady
    assert s.clear(30030 + sf.VENT_CONFIRM_MS, 0, 0) and not s.tripped()


@pytest.mark.parametrize("start", [0, 5000, -1, -20000])
def test_session_overrun_after_session_plus_grace(start):
    start = time.ticks_add(0, start)
    s = sup()
    session = 20 * 60000
    end = session + SESSION_GRACE_MS
    assert s.check_session(time.ticks_add(start, end), True, start, session) == sf.NONE
    assert s.check_session(time.ticks_add(start, end + 1), False, start, session) == sf.NONE
    assert s.check_session(time.ticks_add(start, end + 1), True, start, session) == \
        sf.SESSION_OVERRUN
    assert s.fault_ms == time.ticks_add(start, end + 1)


def test_blocked_is_treated_as_a_failed_vent():
    s = sup()
    assert s.trip(sf.BLOCKED, 100) == sf.VENT_FAILED
    assert s.first_fault == sf.BLOCKED and s.venting


def test_retry_cmd_never_runs_the_pump_and_mostly_opens_everything():
    n_closed = 0
    for chambers in (1, 4, 8):
        for t in range(0, 4 * sf.RETRY_EVERY_MS, 10):
            cmd = sf.retry_cmd(time.ticks_add(-500, t), -500, chambers)
            assert not cmd & PUMP_ON
            assert cmd in (0, (1 << chambers) - 1 | (1 << 8))
            n_closed += cmd != 0
    assert n_closed == 3 * 4 * sf.RETRY_PULSE_MS // 10


# --- random call sequences: the supervisor can only trip ----------------------------------

CALLS = st.one_of(
    st.tuples(st.just("sample"), st.integers(1, 3000), st.integers(-200, 3000),
              st.integers(0, 6)),
    st.tuples(st.just("session"), st.integers(1, 3000), st.booleans(), st.integers(0, 40000)),
    st.tuples(st.just("clear"), st.integers(1, 3000), st.integers(-200, 400), st.integers(0, 1)),
    st.tuples(st.just("vent"), st.integers(1, 3000), st.just(0), st.just(0)),
    st.tuples(st.just("trip"), st.integers(1, 3000), st.integers(1, len(sf.CODES) - 1),
              st.just(0)),
)


@DET
@given(calls=st.lists(CALLS, max_size=120), t0=st.integers(0, 2 ** 30 - 1))
def test_random_calls_only_trip(calls, t0):
    s = sup()
    now = t0
    first = sf.NONE
    for kind, dt, a, b in calls:
        now = time.ticks_add(now, dt)
        before = s.fault
        if kind == "sample":
            s.check_sample(now, a, b)
            if a > CEILING or b >= SENSOR_BAD_SAMPLES:
                assert s.tripped()
        elif kind == "session":
            s.check_session(now, a, time.ticks_add(now, -b), 30000)
            if a and b > 30000 + SESSION_GRACE_MS:
                assert s.tripped()
        elif kind == "vent":
            s.begin_vent(now)
        elif kind == "trip":
            s.trip(a, now)
            assert s.tripped()
        else:
            venting = s.venting
            ok = s.clear(now, a, b)
            if before != sf.NONE:
                assert ok == (not venting and not b and a < SAFE)
            if ok:
                first = sf.NONE
            assert s.tripped() == (before != sf.NONE and not ok)
        if kind != "clear" and before != sf.NONE:
            # latched: the fault only ever stays or becomes VENT_FAILED
            assert s.fault in (before, sf.VENT_FAILED)
        if first == sf.NONE and s.tripped():
            first = s.first_fault
        assert s.first_fault == first


def test_same_trips_under_micropython(micropython):
    code = r'''
import json, time
import safety as sf
out = []
s = sf.Supervisor(1500, 150, 5000, 4, 15000)
t0 = time.ticks_add(0, -2000)
def at(dt):
    return time.ticks_add(t0, dt)
out.append(s.check_sample(at(0), 1500, 0))
out.append(s.check_sample(at(10), 1501, 0))
for dt in range(20, 5010, 10):
    s.check_sample(at(dt), 150, 0)
out.append([s.fault, s.first_fault])
out.append(s.check_sample(at(5011), 150, 0))
out.append(s.clear(at(5020), 100, 0))
s.check_sample(at(5030), 149, 0)
s.check_sample(at(5030 + sf.VENT_CONFIRM_MS), 149, 0)
out.append([s.clear(at(5340), 150, 0), s.clear(at(5340), 149, 1), s.clear(at(5350), 149, 0)])
for run in range(1, 5):
    out.append(s.check_sample(at(6000 + run), 0, run))
out.append(s.check_session(at(7000), True, at(0), 100))
out.append([s.fault, s.first_fault, s.venting])
print(json.dumps(out))
'''
    out = both(micropython, code)
    assert out == [0, 1, [1, 1], 4, False, [False, False, True], 0, 0, 0, 2, 2, [2, 2, True]]


def test_isolation_only_against_a_source_that_cannot_be_stopped():
    """Tripped, every path open, pump off, yet the manifold stays above the ceiling: the
    chambers are closed off. Not before ISOLATE_AFTER_MS (a working dump empties the manifold
    in ~20 ms), not when healthy, not on the word of a sensor out of its window."""
    s = sup()
    assert not s.must_isolate(0, CEILING + 500, 0)                  # healthy: never
    s.trip(sf.PUMP_STUCK_ON, 0)
    assert not s.must_isolate(10, CEILING + 1, 0)
    assert not s.must_isolate(10 + sf.ISOLATE_AFTER_MS - 10, CEILING + 300, 0)
    assert s.must_isolate(10 + sf.ISOLATE_AFTER_MS, CEILING + 300, 0) and s.isolated
    assert s.must_isolate(5000, 0, 3)                               # sensor lost: it stands
    assert s.must_isolate(5010, CEILING - sf.ISOLATE_RELEASE_DMMHG, 0)
    assert not s.must_isolate(5020, CEILING - sf.ISOLATE_RELEASE_DMMHG - 1, 0)  # dump freed
    s = sup()
    s.trip(sf.OVER_PRESSURE, 0)
    assert not s.must_isolate(10, CEILING + 300, 0)
    assert not s.must_isolate(30, CEILING - 1, 0)                   # came down: start again
    assert not s.must_isolate(40 + sf.ISOLATE_AFTER_MS - 20, CEILING + 1, 0)
    s2 = sup()
    s2.trip(sf.SENSOR_RANGE, 0)
    for t in range(0, 1000, 10):
        assert not s2.must_isolate(t, CEILING + 300, 1)             # out of window: no


def test_trip_response_checks_each_valve_once_vented_and_names_the_one_shut():
    from tripped import TripResponse
    from sequencer import PUFF_MS, PUFF_VENT_MS, VENT_MIN_MS
    from valves import SAFE, DUMP_CLOSED
    s = sup()
    s.trip(sf.NO_RISE, 0)
    tr = TripResponse(4)
    enabled = 0b1110                                # chamber 1 switched off in the settings
    for t in range(0, VENT_MIN_MS, 10):
        assert tr.command(t, 0, s, 0, enabled) == SAFE       # let it drain first
    s.check_sample(0, 0, 0)
    s.check_sample(sf.VENT_CONFIRM_MS, 0, 0)        # verified vented
    t = VENT_MIN_MS
    puff2 = PUMP_ON | DUMP_CLOSED | 0b1101
    assert tr.command(t, 0, s, 0, enabled) == puff2             # chamber 2 first
    assert tr.command(t + PUFF_MS, 0, s, 0, enabled) == SAFE     # then let the puff out
    t += PUFF_MS + PUFF_VENT_MS
    assert tr.command(t, 0, s, 0, enabled) == SAFE              # the next one is set up...
    t += 10
    assert tr.command(t, 0, s, 0, enabled) == PUMP_ON | DUMP_CLOSED | 0b1011   # ...chamber 3
    assert tr.command(t + 10, 60, s, 0, enabled) == SAFE        # 6 mmHg up: valve 3 shut
    assert tr.found_shut == 3 and s.fault == sf.VENT_FAILED and s.first_fault == sf.NO_RISE
    # from now on, VENT_FAILED's retry pulses
    assert tr.command(2000 - 50, 0, s, 0, enabled) == 0b1111 | DUMP_CLOSED
    tr.reset()
    assert tr._k == -1


def test_after_a_frozen_sensor_only_a_live_reading_verifies_a_vent():
    s = sup()
    s.trip(sf.SENSOR_FROZEN, 0)
    for t in range(0, VENT_BUDGET_MS, 10):
        assert s.check_sample(t, 0, 0, True, False) == sf.SENSOR_FROZEN    # reads 0, frozen
    assert s.check_sample(VENT_BUDGET_MS, 0, 0, True, False) == sf.VENT_FAILED
    s.check_sample(9000, 0, 0, True, True)                                  # it moves again
    s.check_sample(9000 + sf.VENT_CONFIRM_MS, 0, 0, True, True)
    assert not s.venting and s.clear(9400, 0, 0)
    # any other fault too: a frozen sensor is only found while pumping, so the first fault may
    # be another (the soak: HOLD_LOSS read on a frozen sensor, the dump stuck, every chamber at
    # 35 mmHg "verified" vented by the still reading); only a reading that moves verifies
    s = sup()
    s.trip(sf.HOLD_LOSS, 0)
    s.check_sample(10, 0, 0, True, False)
    s.check_sample(10 + sf.VENT_CONFIRM_MS, 0, 0, True, False)
    assert s.venting
    s.check_sample(20 + sf.VENT_CONFIRM_MS, 0, 0, True, True)
    s.check_sample(20 + 2 * sf.VENT_CONFIRM_MS, 0, 0, True, True)
    assert not s.venting


def test_a_climb_left_unjudged_by_a_trip_does_not_haunt_the_next_session():
    """The monitor judges a climb in a shut manifold over the next two ticks. If the session
    trips for another reason in between, the monitor is not called again until the next
    session: that one must start clean, not with a stale verdict."""
    import limits as L
    from monitor import Monitor
    from valves import DUMP_CLOSED
    m = Monitor(4)
    m.begin_session(0)
    probe = 0b1111 | DUMP_CLOSED
    assert m.check(0, 0, 1000, 0b1111, False, 0, False, -1, 0, True) == sf.NONE
    assert m.check(10, 0, 1001, probe, False, 0, True, -1, 0, True) == sf.NONE
    assert m.check(20, 200, 1002, probe, False, 0, True, -1, 0, True) == sf.NONE  # climbs
    # (a trip elsewhere: no more calls this session)
    m.begin_session(60000)
    for t in range(60010, 60100, 10):
        assert m.check(t, 0, t, 0, False, 0, False, -1) == sf.NONE
    # and without the new session, the verdict would have come on the next call
    m2 = Monitor(4)
    m2.begin_session(0)
    m2.check(0, 0, 1000, 0b1111, False, 0, False, -1, 0, True)
    m2.check(10, 0, 1001, probe, False, 0, True, -1, 0, True)
    m2.check(20, 200, 1002, probe, False, 0, True, -1, 0, True)
    m2.check(30, 201, 1003, probe, False, 0, True, -1, 0, True)
    assert m2.check(40, 201, 1004, probe, False, 0, True, -1, 0, True) == sf.VALVE_LEAK
    assert L.PUMP_CLIMB_DMMHG_PER_TICK > 1


def test_a_reading_far_below_zero_verifies_no_vent_and_clears_nothing():
    s = sup()
    s.trip(sf.SENSOR_RANGE, 0)
    for t in range(0, VENT_BUDGET_MS, 10):
        s.check_sample(t, -SAFE, 0)
    assert s.check_sample(VENT_BUDGET_MS, -SAFE, 0) == sf.VENT_FAILED and s.venting
    assert not s.clear(VENT_BUDGET_MS + 10, -SAFE, 0)
    s.check_sample(6000, -SAFE + 1, 0)
    s.check_sample(6000 + sf.VENT_CONFIRM_MS, -SAFE + 1, 0)
    assert not s.venting and s.clear(6400, 0, 0)


def test_a_trip_wait_whose_stamp_reads_the_future_has_run_out(micropython):
    """Soak seed 12011: a stamp kept across more than half the tick period (6.2 days on the
    chip: a stall or a shelf) reads as the future; the isolation and vent-budget waits then
    count as run out, never as just begun (which held a stuck pump's isolation back and took
    a chamber to 160 mmHg)."""
    code = r'''
import json, time
import safety as sf
out = []
quarter = (time.ticks_add(0, -1) + 1) // 4       # a quarter of the tick period
def later(t, dt):                               # half the period and dt after t
    return time.ticks_add(time.ticks_add(time.ticks_add(t, quarter), quarter), dt)
s = sf.Supervisor(1500, 150, 5000, 4, 15000)
t0 = time.ticks_add(0, -30)
s.trip(sf.PUMP_STUCK_ON, t0)
out.append(s.must_isolate(t0, 1800, 0))
out.append(s.must_isolate(later(t0, 40), 1800, 0))      # age reads about -half: run out
s = sf.Supervisor(1500, 150, 5000, 4, 15000)
s.trip(sf.PUMP_STUCK_ON, t0)
s.check_sample(t0, 400, 0, True)
out.append(s.fault)
s.check_sample(later(t0, 40), 400, 0, True)             # never verified, budget read negative
out.append(s.fault)
print(json.dumps(out))
'''
    out = both(micropython, code)
    assert out == [False, True, sf.PUMP_STUCK_ON, sf.VENT_FAILED]


def test_a_puff_whose_start_reads_the_future_runs_its_pump_no_longer(micropython):
    """Soak seed 12012: a valve check's puff began, then the ticks read half their period on
    (a shelf in the simulator; never on a running chip): the puff's elapsed time read negative,
    and its pump ran on, taking chamber 2 to 157 mmHg. Now the puff starts again and ends
    PUFF_MS later, in the post-trip check and the acknowledgement check alike."""
    code = r'''
import json, time
import safety as sf
from tripped import TripResponse
from sequencer import PUFF_MS, VENT_MIN_MS
from valves import PUMP_ON
import limits as L
quarter = (time.ticks_add(0, -1) + 1) // 4
def later(t, dt):
    return time.ticks_add(time.ticks_add(time.ticks_add(t, quarter), quarter), dt)
out = []
s = sf.Supervisor(1500, 150, 5000, 4, 15000)
s.trip(sf.NO_RISE, 0)
s.check_sample(0, 0, 0)
s.check_sample(sf.VENT_CONFIRM_MS, 0, 0)
tr = TripResponse(4)
t = VENT_MIN_MS
out.append(bool(tr.command(t, 0, s, 0, 0b1111) & PUMP_ON))          # chamber 1's puff
t2 = later(t, 10)
out.append([bool(tr.command(time.ticks_add(t2, dt), 0, s, 0, 0b1111) & PUMP_ON)
            for dt in (0, PUFF_MS, 1000)])
s2 = sf.Supervisor(1500, 150, 5000, 4, 15000)
s2.trip(sf.NO_RISE, 0)
tr2 = TripResponse(4)
tr2.begin_ack(0, 0, 0b1111)
pumped = 0
t = 0
for i in range(100):                    # through the probe to the control puff
    if tr2.command(t, 0, s2, 0, 0b1111) & PUMP_ON:
        break
    t += 10
t3 = later(t, 10)
for dt in range(0, 3000, 10):           # no rise: the puff ends at ACK_CONTROL_MS
    if tr2.command(time.ticks_add(t3, dt), 0, s2, 0, 0b1111) & PUMP_ON:
        pumped += 10
out.append(pumped <= L.ACK_CONTROL_MS + 10)
print(json.dumps(out))
'''
    out = both(micropython, code)
    assert out == [True, [True, False, False], True], out
