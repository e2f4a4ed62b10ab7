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


# --- crossed hoses -------------------------------------------------------------------------

import boardcfg  # noqa: E402
import fitorder  # noqa: E402
from sim.harness import Boot  # noqa: E402

LEG = boardcfg.load(str(paths.BOARDS / "esp32-devkitc-4ch-leg.json"))
SIZES = LEG["garment"]["chamber_ml"]
OK = [1, 1, 1, 1]
CASES = [([500, 770, 1040, 1260], OK, (0, 0)),          # plant, hoses right
         ([1450, 700, 950, 440], OK, (1, 4)),           # 1 and 4 crossed
         ([500, 1090, 720, 1260], OK, (2, 3)),          # 2 and 3 crossed
         ([500, 770, 1260, 1040], OK, (0, 0)),          # 3 and 4: 700 / 900 mL, too alike
         ([1450, 700, 950, 440], [1, 1, 1, 0], (1, 2)), # chamber 4 not checked (off)
         ([0, 0, 0, 0], [0, 0, 0, 0], (0, 0))]


@pytest.mark.parametrize("fit_ms,cls,pair", CASES)
def test_crossed_hoses_are_the_pair_most_against_the_stated_sizes(fit_ms, cls, pair):
    assert fitorder.crossed(fit_ms, cls, SIZES) == pair


def test_crossed_hoses_rule_runs_the_same_under_micropython(micropython):
    got = micropython("import fitorder, json\nprint(json.dumps([fitorder.crossed(m, c, %r) "
                      "for m, c, _ in %r]))" % (SIZES, CASES))
    assert [tuple(x) for x in got] == [pair for _, _, pair in CASES]


@pytest.mark.parametrize("sizes,text", [([300, 500, 700], "one size per chamber (4)"),
                                        ([300, 500, 700, 9000], "chamber_ml[3]': must be a"),
                                        ([300, 500, 700, 90.5], "whole number")])
def test_the_garment_sizes_are_checked(sizes, text):
    data = json.loads((paths.BOARDS / "esp32-devkitc-4ch-leg.json").read_text())
    data["garment"]["chamber_ml"] = sizes
    with pytest.raises(boardcfg.BoardError, match="garment.chamber_ml") as e:
        boardcfg.validate(data)
    assert text in str(e.value)


def fit_warnings(crossed):
    b = Boot(board=LEG, settings={"minutes": 2},
             plant={"chamber_volume_ml": [300, 500, 700, 900]})
    if crossed:
        b.inject({"fault": "hoses_crossed", "chambers": crossed})
    b.press("start")
    b.run(12000)
    events = [json.loads(e) for e in b.events]
    fits = [e for e in events if e["event"] == "fit"]
    assert fits and fits[0]["result"] == "normal", fits
    return [e for e in events if "hoses crossed?" in e.get("text", "")]


@pytest.mark.parametrize("crossed", [None, [2, 3], [3, 2], [1, 2]])
def test_the_fit_check_names_crossed_hoses(crossed):
    found = fit_warnings(crossed)
    if crossed is None:
        assert found == []
    else:
        assert [w["chambers"] for w in found] == [sorted(crossed)]


# --- the transducer: span, drift, and the plant's own part ---------------------------------

from sim.scenario import check_plant  # noqa: E402


def test_sensor_gain_and_drift_end():
    vb, _ = board([{"fault": "sensor_gain", "factor": 0.8, "t_ms": 0, "until_ms": 1000},
                   {"fault": "sensor_drift", "mmhg_per_min": 6, "t_ms": 0, "until_ms": 30000}])
    vb.advance(500)
    assert vb.plant.sensor_gain == 0.8
    vb.advance(19500)
    assert vb.plant.sensor_gain == 1.0
    assert vb.plant.sensed_mmhg() == pytest.approx(2.0, abs=1e-6)
    vb.advance(10000)
    assert vb.plant.sensed_mmhg() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("bad,text", [
    ({"t_s": 1, "fault": "sensor_gain", "factor": 0.1}, "factor: must be a number from 0.2"),
    ({"t_s": 1, "fault": "sensor_gain"}, "needs 'factor'"),
    ({"t_s": 1, "fault": "sensor_drift", "mmhg_per_min": 500}, "mmhg_per_min: must be"),
])
def test_sensor_faults_are_checked(bad, text):
    with pytest.raises(ScenarioError) as e:
        check(bad)
    assert text in str(e.value)


