"""Every error of a board file in one run, for `boot-sim check-board` (issue 18, part 6).

The firmware's checker (firmware/boardcfg.py) stops at the first bad field, as a boot must. On
the computer this module runs it again and again: after each refusal it sets the named field
aside (an unknown or optional field removed; a required one given a stand-in: an unused GPIO
for a pin, the shipped board's value for anything else) and checks the rest, so one run lists
them all. A stand-in is never reported on: the pin rules (sim/boardcheck.py) run on the result,
without the notes about fields that were set aside. Where a field decides what the others mean
(the chip, the chamber count, a file that is not an object) it stops and says so.
"""
import copy
import json
import re

from sim import paths

paths.import_device_modules()
import boardcfg  # noqa: E402
import filecheck  # noqa: E402

MAX_ROUNDS = 60
_FIELD = re.compile(r"field '([^']+)'")
_PART = re.compile(r"([A-Za-z_]+)(?:\[(\d+)\])?$")
# fields the others are judged by: past an error in one of these, the rest cannot be checked
_DECIDING = ("(file)", "mcu", "chambers", "outputs", "sensor", "inputs", "limits")
STOPPED = "(the check stops here: the other fields are judged by this one; fix it and run " \
          "check-board again)"


def _reference(mcu):
    """A shipped board for the chip (its values stand in for a refused required field)."""
    for p in sorted((paths.ROOT / "boards").glob("*.json")):
        data = json.loads(p.read_text())
        if data.get("mcu") == mcu:
            return data
    return json.loads(paths.DEFAULT_BOARD.read_text())


def _row(section, key):
    for name, table in boardcfg.TABLES:
        if name == section:
            for row in table:
                if row[0] == key:
                    return row
    return None


def _pins_in(data):
    used = set()
    for sec in data.values() if isinstance(data, dict) else ():
        if isinstance(sec, dict):
            for k, v in sec.items():
                if k.endswith("_pin") and isinstance(v, int):
                    used.add(v)
                elif k.endswith("_pins") and isinstance(v, list):
                    used.update(x for x in v if isinstance(x, int))
    return used


def _free_pin(data, adc=False):
    """A GPIO the file does not use (an ADC1 pin when adc): a stand-in no later check trips on."""
    mcu = data.get("mcu") if data.get("mcu") in boardcfg.MCUS else "esp32"
    top, adc1 = boardcfg.MCUS[mcu]
    used = _pins_in(data)
    pool = adc1 if adc else [g for g in range(top + 1) if g not in adc1]
    for g in pool:
        if g not in used:
            return g
    return None


def _set_aside(data, field, message):
    """Make `field` pass (see the module's note). False when that cannot be done."""
    parts = field.split(".")
    if field in _DECIDING or len(parts) > 2:
        return False
    section, last = ("", parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    m = _PART.match(last)
    if not m:
        return False
    key, index = m.group(1), m.group(2)
    holder = data if not section else data.get(section)
    if not isinstance(holder, dict):
        return False
    if "unknown field" in message:
        holder.pop(key, None)
        return True
    if section == "outputs" and key in ("dump_pin", "dump_pins") and \
            ("exactly one" in message or index is None and key == "dump_pins"):
        holder.pop("dump_pins", None)       # one dump valve on a free pin stands in
        holder["dump_pin"] = _free_pin(data)
        return True
    if key.endswith("_pin") or key.endswith("_pins"):
        if key.endswith("_pins") and index is None:
            n = data.get("chambers") if isinstance(data.get("chambers"), int) else 0
            pins = []
            holder[key] = pins
            for _ in range(n):
                pins.append(_free_pin(data))
            return None not in pins
        pin = _free_pin(data, adc=(key == "adc_pin"))
        if pin is None:
            return False
        if index is not None and isinstance(holder.get(key), list):
            holder[key][int(index)] = pin
        else:
            holder[key] = pin
        return True
    row = _row(section, key)
    if row is not None and row[4] != filecheck.REQUIRED and index is None:
        holder.pop(key, None)               # optional: checked without it
        return True
    ref = _reference(data.get("mcu"))
    ref_holder = ref if not section else ref.get(section, {})
    if key in ref_holder and index is None:
        holder[key] = copy.deepcopy(ref_holder[key])
        return True
    top = _row("", section)
    if section and top is not None and top[4] != filecheck.REQUIRED:
        data.pop(section)                   # an optional section: checked without it
        return True
    return False


def collect(path):
    """(errors, rule_errors, warnings): every refusal of the firmware's checker (each names the
    file and the field), then the pin rules' errors and warnings (sim/boardcheck.py's texts)."""
    from sim import boardcheck
    try:
        data = filecheck.read(path)
    except OSError as e:
        return [f"board file {path}: cannot be read ({e}): copy one from boards/"], [], []
    except filecheck.NotText as e:
        return [f"board file {path}: is not a text file ({e})"], [], []
    except ValueError as e:
        return [f"board file {path}: is not valid JSON ({e})"], [], []
    errors, aside = [], set()
    for _ in range(MAX_ROUNDS):
        try:
            cfg = boardcfg.validate(copy.deepcopy(data), path)
        except boardcfg.BoardError as e:
            text = str(e)
            m = _FIELD.search(text)
            field = m.group(1) if m else "(file)"
            if field in aside:          # refused again, with its stand-in: say no more
                errors.append(f"board file {path}: {STOPPED}")
                return errors, [], []
            errors.append(text)
            if not _set_aside(data, field, text):
                errors.append(f"board file {path}: {STOPPED}")
                return errors, [], []
            aside.add(field)
            continue
        rule_errors, warnings = boardcheck.check(cfg)
        return errors, [t for t in rule_errors if not any(_names(t, f) for f in aside)], \
            [t for t in warnings if not any(_names(t, f) for f in aside)]
    errors.append(f"board file {path}: more than {MAX_ROUNDS} errors; the check stops here")
    return errors, [], []


def _names(text, field):
    """The pin rule's text is about this field: one element of a list names only that element
    (another element's error stands: GPIO6 in valve_pins[3] after a duplicate in [2]); a whole
    field, itself or any of its elements."""
    if "[" in field:
        return field in text
    return re.search(re.escape(field) + r"(?![A-Za-z_])", text) is not None
