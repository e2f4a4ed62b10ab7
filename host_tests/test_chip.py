"""Issue 12: the virtual ESP32's tick counter (sim/device/chipclock.py) and what the firmware
does with it: a session across the 2**30 ms wrap, a week on a shelf, the scenario's "chip"
section and "idle" action. (The week on the shelf then a start press: scenarios/
week_on_shelf.json, run by test_scenarios.py.)"""
import json

import pytest
from hypothesis import given, settings, strategies as st

from conftest import run_micropython
from sim import paths
from sim.harness import Boot
from sim.scenario import ScenarioError, check_top
from sim.session import build_config, run

import chipclock

PERIOD = 1 << 30


@given(st.integers(0, 10 ** 13))
@settings(max_examples=300, deadline=None)
def test_the_idle_jumps_add_up_and_each_reads_as_a_step_back(skip_ms):
    steps = chipclock.jump_steps(skip_ms, PERIOD)
    diff, _ = chipclock.make_diff(PERIOD)
    assert 1 <= len(steps) <= 2
    assert sum(steps) % PERIOD == skip_ms % PERIOD
    for j in steps:
        # a stamp refreshed every round, seen across the jump: never a long-stalled loop
        assert PERIOD // 2 <= j < PERIOD
        assert -PERIOD // 2 <= diff(j, 0) <= 0


