"""User settings (firmware/settings.py): defaults, bounds narrowed by the board, refusals that
name the field, and load() that never raises; under CPython and MicroPython."""
import copy
import json

import pytest
from hypothesis import given, strategies as st

import settings as st_mod
from dual import DET
from limits import SETTING_FLAGS, MODES, SETTING_LIMITS
from settings import SettingsError
from sim import paths

BOARD = json.loads(paths.DEFAULT_BOARD.read_text())


def board_with(**limits):
    b = copy.deepcopy(BOARD)
    b["limits"].update(limits)
    return b


def test_defaults_come_from_the_limits_table():
    d = st_mod.defaults(BOARD)
    assert {k: d[k] for k in ("mode", "pressure_mmhg", "minutes", "hold_s", "rest_s",
                              "enabled", "program", "tuning", "fit_check")} == \
        {"mode": "wave", "pressure_mmhg": 80, "minutes": 20, "hold_s": 10, "rest_s": 25,
         "enabled": [1, 2, 3, 4], "program": "", "tuning": True, "fit_check": True}
    assert set(d) == {"mode", "enabled", "program"} | set(SETTING_LIMITS) | set(SETTING_FLAGS)
    for key, (lo, hi, default, why) in SETTING_LIMITS.items():
        assert lo <= default <= hi and why
    assert d["mode"] in MODES


def test_bounds_are_narrowed_by_the_board():
    b = board_with(max_target_mmhg=100, max_session_min=30)
    assert st_mod.bounds("pressure_mmhg", b) == (20, 100)
    assert st_mod.bounds("minutes", b) == (1, 30)
    assert st_mod.bounds("hold_s", b) == SETTING_LIMITS["hold_s"][:2]
    assert st_mod.bounds("rest_s", b) == SETTING_LIMITS["rest_s"][:2]
    # a board can only narrow: a board "allowing" more than the table gets the table
    b = board_with(max_target_mmhg=230, max_session_min=60)
    assert st_mod.bounds("pressure_mmhg", b) == SETTING_LIMITS["pressure_mmhg"][:2]


def test_validate_fills_in_defaults_and_keeps_given_values():
    s = st_mod.validate({"pressure_mmhg": 60, "rest_s": 15}, BOARD)
    assert s == dict(st_mod.defaults(BOARD), pressure_mmhg=60, rest_s=15)
    assert st_mod.validate({}, BOARD) == st_mod.defaults(BOARD)


def test_the_edges_are_allowed():
    s = st_mod.validate({"pressure_mmhg": 120, "minutes": 60, "hold_s": 30, "rest_s": 60},
                        BOARD)
    assert (s["pressure_mmhg"], s["minutes"], s["hold_s"], s["rest_s"]) == (120, 60, 30, 60)
    s = st_mod.validate({"pressure_mmhg": 20, "minutes": 1, "hold_s": 0, "rest_s": 15}, BOARD)
    assert (s["pressure_mmhg"], s["minutes"], s["hold_s"], s["rest_s"]) == (20, 1, 0, 15)


@pytest.mark.parametrize("rest_s", [0, 14, 14.9])
def test_a_rest_shorter_than_the_let_down_minimum_is_refused_naming_the_figure(rest_s):
    # issue 17, part 1: {"pressure_mmhg": 120, "hold_s": 30, "rest_s": 0} let the leg go 3-4 s
    with pytest.raises(SettingsError) as e:
        st_mod.validate({"pressure_mmhg": 120, "hold_s": 30, "rest_s": rest_s}, BOARD,
                        "settings.json")
    msg = str(e.value)
    assert "'rest_s'" in msg and "from 15 to 60" in msg and "let down" in msg, msg
    assert "LETDOWN_MIN_S" in msg, msg


def test_whole_numbers_come_back_as_int():
    s = st_mod.validate({"pressure_mmhg": 80.0, "minutes": 25.9}, BOARD)
    assert s["pressure_mmhg"] == 80 and type(s["pressure_mmhg"]) is int
    assert s["minutes"] == 25 and type(s["minutes"]) is int


@pytest.mark.parametrize("data,field", [
    ({"pressure_mmhg": 121}, "pressure_mmhg"),        # above this board's max_target_mmhg
    ({"pressure_mmhg": 19}, "pressure_mmhg"),
    ({"pressure_mmhg": "80"}, "pressure_mmhg"),
    ({"pressure_mmhg": True}, "pressure_mmhg"),
    ({"pressure_mmhg": None}, "pressure_mmhg"),
    ({"pressure_mmhg": float("nan")}, "pressure_mmhg"),
    ({"pressure_mmhg": float("inf")}, "pressure_mmhg"),
    ({"minutes": 0}, "minutes"),
    ({"minutes": 61}, "minutes"),
    ({"hold_s": -1}, "hold_s"),
    ({"hold_s": 31}, "hold_s"),
    ({"rest_s": 61}, "rest_s"),
    ({"rest_s": [5]}, "rest_s"),
    ({"mode": "static"}, "mode"),
    ({"mode": ["wave"]}, "mode"),
    ({"mode": None}, "mode"),
    ({"pressure": 80}, "pressure"),                   # unknown field
    ({"Mode": "wave"}, "Mode"),
])
def test_bad_values_are_refused_naming_the_field(data, field):
    with pytest.raises(SettingsError) as e:
        st_mod.validate(data, BOARD, "settings.json")
    msg = str(e.value)
    assert msg.startswith("settings.json: ") and "'%s'" % field in msg, msg


