"""Board files (firmware/boardcfg.py): the shipped board loads; every kind of bad file is refused
with a BoardError that names the file and the field; under CPython and MicroPython."""
import copy
import json

import pytest
from hypothesis import given, strategies as st

import boardcfg
import filecheck
from boardcfg import BoardError
from dual import DET
from sim import paths

SHIPPED = paths.DEFAULT_BOARD
GOOD = json.loads(SHIPPED.read_text())


def board(**changes):
    """A deep copy of the shipped board with changes: {"sensor.adc_pin": 4, "name": DEL}."""
    b = copy.deepcopy(GOOD)
    for where, value in changes.items():
        set_at(b, where.replace("__", "."), value)
    return b


DEL = object()


def set_at(b, where, value):
    *path, last = where.split(".")
    node = b
    for key in path:
        node = node.setdefault(key, {}) if key not in node else node[key]
    if "[" in last:
        key, idx = last[:-1].split("[")
        node[key][int(idx)] = value
    elif value is DEL:
        del node[last]
    else:
        node[last] = value


def refused(tmp_path, data, field, text=None):
    path = tmp_path / "board.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BoardError) as e:
        boardcfg.load(str(path))
    msg = str(e.value)
    assert str(path) in msg, msg
    assert "field '%s'" % field in msg, msg
    if text:
        assert text in msg, msg
    return msg


def test_shipped_board_loads():
    cfg = boardcfg.load(str(SHIPPED))
    assert cfg == GOOD
    assert cfg["chambers"] == len(cfg["outputs"]["valve_pins"]) == 4
    assert boardcfg.validate(copy.deepcopy(GOOD)) == GOOD


@pytest.mark.parametrize("changes", [
    {"description": DEL},
    {"chambers": 8, "outputs.valve_pins": [27, 16, 17, 18, 19, 21, 22, 23], "display": DEL},
    {"chambers": 1, "outputs.valve_pins": [27]},
    {"outputs.active_high": False, "inputs.button_active_low": False},
    {"indicators": {"led_pin": 2, "buzzer_pin": 4}},
    {"indicators": {"led_pin": None}},
    {"indicators": {}},
    {"limits.max_target_mmhg": 130},                        # exactly 20 below the ceiling
    {"limits.ceiling_mmhg": 250, "limits.max_target_mmhg": 230},
    {"sensor.full_scale_mmhg": 300.0, "sensor.v_at_zero": 1},
    {"mcu": "esp32s3", "sensor.adc_pin": 5, "inputs.button_pin": 40},
])
def test_valid_variants_load(tmp_path, changes):
    data = board(**{k.replace(".", "__"): v for k, v in changes.items()})
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    assert boardcfg.load(str(path)) == data


REQUIRED = [(s, row[0]) for s, table in boardcfg.TABLES for row in table
            if row[4] == filecheck.REQUIRED and (s == "" or s in GOOD)]


@pytest.mark.parametrize("section,key", REQUIRED)
def test_a_missing_field_is_named(tmp_path, section, key):
    field = section + "." + key if section else key
    refused(tmp_path, board(**{field.replace(".", "__"): DEL}), field, "missing")


