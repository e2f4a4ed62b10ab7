"""The MQTT pieces on their own, in CPython and in MicroPython: the command parser (table and
fuzz), the state message, the Home Assistant discovery configs, secrets.json checking, the
non-blocking link that umqtt.simple runs on (with umqtt.simple itself: the image's where the
runtime freezes it, as on the ESP32, else the PyPI copy), and the watchdog marker for steps that
may block."""
import json
import random
import re

import pytest
from hypothesis import given, strategies as st

import mqttmsg as M
import netconf
from dual import DET, both
from mqtt_rig import umqtt_path
from settings import bounds
from sequencer import PHASES
from sim import paths

BOARD = json.loads(paths.DEFAULT_BOARD.read_text())


@pytest.fixture(scope="module")
def mp_umqtt():
    """Run a snippet under MicroPython with umqtt.simple: the image's where the runtime
    freezes it (the 32-bit build, as the ESP32), else the PyPI copy (1.3.4) from the library
    folder, which comes after the frozen modules as /lib does on the chip."""
    from conftest import micropython_json
    lib = (umqtt_path(),)
    return lambda code: micropython_json(code, lib_path=lib)


# --- commands ----------------------------------------------------------------------------------
GOOD = [(b"stop", ["stop", None]), (b" pause\n", ["pause", None]), (b"resume", ["resume", None]),
        (b"start", ["start", None]), (b'{"cmd": "stop"}', ["stop", None]),
        (b'{"cmd": "set_target", "value": 60}', ["set_target", 60]),
        (b'{"cmd": "set_target", "value": 60.0}', ["set_target", 60]),
        (b'{"value": 500, "cmd": "set_target"}', ["set_target", 500])]     # range: App.command
BAD = [(b"", "empty"), (b"STOP", "unknown command"), (b"set_target", "unknown command"),
       (b"\xff\xfe", "UTF-8"), (b"{", "not valid JSON"), (b"[1]", "must be an object"),
       (b'{"cmd": "launch"}', "unknown command"), (b'{"cmd": 1}', "unknown command"),
       (b'{"cmd": "stop", "value": 1}', "takes no value"),
       (b'{"cmd": "stop", "force": true}', "unknown field"),
       (b'{"cmd": "set_target"}', "needs a value"),
       (b'{"cmd": "set_target", "value": 60.5}', "whole number"),
       (b'{"cmd": "set_target", "value": true}', "whole number"),
       (b'{"cmd": "set_target", "value": "60"}', "whole number"),
       (b'{"cmd": "set_target", "value": 1e999}', "whole number"),
       (b'{"cmd": "set_target", "value": null}', "whole number"),
       (b"x" * 300, "longer than"), (b"[" * 250, "not valid JSON")]

PARSE = """
import json, mqttmsg
out = []
for h in %r:
    try:
        out.append(list(mqttmsg.parse_command(bytes.fromhex(h))))
    except mqttmsg.CommandError as e:
        out.append("error: " + str(e))
print(json.dumps(out))
"""


def test_commands_parse_the_same_in_both_runtimes(micropython):
    payloads = [p.hex() for p, _ in GOOD + BAD]
    out = both(micropython, PARSE % payloads)
    for (p, want), got in zip(GOOD, out):
        assert got == want, p
    for (p, why), got in zip(BAD, out[len(GOOD):]):
        assert isinstance(got, str) and got.startswith("error: ") and why in got, (p, got)


def _fuzz_payloads(n, seed):
    """Payloads near the grammar: mutated commands, random bytes, random JSON."""
    rnd = random.Random(seed)
    seeds = [p for p, _ in GOOD + BAD]
    out = []
    for _ in range(n):
        kind = rnd.randrange(3)
        if kind == 0:
            b = bytearray(rnd.choice(seeds))
            for _ in range(rnd.randrange(1, 4)):
                if b and rnd.random() < 0.5:
                    b[rnd.randrange(len(b))] = rnd.randrange(256)
                else:
                    b.insert(rnd.randrange(len(b) + 1), rnd.choice(b'{}[]":,01.-e\\ '))
            out.append(bytes(b))
        elif kind == 1:
            out.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(40))))
        else:
            v = rnd.choice([None, True, 1, -1, 2 ** 70, 0.5, 1e308, "x", [], {}])
            out.append(json.dumps({"cmd": rnd.choice(list(M.COMMANDS) + ["x"]),
                                   "value": v}).encode())
    return out


