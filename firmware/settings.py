# User settings (target pressure, session length, mode, hold and rest, chambers in use) from
# settings.json on flash, checked against the table below (the one checker: filecheck.py). A
# missing or damaged file never stops the device and never raises the pressure: the boot
# starts low (limits.START_MMHG, START_MINUTES), never above a figure the file still shows,
# keeps every field that checks out, and says which field and why.
import json
import filecheck
from filecheck import NUM, BOOL, TEXT, CHOICE, LIST
from limits import SETTING_LIMITS, SETTING_FLAGS, MODES, LETDOWN_MIN_S, START_MMHG, \
    START_MINUTES
from ranges import bounds, LETDOWN_WHY

# (field, kind, lo, hi, default, why): filecheck.py says what each column means. The numbers'
# ranges and defaults are limits.SETTING_LIMITS; the board narrows them (bounds below).
TABLE = (
    ("mode", CHOICE, MODES, None, "wave", "the program the waves follow (program.py)"),
    ("program", TEXT, 0, 32, "", "mode custom: the file programs/NAME.json"),
    ("enabled", LIST, None, None, None, "the chambers in use, 1 at the foot (default: all)"),
) + tuple((key, NUM, SETTING_LIMITS[key][0], SETTING_LIMITS[key][1], SETTING_LIMITS[key][2],
           SETTING_LIMITS[key][3]) for key in SETTING_LIMITS) + (
    ("tuning", BOOL, None, None, SETTING_FLAGS["tuning"],
     "learn each chamber's overshoot and stop the pump early by it"),
    ("fit_check", BOOL, None, None, SETTING_FLAGS["fit_check"],
     "fill each chamber a little at start: is the garment on, are the hoses right"),
)


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


def problems(data, board):
    """(field, what is wrong) for every field of the object data that does not check out on
    this board: unknown fields first, then the table's order. [] when all do."""
    out = []
    for key in data:
        if filecheck.find(TABLE, key) is None:
            out.append((key, "unknown field; allowed: " + filecheck.names(TABLE)))
    n = board["chambers"]
    for row in TABLE:
        key = row[0]
        if key not in data:
            continue
        v = data[key]
        if key in SETTING_LIMITS:
            lo, hi = bounds(key, board)
            text = filecheck.problem(NUM, v, lo, hi)
            if text and key == "rest_s":
                text += LETDOWN_WHY
        elif key == "enabled":
            ok = isinstance(v, list) and 0 < len(v) <= n
            for k in v if ok else ():
                ok = ok and isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= n \
                    and v.count(k) == 1
            text = None if ok else ("must list the chambers in use, each once, from 1 to %d, "
                                    "at least one; got %r" % (n, v))
        elif key == "program":
            text = filecheck.problem(TEXT, v, 0, 32)
            if text or "/" in v or ".." in v:
                text = "must be a program name (a file in programs/ without .json), got %r" % (v,)
        else:
            text = filecheck.problem(row[1], v, row[2], row[3])
        if text:
            out.append((key, text))
    return out


def _build(data, board):
    """The complete settings from data, every field of which checks out."""
    out = defaults(board)
    for key in data:
        if key in SETTING_LIMITS:
            out[key] = int(data[key])
        elif key == "enabled":
            out[key] = sorted(data[key])
        else:
            out[key] = data[key]
    # A board whose limits sit below a default still gets a usable default.
    for key in SETTING_LIMITS:
        lo, hi = bounds(key, board)
        out[key] = min(max(out[key], lo), hi)
    return out


def validate(data, board, source="settings"):
    """Return a complete settings dict from data, or raise SettingsError naming the field."""
    if not isinstance(data, dict):
        raise SettingsError("%s: must be a JSON object" % source)
    bad = problems(data, board)
    if bad:
        raise SettingsError("%s: field '%s': %s" % (source, bad[0][0], bad[0][1]))
    return _build(data, board)


def _after(raw, key):
    """Where the value of "key" starts in a damaged file's bytes, or -1."""
    i = raw.find(b'"' + key.encode() + b'"')
    if i < 0:
        return -1
    i += len(key) + 2
    while i < len(raw) and raw[i] in b' \t\r\n:"':
        i += 1
    return i


