# What goes over MQTT, as pure functions: the topics, the state message, the Home Assistant
# discovery configs and the command parser. No I/O here: telemetry.py sends what these build,
# and the tests check them in both runtimes.
#
# Topics, under the base topic (secrets.json mqtt.topic, default "boot/<node id>"):
#   <base>/availability  "online" / "offline", retained; "offline" is also the last will
#   <base>/state         the state as JSON, retained
#   <base>/event         events as JSON (start, stop, end with its usage record, fault, ...)
#   <base>/usage         the last session's usage record, retained
#   <base>/cmd           commands in (see parse_command)
#   <prefix>/status      Home Assistant's birth message: "online" means discovery is sent again
import json

AVAILABILITY = "/availability"
STATE = "/state"
EVENT = "/event"
USAGE = "/usage"
CMD = "/cmd"
ONLINE = b"online"
OFFLINE = b"offline"

MAX_COMMAND_BYTES = 256
COMMANDS = ("stop", "pause", "resume", "set_target", "start")
# the app's events worth telling a dashboard about (phase and status are in the state already)
FORWARD = ("start", "stop", "end", "fault", "pause", "resume", "target", "clear",
           "clear_check", "clear_refused", "refused", "warning", "crash", "settings", "network", "command", "error")
# fields of the state whose change is published at once (the pressure and the time left are
# published once a second)
DISCRETE = ("phase", "chamber", "target_mmhg", "fault")


class Topics:
    def __init__(self, base, prefix):
        self.base = base
        self.prefix = prefix
        self.availability = (base + AVAILABILITY).encode()
        self.state = (base + STATE).encode()
        self.event = (base + EVENT).encode()
        self.usage = (base + USAGE).encode()
        self.cmd = (base + CMD).encode()
        self.ha_status = (prefix + "/status").encode()


def state_message(snap, dropped):
    """The state JSON from App.snapshot(): what a dashboard shows."""
    msg = dict(snap)
    msg["alarm"] = snap["fault"] != "NONE"
    if dropped:
        msg["dropped_events"] = dropped
    p = msg.pop("p_mmhg")
    # one decimal as written: MicroPython's json would print 80.4 as 80.40000000000001
    return json.dumps(msg)[:-1] + ', "p_mmhg": %.1f}' % p


def changed(snap, last):
    """True when a field that must be published at once differs from the last published."""
    if last is None:
        return True
    for key in DISCRETE:
        if snap.get(key) != last.get(key):
            return True
    return False


def usage_record(start, end_rec, cycles):
    """The usage record of a session: from its start event to its end (or stop) event."""
    # t_ms is the uptime (App.uptime_ms): it never wraps, and past 12.4 days it is no small
    # int on the chip, where ticks_diff would read garbage; a plain difference (issue 12)
    ran_ms = max(0, end_rec["t_ms"] - start["t_ms"]) if start else 0
    rec = {"started_t_ms": start["t_ms"] if start else None, "ran_s": ran_ms // 1000,
           "cycles": cycles, "reason": end_rec.get("reason", end_rec["event"])}
    if start:
        rec["target_mmhg"] = start.get("target_mmhg")
        rec["minutes_set"] = start.get("minutes")
    return rec


# --- commands ------------------------------------------------------------------------------
class CommandError(ValueError):
    pass