def test_fuzzed_commands_raise_nothing_but_command_errors_in_micropython(micropython):
    payloads = _fuzz_payloads(400, seed=6)
    mp = micropython(PARSE % [p.hex() for p in payloads])
    cp = []
    for p in payloads:
        try:
            cp.append(list(M.parse_command(p)))
        except M.CommandError as e:
            cp.append("error: " + str(e))
    assert len(mp) == len(payloads)
    # both runtimes accept exactly the same commands
    assert [x for x in mp if not isinstance(x, str)] == [x for x in cp if not isinstance(x, str)]


@DET
@given(st.one_of(st.binary(max_size=300), st.text(max_size=80).map(str.encode),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.floats() |
                              st.text(max_size=8),
                              lambda kids: st.lists(kids, max_size=3) |
                              st.dictionaries(st.sampled_from(["cmd", "value", "x"]), kids,
                                              max_size=3),
                              max_leaves=6).map(lambda v: json.dumps(v).encode())))
def test_any_payload_is_a_command_or_a_command_error(payload):
    try:
        name, value = M.parse_command(payload)
    except M.CommandError as e:
        assert str(e)
        return
    assert name in M.COMMANDS
    assert value is None or (type(value) is int and name == "set_target")


# --- state and discovery -----------------------------------------------------------------------
SNAP = {"phase": "fill", "chamber": 2, "cycle": 3, "p_mmhg": 80.4, "target_mmhg": 80,
        "remaining_s": 1100, "fault": "NONE"}

STATE = """
import json, mqttmsg
snap = %r
out = json.loads(mqttmsg.state_message(snap, 0))
out2 = json.loads(mqttmsg.state_message(dict(snap, fault="OVER_PRESSURE"), 3))
text = mqttmsg.state_message(snap, 0)
print(json.dumps([out, out2, '"p_mmhg": 80.4}' in text]))
"""


def test_state_message_carries_the_snapshot_an_alarm_flag_and_one_decimal(micropython):
    snap = dict(SNAP)
    out, out2, exact = both(micropython, STATE % snap)
    assert out == dict(snap, alarm=False)
    assert out2["alarm"] is True and out2["dropped_events"] == 3
    assert exact


def test_only_discrete_fields_count_as_a_change():
    assert M.changed(SNAP, None)
    assert not M.changed(dict(SNAP, p_mmhg=10.0, remaining_s=5), SNAP)
    for key in ("phase", "chamber", "target_mmhg", "fault"):
        assert M.changed(dict(SNAP, **{key: "other"}), SNAP)


def _discovery(allow_start):
    topics = M.Topics("boot/test", "homeassistant")
    lo, hi = bounds("pressure_mmhg", BOARD)
    dev = M.device_block("boot_abcdef", "Compression boot", BOARD["name"])
    out = []
    i = 0
    while True:
        msg = M.discovery(i, topics, "boot_abcdef", dev, lo, hi, PHASES, allow_start)
        if msg is None:
            return out
        out.append((msg[0].decode(), json.loads(msg[1]) if msg[1] else None))
        i += 1


