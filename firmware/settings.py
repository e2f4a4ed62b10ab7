# User settings (target pressure, session length, mode, hold and rest) from settings.json on
# flash. A missing or bad file never stops the device: it falls back to defaults and says why.
import json
from limits import SETTING_LIMITS, MODES, check_number


class SettingsError(Exception):
    pass


def defaults():
    s = {"mode": "wave"}
    for key in SETTING_LIMITS:
        s[key] = SETTING_LIMITS[key][2]
    return s


def bounds(key, board):
    """Allowed range of a setting on this board (the board narrows the table)."""
    lo, hi, _default, _why = SETTING_LIMITS[key]
    lim = board["limits"]
    if key == "pressure_mmhg":
        hi = min(hi, lim["max_target_mmhg"])
    elif key == "minutes":
        hi = min(hi, lim["max_session_min"])
    return lo, hi


def validate(data, board, source="settings"):
    """Return a complete settings dict from data, or raise SettingsError naming the field."""
    if not isinstance(data, dict):
        raise SettingsError("%s: must be a JSON object" % source)
    out = defaults()
    for key in data:
        if key != "mode" and key not in SETTING_LIMITS:
            raise SettingsError("%s: unknown field '%s'; allowed: mode, %s"
                                % (source, key, ", ".join(SETTING_LIMITS)))
    if "mode" in data:
        if data["mode"] not in MODES:
            raise SettingsError("%s: field 'mode' must be one of %s, got %r"
                                % (source, ", ".join(MODES), data["mode"]))
        out["mode"] = data["mode"]
    for key in SETTING_LIMITS:
        if key in data:
            lo, hi = bounds(key, board)
            err = check_number(data[key], lo, hi, "field '%s'" % key)
            if err:
                raise SettingsError("%s: %s" % (source, err))
            out[key] = int(data[key])
    # A board whose limits sit below a default still gets a usable default.
    for key in SETTING_LIMITS:
        lo, hi = bounds(key, board)
        out[key] = min(max(out[key], lo), hi)
    return out


def load(path, board):
    """Return (settings, warning). warning is None when the file was read and valid."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return validate({}, board), "no %s on flash: using defaults" % path
    except ValueError as e:  # UnicodeError: the bytes on flash are not even text
        return validate({}, board), "%s is not text (%s): using defaults" % (path, e)
    try:
        return validate(json.loads(text), board, path), None
    except ValueError as e:  # json error: the file is corrupt
        return validate({}, board), "%s is not valid JSON (%s): using defaults" % (path, e)
    except SettingsError as e:
        return validate({}, board), "%s: using defaults" % e
