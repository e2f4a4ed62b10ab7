"""User settings (firmware/settings.py): defaults, bounds narrowed by the board, refusals that
name the field, and load() that never raises; under CPython and MicroPython."""
import copy
import json

import pytest
from hypothesis import given, strategies as st

import settings as st_mod
from dual import DET
from limits import SETTING_FLAGS, MODES, SETTING_LIMITS, START_MMHG, START_MINUTES
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


LOW = dict(st_mod.defaults(BOARD), pressure_mmhg=START_MMHG, minutes=START_MINUTES)


@pytest.mark.parametrize("content,says", [
    (None, "no "),
    ("", "not valid JSON"),
    ("{", "not valid JSON"),
    ('{"pressure_mmhg": 80,}', "not valid JSON"),
    ('{"pressure_mmhg": 500}', "field 'pressure_mmhg': must be a number from 20 to 120"),
    ('{"colour": "red"}', "field 'colour': unknown field"),
    ('[1, 2]', "JSON object"),
    (b"\xff\xfe\x00\x01 garbage", "UTF-16"),
    (b'{"pressure_mmhg": 60, "mode": "w\xe9ve"}', "not text"),   # Latin-1, not UTF-8
])
def test_a_missing_or_damaged_file_starts_low_and_says_why(tmp_path, content, says):
    # issue 13: it used to start at the table's defaults, 80 mmHg for 20 min
    path = str(tmp_path / "settings.json") if content is None else write(tmp_path, content)
    s, warning = st_mod.load(path, BOARD)
    assert s == LOW
    assert isinstance(warning, str) and says in warning, warning
    assert path in warning and "starting at 40 mmHg for 10 min" in warning, warning


def test_the_start_figures_are_the_readmes():
    assert START_MMHG == 40 and START_MINUTES == 10
    readme = (paths.ROOT / "README.md").read_text()
    assert "Start low (40 mmHg)" in readme
    lo, hi = st_mod.bounds("pressure_mmhg", BOARD)
    assert lo <= START_MMHG < st_mod.defaults(BOARD)["pressure_mmhg"] <= hi
    # a board whose longest session is shorter than the start's gets its own longest
    s, _ = st_mod.load(str(paths.ROOT / "no-such-settings.json"), board_with(max_session_min=5))
    assert s["minutes"] == 5


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("content", [
    BOM + b'{"pressure_mmhg": 40}',                                  # the file
    BOM + b'{\r\n  "pressure_mmhg": 40,\r\n  "minutes": 25\r\n}\r\n',    # Notepad
    b'{\r\n\t"pressure_mmhg": 40,\r\n\t"minutes": 25\r\n}',               # CRLF alone
])
def test_a_byte_order_mark_and_crlf_line_ends_are_read(tmp_path, content):
    # issue 13: a BOM made the file "damaged" and the boot started at 80 mmHg, twice what it asked
    s, warning = st_mod.load(write(tmp_path, content), BOARD)
    assert warning is None
    assert s["pressure_mmhg"] == 40
    assert s["minutes"] == (25 if b"minutes" in content else 20)


@pytest.mark.parametrize("content,pressure,minutes,field", [
    # truncated (a power cut mid-write by another tool, a bad copy): what it shows, never more
    ('{"pressure_mmhg": 30, "minutes": 25, "mo', 30, 10, None),
    ('{"minutes": 5, "pressure_mmhg": 6', 20, 5, None),      # 6 (of 60?): the lowest allowed
    ('{"pressure_mmhg": 120, "minutes"', 40, 10, None),
    # one bad field: the fields that check out are kept
    ('{"pressure_mmhg": 60, "minutes": 25, "mode": "static"}', 60, 25, "mode"),
    ('{"pressure_mmhg": 30, "colour": "red"}', 30, 10, "colour"),
    ('{"pressure_mmhg": 500, "hold_s": 5}', 40, 10, "pressure_mmhg"),
    ('{"pressure_mmhg": 19, "minutes": 15}', 20, 15, "pressure_mmhg"),
    ('{"pressure_mmhg": "30", "minutes": 15}', 30, 15, "pressure_mmhg"),
    ('{"pressure_mmhg": 50, "minutes": 0}', 50, 1, "minutes"),
    ('{"pressure_mmhg": 50, "rest_s": 5}', 50, 10, "rest_s"),
])
def test_a_damaged_file_never_starts_above_what_it_shows(tmp_path, content, pressure, minutes,
                                                         field):
    s, warning = st_mod.load(write(tmp_path, content), BOARD)
    assert (s["pressure_mmhg"], s["minutes"]) == (pressure, minutes), warning
    assert warning and "settings.json" in warning, warning
    if field:
        assert "field '%s': " % field in warning, warning
    else:
        assert "not valid JSON" in warning, warning
    if "hold_s" in content:
        assert s["hold_s"] == 5
    if "rest_s" in content:
        assert s["rest_s"] == SETTING_LIMITS["rest_s"][2] and "LETDOWN_MIN_S" in warning


