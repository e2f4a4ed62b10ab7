"""Outputs (firmware/valves.py): command bits -> pin levels, polarity, safe(), the dead-head
interlock and the order of writes inside one apply(); under CPython and MicroPython."""
import pytest
from hypothesis import given, strategies as st

from dual import DET, both
from valves import DUMP_CLOSED, PUMP_ON, SAFE, closed_mask, dead_headed

# A recording pin, as portable source (the MicroPython run uses the same class).
PINS = r'''
class RecPin:
    """Records every write as [name, level] in a shared log."""
    def __init__(self, name, log):
        self.name = name
        self.log = log
        self.level = None

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        self.log.append([self.name, v])


def make(chambers, active_high=True):
    import valves
    log = []
    pins = [RecPin("pump", log), RecPin("dump", log)] + \
        [RecPin("v%d" % (i + 1), log) for i in range(chambers)]
    out = valves.Outputs(pins[0], pins[1], pins[2:], active_high)
    return out, pins, log
'''
NS = {}
exec(compile(PINS, "<pins>", "exec"), NS)
make = NS["make"]


def energised(pins, active_high):
    """{name: True if the pin is at its energised level}."""
    on = 1 if active_high else 0
    return {p.name: p.level == on for p in pins}


def expected(cmd, chambers):
    e = {"pump": bool(cmd & PUMP_ON), "dump": bool(cmd & DUMP_CLOSED)}
    for i in range(chambers):
        e["v%d" % (i + 1)] = bool(cmd & (1 << i))
    return e


@pytest.mark.parametrize("active_high", [True, False])
def test_construction_writes_every_pin_safe(active_high):
    out, pins, log = make(4, active_high)
    off = 0 if active_high else 1
    assert sorted(name for name, _v in log) == sorted(p.name for p in pins)
    assert all(v == off for _n, v in log)
    assert out.cmd == SAFE and out.interlocks == 0


@pytest.mark.parametrize("active_high", [True, False])
def test_polarity(active_high):
    out, pins, log = make(4, active_high)
    cmd = PUMP_ON | DUMP_CLOSED | 0b0101
    assert out.apply(cmd) == cmd and out.cmd == cmd
    levels = {p.name: p.level for p in pins}
    on, off = (1, 0) if active_high else (0, 1)
    assert levels == {"pump": on, "dump": on, "v1": on, "v2": off, "v3": on, "v4": off}


def test_unchanged_command_writes_nothing():
    out, _pins, log = make(3)
    out.apply(DUMP_CLOSED | 0b011)
    n = len(log)
    out.apply(DUMP_CLOSED | 0b011)
    assert len(log) == n


@pytest.mark.parametrize("active_high", [True, False])
def test_safe_writes_every_pin_de_energised(active_high):
    out, pins, log = make(5, active_high)
    out.apply(PUMP_ON | DUMP_CLOSED | 0b01111)
    del log[:]
    out.safe()
    off = 0 if active_high else 1
    assert sorted(n for n, _v in log) == sorted(p.name for p in pins)   # each once
    assert all(v == off for _n, v in log)
    assert log[0] == ["pump", off]                                     # pump first
    assert out.cmd == SAFE
    # and from a state the outputs do not know of (a pin glitched): safe() still writes them
    pins[3].level = 1 - off
    del log[:]
    out.safe()
    assert len(log) == len(pins) and pins[3].level == off


@pytest.mark.parametrize("chambers", [1, 4, 8])
def test_interlock_strips_the_pump_from_a_dead_heading_command(chambers):
    out, pins, log = make(chambers)
    m = closed_mask(chambers)
    bad = PUMP_ON | DUMP_CLOSED | m
    assert dead_headed(bad, chambers)
    assert out.apply(bad) == DUMP_CLOSED | m
    assert out.interlocks == 1 and pins[0].level == 0
    assert energised(pins, True) == expected(DUMP_CLOSED | m, chambers)
    out.apply(bad)
    assert out.interlocks == 2 and pins[0].level == 0      # every such command is counted
    # one path open: the pump may run, nothing counted
    for open_path in [DUMP_CLOSED] + [1 << i for i in range(chambers)]:
        ok = bad & ~open_path
        assert not dead_headed(ok, chambers)
        assert out.apply(ok) == ok and pins[0].level == 1
    assert out.interlocks == 2