def test_the_firmware_counts_with_the_chips_period_under_micropython():
    # the real interpreter, the simulator's `time` (mpshim): the counter wraps at 2**30 and
    # ticks_diff gives the short way round, as on the ESP32 (the unix port's own is 2**62)
    board = json.loads((paths.BOARDS / "esp32-devkitc-4ch.json").read_text())
    code = f"""
import json, simctx
from vboard import VirtualBoard
config = {{"board": {board!r}, "duration_ms": 10**9, "chip": {{"uptime_s": {PERIOD // 1000 - 1}}}}}
simctx.board = VirtualBoard(config, print, 0, lambda t, d: t + d)
import time
a = time.ticks_ms()
simctx.board.advance(2000)
b = time.ticks_ms()
print(json.dumps([a, b, time.ticks_diff(b, a), time.ticks_add(a, 2000), time.ticks_diff(a, b)]))
"""
    out = run_micropython(code, extra_path=[paths.DEVICE / "mpshim"]).strip().splitlines()[-1]
    a, b, d, added, back = json.loads(out)
    assert a == (PERIOD // 1000 - 1) * 1000 and b == a + 2000 - PERIOD == 176
    assert d == 2000 and added == b and back == -2000


def _events(trace, name):
    return [r for r in trace if r["kind"] == "event" and r["event"] == name]


def test_a_session_across_the_tick_wrap_runs_and_is_reported_with_its_true_length(tmp_path):
    # power-on 70 s before the wrap: the wrap falls in the first wave's fills, under MicroPython
    scenario = {"settings": {"pressure_mmhg": 60, "minutes": 2, "fit_check": False},
                "chip": {"uptime_s": PERIOD // 1000 - 70}, "duration_s": 170}
    trace_path = tmp_path / "wrap.jsonl"
    summary, _ = run(build_config(scenario), "micropython", str(trace_path), quiet=True)
    trace = [json.loads(x) for x in trace_path.read_text().splitlines()]
    assert summary["end_reason"] == "complete" and summary["faults"] == [], summary
    usage = _events(trace, "usage")
    assert usage and 118 <= usage[0]["ran_s"] <= 125, usage
    # the firmware's own uptime (event t_ms) runs on through the wrap
    times = [r["t_ms"] for r in trace if r["kind"] == "event" and r.get("source") != "sim"]
    assert times == sorted(times) and times[-1] > 160000
    fills = [r for r in _events(trace, "phase") if r["phase"] == "fill"]
    assert fills[0]["t_ms"] < 70000 < fills[-1]["t_ms"]


def test_uptime_and_events_survive_weeks_on_the_shelf():
    # in-process (CPython runtime, the same firmware): idle 13 days, across the whole period
    b = Boot(settings={"minutes": 1, "fit_check": False}, uptime_s=0)
    b.press("start")
    b.run(20000)
    b.press("stop")
    b.run(5000)
    for days in (3, 7, 13):
        b.shelf(days * 86400)
        b.press("start")
        b.run(20000)
        assert b.app.seq.active() and max(b.vb.plant.p_chambers) > 70, days
        b.press("stop")
        b.run(5000)
    assert b.watch.violations == []
    up = b.app.uptime_ms(b.vb.ticks_ms())
    t = [json.loads(e)["t_ms"] for e in b.events]
    assert t == sorted(t) and up >= t[-1] > 0


@pytest.mark.parametrize("bad, says", [
    ({"chip": {"uptime": 5}}, "unknown key 'uptime'"),
    ({"chip": {"console": "serial"}}, "chip.console: must be one of uart, usb, usb_blocked"),
    ({"chip": {"flash_sector_ms": 900}}, "chip.flash_sector_ms: must be a number from 0 to 500"),
    ({"actions": [{"t_s": 10, "do": "idle"}]}, "'idle' needs 's'"),
    ({"actions": [{"t_s": 10, "do": "idle", "s": 60}]}, "at least 300 s"),
    ({"actions": [{"t_s": 10, "do": "start", "s": 60}]}, "only 'idle' takes 's'"),
    ({"actions": [{"t_s": 10, "do": "idle", "s": 86400}, {"t_s": 5000, "do": "start"}],
      "duration_s": 90000}, "actions[1].t_s: 5000 falls inside actions[0]'s idle window"),
    ({"actions": [{"t_s": 10, "do": "idle", "s": 86400}],
      "faults": [{"t_s": 0, "fault": "leak", "chamber": 1, "ml_per_min": 10, "until_s": 600}],
      "duration_s": 90000}, "faults[0].until_s: 600 falls inside"),
    ({"actions": [{"t_s": 10, "do": "idle", "s": 600}], "duration_s": 4 * 3600 + 601},
     "duration_s: must be a number from 1 to 15000"),
])
def test_the_chip_section_and_the_idle_action_refuse_what_they_cannot_do(bad, says):
    with pytest.raises(ScenarioError) as e:
        build_config(check_top(bad))
    assert says in str(e.value)


def test_a_long_idle_lifts_the_run_length_cap():
    config = build_config({"actions": [{"t_s": 0, "do": "idle", "s": 604800},
                                       {"t_s": 604800, "do": "start"}],
                           "duration_s": 604800 + 3600})
    assert config["duration_ms"] == (604800 + 3600) * 1000


def test_periodic_work_goes_on_after_a_shelf_past_half_the_tick_period():
    # a job the firmware runs every second (the status line) keeps its last time across the
    # shelf; a week on, that time reads as the future: the job is due, not 5.4 days away
    b = Boot(settings={"minutes": 1}, uptime_s=0)
    b.run(5000)
    b.shelf(7 * 86400)
    n = len(b.events)
    b.run(10000)
    status = [e for e in b.events[n:] if '"event": "status"' in e]
    assert len(status) >= 9, status


def test_a_shelf_waits_for_a_stuck_pump_to_stand_still():
    # soak seed 12011: a pump stuck on runs whatever its command says; a shelf taken then
    # would stand the plant still with the pump running, which no chip on a shelf does
    b = Boot(settings={"minutes": 1}, uptime_s=0)
    b.run(15000)
    b.inject({"fault": "pump_stuck_on"})
    b.run(500)
    assert b.vb.plant.pump_running()
    assert b.shelf(300) is False


def test_a_shelfs_second_jump_waits_for_what_the_round_between_started():
    # soak seed 12012: after a watchdog reset (LOOP_STALL latched), the 200 ms between a
    # shelf's two jumps started the trip's valve check; the second jump landed in a puff, whose
    # pump then ran on behind the step back (chamber 2 to 157 mmHg). Every jump now finds the
    # outputs at rest for IDLE_QUIET_MS
    b = Boot(settings={"pressure_mmhg": 62, "hold_s": 0, "rest_s": 16, "minutes": 3,
                       "fit_check": True},
             plant={"chamber_volume_ml": [679, 1162, 642, 540], "pump_strength": 0.703,
                    "leak_ml_per_min": [106, 194, 16, 56]}, seed=78)
    b.press("start")
    b.shelf(956915)
    b.inject({"fault": "sensor_gain", "factor": 1.2605612105569275})
    b.run(50)
    b.shelf(1031228)
    b.inject({"fault": "loop_stall", "ms": 202})
    b.run(50)
    for s in (585614, 26616, 550311):
        b.shelf(s)
    b.run(6000)
    assert not b.watch.violations, b.watch.violations[:3]
    assert len(b.vb.jumps) >= 5
    assert all(quiet >= chipclock.IDLE_QUIET_MS for _, quiet in b.vb.jumps), b.vb.jumps