@DET
@given(values=st.fixed_dictionaries({"pressure_mmhg": st.integers(20, 120),
                                     "minutes": st.integers(1, 60)},
                                    optional={"hold_s": st.integers(0, 30),
                                              "mode": st.sampled_from(MODES[:5])}),
       cut=st.integers(1, 200))
def test_a_saved_file_cut_short_never_starts_above_what_was_saved(tmp_path_factory, values,
                                                                   cut):
    text = json.dumps(values)
    text = text[:max(1, len(text) - cut)]
    s, warning = st_mod.load(write(tmp_path_factory.mktemp("s"), text), BOARD)
    assert warning and "not valid JSON" in warning
    for key, start in (("pressure_mmhg", START_MMHG), ("minutes", START_MINUTES)):
        most = start
        if '"%s": ' % key in text and text[text.index(key) + len(key) + 3:][:1].isdigit():
            most = min(most, values[key])   # its digits, or the first of them: no more
        assert s[key] <= max(SETTING_LIMITS[key][0], most), (text, s[key])


@DET
@given(content=st.binary(max_size=40))
def test_load_never_raises(tmp_path_factory, content):
    path = write(tmp_path_factory.mktemp("s"), content)
    s, warning = st_mod.load(path, BOARD)
    assert set(s) == {"mode", "enabled", "program"} | set(SETTING_LIMITS) | set(SETTING_FLAGS)
    assert warning is None or "starting at" in warning
    if warning:
        assert s["pressure_mmhg"] <= START_MMHG and s["minutes"] <= START_MINUTES


@pytest.mark.parametrize("content,hold_s,rest_s,enabled", [
    # the reviewer's case: the chambers switched off, the hold the user chose, all lost
    (b'{"hold_s": 0, "enabled": [1, 2], "mode": "gradient", "rest_s": 40, "pressure', 0, 40,
     [1, 2]),
    (b'{"enabled": [2, 4, ', 10, 25, [2, 4]),           # a list cut short: what it shows
    (b'{"enabled": [3], "hold_s": 3, "name": "sant\xe9"}', 3, 25, [3]),    # not UTF-8
    (b'{"hold_s": 25, "rest_s": 15, "enabled": [9', 10, 25, [1, 2, 3, 4]),  # never harder
])
def test_a_damaged_file_keeps_what_makes_the_squeeze_gentler(tmp_path, content, hold_s, rest_s,
                                                             enabled):
    s, warning = st_mod.load(write(tmp_path, content), BOARD)
    assert (s["hold_s"], s["rest_s"], s["enabled"], s["mode"]) == (hold_s, rest_s, enabled,
                                                                   "wave"), s
    assert "fix the file, or set your settings again in the menu" in warning


MP_CASES = [
    ("good", b'{"pressure_mmhg": 70, "hold_s": 5}', None),
    ("bom", b'\xef\xbb\xbf{"pressure_mmhg": 40}', None),
    ("bomcrlf", b'\xef\xbb\xbf{\r\n "pressure_mmhg": 45,\r\n "minutes": 25\r\n}\r\n', None),
    ("corrupt", b'{"pressure_mmhg": 7', "JSON"),
    ("truncated", b'{"pressure_mmhg": 30, "minutes": 25, "mo', "JSON"),
    ("range", b'{"minutes": 600}', "field 'minutes'"),
    ("onebad", b'{"pressure_mmhg": 60, "minutes": 25, "mode": "static"}', "field 'mode'"),
    ("unknown", b'{"speed": 3}', "field 'speed'"),
    ("binary", b"\xff\xfe\x00\x80", "UTF-16"),
    ("latin1", b'{"pressure_mmhg": 60, "mode": "w\xe9ve"}', "not text"),
    ("keeps", b'{"hold_s": 0, "enabled": [1, 2], "mode": "gradient", "rest_s": 40, "pressu',
     "JSON"),
]


def test_load_under_micropython(micropython, tmp_path):
    files = []
    for name, content, _ in MP_CASES:
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
    assert "'pressure_mmhg'" in out.pop()
    says = [c[2] for c in MP_CASES] + ["no "]
    for (s, warning), path, word in zip(out, files, says):
        want, want_warning = st_mod.load(path, BOARD)       # CPython: the same figures
        assert s == want, path
        if word is None:
            assert warning is None and want_warning is None, warning
        else:
            assert path in warning and word in warning and "starting at" in warning, warning
    figures = {name: (s["pressure_mmhg"], s["minutes"]) for (name, _, _), (s, _) in
               zip(MP_CASES, out)}
    assert figures == {"good": (70, 20), "bom": (40, 20), "bomcrlf": (45, 25),
                       "corrupt": (20, 10), "truncated": (30, 10), "range": (40, 10),
                       "onebad": (60, 25), "unknown": (40, 10), "binary": (40, 10),
                       "latin1": (40, 10), "keeps": (40, 10)}
