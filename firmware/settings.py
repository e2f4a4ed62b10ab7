# User settings (target pressure, session length, mode, hold and rest, chambers in use) from
# settings.json on flash. A missing or bad file never stops the device: it falls back to defaults and says why.
import json
from limits import SETTING_LIMITS, SETTING_FLAGS, MODES, LETDOWN_MIN_S, check_number

LETDOWN_WHY = (" (every chamber must be let down, below 15 mmHg, at least %d s between two "
               "squeezes: limits.LETDOWN_MIN_S)" % LETDOWN_MIN_S)


class SettingsError(Exception):
    pass


def defaults(board=None):
    s = {"mode": "wave", "program": ""}  # type: dict
    for key in SETTING_LIMITS:
        s[key] = SETTING_LIMITS[key][2]
    for key in SETTING_FLAGS:
        s[key] = SETTING_FLAGS[key]
    if board is not None:
        s["enabled"] = list(range(1, board["chambers"] + 1))
    return s


def bounds(key, board):
    """Allowed range of a setting on this board (the board narrows the table)."""
    lo, hi, _default, _why = SETTING_LIMITS[key]
    lim = board["limits"]
    if key == "pressure_mmhg":
        hi = min(hi, lim["max_target_mmhg"])
    elif key == "minutes":
        hi = min(hi, lim["max_session_min"])
    elif key == "boost_chamber":
        hi = min(hi, board["chambers"])
    return lo, hi


def validate(data, board, source="settings"):
    """Return a complete settings dict from data, or raise SettingsError naming the field."""
    if not isinstance(data, dict):
        raise SettingsError("%s: must be a JSON object" % source)
    out = defaults(board)
    n = board["chambers"]
    for key in data:
        if key not in ("mode", "enabled", "program") and key not in SETTING_LIMITS and \
                key not in SETTING_FLAGS:
            raise SettingsError("%s: unknown field '%s'; allowed: mode, enabled, program, %s, %s"
                                % (source, key, ", ".join(SETTING_LIMITS),
                                   ", ".join(SETTING_FLAGS)))
    for key in SETTING_FLAGS:
        if key in data:
            if not isinstance(data[key], bool):
                raise SettingsError("%s: field '%s' must be true or false, got %r"
                                    % (source, key, data[key]))
            out[key] = data[key]
    if "program" in data:
        name = data["program"]
        if not isinstance(name, str) or len(name) > 32 or "/" in name or ".." in name:
            raise SettingsError("%s: field 'program' must be a program name (a file in "
                                "programs/ without .json), got %r" % (source, name))
        out["program"] = name
    if "enabled" in data:
        en = data["enabled"]
        ok = isinstance(en, list) and 0 < len(en) <= n
        for k in en if ok else ():
            ok = ok and isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= n \
                and en.count(k) == 1
        if not ok:
            raise SettingsError("%s: field 'enabled' must list the chambers in use, each once, "
                                "from 1 to %d, at least one; got %r" % (source, n, en))
        out["enabled"] = sorted(en)
    if "mode" in data:
        if data["mode"] not in MODES:
            raise SettingsError("%s: field 'mode' must be one of %s, got %r"
                                % (source, ", ".join(MODES), data["mode"]))
        out["mode"] = data["mode"]
    for key in SETTING_LIMITS:
        if key in data:
            lo, hi = bounds(key, board)
            err = check_number(data[key], lo, hi, "field '%s'" % key)
            if err and key == "rest_s":
                err += LETDOWN_WHY
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
        try:    # a power cut between removing the old file and renaming the new one
            with open(path + ".tmp") as f:
                return validate(json.loads(f.read()), board, path), None
        except (OSError, ValueError, SettingsError):
            pass
        return validate({}, board), "no %s on flash: using defaults" % path
    except ValueError as e:  # UnicodeError: the bytes on flash are not even text
        return validate({}, board), "%s is not text (%s): using defaults" % (path, e)
    try:
        return validate(json.loads(text), board, path), None
    except ValueError as e:  # json error: the file is corrupt
        return validate({}, board), "%s is not valid JSON (%s): using defaults" % (path, e)
    except SettingsError as e:
        return validate({}, board), "%s: using defaults" % e


def save(path, values, fs=None):
    """Write settings atomically: a temporary file, then a rename over the old one, so a power
    cut at any instant leaves the old settings or the new, whole. fs: an object with open,
    rename and remove (the os module and open by default; tests pass a failing one)."""
    if fs is None:
        import os
        fs = _Fs(os)
    tmp = path + ".tmp"
    f = fs.open(tmp, "w")
    try:
        f.write(json.dumps(values))
    finally:
        f.close()
    try:
        fs.rename(tmp, path)
    except OSError:         # a filesystem that will not rename over an existing file
        fs.remove(path)
        fs.rename(tmp, path)


class _Fs:
    def __init__(self, os_module):
        self.rename = os_module.rename
        self.remove = os_module.remove

    @staticmethod
    def open(path, mode):
        return open(path, mode)
