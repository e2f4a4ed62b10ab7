# Board file loading: a JSON file names the pins, the transducer's transfer function, the
# chamber count and the limits. Every field is checked once here; a bad file is refused with an
# error that names the file, the field and what is allowed (the Klipper habit).
import json
from limits import BOARD_LIMITS, CEILING_MARGIN_MMHG, CHAMBERS_MIN, CHAMBERS_MAX, DUMPS_MAX, \
    check_number, ADC_FLOOR_V, ADC_KNEE_V, ADC_ZERO_ABOVE_FLOOR_V

ADC_FULL_SCALE_V = 3.1        # ESP32 ADC at 11 dB attenuation reads up to about 3.1 V

# Per chip: highest GPIO number, and the ADC1 pins (ADC2 cannot be read while Wi-Fi is on).
MCUS = {
    "esp32": (39, (32, 33, 34, 35, 36, 37, 38, 39)),
    "esp32s3": (48, (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)),
}

_SCHEMA = {
    "": ("name", "description", "mcu", "chambers", "outputs", "sensor", "inputs", "limits",
         "indicators", "display", "garment"),
    "outputs": ("active_high", "pump_pin", "dump_pin", "dump_pins", "valve_pins"),
    "sensor": ("adc_pin", "v_at_zero", "v_at_full_scale", "full_scale_mmhg", "divider_ratio"),
    "inputs": ("button_pin", "button_active_low", "encoder_a_pin", "encoder_b_pin", "stop_pin",
               "stop_active_low"),
    "limits": tuple(BOARD_LIMITS),
    "indicators": ("led_pin", "buzzer_pin"),
    "display": ("sda_pin", "scl_pin", "address"),
    "garment": ("chamber_ml",),
}
_OPTIONAL = ("description", "indicators", "display", "garment", "led_pin", "buzzer_pin", "encoder_a_pin",
             "encoder_b_pin", "stop_pin", "stop_active_low",
             "dump_pin", "dump_pins")     # one of the two (checked in validate)


class BoardError(Exception):
    pass


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class _Checker:
    def __init__(self, path):
        self.path = path

    def fail(self, field, text):
        raise BoardError("board file %s: field '%s': %s" % (self.path, field, text))

    def section(self, data, name):
        where = name or "top level"
        if not isinstance(data, dict):
            self.fail(name or "(file)", "must be a JSON object")
        allowed = _SCHEMA[name]
        for key in data:
            if key not in allowed:
                self.fail(_join(name, key), "unknown field in %s; allowed: %s" % (where, ", ".join(allowed)))
        for key in allowed:
            if key not in data and key not in _OPTIONAL:
                self.fail(_join(name, key), "missing from %s" % where)
        return data

    def number(self, data, name, key, lo, hi):
        err = check_number(data[key], lo, hi, "value")
        if err:
            self.fail(_join(name, key), err)
        return data[key]

    def integer(self, data, name, key, lo, hi):
        v = data[key]
        if not _is_int(v) or v < lo or v > hi:
            self.fail(_join(name, key), "must be a whole number from %d to %d, got %r" % (lo, hi, v))
        return v

    def flag(self, data, name, key):
        if not isinstance(data[key], bool):
            self.fail(_join(name, key), "must be true or false, got %r" % (data[key],))
        return data[key]


def dump_pins(outputs):
    """The dump valves' GPIOs of a checked board file: "dump_pin" is the one-dump form."""
    return outputs["dump_pins"] if "dump_pins" in outputs else [outputs["dump_pin"]]


def _join(section, key):
    return section + "." + key if section else key