def test_board_limits_apply():
    b = board_with(max_target_mmhg=60, max_session_min=10)
    with pytest.raises(SettingsError, match="pressure_mmhg"):
        st_mod.validate({"pressure_mmhg": 61}, b)
    with pytest.raises(SettingsError, match="minutes"):
        st_mod.validate({"minutes": 11}, b)
    # defaults above the board's limits are clamped, so the defaults still load
    s = st_mod.validate({}, board_with(max_target_mmhg=60, max_session_min=10))
    assert s["pressure_mmhg"] == 60 and s["minutes"] == 10


def test_not_an_object_is_refused():
    for data in ([], "wave", 80, None):
        with pytest.raises(SettingsError, match="JSON object"):
            st_mod.validate(data, BOARD)


@DET
@given(data=st.dictionaries(
    st.sampled_from(["mode", "pressure_mmhg", "minutes", "hold_s", "rest_s", "other"]),
    st.one_of(st.integers(-100, 300), st.floats(allow_nan=True), st.booleans(), st.none(),
              st.text(max_size=5), st.sampled_from(["wave"])), max_size=5),
    max_target=st.integers(20, 230), max_min=st.integers(5, 60))
def test_validate_either_returns_in_bounds_or_names_a_field(data, max_target, max_min):
    b = board_with(max_target_mmhg=max_target, max_session_min=max_min)
    try:
        s = st_mod.validate(data, b, "s.json")
    except SettingsError as e:
        msg = str(e)
        assert msg.startswith("s.json: ") and any("'%s'" % k in msg for k in data), msg
        return
    assert set(s) == {"mode", "enabled", "program"} | set(SETTING_LIMITS) | set(SETTING_FLAGS) and s["mode"] in MODES
    for key in SETTING_LIMITS:
        lo, hi = st_mod.bounds(key, b)
        assert lo <= s[key] <= hi and type(s[key]) is int
        if key in data:
            assert s[key] == int(data[key])


def write(tmp_path, content):
    p = tmp_path / "settings.json"
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    return str(p)


def test_load_a_good_file(tmp_path):
    path = write(tmp_path, json.dumps({"pressure_mmhg": 70, "minutes": 30}))
    s, warning = st_mod.load(path, BOARD)
    assert warning is None
    assert s == dict(st_mod.defaults(BOARD), pressure_mmhg=70, minutes=30)


@pytest.mark.parametrize("content,says", [
    (None, "no "),
    ("", "not valid JSON"),
    ("{", "not valid JSON"),
    ('{"pressure_mmhg": 80,}', "not valid JSON"),
    ('{"pressure_mmhg": 500}', "pressure_mmhg"),
    ('{"colour": "red"}', "colour"),
    ('[1, 2]', "JSON object"),
    (b"\xff\xfe\x00\x01 garbage", "settings.json"),     # not even text: was a UnicodeError
])
def test_load_of_a_missing_or_bad_file_gives_defaults_and_a_warning(tmp_path, content, says):
    path = str(tmp_path / "settings.json") if content is None else write(tmp_path, content)
    s, warning = st_mod.load(path, BOARD)
    assert s == st_mod.defaults(BOARD)
    assert isinstance(warning, str) and says in warning and "defaults" in warning, warning
    assert path in warning


@DET
@given(content=st.binary(max_size=40))
def test_load_never_raises(tmp_path_factory, content):
    path = write(tmp_path_factory.mktemp("s"), content)
    s, warning = st_mod.load(path, BOARD)
    assert set(s) == {"mode", "enabled", "program"} | set(SETTING_LIMITS) | set(SETTING_FLAGS)
    assert warning is None or "defaults" in warning


def test_load_under_micropython(micropython, tmp_path):
    files = []
    for name, content in (("good", b'{"pressure_mmhg": 70, "hold_s": 5}'),
                          ("corrupt", b'{"pressure_mmhg": 7'),
                          ("range", b'{"minutes": 600}'),
                          ("unknown", b'{"speed": 3}'),
                          ("binary", b"\xff\xfe\x00\x80")):
        p = tmp_path / (name + ".json")
        p.write_bytes(content)
        files.append(str(p))
    files.append(str(tmp_path / "missing.json"))
    code = r'''
import json, settings
board = json.loads(%r)
out = []
for path in json.loads(%r):
    s, warning = settings.load(path, board)
    out.append([s, warning])
try:
    settings.validate({"pressure_mmhg": True}, board, "x")
    out.append("accepted a bool")
except settings.SettingsError as e:
    out.append(str(e))
print(json.dumps(out))
''' % (json.dumps(BOARD), json.dumps(files))
    out = micropython(code)
    good, corrupt, rng, unknown, binary, missing, boolean = out
    assert good == [dict(st_mod.defaults(BOARD), pressure_mmhg=70, hold_s=5), None]
    for (s, warning), path, says in ((corrupt, files[1], "JSON"), (rng, files[2], "minutes"),
                                     (unknown, files[3], "speed"), (binary, files[4], ""),
                                     (missing, files[5], "no ")):
        assert s == st_mod.defaults(BOARD)
        assert path in warning and says in warning and "defaults" in warning, warning
    assert "'pressure_mmhg'" in boolean
