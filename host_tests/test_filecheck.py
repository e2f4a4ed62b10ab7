"""The one checker and the one JSON reader (firmware/filecheck.py, issue 13 part 5): every file
the boot reads, and the scenario files, go through them; a UTF-8 byte-order mark and CRLF line
ends are accepted everywhere (part 2), on the device (MicroPython) and on the computer."""
import json
import re

import pytest

import boardcfg
import filecheck
import netconf
import program
import settings
from dual import both
from sim import paths, scenario

BOM = b"\xef\xbb\xbf"
BOARD_TEXT = paths.DEFAULT_BOARD.read_text()
SECRETS = {"wifi": {"ssid": "home", "password": "pass-word"},
           "mqtt": {"host": "192.0.2.1", "user": "boot", "password": "x", "keepalive_s": 30}}


def editors(text):
    """The same JSON as different editors save it: (name, bytes)."""
    crlf = text.replace("\n", "\r\n").encode()
    return [("plain", text.encode()), ("bom", BOM + text.encode()), ("crlf", crlf),
            ("bom-crlf", BOM + crlf)]


READ = r'''
import json, filecheck
out = []
for path in json.loads(%r):
    try:
        out.append(["ok", filecheck.read(path) == json.loads(%r)])
    except filecheck.NotText as e:
        out.append(["not text", "UTF-16" in str(e)])
    except ValueError:
        out.append(["not json", None])
print(json.dumps(out))
'''


def test_the_reader_takes_a_bom_and_crlf_and_names_what_it_cannot_read(micropython, tmp_path):
    text = json.dumps({"a": [1, 2], "b": "x y", "c": {"d": True}}, indent=2)
    cases = editors(text) + [("utf16", text.encode("utf-16")), ("latin1", b'{"a": "\xe9"}'),
                             ("bom-only", BOM), ("bom-twice", BOM + BOM + text.encode())]
    files = []
    for name, raw in cases:
        (tmp_path / name).write_bytes(raw)
        files.append(str(tmp_path / name))
    out = both(micropython, READ % (json.dumps(files), text))
    assert out == [["ok", True]] * 4 + [["not text", True], ["not text", False],
                                        ["not json", None], ["not json", None]]


BOARD = r'''
import json, boardcfg
want = json.loads(%r)
print(json.dumps([boardcfg.load(p) == want for p in json.loads(%r)]))
'''


def test_a_board_file_from_any_editor_loads_on_the_device(micropython, tmp_path):
    files = []
    for name, raw in editors(BOARD_TEXT):
        (tmp_path / f"{name}.json").write_bytes(raw)
        files.append(str(tmp_path / f"{name}.json"))
    assert both(micropython, BOARD % (BOARD_TEXT, json.dumps(files))) == [True] * 4
    # before issue 13: "board file ...: is not valid JSON" and nothing started
    (tmp_path / "u16.json").write_bytes(BOARD_TEXT.encode("utf-16"))
    with pytest.raises(boardcfg.BoardError, match="u16.json: is not a text file .*UTF-16"):
        boardcfg.load(str(tmp_path / "u16.json"))


SECRETS_LOAD = r'''
import json, netconf
out = []
for p in json.loads(%r):
    conf, warning = netconf.load(p)
    out.append([conf is not None and conf["mqtt"]["keepalive_s"], warning])
print(json.dumps(out))
'''


def test_a_secrets_file_from_any_editor_turns_the_network_on(micropython, tmp_path):
    files = []
    for name, raw in editors(json.dumps(SECRETS, indent=2)):
        (tmp_path / f"{name}.json").write_bytes(raw)
        files.append(str(tmp_path / f"{name}.json"))
    assert both(micropython, SECRETS_LOAD % json.dumps(files)) == [[30, None]] * 4


@pytest.mark.parametrize("name,raw", editors(json.dumps(
    {"board": "esp32-devkitc-4ch", "settings": {"pressure_mmhg": 40, "minutes": 5},
     "faults": [{"t_s": 60, "fault": "leak", "chamber": 2, "ml_per_min": 50}],
     "duration_s": 400}, indent=2)))
def test_a_scenario_from_any_editor_is_read_on_the_computer(tmp_path, name, raw):
    path = tmp_path / "s.json"
    path.write_bytes(raw)
    sc = scenario.load(path)
    assert sc["settings"]["pressure_mmhg"] == 40 and sc["faults"][0]["chamber"] == 2


def test_a_scenario_in_utf16_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_bytes(json.dumps({"duration_s": 60}).encode("utf-16"))
    with pytest.raises(scenario.ScenarioError, match=r"s\.json: is not a text file .*UTF-16"):
        scenario.load(path)


# --- the tables --------------------------------------------------------------------------------
TABLES = [("board " + (where or "top"), t) for where, t in boardcfg.TABLES] + [
    ("settings", settings.TABLE), ("program", program.TABLE),
    ("program chamber", program._chamber_table(120)), ("secrets", netconf.TOP),
    ("secrets wifi", netconf.WIFI), ("secrets mqtt", netconf.MQTT)]
KINDS = (filecheck.INT, filecheck.NUM, filecheck.BOOL, filecheck.TEXT, filecheck.CHOICE,
         filecheck.OBJ, filecheck.LIST, filecheck.PIN)