def validate(data, path="<board>"):
    """Check a parsed board file; return it unchanged or raise BoardError."""
    c = _Checker(path)
    c.section(data, "")
    if not isinstance(data["name"], str) or not data["name"]:
        c.fail("name", "must be a non-empty text")
    if "description" in data and not isinstance(data["description"], str):
        c.fail("description", "must be a text")
    mcu = data["mcu"]
    if not isinstance(mcu, str) or mcu not in MCUS:  # a list or object is unhashable
        c.fail("mcu", "must be one of %s, got %r" % (", ".join(sorted(MCUS)), mcu))
    max_gpio, adc1_pins = MCUS[mcu]
    chambers = c.integer(data, "", "chambers", CHAMBERS_MIN, CHAMBERS_MAX)

    used = {}  # type: dict

    def pin(section, key, value):
        field = _join(section, key)
        if not _is_int(value) or value < 0 or value > max_gpio:
            c.fail(field, "must be a GPIO number from 0 to %d on %s, got %r" % (max_gpio, mcu, value))
        if value in used:
            c.fail(field, "GPIO%d is already used by %s" % (value, used[value]))
        used[value] = field
        return value

    out = c.section(data["outputs"], "outputs")
    c.flag(out, "outputs", "active_high")
    pin("outputs", "pump_pin", out["pump_pin"])
    if ("dump_pin" in out) == ("dump_pins" in out):
        c.fail("outputs.dump_pin", "give dump_pin (one dump valve) or dump_pins (a list of "
               "1 to %d, every one opened to vent), exactly one of the two" % DUMPS_MAX)
    if "dump_pin" in out:
        pin("outputs", "dump_pin", out["dump_pin"])
    else:
        dumps = out["dump_pins"]
        if not isinstance(dumps, list) or not 1 <= len(dumps) <= DUMPS_MAX:
            c.fail("outputs.dump_pins", "must list the GPIO of each dump valve, 1 to %d of "
                   "them (e.g. [26, 23]), got %r" % (DUMPS_MAX, dumps))
        for i, v in enumerate(dumps):
            pin("outputs", "dump_pins[%d]" % i, v)
    valves = out["valve_pins"]
    if not isinstance(valves, list) or len(valves) != chambers:
        c.fail("outputs.valve_pins", "must list one GPIO per chamber (%d), got %r" % (chambers, valves))
    for i, v in enumerate(valves):
        pin("outputs", "valve_pins[%d]" % i, v)

    sen = c.section(data["sensor"], "sensor")
    adc = pin("sensor", "adc_pin", sen["adc_pin"])
    if adc not in adc1_pins:
        c.fail("sensor.adc_pin", "must be an ADC1 pin on %s (%s): ADC2 cannot be read while "
               "Wi-Fi is on; got %d" % (mcu, ", ".join(str(p) for p in adc1_pins), adc))
    v0 = c.number(sen, "sensor", "v_at_zero", 0.2, 4.0)
    vfs = c.number(sen, "sensor", "v_at_full_scale", 1.0, 10.0)
    if vfs < v0 + 1.0:
        c.fail("sensor.v_at_full_scale", "must be at least 1 V above v_at_zero (%s V), got %s" % (v0, vfs))
    fs = c.number(sen, "sensor", "full_scale_mmhg", 100, 2000)
    ratio = c.number(sen, "sensor", "divider_ratio", 0.05, 1.0)
    if vfs * ratio > ADC_FULL_SCALE_V - 0.2:
        c.fail("sensor.divider_ratio", "puts full scale at %.2f V on the ADC; it must stay below "
               "%.1f V: use a smaller ratio" % (vfs * ratio, ADC_FULL_SCALE_V - 0.2))
    _check_floor(c, mcu, v0, vfs, ratio)

    inp = c.section(data["inputs"], "inputs")
    pin("inputs", "button_pin", inp["button_pin"])
    c.flag(inp, "inputs", "button_active_low")
    enc = [inp.get("encoder_a_pin"), inp.get("encoder_b_pin")]
    if (enc[0] is None) != (enc[1] is None):
        c.fail("inputs.encoder_b_pin" if enc[1] is None else "inputs.encoder_a_pin",
               "a rotary encoder needs both encoder_a_pin and encoder_b_pin (or neither)")
    for key in ("encoder_a_pin", "encoder_b_pin", "stop_pin"):
        if inp.get(key) is not None:
            pin("inputs", key, inp[key])
    if "stop_active_low" in inp:
        c.flag(inp, "inputs", "stop_active_low")

    if "indicators" in data:
        ind = c.section(data["indicators"], "indicators")
        for key in ("led_pin", "buzzer_pin"):
            if ind.get(key) is not None:
                pin("indicators", key, ind[key])

    if "display" in data:
        dsp = c.section(data["display"], "display")
        pin("display", "sda_pin", dsp["sda_pin"])
        pin("display", "scl_pin", dsp["scl_pin"])
        c.integer(dsp, "display", "address", 0x08, 0x77)

    if "garment" in data:
        # the chambers' air at 80 mmHg, foot first (measured, or the maker's figures): only
        # their ratios are used, by the fit check's crossed-hoses warning (fitorder.py)
        sizes = c.section(data["garment"], "garment")["chamber_ml"]
        if not isinstance(sizes, list) or len(sizes) != chambers:
            c.fail("garment.chamber_ml", "must list one size per chamber (%d), foot first, "
                   "got %r" % (chambers, sizes))
        for i in range(chambers):
            if not _is_int(sizes[i]) or sizes[i] < 20 or sizes[i] > 5000:
                c.fail("garment.chamber_ml[%d]" % i, "must be a whole number of mL from 20 to "
                       "5000, got %r" % (sizes[i],))

    lim = c.section(data["limits"], "limits")
    for key in BOARD_LIMITS:
        lo, hi, _default, _why = BOARD_LIMITS[key]
        c.integer(lim, "limits", key, lo, hi)
    if lim["max_target_mmhg"] + CEILING_MARGIN_MMHG > lim["ceiling_mmhg"]:
        c.fail("limits.max_target_mmhg", "must be at least %d mmHg below ceiling_mmhg (%d), got %d"
               % (CEILING_MARGIN_MMHG, lim["ceiling_mmhg"], lim["max_target_mmhg"]))
    if lim["ceiling_mmhg"] > fs * 0.9:
        c.fail("limits.ceiling_mmhg", "must be at most 90%% of the sensor's full_scale_mmhg (%s) "
               "so an over-pressure is still measured, got %d" % (fs, lim["ceiling_mmhg"]))
    v_ceiling = (v0 + (vfs - v0) * lim["ceiling_mmhg"] / fs) * ratio
    if v_ceiling > ADC_KNEE_V[mcu]:
        c.fail("limits.ceiling_mmhg", "puts %d mmHg at %.2f V on the ADC, above %.2f V where the "
               "%s's ADC reading flattens (an over-pressure would read low): use a smaller "
               "sensor.divider_ratio or a lower ceiling"
               % (lim["ceiling_mmhg"], v_ceiling, ADC_KNEE_V[mcu], mcu))
    return data


