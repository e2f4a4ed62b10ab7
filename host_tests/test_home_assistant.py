"""Opt-in: the boot's MQTT discovery checked by a real Home Assistant (issue 13, part 6).

Skipped unless BOOT_HA_VENV names a virtual environment with Home Assistant installed
(docs/MQTT.md, "Checking with a real Home Assistant", says how to make one). The test starts
that Home Assistant with a minimal configuration (US units: the case where it converts
pressures), creates its user through onboarding's REST API, adds the MQTT integration through
its own config flow (REST), then starts the virtual boot (the firmware under MicroPython) against
the same mosquitto, and checks what Home Assistant made of it: the entity list, units and device
classes, commands from Home Assistant, the refusals it shows, and availability."""
import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from mqtt_rig import Broker, Client, Device, free_port, missing_tools, wait_until

HA_VENV = os.environ.get("BOOT_HA_VENV", "")
pytestmark = [
    pytest.mark.skipif(not HA_VENV, reason="opt-in: set BOOT_HA_VENV to a virtual environment "
                                           "with Home Assistant installed (docs/MQTT.md)"),
    pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools())),
]

BASE = "boot/ha"
NODE = "boot_000001"            # from the simulated Wi-Fi's MAC address
START_S = 240                   # Home Assistant's first start (creating its storage) may be slow
CONFIG = """homeassistant:
  name: Boot test
  unit_system: us_customary
  time_zone: UTC
  latitude: 0
  longitude: 0
  elevation: 0
  currency: USD
  country: US
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
onboarding:
logger:
  default: warning
"""