BAD = [
    # (field named, changes, text in the message)
    ("name", {"name": ""}, None),
    ("name", {"name": 5}, None),
    ("description", {"description": ["x"]}, None),
    ("mcu", {"mcu": "esp8266"}, "esp32"),
    ("mcu", {"mcu": ["esp32"]}, None),                      # unhashable: was a TypeError
    ("mcu", {"mcu": {"esp32": 1}}, None),
    ("chambers", {"chambers": 0}, None),
    ("chambers", {"chambers": 9}, None),
    ("chambers", {"chambers": "4"}, None),
    ("chambers", {"chambers": 4.0}, None),
    ("chambers", {"chambers": True}, None),                 # bool where an int is expected
    ("outputs", {"outputs": [25, 26]}, "JSON object"),
    ("outputs.active_high", {"outputs.active_high": 1}, "true or false"),
    ("outputs.pump_pin", {"outputs.pump_pin": 40}, "0 to 39"),
    ("outputs.pump_pin", {"outputs.pump_pin": -1}, None),
    ("outputs.pump_pin", {"outputs.pump_pin": True}, None),
    ("outputs.pump_pin", {"outputs.pump_pin": "25"}, None),
    ("outputs.dump_pin", {"outputs.dump_pin": 25}, "already used by outputs.pump_pin"),
    ("outputs.valve_pins", {"outputs.valve_pins": [27, 16, 17]}, "one GPIO per chamber"),
    ("outputs.valve_pins", {"outputs.valve_pins": "27,16,17,18"}, None),
    ("outputs.valve_pins[1]", {"outputs.valve_pins[1]": 27}, "already used"),
    ("outputs.valve_pins[2]", {"outputs.valve_pins[2]": 17.0}, None),
    ("outputs.valve_pins[0]", {"outputs.valve_pins[0]": True}, None),
    ("outputs.unknown", {"outputs.unknown": 1}, "unknown field"),
    ("sensor", {"sensor": None}, None),
    ("sensor.adc_pin", {"sensor.adc_pin": 4}, "ADC1"),      # ADC2: unreadable with Wi-Fi on
    ("sensor.adc_pin", {"sensor.adc_pin": 13}, "ADC1"),
    ("sensor.adc_pin", {"sensor.adc_pin": 25}, "already used"),
    ("sensor.v_at_zero", {"sensor.v_at_zero": "0.5"}, None),
    ("sensor.v_at_zero", {"sensor.v_at_zero": 0.1}, None),
    ("sensor.v_at_zero", {"sensor.v_at_zero": False}, None),
    ("sensor.v_at_full_scale", {"sensor.v_at_full_scale": 1.4}, "1 V above"),
    ("sensor.v_at_full_scale", {"sensor.v_at_full_scale": 11}, None),
    ("sensor.full_scale_mmhg", {"sensor.full_scale_mmhg": 50}, None),
    ("sensor.full_scale_mmhg", {"sensor.full_scale_mmhg": True}, None),
    ("sensor.divider_ratio", {"sensor.divider_ratio": 1.5}, None),
    ("sensor.divider_ratio", {"sensor.divider_ratio": 0.7}, "smaller ratio"),   # 3.15 V
    ("sensor.v_at_zero", {"sensor.v_at_zero": 0.2, "sensor.divider_ratio": 0.4},
     "broken wire"),
    ("sensor.gain", {"sensor.gain": 2}, "unknown field"),
    ("inputs.button_pin", {"inputs.button_pin": 34}, "already used by sensor.adc_pin"),
    ("inputs.button_active_low", {"inputs.button_active_low": "yes"}, None),
    ("indicators.led_pin", {"indicators": {"led_pin": 25}}, "already used"),
    ("indicators.buzzer_pin", {"indicators": {"buzzer_pin": 40}}, None),
    ("indicators.lamp", {"indicators": {"lamp": 2}}, "unknown field"),
    ("indicators", {"indicators": [2]}, None),
    ("limits.ceiling_mmhg", {"limits.ceiling_mmhg": 300}, None),   # above ABS_CEILING
    ("limits.ceiling_mmhg", {"limits.ceiling_mmhg": 150.0}, "whole number"),
    ("limits.ceiling_mmhg", {"limits.ceiling_mmhg": True}, None),
    ("limits.ceiling_mmhg", {"sensor.full_scale_mmhg": 150}, "90%"),
    ("limits.max_target_mmhg", {"limits.max_target_mmhg": 131}, "20 mmHg below"),
    ("limits.max_target_mmhg", {"limits.max_target_mmhg": 10}, None),
    ("limits.max_session_min", {"limits.max_session_min": 61}, None),
    ("limits.max_session_min", {"limits.max_session_min": 4}, None),
    ("limits.ceiling", {"limits.ceiling": 150}, "unknown field"),
    ("pump", {"pump": 25}, "unknown field"),
    ("sensor.adc_pin", {"mcu": "esp32s3"}, "ADC1"),                # 34 is not ADC1 on an S3
]


@pytest.mark.parametrize("field,changes,text", BAD, ids=["%d-%s" % (i, b[0]) for i, b in
                                                         enumerate(BAD)])
def test_a_bad_field_is_refused_and_named(tmp_path, field, changes, text):
    data = board(**{k.replace(".", "__"): v for k, v in changes.items()})
    refused(tmp_path, data, field, text)
    # validate() itself names the field too, with the default "<board>" file name
    with pytest.raises(BoardError, match="board file <board>: field '%s'" % field.replace(
            "[", r"\[").replace("]", r"\]")):
        boardcfg.validate(data)


def test_not_an_object(tmp_path):
    refused(tmp_path, [GOOD], "(file)", "JSON object")


def test_nan_is_not_a_number(tmp_path):
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(GOOD).replace('"v_at_zero": 0.5', '"v_at_zero": NaN'))
    with pytest.raises(BoardError, match="field 'sensor.v_at_zero'"):
        boardcfg.load(str(path))


@pytest.mark.parametrize("content", [b"", b"{", b'{"name": "x",}', b"\xff\xfe\x00garbage",
                                     json.dumps(GOOD).encode()[:-5]])
