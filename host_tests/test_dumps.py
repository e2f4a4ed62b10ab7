"""A second vent path (issue 17, part 6): a board may list "dump_pins" (1 to limits.DUMPS_MAX
dump valves, every one normally open and opened to vent). The outputs drive each dump and let
the pump puff through one kept open (valves.DUMP_KEEP); after every vent each dump gets a puff
of its own (dumpcheck.py): one stuck shut with another that opens is a warning naming it and
the session goes on; none that opens is VENT_FAILED. The board file, the plant, the scenario
language and the board checker know the dumps too. Under CPython and MicroPython."""
import copy
import json

import pytest
from hypothesis import given, strategies as st

import boardcfg
import limits as L
import safety
import sequencer as sq
from boardcfg import BoardError
from dual import DET, both
from sim import boardcheck, paths
from sim.harness import Boot
from sim.scenario import ScenarioError, check_events
from valves import CONTROL_PUFF, DUMP_CLOSED, DUMP_KEEP, PUMP_ON, SAFE, closed_mask, dead_headed, keep_mask

TWO = paths.BOARDS / "esp32-devkitc-4ch-2dump.json"
ONE = paths.DEFAULT_BOARD

PINS = r'''
class RecPin:
    def __init__(self, name, log):
        self.name = name
        self.log = log
        self.level = None

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        self.log.append([self.name, v])


def make(chambers, dumps, active_high=True):
    import valves
    log = []
    pump = RecPin("pump", log)
    ds = [RecPin("d%d" % (k + 1), log) for k in range(dumps)]
    vs = [RecPin("v%d" % (i + 1), log) for i in range(chambers)]
    out = valves.Outputs(pump, ds, vs, active_high)
    return out, [pump] + ds + vs, log
'''
NS = {}
exec(compile(PINS, "<pins>", "exec"), NS)
make = NS["make"]


def energised(pins):
    return {p.name: p.level == 1 for p in pins}


# --- the outputs ----------------------------------------------------------------------------

def test_every_dump_is_open_at_construction_and_closes_only_with_dump_closed():
    out, pins, log = make(4, 2)
    assert all(v == 0 for _n, v in log) and {n for n, _v in log} == {p.name for p in pins}
    out.apply(DUMP_CLOSED | 0b1111)
    e = energised(pins)
    assert e["d1"] and e["d2"]                      # DUMP_CLOSED closes every dump
    out.apply(DUMP_CLOSED | DUMP_KEEP | 0b1111)
    e = energised(pins)
    assert not e["d1"] and e["d2"]                  # dump 1 kept open
    out.apply(DUMP_CLOSED | (DUMP_KEEP << 1) | 0b1111)
    e = energised(pins)
    assert e["d1"] and not e["d2"]
    out.safe()
    assert not any(energised(pins).values())


def test_interlock_lets_the_pump_puff_through_one_kept_dump_and_no_phantom_one():
    """The pump may run with every chamber closed only while a dump of this board is kept
    open; a keep bit for a dump the board does not have is no path."""
    out, pins, _log = make(4, 2)
    shut = PUMP_ON | DUMP_CLOSED | 0b1111
    for k in range(2):
        assert out.apply(shut | (DUMP_KEEP << k)) & PUMP_ON
        assert not dead_headed(shut | (DUMP_KEEP << k), 4, 2)
    assert out.interlocks == 0
    assert not out.apply(shut | (DUMP_KEEP << 2)) & PUMP_ON      # no third dump here
    assert dead_headed(shut | (DUMP_KEEP << 2), 4, 2)
    assert not out.apply(shut) & PUMP_ON and out.interlocks == 2
    assert energised(pins)["pump"] is False


def test_a_one_dump_board_writes_what_it_always_wrote():
    """One dump given as a pin or as a list of one: the same writes, in the same order."""
    from valves import Outputs
    cmds = [PUMP_ON | DUMP_CLOSED | 0b1110, DUMP_CLOSED | 0b1111, PUMP_ON | DUMP_CLOSED | 0b1111,
            0, 0b0101, PUMP_ON, DUMP_CLOSED, SAFE]
    logs = []
    for as_list in (False, True):
        log = []
        pump, dump = NS["RecPin"]("pump", log), NS["RecPin"]("dump", log)
        vs = [NS["RecPin"]("v%d" % i, log) for i in range(4)]
        out = Outputs(pump, [dump] if as_list else dump, vs)
        for c in cmds:
            out.apply(c)
        out.safe()
        logs.append(log)
    assert logs[0] == logs[1]


