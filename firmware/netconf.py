# The network settings from secrets.json on flash (git ignores it; secrets.example.json shows
# every field). No file means no network, which is normal: a session never needs it. A file
# that does not check out also means no network, and a warning that names the field to fix.
import filecheck
from filecheck import INT, BOOL, TEXT, OBJ, REQUIRED

FILE = "secrets.json"

# (field, kind, lo, hi, default, why): filecheck.py says what each column means
WIFI = (
    ("ssid", TEXT, 1, 32, REQUIRED, "the network's name (802.11: at most 32)"),
    ("password", TEXT, 0, 64, "", "WPA2: 8 to 63 characters or 64 hex digits; empty: open"),
)
MQTT = (
    ("host", TEXT, 1, 253, REQUIRED, "the broker's name or address"),
    ("port", INT, 1, 65535, None, "left out: 1883, or 8883 with tls"),
    ("user", TEXT, 0, 128, None, "the broker's user name"),
    ("password", TEXT, 0, 128, None, "its password (needs a user)"),
    ("tls", BOOL, None, None, False, "encrypt the link"),
    ("ca_file", TEXT, 1, 64, None, "a file on flash with the broker's CA (needs tls)"),
    ("client_id", TEXT, 0, 64, None, "left out: made from the chip's id"),
    ("topic", TEXT, 1, 128, None, "the base topic; left out: made from the chip's id"),
    ("discovery", BOOL, None, None, True, "announce the boot to Home Assistant"),
    ("discovery_prefix", TEXT, 1, 128, "homeassistant", "Home Assistant's discovery topic"),
    ("name", TEXT, 1, 64, "Compression boot", "the device's name in Home Assistant"),
    ("allow_start", BOOL, None, None, False, "let MQTT start and resume a session"),
    ("keepalive_s", INT, 10, 600, 60, "the broker drops a link silent 1.5 times this long"),
)
TOP = (
    ("wifi", OBJ, None, None, REQUIRED, "the Wi-Fi network"),
    ("mqtt", OBJ, None, None, REQUIRED, "the MQTT broker"),
)


class NetConfError(Exception):
    pass


def _section(c, data, name, table):
    sec = c.section(data[name], table, name)
    out = {}
    for row in table:
        out[row[0]] = sec.get(row[0], row[4])
    return out


def validate(data, source=FILE):
    """The checked settings: {"wifi": {...}, "mqtt": {...}}, every field present."""
    c = filecheck.Checker(source, NetConfError)
    c.section(data, TOP)
    wifi = _section(c, data, "wifi", WIFI)
    mqtt = _section(c, data, "mqtt", MQTT)
    if mqtt["port"] is None:
        mqtt["port"] = 8883 if mqtt["tls"] else 1883
    if mqtt["password"] is not None and mqtt["user"] is None:
        c.fail("mqtt.password", "a password needs a 'user'")
    if mqtt["ca_file"] is not None and not mqtt["tls"]:
        c.fail("mqtt.ca_file", "needs \"tls\": true")
    for key in ("topic", "discovery_prefix"):
        t = mqtt[key]
        if t is not None and ("#" in t or "+" in t or t[-1] == "/"):
            c.fail("mqtt." + key, "must be a topic without wildcards or a trailing /")
    return {"wifi": wifi, "mqtt": mqtt}


def load(path=FILE):
    """Return (settings or None, warning or None). No file: (None, None)."""
    try:
        data = filecheck.read(path)
    except OSError:
        return None, None
    except filecheck.NotText as e:
        return None, "%s is not text (%s): the network stays off" % (path, e)
    except ValueError:
        return None, "%s is not valid JSON: the network stays off" % path
    try:
        return validate(data, path), None
    except NetConfError as e:
        return None, "%s: the network stays off" % e