def test_discovery_follows_home_assistants_schema():
    """<prefix>/<component>/<node_id>/<object_id>/config; unique_id, device identifiers and
    the availability topic on every entity; templates that read keys the state has."""
    configs = _discovery(allow_start=False)
    kinds = {}
    state_keys = set(json.loads(M.state_message(SNAP, 0)))
    for topic, cfg in configs:
        prefix, comp, node, obj, last = topic.split("/")
        assert (prefix, node, last) == ("homeassistant", "boot_abcdef", "config")
        assert comp in ("sensor", "binary_sensor", "button", "number")
        kinds.setdefault(comp, []).append(obj)
        if cfg is None:
            continue
        assert cfg["unique_id"] == "boot_abcdef_" + obj
        assert cfg["availability_topic"] == "boot/test/availability"
        assert cfg["device"]["identifiers"] == ["boot_abcdef"]
        assert cfg["name"]
        tpl = cfg.get("value_template", "")
        if cfg.get("state_topic") == "boot/test/state":
            key = tpl.split("value_json.")[1].split()[0]
            assert key in state_keys, tpl
        if "command_topic" in cfg:
            assert cfg["command_topic"] == "boot/test/cmd"
    assert {"pressure", "phase", "remaining"} <= set(kinds["sensor"])
    assert "stop" in kinds["button"] and kinds["number"] == ["target"]
    assert kinds["binary_sensor"] == ["alarm"]
    by_obj = {t.split("/")[3]: c for t, c in configs}
    assert by_obj["start"] is None              # not allowed: its config is removed
    assert by_obj["resume"] is None             # (a resume refills the legs as a start does)
    # issue 13: in mmHg whatever Home Assistant's unit system: a "pressure" sensor would be
    # shown in inHg under US units while the number (never converted) stays in mmHg
    for obj in ("pressure", "target"):
        assert by_obj[obj]["unit_of_measurement"] == "mmHg"
        assert "device_class" not in by_obj[obj], obj
    assert by_obj["phase"]["options"] == list(PHASES)
    assert by_obj["remaining"]["device_class"] == "duration"
    assert by_obj["alarm"]["device_class"] == "problem"
    num = by_obj["target"]
    assert (num["min"], num["max"], num["step"]) == (20, BOARD["limits"]["max_target_mmhg"], 1)
    # what Home Assistant sends for the number and the buttons parses as the command it means;
    # the number passes its value on as it is (an integral float arrives as 65: HA's MQTT
    # number renders it as an int), so a fraction is refused exactly as sent by hand (issue 13)
    assert "{{ value }}" in num["command_template"]
    for shown in ("65", "60.5"):
        from_ha = num["command_template"].replace("{{ value }}", shown).encode()
        by_hand = b'{"cmd": "set_target", "value": ' + shown.encode() + b"}"
        assert _parsed(from_ha) == _parsed(by_hand)
    assert _parsed(num["command_template"].replace("{{ value }}", "65").encode()) == \
        ("set_target", 65)
    assert "whole number" in _parsed(b'{"cmd": "set_target", "value": 60.5}')
    # the last answer: a sensor on the event topic (its template is Home Assistant's to run:
    # test_home_assistant.py)
    answer = by_obj["answer"]
    assert answer["state_topic"] == "boot/test/event" and "this.state" in \
        answer["value_template"] and "device_class" not in answer
    for obj in ("stop", "pause"):
        assert M.parse_command(by_obj[obj]["payload_press"].encode()) == (obj, None)
    allowed = {t.split("/")[3]: c for t, c in _discovery(allow_start=True)}
    for obj in ("resume", "start"):
        assert M.parse_command(allowed[obj]["payload_press"].encode()) == (obj, None)


def _parsed(payload):
    try:
        return M.parse_command(payload)
    except M.CommandError as e:
        return str(e)