def _number_in(raw, key):
    """The number after "key": in a damaged file's bytes (a truncated or mangled file, a
    number written as text), or None. Only ever used to start gentler."""
    i = _after(raw, key)
    if i < 0:
        return None
    j = i
    while j < len(raw) and raw[j] in b"-.0123456789":
        j += 1
    try:
        return float(raw[i:j].decode())
    except ValueError:
        return None


def _chambers_in(raw, n):
    """The chambers listed after "enabled": in a damaged file's bytes, as far as they can be
    read (each listed one the user chose to use), or None."""
    i = _after(raw, "enabled")
    if i < 0 or i >= len(raw) or raw[i] != 0x5B:       # "["
        return None
    out = []
    for part in raw[i + 1:].split(b"]")[0].split(b","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= n or int(part) in out:
            break
        out.append(int(part))
    return sorted(out) or None


def start_low(good, board, raw=b""):
    """The settings for a missing or damaged file: the fields in good (each checks out) kept;
    a pressure or length the file does not give in good at limits.START_MMHG and START_MINUTES,
    and a hold at the default, each lower where its bytes show lower (raw); a rest longer
    where they show longer; the chambers in use as far as they list them; all within the
    board's bounds. Never a harder squeeze than the file shows."""
    s = _build(good, board)
    for key, start in (("pressure_mmhg", START_MMHG), ("minutes", START_MINUTES),
                       ("hold_s", s["hold_s"]), ("rest_s", s["rest_s"])):
        if key not in good:
            v = start
            shown = _number_in(raw, key)
            if shown is not None and (shown > v if key == "rest_s" else shown < v):
                v = shown
            lo, hi = bounds(key, board)
            s[key] = int(min(max(v, lo), hi))
    if "enabled" not in good:
        shown = _chambers_in(raw, board["chambers"])
        if shown:
            s["enabled"] = shown
    return s


def _start_note(s, good, damaged=True):
    text = "starting at %d mmHg for %d min" % (s["pressure_mmhg"], s["minutes"])
    if "pressure_mmhg" not in good or "minutes" not in good:
        text += " (a cautious start: limits.START_MMHG and START_MINUTES%s)" % (
            ", or lower where the file shows lower" if damaged else "")
    if good:
        text += "; the fields that check out are kept"
    if damaged:
        text += "; fix the file, or set your settings again in the menu (it saves them whole)"
    return text


def load(path, board):
    """Return (settings, warning). warning is None when the file was read and checks out;
    otherwise it names the file, the field and why, and what the boot starts with."""
    try:
        raw = filecheck.read_bytes(path)
    except OSError:
        try:    # a power cut between removing the old file and renaming the new one
            return validate(filecheck.read(path + ".tmp"), board, path), None
        except (OSError, ValueError, SettingsError):
            pass
        s = start_low({}, board)
        return s, "no %s on flash: %s; set your own from there" % (path,
                                                                   _start_note(s, {}, False))
    except filecheck.NotText as e:      # far too big to be read
        s = start_low({}, board)
        return s, "%s is not text (%s): %s" % (path, e, _start_note(s, {}))
    try:
        data = filecheck.parse(raw)
    except ValueError as e:  # damaged: not JSON, or not even text (filecheck.NotText)
        s = start_low({}, board, raw)
        what = "is not text" if isinstance(e, filecheck.NotText) else "is not valid JSON"
        return s, "%s %s (%s): %s" % (path, what, e, _start_note(s, {}))
    if not isinstance(data, dict):
        s = start_low({}, board, raw)
        return s, "%s: must be a JSON object: %s" % (path, _start_note(s, {}))
    bad = problems(data, board)
    if not bad:
        return _build(data, board), None
    skip = [b[0] for b in bad]
    good = {}
    for key in data:
        if key not in skip:
            good[key] = data[key]
    s = start_low(good, board, raw)
    return s, "%s: %s: %s" % (path, "; ".join("field '%s': %s" % b for b in bad),
                              _start_note(s, good))


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