@pytest.mark.parametrize("name,table", TABLES, ids=[t[0] for t in TABLES])
def test_every_table_row_states_kind_range_default_and_why(name, table):
    names = [row[0] for row in table]
    assert len(names) == len(set(names))
    for row in table:
        field, kind, lo, hi, default, why = row
        assert kind in KINDS and isinstance(why, str) and why, row
        assert re.fullmatch(r"[a-z_]+", field), row
        if kind in (filecheck.INT, filecheck.NUM, filecheck.TEXT):
            assert lo <= hi, row
        if default not in (None, filecheck.REQUIRED):
            assert filecheck.problem(kind, default, lo, hi) is None, row


def test_settings_and_program_ranges_come_from_the_limits_table():
    import limits
    for key, (lo, hi, default, why) in limits.SETTING_LIMITS.items():
        assert filecheck.find(settings.TABLE, key)[2:6] == (lo, hi, default, why)
    for key in ("hold_s", "rest_s"):
        assert filecheck.find(program.TABLE, key)[2:4] == limits.SETTING_LIMITS[key][:2]
    assert filecheck.find(program.TABLE, "rest_s")[2] == limits.LETDOWN_MIN_S
    for key, (lo, hi, _d, _w) in limits.BOARD_LIMITS.items():
        assert filecheck.find(boardcfg.LIMITS, key)[2:4] == (lo, hi)


@pytest.mark.parametrize("kind,value,lo,hi,text", [
    (filecheck.INT, 5.0, 0, 9, "must be a whole number from 0 to 9, got 5.0"),
    (filecheck.INT, True, 0, 9, "must be a whole number from 0 to 9, got True"),
    (filecheck.NUM, float("nan"), 0, 9, "must be a number from 0 to 9, got nan"),
    (filecheck.NUM, float("inf"), 0, 9, "must be a number from 0 to 9, got inf"),
    (filecheck.NUM, "3", 0, 9, "must be a number from 0 to 9, got '3'"),
    (filecheck.BOOL, 1, None, None, "must be true or false, got 1"),
    (filecheck.TEXT, "", 1, 32, "must be a text of 1 to 32 characters, got ''"),
    (filecheck.CHOICE, ["a"], ("a", "b"), None, "must be one of a, b, got ['a']"),
    (filecheck.OBJ, [], None, None, "must be a JSON object"),
])
def test_one_wording_for_every_file(kind, value, lo, hi, text):
    assert filecheck.problem(kind, value, lo, hi) == text


def test_every_refusal_names_the_file_and_the_field():
    cases = [
        (lambda: boardcfg.validate(dict(json.loads(BOARD_TEXT), chambers=0), "b.json"),
         boardcfg.BoardError, "board file b.json: field 'chambers': must be a whole number"),
        (lambda: settings.validate({"hold_s": 99}, json.loads(BOARD_TEXT), "settings.json"),
         settings.SettingsError, "settings.json: field 'hold_s': must be a number from 0 to 30"),
        (lambda: program.validate({"name": "x", "chambers": [], "hold_s": 5, "rest_s": 20,
                                   "speed": 1}, 4, 120, "program file p.json"),
         program.ProgramError, "program file p.json: field 'speed': unknown field; allowed: "),
        (lambda: netconf.validate({"wifi": {"ssid": "h"}, "mqtt": {"host": "b", "tls": "on"}}),
         netconf.NetConfError, "secrets.json: field 'mqtt.tls': must be true or false"),
    ]
    for call, error, text in cases:
        with pytest.raises(error) as e:
            call()
        assert str(e.value).startswith(text), str(e.value)


def test_no_module_reads_a_users_file_on_its_own():
    """The one reader: board, settings, programs and secrets are read by filecheck.read (the
    fault and usage logs are the firmware's own lines; MQTT messages are not files)."""
    own = {"filecheck.py", "faultlog.py", "mqttmsg.py"}
    for f in sorted(paths.FIRMWARE.glob("*.py")):
        if f.name not in own:
            assert "json.load" not in f.read_text(), f.name
    assert "json.load" not in (paths.ROOT / "sim" / "scenario.py").read_text()


def test_a_file_too_big_for_the_chip_is_refused_not_read(tmp_path):
    # the reviewer's case: a 120 KB settings, secrets, board or program file raised MemoryError
    # in a chip-sized heap (160 KB, 107 KB free) before the boot could say anything
    big = b'{"pressure_mmhg": 40, "pad": "' + b"x" * 120000 + b'"}'
    for name in ("settings", "secrets", "board", "program"):
        (tmp_path / (name + ".json")).write_bytes(big)
    code = r'''
import json, settings, netconf, boardcfg, program
board = json.loads(%r)
d = %r
out = []
s, w = settings.load(d + "/settings.json", board)
out.append([s["pressure_mmhg"], w])
out.append(netconf.load(d + "/secrets.json")[1])
for load in (lambda: boardcfg.load(d + "/board.json"),
             lambda: program.load(d + "/program.json", 4, 120)):
    try:
        load()
        out.append("accepted")
    except (boardcfg.BoardError, program.ProgramError) as e:
        out.append(str(e))
print(json.dumps(out))
''' % (json.dumps(boardcfg.load(str(paths.DEFAULT_BOARD))), str(tmp_path))
    import os
    import subprocess
    from sim.session import micropython_binary
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([str(paths.FIRMWARE), str(paths.DEVICE)]))
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=160K", "-c", code],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out[0][0] == 40
    for said in (out[0][1], out[1], out[2], out[3]):
        assert "bytes, more than any file of this kind (at most 8192)" in said, said


def test_a_scenario_nested_too_deeply_is_refused(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(scenario.ScenarioError, match="nested too deeply"):
        scenario.load(str(p))