def test_the_docs_list_every_phase_the_boot_publishes():
    """docs/MQTT.md's phase table is the sequencer's PHASES, in order (issue 13: the docs
    listed 9 of them)."""
    text = (paths.ROOT / "docs" / "MQTT.md").read_text()
    table = text[text.index("`phase` is one of"):]
    table = table[:table.index("\n\n", table.index("| phase |"))]
    names = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `")]
    assert names == list(PHASES)


def test_the_docs_list_every_event_the_boot_publishes_and_where_allow_start_goes():
    """Issue 13 (a new user): the README's event row listed 8 of the events the boot forwards
    to MQTT, said only "in secrets.json" of allow_start (it goes in the mqtt section) and that
    a mode could be chosen from MQTT."""
    readme = (paths.ROOT / "README.md").read_text()
    mqtt_md = (paths.ROOT / "docs" / "MQTT.md").read_text()
    for text, row in ((readme, "| `.../event` |"), (mqtt_md, "| `<base>/event` |")):
        line = text[text.index(row):].splitlines()[0]
        listed = set(line.split("`")[3::2])
        assert set(M.FORWARD) <= listed, (row, sorted(set(M.FORWARD) - listed))
    for text in (readme, mqtt_md):
        for m in re.finditer(r'"allow_start": true`? in ', text):
            assert re.match(r"(the|its) `mqtt` section", text[m.end():]), \
                text[m.start():m.end() + 40]
    assert "tools/flash.sh" in mqtt_md[:mqtt_md.index("## Topics")] and \
        "mpremote fs cp secrets.json :secrets.json" in mqtt_md
    # a mode is chosen in the menu or settings.json: no MQTT command sets one (README said
    # "or from MQTT")
    modes = readme[readme.index("Choose a mode in the settings menu"):]
    modes = " ".join(modes[:modes.index("`wave`")].split())
    said = re.search(r"MQTT cannot: its commands are ([a-z_, ]+) and ([a-z_]+)\)", modes)
    assert said and set(said[1].split(", ") + [said[2]]) == set(M.COMMANDS), modes


# --- secrets.json ---------------------------------------------------------------------------
MINIMAL = {"wifi": {"ssid": "home"}, "mqtt": {"host": "192.168.1.10"}}


def test_minimal_secrets_get_defaults():
    conf = netconf.validate(json.loads(json.dumps(MINIMAL)))
    m = conf["mqtt"]
    assert (m["port"], m["tls"], m["allow_start"], m["discovery"]) == (1883, False, False, True)
    assert m["discovery_prefix"] == "homeassistant" and m["keepalive_s"] == 60
    assert conf["wifi"]["password"] == ""
    tls = netconf.validate({"wifi": {"ssid": "h"}, "mqtt": {"host": "b", "tls": True}})
    assert tls["mqtt"]["port"] == 8883


def test_the_example_secrets_file_checks_out():
    conf = netconf.validate(json.loads((paths.FIRMWARE / "secrets.example.json").read_text()))
    assert conf["mqtt"]["allow_start"] is False


@pytest.mark.parametrize("change, why", [
    ({"mqtt": {"host": "b", "prot": 1}}, "field 'mqtt.prot': unknown field in mqtt"),
    ({"mqtt": {}}, "field 'mqtt.host': missing"),
    ({"mqtt": {"host": "b", "port": "1883"}}, "field 'mqtt.port': must be a whole number"),
    ({"mqtt": {"host": "b", "allow_start": 1}}, "field 'mqtt.allow_start': must be true or"),
    ({"mqtt": {"host": "b", "port": 70000}}, "field 'mqtt.port': must be a whole number from "
                                             "1 to 65535"),
    ({"mqtt": {"host": "b", "password": "x"}}, "needs a 'user'"),
    ({"mqtt": {"host": "b", "topic": "boot/#"}}, "field 'mqtt.topic': must be a topic without "
                                                 "wildcards"),
    ({"mqtt": {"host": "b", "ca_file": "ca.der"}}, "field 'mqtt.ca_file': needs \"tls\""),
    ({"mqtt": {"host": "b", "keepalive_s": 5}}, "field 'mqtt.keepalive_s': must be a whole "
                                                "number from 10 to 600"),
    ({"wifi": {"password": "x"}}, "field 'wifi.ssid': missing"),
    ({"wifi": {"ssid": ""}}, "field 'wifi.ssid': must be a text of 1 to 32"),
    ({"wifi": "home"}, "field 'wifi': must be a JSON object"),
    ({"extra": {}}, "field 'extra': unknown field; allowed: wifi, mqtt"),
])
def test_bad_secrets_name_the_file_and_the_field(change, why):
    data = dict(MINIMAL, **change)
    with pytest.raises(netconf.NetConfError) as e:
        netconf.validate(data)
    assert str(e.value).startswith("secrets.json: ") and why in str(e.value), str(e.value)