# every bit up to the third dump's keep bit, but not the control puff (test_valves.py has it)
COMMAND = st.integers(0, (1 << 14) - 1).map(lambda c: c & ~CONTROL_PUFF)


@DET
@given(dumps=st.integers(1, L.DUMPS_MAX), cmds=st.lists(COMMAND, min_size=1, max_size=12))
def test_every_instant_of_a_transition_is_safe_with_several_dumps(dumps, cmds):
    """Replay each apply()'s writes: the pump never runs with every path closed, no instant
    closes a path neither neighbour closes, paths open before others close, the pump last."""
    out, pins, log = make(3, dumps)
    names = [p.name for p in pins[1:]]
    for cmd in cmds:
        before = energised(pins)
        del log[:]
        written = out.apply(cmd)
        assert written == (cmd & ~PUMP_ON if dead_headed(cmd, 3, dumps) else cmd)
        after = energised(pins)
        state = dict(before)
        for i, (name, level) in enumerate(log):
            state[name] = level == 1
            assert not (state["pump"] and all(state[n] for n in names)), "dead-headed instant"
            for n in state:
                if state[n]:
                    assert before[n] or after[n], (n, log[:i + 1])
        close_at = [i for i, (n, lv) in enumerate(log) if n != "pump" and lv == 1]
        open_at = [i for i, (n, lv) in enumerate(log) if n != "pump" and lv == 0]
        if close_at and open_at:
            assert max(open_at) < min(close_at)
        if log and written & PUMP_ON:
            assert log[-1] == ["pump", 1]


def test_outputs_with_two_dumps_under_micropython(micropython):
    code = PINS + r'''
import json
from valves import PUMP_ON, DUMP_CLOSED, DUMP_KEEP
out, pins, log = make(4, 2)
res = []
for cmd in (DUMP_CLOSED | 15, PUMP_ON | DUMP_CLOSED | DUMP_KEEP | 15,
            PUMP_ON | DUMP_CLOSED | (DUMP_KEEP << 1) | 15, PUMP_ON | DUMP_CLOSED | 15,
            PUMP_ON | DUMP_CLOSED | (DUMP_KEEP << 2) | 15, 0):
    res.append([out.apply(cmd), out.interlocks, [p.level for p in pins]])
out.safe()
res.append(log)
print(json.dumps(res))
'''
    res = both(micropython, code)
    assert res[1][2][:3] == [1, 0, 1] and res[2][2][:3] == [1, 1, 0]   # pump, d1, d2
    assert res[3][1] == 1 and res[4][1] == 2                           # stripped twice


# --- the board file -------------------------------------------------------------------------

GOOD = json.loads(ONE.read_text())


def two_dumps(pins, drop_single=True):
    b = copy.deepcopy(GOOD)
    if drop_single:
        del b["outputs"]["dump_pin"]
    b["outputs"]["dump_pins"] = pins
    return b


def test_the_two_dump_board_loads_and_passes_the_pin_checks():
    cfg = boardcfg.load(str(TWO))
    assert boardcfg.dump_pins(cfg["outputs"]) == [26, 4]
    assert boardcfg.dump_pins(GOOD["outputs"]) == [26]
    assert boardcheck.check(cfg)[0] == []
    for n in range(1, L.DUMPS_MAX + 1):
        boardcfg.validate(two_dumps([26, 16, 17][:n]))     # free on GOOD (a WROOM-32)