@DET
@given(cmd=st.integers(0, (1 << 10) - 1), chambers=st.integers(1, 8))
def test_dead_headed_truth_table(cmd, chambers):
    m = closed_mask(chambers)
    assert m == (1 << chambers) - 1
    want = bool(cmd & PUMP_ON) and bool(cmd & DUMP_CLOSED) and all(
        cmd & (1 << i) for i in range(chambers))
    assert dead_headed(cmd, chambers) is want


COMMAND = st.integers(0, (1 << 10) - 1)


@DET
@given(chambers=st.integers(1, 8), active_high=st.booleans(),
       cmds=st.lists(COMMAND, min_size=1, max_size=12))
def test_every_instant_of_a_transition_is_safe(chambers, active_high, cmds):
    """Replay each apply()'s writes one by one: the pump is off before any path closes, it is
    never on with every path closed, and no instant closes a path or runs the pump that neither
    the command before nor the one after does."""
    out, pins, log = make(chambers, active_high)
    on = 1 if active_high else 0
    valve_names = ["v%d" % (i + 1) for i in range(chambers)]
    for cmd in cmds:
        before = energised(pins, active_high)
        del log[:]
        written = out.apply(cmd)
        want = cmd & ~PUMP_ON if dead_headed(cmd, chambers) else cmd
        assert written == want == out.cmd
        after = energised(pins, active_high)
        assert after == expected(want, chambers)
        # replay the writes
        state = dict(before)
        for i, (name, level) in enumerate(log):
            state[name] = level == on
            closes = [n for n in ["dump"] + valve_names if state[n]]
            assert not (state["pump"] and len(closes) == chambers + 1), "dead-headed instant"
            for n in state:
                if state[n]:
                    assert before[n] or after[n], (n, log[:i + 1])
            if state["pump"] and i < len(log) - 1:
                assert before["pump"] and after["pump"]
        # the pump-off write comes before any valve (or the dump) closes
        if before["pump"] and not after["pump"]:
            assert log[0] == ["pump", 1 - on]
        close_at = [i for i, (n, lv) in enumerate(log) if n != "pump" and lv == on]
        open_at = [i for i, (n, lv) in enumerate(log) if n != "pump" and lv != on]
        if close_at and open_at:
            assert max(open_at) < min(close_at)          # open paths first, then close
        if log and want & PUMP_ON:
            assert log[-1] == ["pump", on]               # the pump starts last


def test_same_writes_under_micropython(micropython):
    code = PINS + r'''
import json
from valves import PUMP_ON, DUMP_CLOSED
res = []
for chambers, high in ((4, True), (4, False), (8, True)):
    out, pins, log = make(chambers, high)
    m = (1 << chambers) - 1
    for cmd in (PUMP_ON | DUMP_CLOSED | (m & ~1), DUMP_CLOSED | m, PUMP_ON | DUMP_CLOSED | m,
                PUMP_ON | DUMP_CLOSED | (m & ~2), 0, 3, PUMP_ON):
        w = out.apply(cmd)
        res.append([w, out.interlocks, [p.level for p in pins]])
    out.safe()
    res.append(log)
print(json.dumps(res))
'''
    res = both(micropython, code)
    # the dead-heading command (third) was written without the pump, in every configuration
    assert res[2][0] == DUMP_CLOSED | 0b1111 and res[2][1] == 1
    assert res[8 + 2][2][0] == 1                     # active low: pump pin high = off


def test_the_control_puff_may_dead_head_the_pump_for_three_commands_only(micropython):
    """The acknowledgement check's control puff (tripped.py) is the one command the interlock
    lets run the pump with every path closed, and only CONTROL_PUFF_MAX_WRITES times in a row;
    any other command in between starts the count again; safe() too."""
    code = PINS + r'''
import json
from valves import PUMP_ON, DUMP_CLOSED, CONTROL_PUFF, CONTROL_PUFF_MAX_WRITES
out, pins, log = make(4)
puff = CONTROL_PUFF | PUMP_ON | DUMP_CLOSED | 0b1111
res = [out.apply(puff) & PUMP_ON for _ in range(5)]
out.apply(0)
res += [out.apply(puff) & PUMP_ON for _ in range(2)]
out.safe()
res += [out.apply(puff) & PUMP_ON]
res += [out.apply(PUMP_ON | DUMP_CLOSED | 0b1111) & PUMP_ON]     # no mark: never
print(json.dumps([res, CONTROL_PUFF_MAX_WRITES, out.interlocks]))
'''
    res, most, stripped = both(micropython, code)
    on = PUMP_ON
    assert most == 3
    assert res == [on, on, on, 0, 0, on, on, on, 0] and stripped == 3