LOAD = """
import json, netconf
out = [netconf.load("no-such-file.json")]
for name, text in (("a.json", %r), ("b.json", "{nope"), ("c.json", %r)):
    with open(name, "w") as f:
        f.write(text)
    conf, warning = netconf.load(name)
    out.append([conf is not None, warning])
print(json.dumps(out))
"""


def test_load_never_raises_and_a_missing_file_means_no_network(micropython, tmp_path,
                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = LOAD % (json.dumps(MINIMAL), json.dumps({"wifi": {}}))
    out = both(micropython, code)
    assert out[0] == [None, None]
    assert out[1] == [True, None]
    assert out[2][0] is False and "not valid JSON" in out[2][1]
    assert out[3][0] is False and "c.json: field 'mqtt': missing" in out[3][1]


# --- the link umqtt.simple runs on -----------------------------------------------------------
LINK = """
import json
import mqttlink
from umqtt.simple import MQTTClient

class FakeSock:
    def __init__(self):
        self.inbox = bytearray()
        self.sent = bytearray()
    def readinto(self, buf):
        if not self.inbox:
            return None
        n = min(len(buf), len(self.inbox))
        buf[:n] = self.inbox[:n]
        self.inbox = self.inbox[n:]
        return n
    def write(self, b):
        self.sent.extend(b)
        return len(b)
    def close(self):
        pass

out = {}
link = mqttlink.Link(("x", 1))
s = FakeSock()
link.sock = s
got = []
c = MQTTClient("dev", "x", 1)
c.set_callback(lambda t, m: got.append([t.decode(), m.decode()]))
c.sock = link
# a PUBLISH of "stop" on boot/cmd, arriving one byte at a time
pkt = bytes([0x30, 2 + 8 + 4]) + bytes([0, 8]) + b"boot/cmd" + b"stop"
complete = []
for b in pkt:
    s.inbox.extend(bytes([b]))
    link.pump()
    complete.append(link.packet() is not None)
out["complete_only_at_the_end"] = complete
first, head, size = link.packet()
link.serving = True
c.check_msg()
link.serving = False
out["callback"] = got
out["consumed"] = link.pos == head + size
# a read for a reply that has not come raises Pending at once
try:
    c.ping()
    link.read(1)
    out["pending"] = False
except mqttlink.Pending:
    out["pending"] = True
link.pump()
out["ping_sent"] = bytes(s.sent).hex()
# a broker that never reads: the queue is bounded
try:
    for i in range(1000):
        c.publish(b"boot/state", b"x" * 100)
    out["bounded"] = False
except mqttlink.LinkError:
    out["bounded"] = True
# a closed connection
link2 = mqttlink.Link(("x", 1))
class Closed(FakeSock):
    def readinto(self, buf):
        return 0
link2.sock = Closed()
try:
    link2.pump()
    out["closed"] = False
except mqttlink.LinkError:
    out["closed"] = True
print(json.dumps(out))
"""


def test_umqtt_runs_on_the_link_without_ever_blocking(mp_umqtt):
    out = mp_umqtt(LINK)
    assert out["complete_only_at_the_end"] == [False] * 15 + [True]
    assert out["callback"] == [["boot/cmd", "stop"]]
    assert out["consumed"] and out["pending"] and out["bounded"] and out["closed"]
    assert out["ping_sent"] == "c000"


# issue 13: a packet too big to keep is read and dropped in chunks, whatever the chunking
SKIP = """
import json, mqttlink
class Sock:
    def __init__(self):
        self.inbox = bytearray()
    def readinto(self, buf):
        if not self.inbox:
            return None
        n = min(len(buf), len(self.inbox))
        buf[:n] = self.inbox[:n]
        self.inbox[:n] = b""
        return n
    def write(self, b):
        return len(b)
def length(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)
stream = []                     # (the packet's start, then this many filler bytes)
for spec in %s:
    kind, topic, size, retain = spec
    if kind == "publish":
        t = topic.encode()
        body = 2 + len(t) + size
        stream.append((bytes([0x30 | retain]) + length(body) + bytes([len(t) >> 8,
                       len(t) & 0xFF]) + t, size))
    else:                       # any other packet type, too big
        stream.append((bytes([0x90]) + length(size), size))
class Feed:
    def __init__(self):
        self.i = 0
        self.off = 0
    def more(self):
        return self.i < len(stream)
    def take(self, n, into):
        while n and self.i < len(stream):
            head, fill = stream[self.i]
            if self.off < len(head):
                part = head[self.off:self.off + n]
            else:
                part = b"p" * min(n, len(head) + fill - self.off)
            into.extend(part)
            n -= len(part)
            self.off += len(part)
            if self.off >= len(head) + fill:
                self.i += 1
                self.off = 0
out = {}
for seed, most in %s:
    link = mqttlink.Link(("x", 1))
    sock = Sock()
    link.sock = sock
    got, rnd, top = [], seed, 0
    feed = Feed()
    steps = 0
    while feed.more() or sock.inbox or link.skip_left or link.packet():
        rnd = (rnd * 1103515245 + 12345) & 0x7FFFFFFF
        feed.take(1 + rnd %% most, sock.inbox)
        link.pump()
        top = max(top, len(link.rx))
        for _ in range(4):
            pk = link.packet()
            if pk is None:
                break
            first, head, size = pk
            body = link.take(head + size)[head:]
            tl = body[0] << 8 | body[1]
            got.append(["kept", body[2:2 + tl].decode(), size - 2 - tl, first & 1])
        while link.skipped:
            first, size, topic, tlen = link.skipped.pop(0)
            got.append(["skipped", topic.decode(), size, first, tlen])
        link.compact()
        steps += 1
    out[str(seed)] = {"got": got, "most_rx": top, "lost": link.skips_lost, "steps": steps}
print(json.dumps(out))
"""


def test_a_packet_too_big_is_dropped_in_chunks_and_the_rest_kept_in_order(micropython):
    big_topic = "t" * 100                     # longer than the part of a topic kept to name it
    specs = [("publish", "boot/cmd", 4, 0), ("publish", "boot/cmd", 5000, 1),
             ("publish", "homeassistant/status", 6, 0), ("publish", "boot/cmd", 200_000, 0),
             ("other", "", 5000, 0), ("publish", "boot/cmd", 4096 - 10, 0),
             ("publish", big_topic, 4096 - 102 + 1, 0), ("publish", "boot/cmd", 4096 - 10 + 1, 0),
             ("publish", "homeassistant/status", 0, 0)] + [("publish", "boot/cmd", 40, 0)] * 200
    chunking = [(1, 1500), (2, 700), (3, 97), (4, 3)]
    out = micropython(SKIP % (json.dumps(specs), json.dumps(chunking)))
    want = [["kept", "boot/cmd", 4, 0],
            ["skipped", "boot/cmd", 2 + 8 + 5000, 0x31, 8],
            ["kept", "homeassistant/status", 6, 0],
            ["skipped", "boot/cmd", 2 + 8 + 200_000, 0x30, 8],
            ["skipped", "", 5000, 0x90, 0],
            ["kept", "boot/cmd", 4096 - 10, 0],        # a body of exactly 4096 bytes: kept
            ["skipped", "t" * 60, 4096 + 1, 0x30, 100],
            ["skipped", "boot/cmd", 4096 + 1, 0x30, 8],
            ["kept", "homeassistant/status", 0, 0]] + [["kept", "boot/cmd", 40, 0]] * 200
    for seed, run in out.items():
        assert run["got"] == want, seed
        assert run["lost"] == 0
        # never more than one packet kept whole, a chunk and a header: never the big ones
        assert run["most_rx"] <= 4096 + 512 + 5, (seed, run["most_rx"])


GUARD = """
import json, os, netguard
class RTC:                                      # the RTC's memory: kept across these "resets"
    def __init__(self):
        self.data = b""
    def memory(self, data=None):
        if data is None:
            return self.data
        self.data = bytes(data)
rtc = RTC()
def save(name, text):
    with open(name, "w") as f:
        f.write(text)
save("secrets.json", '{"mqtt": {"host": "broker.lan"}}')
g = netguard.Guard("", rtc)
out = [g.hung]
g.begin("dns")          # ... and the board resets here: no end()
out.append(netguard.Guard("", rtc).hung)        # made before restore: skipped this boot
out.append(netguard.after_reset("", True, rtc))  # restore, after a watchdog reset: recorded
out.append(netguard.Guard("", rtc).hung)        # every later boot with the same secrets
out.append(netguard.Guard("", rtc).hung)
save("secrets.json", '{"mqtt": {"host": "10.0.0.2"}}')
out.append(netguard.Guard("", rtc).hung)        # secrets.json changed: the step runs again
out.append(netguard.Guard("", rtc).hung)
g.begin("tls")
out.append(netguard.after_reset("", False, rtc))     # a power cut mid-step proves no hang
out.append(netguard.Guard("", rtc).hung)
out.append(netguard.after_reset("", True, rtc))      # nothing left behind
out.append(sorted(os.listdir(".")))             # the step's note never touched flash
out.append([netguard.is_ip(h) for h in ("192.168.1.10", "broker.lan", "1.2.3", "1.2.3.999")])
print(json.dumps(out))
"""


def test_a_step_that_hung_until_the_watchdog_is_skipped_until_the_secrets_change(
        micropython, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert both(micropython, GUARD) == ["", "dns", "dns", "dns", "dns", "", "", "", "", "",
                                        ["secrets.json"], [True, False, False, False]]


def test_a_session_late_in_a_long_uptime_is_published_with_its_true_length():
    # issue 12: event t_ms is the uptime (App.uptime_ms), counted per tick, which never wraps;
    # 14 days up it is past the chip's small ints (2**30), where ticks_diff reads garbage
    up = 14 * 86400 * 1000
    start = {"event": "start", "t_ms": up, "target_mmhg": 80, "minutes": 20}
    end = {"event": "end", "t_ms": up + 1200000, "reason": "complete"}
    rec = M.usage_record(start, end, 25)
    assert rec["ran_s"] == 1200 and rec["reason"] == "complete"
    assert M.usage_record(dict(start, t_ms=1000), dict(end, t_ms=61000), 1)["ran_s"] == 60


def test_a_heap_too_small_for_the_network_runs_the_boot_without_it(micropython):
    # issue 14, part 4: the connected boot needs limits.NET_HEAP_KB more heap; a chip without it
    # must run without the network and say so, not fail with MemoryError mid-session
    code = r'''
import json, netconf, netstart
net = netconf.validate({"wifi": {"ssid": "home"}, "mqtt": {"host": "10.0.0.2"}})
out = []
netstart.NET_HEAP_KB = 10 ** 6                  # more than any heap here
svcs, why = netstart.services(net, None)
out.append([len(svcs), why.split(":")[0]])
netstart.NET_HEAP_KB = 1
svcs, why = netstart.services(net, None)
out.append([len(svcs), why])
print(json.dumps(out))
'''
    out = micropython(code)
    assert out[0] == [0, "the network needs about 1000000 KB of heap and %s KB is free"
                      % out[0][1].split(" and ")[1].split(" ")[0]], out
    assert out[1] == [1, None], out
