# The network settings from secrets.json on flash (git ignores it; secrets.example.json shows
# every field). No file means no network, which is normal: a session never needs it. A file
# that does not check out also means no network, and a warning that names the field to fix.
import json

FILE = "secrets.json"

# field -> (type, default); a default of None with required=True below means it must be given
_WIFI = {"ssid": (str, None), "password": (str, "")}
_MQTT = {"host": (str, None), "port": (int, 0), "user": (str, None), "password": (str, None),
         "tls": (bool, False), "ca_file": (str, None), "client_id": (str, None),
         "topic": (str, None), "discovery": (bool, True),
         "discovery_prefix": (str, "homeassistant"), "name": (str, "Compression boot"),
         "allow_start": (bool, False), "keepalive_s": (int, 60)}
_REQUIRED = ("wifi.ssid", "mqtt.host")


class NetConfError(Exception):
    pass


def _section(data, name, fields):
    sec = data.get(name)
    if not isinstance(sec, dict):
        raise NetConfError("section '%s' must be a JSON object" % name)
    out = {}
    for key in sec:
        if key not in fields:
            raise NetConfError("%s: unknown field '%s'; allowed: %s"
                               % (name, key, ", ".join(sorted(fields))))
    for key, (kind, default) in fields.items():
        value = sec.get(key, default)
        if value is None:
            if "%s.%s" % (name, key) in _REQUIRED:
                raise NetConfError("%s: field '%s' is required" % (name, key))
        elif isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            raise NetConfError("%s: field '%s' must be a %s, got %r"
                               % (name, key, kind.__name__, value))
        out[key] = value
    return out


def validate(data):
    """The checked settings: {"wifi": {...}, "mqtt": {...}}, every field present."""
    if not isinstance(data, dict):
        raise NetConfError("must be a JSON object")
    for key in data:
        if key not in ("wifi", "mqtt"):
            raise NetConfError("unknown section '%s'; allowed: wifi, mqtt" % key)
    wifi = _section(data, "wifi", _WIFI)
    mqtt = _section(data, "mqtt", _MQTT)
    if not wifi["ssid"] or len(wifi["ssid"]) > 32:
        raise NetConfError("wifi: field 'ssid' must be 1 to 32 characters")
    if not mqtt["host"]:
        raise NetConfError("mqtt: field 'host' must not be empty")
    if mqtt["port"] == 0:
        mqtt["port"] = 8883 if mqtt["tls"] else 1883
    if not 0 < mqtt["port"] < 65536:
        raise NetConfError("mqtt: field 'port' must be from 1 to 65535")
    if mqtt["password"] is not None and mqtt["user"] is None:
        raise NetConfError("mqtt: a 'password' needs a 'user'")
    if not 10 <= mqtt["keepalive_s"] <= 600:
        raise NetConfError("mqtt: field 'keepalive_s' must be from 10 to 600")
    if mqtt["ca_file"] is not None and not mqtt["tls"]:
        raise NetConfError("mqtt: 'ca_file' needs \"tls\": true")
    for key in ("topic", "discovery_prefix"):
        t = mqtt[key]
        if t is not None and (not t or "#" in t or "+" in t or t[-1] == "/"):
            raise NetConfError("mqtt: field '%s' must be a topic without wildcards or a "
                               "trailing /" % key)
    return {"wifi": wifi, "mqtt": mqtt}


def load(path=FILE):
    """Return (settings or None, warning or None). No file: (None, None)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None, None
    except ValueError:      # UnicodeError: not text
        return None, "%s is not text: the network stays off" % path
    try:
        return validate(json.loads(text)), None
    except ValueError:
        return None, "%s is not valid JSON: the network stays off" % path
    except NetConfError as e:
        return None, "%s: %s: the network stays off" % (path, e)