@pytest.mark.parametrize("data,field,text", [
    (two_dumps(26), "outputs.dump_pins", "1 to 3"),
    (two_dumps([]), "outputs.dump_pins", "1 to 3"),
    (two_dumps([26, 23, 19, 21]), "outputs.dump_pins", "1 to 3"),
    (two_dumps([26, 26]), "outputs.dump_pins[1]", "already used by outputs.dump_pins[0]"),
    (two_dumps([26, 25]), "outputs.dump_pins[1]", "already used by outputs.pump_pin"),
    (two_dumps([27, 23]), "outputs.valve_pins[0]", "already used by outputs.dump_pins[0]"),
    (two_dumps([26, 34]), "sensor.adc_pin", "already used by outputs.dump_pins[1]"),
    (two_dumps([26, "23"]), "outputs.dump_pins[1]", "GPIO number"),
    (two_dumps([26, 40]), "outputs.dump_pins[1]", "0 to 39"),
    (two_dumps([26, 23], drop_single=False), "outputs.dump_pin", "exactly one"),
    (two_dumps(None), "outputs.dump_pins", "1 to 3"),
])
def test_bad_dump_pins_are_refused_naming_the_field(data, field, text):
    with pytest.raises(BoardError) as e:
        boardcfg.validate(data, "b.json")
    msg = str(e.value)
    assert msg.startswith("board file b.json: field '%s': " % field) and text in msg, msg


def test_a_board_without_any_dump_is_refused():
    b = copy.deepcopy(GOOD)
    del b["outputs"]["dump_pin"]
    with pytest.raises(BoardError, match="field 'outputs.dump_pin': give dump_pin"):
        boardcfg.validate(b, "b.json")


def test_dump_pins_refusals_under_micropython(micropython, tmp_path):
    files = []
    for name, data in (("ok", two_dumps([26, 16])), ("dup", two_dumps([26, 26])),
                       ("many", two_dumps([26, 23, 19, 21])), ("both", two_dumps([26], False))):
        p = tmp_path / (name + ".json")
        p.write_text(json.dumps(data))
        files.append(str(p))
    code = "import json, boardcfg\nres = []\nfor f in %s:\n" % json.dumps(files) + r'''
    try:
        cfg = boardcfg.load(f)
        res.append(boardcfg.dump_pins(cfg["outputs"]))
    except boardcfg.BoardError as e:
        res.append(str(e).split("'")[1])
print(json.dumps(res))
'''
    assert both(micropython, code) == [[26, 16], "outputs.dump_pins[1]", "outputs.dump_pins",
                                       "outputs.dump_pin"]


def test_the_board_checker_judges_each_dump_pin():
    b = two_dumps([26, 12])                         # GPIO12: a strapping pin (flash voltage)
    errors, _ = boardcheck.check(boardcfg.validate(b))
    assert any(e.startswith("outputs.dump_pins[1] is GPIO12, a strapping pin") for e in errors)


# --- the plant and the scenario language ----------------------------------------------------

def test_the_plant_lets_air_out_through_every_open_dump():
    from plant import Plant
    sensor = GOOD["sensor"]

    def vent_ms(dumps, stuck=()):
        p = Plant(1, sensor, {"chamber_volume_ml": 500}, 3)
        p.set_dumps(dumps)
        p.p_chambers[0] = 80.0
        p.p_manifold = 80.0
        for d in stuck:
            p.dumps_forced[d] = True
        while max(p.p_chambers) >= 15:
            p.advance(p.t_ms + 5)
        return p.t_ms

    one, two, two_one_stuck = vent_ms(1), vent_ms(2), vent_ms(2, [0])
    assert two < one and two_one_stuck == one       # two orifices; one stuck: as one dump
    p = Plant(2, sensor)
    p.set_dumps(2)
    p.dumps_forced[1] = True
    assert p.dump_open() and p.dump_forced is None  # a dump still opens
    p.dump_cmd = True                               # the one-dump form: every dump
    assert p.dump_cmds == [True, True] and not p.dump_open()
    p.dump_forced = True
    assert p.dump_forced is True and p.dumps_forced == [True, True]


def test_a_scenario_names_the_stuck_dump_within_the_board():
    f = [{"t_s": 1, "fault": "dump_stuck_closed", "dump": 2}]
    assert check_events(f, "faults", 4, 60, 2) == f
    with pytest.raises(ScenarioError, match=r"faults\[0\].dump: must be a whole number from 1 "
                                            r"to 1"):
        check_events(f, "faults", 4, 60)                         # a one-dump board
    with pytest.raises(ScenarioError, match="unknown key 'dump'"):
        check_events([{"t_s": 1, "fault": "pump_dead", "dump": 1}], "faults", 4, 60, 2)


