"""Faults the field produces (issue 17, part 7): faults that end ("until_s"), an outside load on
a chamber, crossed hoses, a transducer wrong in span or drifting, dead annunciators. Here: the
scenario checks and the virtual board's handling; the physics is in test_plant.py, the
firmware's answers in the scenario library (host_tests/scenarios/)."""
import json

import pytest

import cpython_rt
import vboard
from plant import Plant
from sim import paths
from sim.scenario import FAULTS, ONE_SHOT, ScenarioError, check_events

BOARD = json.loads(paths.DEFAULT_BOARD.read_text())
N = BOARD["chambers"]


def board(faults, plant=None):
    config = {"board": BOARD, "plant": plant or {}, "seed": 1, "duration_ms": 10 ** 9,
              "sample_ms": 10 ** 9, "faults": faults, "actions": []}
    lines = []
    vb = vboard.VirtualBoard(config, lines.append, 0, cpython_rt.ticks_add)
    return vb, lines


def fault_state(p):
    """Everything a fault may change in the plant."""
    return (p.pump_forced, p.dump_forced, list(p.valve_forced), list(p.disconnected),
            p.sensor_mode, p.sensor_offset_mmhg, [round(x, 12) for x in p._leak],
            [round(x, 9) for x in p._v_span])


ENDING = [{"fault": "pump_stuck_on"}, {"fault": "pump_dead"},
          {"fault": "valve_stuck_closed", "chamber": 2}, {"fault": "valve_stuck_open", "chamber": 3},
          {"fault": "dump_stuck_closed"}, {"fault": "sensor_open"}, {"fault": "sensor_short"},
          {"fault": "sensor_frozen"}, {"fault": "sensor_offset", "mmhg": -18},
          {"fault": "leak", "chamber": 2, "ml_per_min": 1500},
          {"fault": "hose_disconnect", "chamber": 4}, {"fault": "no_garment", "chamber": 1},
          {"fault": "monitor_off"}]


@pytest.mark.parametrize("fault", ENDING, ids=[f["fault"] for f in ENDING])
def test_a_fault_that_ends_leaves_nothing_behind(fault):
    fresh = Plant(N, BOARD["sensor"])
    vb, lines = board([dict(fault, t_ms=1000, until_ms=3000)])
    vb.advance(2000)
    assert fault_state(vb.plant) != fault_state(fresh) or fault["fault"] == "monitor_off"
    assert vb.monitor_off == (fault["fault"] == "monitor_off")
    vb.advance(1000)
    assert fault_state(vb.plant) == fault_state(fresh)
    assert not vb.monitor_off
    ends = [json.loads(x[5:]) for x in lines if '"fault_end"' in x]
    assert ends == [{"sim": "fault_end", "t_ms": 3000, "fault": fault["fault"]}]


def test_an_ended_offset_puts_back_the_one_before():
    vb, _ = board([{"fault": "sensor_offset", "mmhg": 5, "t_ms": 0},
                   {"fault": "sensor_offset", "mmhg": -18, "t_ms": 1000, "until_ms": 2000}])
    vb.advance(1500)
    assert vb.plant.sensor_offset_mmhg == -18
    vb.advance(1000)
    assert vb.plant.sensor_offset_mmhg == 5


def test_a_stuck_valve_that_frees_follows_its_command_again():
    vb, _ = board([{"fault": "valve_stuck_closed", "chamber": 1, "t_ms": 0, "until_ms": 500}])
    vb.plant.valve_cmd[0] = False           # commanded open (normally open, de-energised)
    vb.advance(100)
    assert not vb.plant.valve_open(0)
    vb.advance(500)
    assert vb.plant.valve_open(0)
    vb.plant.valve_cmd[0] = True
    assert not vb.plant.valve_open(0)


def test_ends_in_any_order_and_at_the_same_instant():
    vb, lines = board([{"fault": "hose_disconnect", "chamber": 1, "t_ms": 0, "until_ms": 3000},
                       {"fault": "hose_disconnect", "chamber": 2, "t_ms": 100, "until_ms": 1000},
                       {"fault": "pump_dead", "t_ms": 200, "until_ms": 1000}])
    vb.advance(1000)
    assert vb.plant.disconnected == [True, False, False, False]
    assert vb.plant.pump_forced is None
    vb.advance(2000)
    assert vb.plant.disconnected == [False] * N


def check(fault, duration_s=100):
    return check_events([fault], "faults", N, duration_s)


@pytest.mark.parametrize("bad,text", [
    ({"t_s": 5, "until_s": 5, "fault": "pump_dead"}, "must be after t_s (5)"),
    ({"t_s": 5, "until_s": 4, "fault": "pump_dead"}, "until_s: must be a number from 5"),
    ({"t_s": 5, "until_s": "6", "fault": "pump_dead"}, "until_s: must be a number"),
    ({"t_s": 5, "until_s": 101, "fault": "pump_dead"}, "until_s: must be a number from 5 to 100"),
    ({"t_s": 5, "until_s": 6, "fault": "brownout"}, "'brownout' cannot end (it happens once)"),
    ({"t_s": 5, "until_s": 6, "fault": "loop_stall", "ms": 300}, "its length is 'ms'"),
])
def test_until_s_is_checked(bad, text):
    with pytest.raises(ScenarioError, match=None) as e:
        check(bad)
    assert text in str(e.value)


@pytest.mark.parametrize("name", sorted(ONE_SHOT))
def test_one_shot_faults_refuse_until_s(name):
    assert name in FAULTS
    f = {"t_s": 1, "until_s": 2, "fault": name}
    f.update({k: 100 for k in FAULTS[name]})
    with pytest.raises(ScenarioError, match="cannot end"):
        check(f)


def test_until_s_accepted():
    assert check({"t_s": 1, "until_s": 2.5, "fault": "valve_stuck_closed", "chamber": 3})


@pytest.mark.parametrize("mmhg", [0, -10, 201])
def test_a_squeeze_only_presses(mmhg):
    with pytest.raises(ScenarioError, match="mmhg: must be a number from 1 to 200"):
        check({"t_s": 1, "fault": "squeeze", "chamber": 2, "mmhg": mmhg})


def test_a_squeeze_that_ends_takes_its_load_off():
    vb, _ = board([{"fault": "squeeze", "chamber": 3, "mmhg": 30, "t_ms": 0, "until_ms": 2000}])
    vb.advance(1000)
    assert vb.plant.load_mmhg[2] == 30
    vb.advance(2000)
    assert vb.plant.load_mmhg == [0.0] * N