class HomeAssistant:
    def __init__(self, tmp):
        hass = Path(HA_VENV) / "bin" / "hass"
        if not hass.exists():
            pytest.fail(f"BOOT_HA_VENV={HA_VENV}: no bin/hass there (docs/MQTT.md)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tmp) / "ha-config"
        self.dir.mkdir()
        (self.dir / "configuration.yaml").write_text(CONFIG.format(port=self.port))
        self.log = open(Path(tmp) / "ha.log", "w")
        self.log_path = Path(tmp) / "ha.log"
        self.proc = subprocess.Popen([str(hass), "-c", str(self.dir)], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.token = None
        wait_until(self._up, START_S, "Home Assistant's HTTP API")
        self.version = self.get("/api/config")["version"] if self._login() else None

    def _up(self):
        if self.proc.poll() is not None:
            raise AssertionError("Home Assistant exited:\n" + self.log_tail())
        try:
            with urllib.request.urlopen(self.url + "/api/onboarding", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _login(self):
        """Onboarding's first step makes the owner and hands out an auth code."""
        client_id = self.url + "/"
        made = self.request("POST", "/api/onboarding/users",
                            {"client_id": client_id, "name": "Test", "username": "test",
                             "password": "boot-test-password", "language": "en"})
        body = urllib.parse.urlencode({"grant_type": "authorization_code",
                                       "code": made["auth_code"],
                                       "client_id": client_id}).encode()
        with urllib.request.urlopen(self.url + "/auth/token", body, timeout=10) as r:
            self.token = json.loads(r.read())["access_token"]
        return True

    def request(self, method, path, data=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if data is None else json.dumps(data).encode())
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                text = r.read()
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: {e.code} {e.read()[:500]!r}") from None
        return json.loads(text) if text else None

    def get(self, path):
        return self.request("GET", path)

    def add_mqtt(self, broker_port):
        """The MQTT integration, through Home Assistant's own config flow."""
        flow = self.request("POST", "/api/config/config_entries/flow",
                            {"handler": "mqtt", "show_advanced_options": False})
        assert flow["type"] == "form" and flow["step_id"] == "broker", flow
        done = self.request("POST", f"/api/config/config_entries/flow/{flow['flow_id']}",
                            {"broker": "127.0.0.1", "port": broker_port})
        assert done["type"] == "create_entry", done

    def states(self):
        """The boot's entities: {name after the device's, state record}."""
        out = {}
        for s in self.get("/api/states"):
            name = s["attributes"].get("friendly_name", "")
            if name.startswith("Compression boot "):
                out[name[len("Compression boot "):]] = s
        return out

    def call(self, domain, service, data):
        self.request("POST", f"/api/services/{domain}/{service}", data)

    def log_tail(self, n=60):
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def test_a_real_home_assistant_shows_the_boot_as_documented(tmp_path):
    broker = Broker(tmp_path)
    user = Client(broker, topics=(BASE + "/#",))
    ha = HomeAssistant(tmp_path)
    dev = None
    try:
        print(f"\nHome Assistant {ha.version}")
        ha.add_mqtt(broker.port)
        # the boot: start allowed (Home Assistant gets its Start button); the dump valve sticks
        # shut at 1 s, so the first vent after a start fails: VENT_FAILED, latched
        secrets = {"wifi": {"ssid": "home"},
                   "mqtt": {"host": "127.0.0.1", "port": broker.port, "topic": BASE,
                            "keepalive_s": 10, "allow_start": True}}
        dev = Device(tmp_path, secrets, seconds=600, network={},
                     scenario={"settings": {"minutes": 2, "fit_check": False},
                               "faults": [{"t_s": 1, "fault": "dump_stuck_closed"}],
                               "actions": []})
        want = {"Pressure", "Phase", "Time left", "Chamber", "Fault", "Last session",
                "Last answer", "Alarm", "Target pressure", "Stop", "Pause", "Resume", "Start"}
        ents = wait_until(lambda: (lambda s: s if set(s) >= want and all(
            e["state"] != "unavailable" for e in s.values()) else None)(ha.states()), 30,
            "the boot's entities, available")
        assert set(ents) == want, sorted(ents)
        ids = {name: e["entity_id"] for name, e in ents.items()}

        def state(name):
            return ha.states()[name]

        def answer_becomes(text, what):
            return wait_until(lambda: state("Last answer")["state"].startswith(text) and
                              state("Last answer")["state"], 10, what)

        # units and device classes, with Home Assistant on US units
        a = {name: e["attributes"] for name, e in ents.items()}
        assert a["Pressure"]["unit_of_measurement"] == "mmHg"        # not converted to inHg
        assert a["Target pressure"]["unit_of_measurement"] == "mmHg"
        assert "device_class" not in a["Pressure"] and "device_class" not in a["Target pressure"]
        assert (a["Target pressure"]["min"], a["Target pressure"]["max"]) == (20, 120)
        assert a["Time left"]["device_class"] == "duration"
        assert a["Alarm"]["device_class"] == "problem"
        assert a["Phase"]["device_class"] == "enum"
        assert ents["Phase"]["state"] == "idle" and ents["Alarm"]["state"] == "off"
        assert float(ents["Pressure"]["state"]) < 5

        # commands from Home Assistant, and what it shows of the answers
        ha.call("number", "set_value", {"entity_id": ids["Target pressure"], "value": 60})
        assert answer_becomes("done: set_target 60", "the target's answer")
        wait_until(lambda: state("Target pressure")["state"] == "60", 5, "the target 60")
        ha.call("number", "set_value", {"entity_id": ids["Target pressure"], "value": 60.5})
        shown = answer_becomes("refused:", "the fraction's refusal")
        assert shown == "refused: value must be a whole number of mmHg, got 60.5", shown
        # the same value sent by hand gets the same answer
        before = len(user.events(BASE, "error"))
        user.pub(BASE + "/cmd", b'{"cmd": "set_target", "value": 60.5}')
        by_hand = wait_until(lambda: user.events(BASE, "error")[before:], 5, "the refusal")
        assert "refused: " + by_hand[0]["why"] == shown
        assert state("Target pressure")["state"] == "60"
        ha.call("button", "press", {"entity_id": ids["Pause"]})
        assert answer_becomes("refused: not running", "pause refused when idle")
        ha.call("button", "press", {"entity_id": ids["Start"]})
        assert answer_becomes("done: start", "the start")
        # every chamber full, then a pause from Home Assistant: its vent cannot happen (the
        # dump is stuck), VENT_FAILED is latched
        wait_until(lambda: state("Phase")["state"] == "hold", 40, "the first hold")
        ha.call("button", "press", {"entity_id": ids["Pause"]})
        assert answer_becomes("done: pause", "the pause")
        wait_until(lambda: state("Fault")["state"] == "VENT_FAILED", 15, "VENT_FAILED")
        assert state("Alarm")["state"] == "on"
        ha.call("number", "set_value", {"entity_id": ids["Target pressure"], "value": 50})
        shown = answer_becomes("refused: a fault is latched", "set_target refused")
        assert "long press on the boot" in shown
        assert state("Target pressure")["state"] == "60"
        for button in ("Resume", "Start"):
            ha.call("button", "press", {"entity_id": ids[button]})
            wait_until(lambda: [e for e in user.events(BASE, "error") if e.get("payload") ==
                                button.lower()], 5, f"{button} refused")
            assert state("Last answer")["state"].startswith("refused: a fault is latched")
        ha.call("button", "press", {"entity_id": ids["Stop"]})
        assert answer_becomes("done: stop", "the stop")

        # availability: the boot's power cut; the broker's last will makes it unavailable
        dev.kill()
        wait_until(lambda: all(e["state"] == "unavailable" for e in ha.states().values()), 30,
                   "every entity unavailable")
        # nothing the boot sent made Home Assistant complain
        log = ha.log_tail(100000)
        bad = [line for line in log.splitlines() if ("ERROR" in line or "WARNING" in line) and
               ("mqtt" in line.lower() or NODE in line or "template" in line.lower())]
        assert not bad, "\n".join(bad)
    except AssertionError:
        print("Home Assistant's log:\n" + ha.log_tail())
        raise
    finally:
        if dev is not None and dev.running():
            dev.kill()
        ha.stop()
        user.stop()
        broker.stop()