def parse_command(payload):
    """A command payload -> (name, value). Accepted: a bare word ("stop", "pause", "resume",
    "start") or JSON {"cmd": NAME} / {"cmd": "set_target", "value": MMHG}. Raises CommandError
    saying what is wrong. Range checks are the app's (App.command)."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandError("command longer than %d bytes" % MAX_COMMAND_BYTES)
    try:
        text = bytes(payload).decode().strip()
    except UnicodeError:
        raise CommandError("command is not UTF-8 text") from None
    if not text:
        raise CommandError("empty command")
    if text[0] not in "{[":
        if text in COMMANDS and text != "set_target":
            return text, None
        raise CommandError("unknown command %s; send one of stop, pause, resume, start, or JSON "
                           "{\"cmd\": \"set_target\", \"value\": MMHG}" % _short(text))
    try:
        obj = json.loads(text)
    except ValueError:
        raise CommandError("command is not valid JSON") from None
    if not isinstance(obj, dict):
        raise CommandError("a JSON command must be an object")
    for key in obj:
        if key not in ("cmd", "value"):
            raise CommandError("unknown field %s; allowed: cmd, value" % _short(key))
    name = obj.get("cmd")
    if not isinstance(name, str) or name not in COMMANDS:
        raise CommandError("unknown command %s; allowed: %s" % (_short(name),
                                                                  ", ".join(COMMANDS)))
    if name != "set_target":
        if "value" in obj:
            raise CommandError("%s takes no value" % name)
        return name, None
    if "value" not in obj:
        raise CommandError("set_target needs a value in mmHg")
    return name, _whole(obj["value"])


def _whole(v):
    """A whole number of mmHg: 60 and 60.0 are fine, 60.5, true, "60" and inf are not."""
    if isinstance(v, bool):
        raise CommandError("value must be a whole number of mmHg")
    if isinstance(v, float) and v == v and -1e6 < v < 1e6 and v == int(v):
        return int(v)
    if isinstance(v, int):
        return v
    raise CommandError("value must be a whole number of mmHg, got %s" % _short(v))


def printable(payload):
    """A received payload, short and safe to put in an event."""
    try:
        text = bytes(payload[:60]).decode()
    except UnicodeError:
        return "hex:" + "".join(["%02x" % b for b in payload[:30]])
    return text if len(payload) <= 60 else text + "..."


def _short(v):
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


# --- Home Assistant discovery ----------------------------------------------------------------
# (component, object id, name, extra config). Each becomes one retained config message at
# <prefix>/<component>/<node id>/<object id>/config (Home Assistant's documented discovery
# topic), with a unique_id, the device block and the availability topic.
#
# Pressures carry no device_class: Home Assistant converts a "pressure" sensor to the user's
# unit system (mmHg to inHg under US units) but never a number entity, so the pressure would
# read in inHg beside a target in mmHg. Without a device class neither is converted: mmHg, the
# unit of every figure in the docs, everywhere.
#
# The last answer: the state of the "Last answer" sensor, from the events on <base>/event: a
# command carried out ("done: set_target 60"), or refused ("refused: <why>"; an error that is
# not a command's, e.g. a message too big: "error: <why>"); any other event leaves it as it was
# (`this.state`). Cut to fit Home Assistant's 255 characters.
ANSWER_TEMPLATE = (
    "{% if value_json.event == 'command' %}"
    "{{ ('done: ' ~ value_json.cmd ~ ' ' ~ value_json.get('value', '')) | trim }}"
    "{% elif value_json.event == 'error' %}"
    "{{ ('refused: ' if value_json.payload is defined else 'error: ') ~ value_json.why[:240] }}"
    "{% else %}{{ this.state }}{% endif %}")


def _entities(topics, target_lo, target_hi, phases, allow_start):
    st = topics.state.decode()
    cmd = topics.cmd.decode()
    return [
        ("sensor", "pressure", "Pressure",
         {"state_topic": st, "value_template": "{{ value_json.p_mmhg }}",
          "unit_of_measurement": "mmHg", "state_class": "measurement",
          "icon": "mdi:gauge"}),
        ("sensor", "phase", "Phase",
         {"state_topic": st, "value_template": "{{ value_json.phase }}",
          "device_class": "enum", "options": list(phases)}),
        ("sensor", "remaining", "Time left",
         {"state_topic": st, "value_template": "{{ value_json.remaining_s }}",
          "device_class": "duration", "unit_of_measurement": "s"}),
        ("sensor", "chamber", "Chamber",
         {"state_topic": st, "value_template": "{{ value_json.chamber }}",
          "icon": "mdi:numeric"}),
        ("sensor", "fault", "Fault",
         {"state_topic": st, "value_template": "{{ value_json.fault }}",
          "entity_category": "diagnostic", "icon": "mdi:alert-circle-outline"}),
        ("sensor", "last_session", "Last session",
         {"state_topic": topics.usage.decode(), "value_template": "{{ value_json.ran_s }}",
          "json_attributes_topic": topics.usage.decode(),
          "device_class": "duration", "unit_of_measurement": "s"}),
        ("sensor", "answer", "Last answer",
         {"state_topic": topics.event.decode(), "value_template": ANSWER_TEMPLATE,
          "icon": "mdi:message-reply-text-outline"}),
        ("binary_sensor", "alarm", "Alarm",
         {"state_topic": st, "device_class": "problem",
          "value_template": "{{ 'ON' if value_json.alarm else 'OFF' }}",
          "payload_on": "ON", "payload_off": "OFF"}),
        ("number", "target", "Target pressure",
         {"state_topic": st, "value_template": "{{ value_json.target_mmhg }}",
          "command_topic": cmd,
          # the value as Home Assistant has it (60, or 60.5 typed in the box): a fraction is
          # refused by the boot, as the same value sent over MQTT by hand is
          "command_template": '{"cmd": "set_target", "value": {{ value }}}',
          "min": target_lo, "max": target_hi, "step": 1, "mode": "box",
          "unit_of_measurement": "mmHg", "icon": "mdi:gauge"}),
        ("button", "stop", "Stop", {"command_topic": cmd, "payload_press": "stop",
                                    "icon": "mdi:stop-circle"}),
        ("button", "pause", "Pause", {"command_topic": cmd, "payload_press": "pause",
                                      "icon": "mdi:pause-circle"}),
        # start and resume (it refills the legs as a start does) are listed only when allowed;
        # otherwise their configs are removed (empty payload)
        ("button", "resume", "Resume", {"command_topic": cmd, "payload_press": "resume",
                                        "icon": "mdi:play-circle"} if allow_start else None),
        ("button", "start", "Start", {"command_topic": cmd, "payload_press": "start",
                                      "icon": "mdi:play"} if allow_start else None),
    ]


def discovery(i, topics, node_id, device, target_lo, target_hi, phases, allow_start):
    """The i-th discovery message: (topic bytes, payload bytes), payload b"" removing it; None
    after the last."""
    ents = _entities(topics, target_lo, target_hi, phases, allow_start)
    if i >= len(ents):
        return None
    comp, obj, name, extra = ents[i]
    topic = ("%s/%s/%s/%s/config" % (topics.prefix, comp, node_id, obj)).encode()
    if extra is None:
        return topic, b""
    cfg = {"name": name, "unique_id": "%s_%s" % (node_id, obj),
           "availability_topic": topics.availability.decode(),
           "payload_available": "online", "payload_not_available": "offline",
           "device": device, "origin": {"name": "boot-firmware"}}
    cfg.update(extra)
    return topic, json.dumps(cfg).encode()


def device_block(node_id, name, model):
    return {"identifiers": [node_id], "name": name, "manufacturer": "DIY",
            "model": model}