def _check_floor(c, mcu, v0, vfs, ratio):
    """0 mmHg must sit ADC_ZERO_ABOVE_FLOOR_V above the chip's ADC floor: an open wire reads the
    floor, and the window between the two must hold a zero that wanders a little low."""
    floor = ADC_FLOOR_V[mcu]
    v_zero = v0 * ratio
    need = floor + ADC_ZERO_ABOVE_FLOOR_V
    if v_zero >= need - 1e-9:
        return
    side = "above" if v_zero >= floor else "below"
    least = int(need / v0 * 100) / 100      # the ratio that passes, to 2 places rounded up
    if least * v0 < need - 1e-9:
        least += 0.01
    fix = "use a larger divider_ratio (at least %.2f)" % least
    field = "sensor.divider_ratio"
    if least * vfs > ADC_FULL_SCALE_V - 0.2 or least > 1.0:
        field = "sensor.v_at_zero"
        fix = "no divider_ratio fits this transducer on the %s (full scale would not fit): use " \
              "a transducer whose 0 mmHg output is higher" % mcu
    c.fail(field, "puts 0 mmHg at %.3f V on the ADC, %.3f V %s the %s's ADC "
           "floor (%.3f V, what it reads with the pin at 0 V, as with a broken wire); the margin "
           "must be at least %.3f V (0 mmHg at %.3f V or more) so a broken wire is told apart: "
           "%s" % (v_zero, abs(v_zero - floor), side, mcu, floor, ADC_ZERO_ABOVE_FLOOR_V, need,
                   fix))


def load(path):
    """Read and check a board file; raise BoardError naming the file and the field."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise BoardError("board file %s: cannot be read (%s): copy one from boards/" % (path, e))
    except ValueError as e:  # UnicodeError: the bytes are not text
        raise BoardError("board file %s: is not a text file (%s)" % (path, e))
    try:
        data = json.loads(text)
    except ValueError as e:
        raise BoardError("board file %s: is not valid JSON (%s)" % (path, e))
    return validate(data, path)