# --- the dump check on the boot -------------------------------------------------------------

def events(boot, name):
    return [r for r in map(json.loads, boot.events) if r["event"] == name]


def two_dump_boot(**settings):
    s = {"minutes": 2, "fit_check": False, "rest_s": 15}
    s.update(settings)
    return Boot(board=boardcfg.load(str(TWO)), settings=s)


def run_to_phase(b, phase, limit_ms=60000):
    end = b.t_ms + limit_ms
    while b.app.seq.phase != phase and b.t_ms < end:
        b.run(10)
    assert b.app.seq.phase == phase


def test_a_healthy_two_dump_boot_checks_each_dump_and_stays_quiet():
    b = two_dump_boot()
    b.press("start")
    run_to_phase(b, sq.CHECK)
    cmds = []
    while b.app.seq.phase == sq.CHECK:
        b.run(10)
        cmds.append(b.app.outputs.cmd)
    keeps = [c & keep_mask(2) for c in cmds if c & PUMP_ON and c & closed_mask(4) == 0b1111]
    assert DUMP_KEEP in keeps and DUMP_KEEP << 1 in keeps       # a puff through each dump
    assert b.app.seq.phase == sq.REST
    assert not events(b, "warning") and not events(b, "fault") and not b.watch.violations


@pytest.mark.parametrize("dump", [1, 2])
def test_one_stuck_dump_is_a_warning_naming_it_and_the_session_goes_on(dump):
    b = two_dump_boot()
    b.press("start")
    run_to_phase(b, sq.HOLD)
    b.inject({"fault": "dump_stuck_closed", "dump": dump})
    run_to_phase(b, sq.REST)
    warned = events(b, "warning")
    assert [w["dump"] for w in warned] == [dump]
    assert "dump valve %d does not open" % dump in warned[0]["text"]
    assert not events(b, "fault") and b.app.seq.active()
    assert max(b.vb.plant.p_chambers) < L.SAFE_MMHG
    run_to_phase(b, sq.HOLD)                        # the next wave runs...
    run_to_phase(b, sq.REST)
    assert len(events(b, "warning")) == 1           # ...and is told once a session
    assert not events(b, "fault") and not b.watch.violations


def test_a_stuck_dump_is_told_again_in_the_next_session():
    b = two_dump_boot()
    b.inject({"fault": "dump_stuck_closed", "dump": 2})
    b.press("start")
    run_to_phase(b, sq.REST)
    b.press("stop")
    run_to_phase(b, sq.IDLE)
    b.run(4000)
    b.press("start")
    run_to_phase(b, sq.FILL)
    run_to_phase(b, sq.REST)
    assert [w.get("dump") for w in events(b, "warning")] == [2, 2]
    assert not events(b, "fault")


def test_no_dump_that_opens_is_vent_failed():
    """Both dumps jam while the chambers are empty (a stop in the zero phase: the vent reads
    empty at once): the dump check after that vent is what finds no way out."""
    b = two_dump_boot()
    b.inject({"fault": "dump_stuck_closed"})        # every dump
    b.press("start")
    b.run(1000)
    b.press("stop_press")
    b.run(4000)
    assert b.app.sup.fault == safety.VENT_FAILED
    assert any("no dump valve opens" in w["text"] for w in events(b, "warning"))
    assert [f["code"] for f in events(b, "fault")] == ["VENT_FAILED"]


def test_both_dumps_jamming_in_a_hold_is_vent_failed_as_with_one():
    b = two_dump_boot()
    b.press("start")
    run_to_phase(b, sq.HOLD)
    b.inject({"fault": "dump_stuck_closed"})
    b.run(12000 + L.VENT_BUDGET_MS)
    assert b.app.sup.fault == safety.VENT_FAILED and not b.watch.violations


def test_a_one_dump_board_has_no_dump_check():
    b = Boot(settings={"minutes": 2, "fit_check": False})
    assert b.app.seq.dump_check is None