def test_unreadable_text_is_refused_naming_the_file(tmp_path, content):
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with pytest.raises(BoardError) as e:
        boardcfg.load(str(path))
    assert str(e.value).startswith("board file %s: " % path)


def test_missing_file_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(BoardError) as e:
        boardcfg.load(str(path))
    assert str(path) in str(e.value) and "cannot be read" in str(e.value)


# --- hypothesis: any value of the wrong kind anywhere is refused, naming that field --------

KIND = {"name": "str", "description": "str", "mcu": "str", "chambers": "int",
        "outputs.active_high": "bool", "outputs.pump_pin": "int", "outputs.dump_pin": "int",
        "outputs.valve_pins": "list", "sensor.adc_pin": "int", "sensor.v_at_zero": "num",
        "sensor.v_at_full_scale": "num", "sensor.full_scale_mmhg": "num",
        "sensor.divider_ratio": "num", "inputs.button_pin": "int",
        "inputs.button_active_low": "bool", "limits.ceiling_mmhg": "int",
        "limits.max_target_mmhg": "int", "limits.max_session_min": "int",
        "outputs": "dict", "sensor": "dict", "inputs": "dict", "limits": "dict"}
for _i in range(4):
    KIND["outputs.valve_pins[%d]" % _i] = "int"

ANY = st.one_of(st.none(), st.booleans(), st.integers(-10, 10 ** 6),
                st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5),
                st.lists(st.integers(0, 40), max_size=5),
                st.dictionaries(st.sampled_from(["a", "pump_pin", "name"]), st.integers(0, 5),
                                max_size=2))


def wrong_kind(kind, v):
    if kind == "str":
        return not isinstance(v, str)
    if kind == "bool":
        return not isinstance(v, bool)
    if kind == "int":
        return isinstance(v, bool) or not isinstance(v, int)
    if kind == "num":
        return isinstance(v, bool) or not isinstance(v, (int, float))
    if kind == "list":
        return not isinstance(v, list)
    return not isinstance(v, dict)


@DET
@given(field=st.sampled_from(sorted(KIND)), value=ANY)
def test_any_wrong_kind_is_refused_naming_the_field(field, value):
    if not wrong_kind(KIND[field], value):
        return
    data = board(**{field.replace(".", "__"): value})
    with pytest.raises(BoardError) as e:
        boardcfg.validate(data, "b.json")
    msg = str(e.value)
    assert msg.startswith("board file b.json: field '")
    named = msg.split("'")[1]
    # the field itself, or (for a whole section replaced by an object) a field inside it
    assert named == field or named.startswith(field + "."), (field, value, msg)


@DET
@given(data=st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 60), st.floats(0, 300),
              st.text(max_size=4)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(sorted(
                                {row[0] for _, table in boardcfg.TABLES for row in table})),
                                inner, max_size=6)), max_leaves=20))
def test_arbitrary_json_never_crashes_the_loader(data):
    try:
        boardcfg.validate(data, "x.json")
    except BoardError as e:
        assert str(e).startswith("board file x.json: field '")


def test_refusals_under_micropython(micropython, tmp_path):
    cases = [("ok", GOOD, None),
             ("adc2", board(sensor__adc_pin=4), "sensor.adc_pin"),
             ("dup", board(outputs__dump_pin=25), "outputs.dump_pin"),
             ("boolint", board(chambers=True), "chambers"),
             ("missing", board(limits__ceiling_mmhg=DEL), "limits.ceiling_mmhg"),
             ("unknown", board(sensor__gain=2), "sensor.gain"),
             ("close", board(limits__max_target_mmhg=131), "limits.max_target_mmhg"),
             ("mcu", board(mcu=["esp32"]), "mcu")]
    files = []
    for name, data, field in cases:
        p = tmp_path / (name + ".json")
        p.write_text(json.dumps(data))
        files.append([str(p), field])
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    files += [[str(tmp_path / "bad.json"), None], [str(tmp_path / "bin.json"), None],
              [str(tmp_path / "missing.json"), None]]
    code = r'''
import json, boardcfg
out = []
for path, field in json.loads(%r):
    try:
        cfg = boardcfg.load(path)
        out.append(["ok", cfg["chambers"]])
    except Exception as e:
        out.append([type(e).__name__, str(e)])
print(json.dumps(out))
''' % json.dumps(files)
    out = micropython(code)
    assert out[0] == ["ok", 4]
    for (path, field), (kind, msg) in zip(files[1:], out[1:]):
        assert kind == "BoardError", (path, kind, msg)
        assert msg.startswith("board file %s: " % path), msg
        if field:
            assert "field '%s'" % field in msg, msg