@pytest.mark.parametrize("plant,text", [
    ({"transducer": {"adc_pin": 34}}, "unknown key 'adc_pin'"),
    ({"transducer": {"full_scale_mmhg": 50}}, "transducer.full_scale_mmhg: must be a number"),
    ({"transducer": []}, "must be a JSON object"),
])
def test_the_plants_transducer_is_checked(plant, text):
    with pytest.raises(ScenarioError) as e:
        check_plant(plant, N)
    assert text in str(e.value)


def test_the_plants_transducer_accepted():
    assert check_plant({"transducer": {"full_scale_mmhg": 400, "v_at_zero": 0.6}}, N)
    assert check_plant({"transducer": None}, N)


# --- annunciators: the power-on self-test, dead ones, the trace ----------------------------

import alarm  # noqa: E402
from sim.session import build_config, run  # noqa: E402


def test_the_boot_chirps_and_blinks_once_after_every_output_is_safe(monkeypatch):
    writes = []
    real = vboard.VirtualBoard.pin_write

    def pin_write(self, pin, level):
        writes.append((self.ms, pin, level))
        return real(self, pin, level)
    monkeypatch.setattr(vboard.VirtualBoard, "pin_write", pin_write)
    b = Boot()
    out = b.cfg["outputs"]
    ind = b.cfg["indicators"]
    outputs = {out["pump_pin"], out["dump_pin"], *out["valve_pins"]}
    b.run(50)
    first_on = min(k for k, (_, pin, level) in enumerate(writes)
                   if pin in (ind["buzzer_pin"], ind["led_pin"]) and level)
    # every output was first driven to its safe level (off) before the self-test began
    firsts = {}
    for _, pin, level in writes[:first_on]:
        firsts.setdefault(pin, level)
    assert set(firsts) >= outputs and all(firsts[pin] == 0 for pin in outputs), firsts
    assert b.vb.buzzer == 1 and b.vb.led == 1
    b.run(100)
    assert b.vb.buzzer == 0 and b.vb.led == 1                    # a 100 ms chirp
    b.run(400)
    assert b.vb.led == 0                                         # a 500 ms light, then idle
    on = [t for t, pin, level in writes if pin == ind["buzzer_pin"] and level]
    assert len(on) == 1 and on[0] <= 20
    led_on = [t for t, pin, level in writes if pin == ind["led_pin"] and level]
    assert led_on[0] <= 20
    b.run(10000)                                                 # once: idle blinks only
    assert [t for t, pin, level in writes if pin == ind["buzzer_pin"] and level] == on
    assert alarm.SELFTEST_BUZZ_MS == 100 and alarm.SELFTEST_LED_MS == 500


def scenario_run(faults, duration_s=6):
    config = build_config({"settings": {"minutes": 2}, "faults": faults,
                           "actions": [], "duration_s": duration_s})
    return run(config, "micropython", None, quiet=True)[1]


def test_a_dead_display_shows_nothing_while_the_firmware_draws():
    alive = scenario_run([])
    assert any(alive.screen)
    dead = scenario_run([{"t_s": 0, "fault": "display_dead"}])
    assert not any(dead.screen)
    back = scenario_run([{"t_s": 0, "fault": "display_dead", "until_s": 2}])
    assert back.screen == alive.screen


def test_the_trace_records_the_indicators_and_what_is_dead(tmp_path):
    config = build_config({"settings": {"minutes": 2},
                           "faults": [{"t_s": 0, "fault": "buzzer_dead", "until_s": 1}],
                           "actions": [], "duration_s": 3})
    trace = tmp_path / "t.jsonl"
    run(config, "micropython", str(trace), quiet=True)
    samples = [json.loads(x) for x in trace.read_text().splitlines() if '"sample"' in x]
    chirp = [s for s in samples if s["buzzer"]]
    assert chirp and chirp[0]["t_ms"] <= 50 and chirp[-1]["t_ms"] - chirp[0]["t_ms"] <= 110
    # driven, into a dead buzzer (the first sample is the boot's, before the t_s 0 injection)
    assert all(s.get("dead") == ["buzzer"] for s in chirp[1:]) and len(chirp) > 4
    assert [s for s in samples if s["led"]][0]["t_ms"] <= 50
    assert "dead" not in samples[-1]                             # it came back at 1 s
