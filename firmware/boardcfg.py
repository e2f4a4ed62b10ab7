# Board file loading: a JSON file names the pins, the transducer's transfer function, the
# chamber count and the limits. Every field is checked once here, against the tables below (the
# one checker, filecheck.py); a bad file is refused with an error that names the file, the
# field and what is allowed (the Klipper habit). The chips' pin quirks (strapping pins, a
# WROVER's PSRAM pins, ...) are checked on the computer, before flashing: sim/boardcheck.py.
from limits import BOARD_LIMITS, CEILING_MARGIN_MMHG, CHAMBERS_MIN, CHAMBERS_MAX, DUMPS_MAX, \
    ADC_FLOOR_V, ADC_KNEE_V, ADC_ZERO_ABOVE_FLOOR_V
import filecheck
from valves import dump_pins  # noqa: F401  (boardcfg.dump_pins: the simulator's)
from filecheck import INT, NUM, BOOL, TEXT, CHOICE, OBJ, LIST, PIN, REQUIRED

ADC_FULL_SCALE_V = 3.1        # ESP32 ADC at 11 dB attenuation reads up to about 3.1 V

# Per chip: highest GPIO number, and the ADC1 pins (ADC2 cannot be read while Wi-Fi is on).
MCUS = {
    "esp32": (39, (32, 33, 34, 35, 36, 37, 38, 39)),
    "esp32s3": (48, (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)),
}

# The tables: (field, kind, lo, hi, default, why); filecheck.py says what each column means.
TOP = (
    ("name", TEXT, 1, 100, REQUIRED, "the board's name, shown at boot and in the trace"),
    ("description", TEXT, 0, 1000, None, "for people: the module, the transducer, the wiring"),
    ("mcu", CHOICE, tuple(sorted(MCUS)), None, REQUIRED, "the chip: its GPIOs and ADC differ"),
    ("psram", BOOL, None, None, False, "the module has PSRAM (an ESP32 WROVER's takes GPIO16 "
                                       "and 17: sim/boardcheck.py refuses them then)"),
    ("chambers", INT, CHAMBERS_MIN, CHAMBERS_MAX, REQUIRED, "chambers in the sleeve"),
    ("outputs", OBJ, None, None, REQUIRED, "what moves air"),
    ("sensor", OBJ, None, None, REQUIRED, "the manifold's pressure transducer"),
    ("inputs", OBJ, None, None, REQUIRED, "the knob, its button and the stop button"),
    ("limits", OBJ, None, None, REQUIRED, "this board's limits, within limits.BOARD_LIMITS"),
    ("indicators", OBJ, None, None, None, "a status LED and a buzzer"),
    ("display", OBJ, None, None, None, "an SSD1306 OLED on I2C"),
    ("garment", OBJ, None, None, None, "the chambers' sizes (fit check, fitorder.py)"),
)
OUTPUTS = (
    ("active_high", BOOL, None, None, REQUIRED, "true: a driver's input high switches it on "
                                               "(its pull-down holds it off through a reset)"),
    ("pump_pin", PIN, None, None, REQUIRED, "the pump's driver"),
    ("dump_pin", PIN, None, None, None, "the dump valve's driver (or dump_pins)"),
    ("dump_pins", LIST, None, None, None, "1 to limits.DUMPS_MAX dump valves, all opened to vent"),
    ("valve_pins", LIST, None, None, REQUIRED, "one chamber valve's driver each, foot first"),
)
SENSOR = (
    ("adc_pin", PIN, None, None, REQUIRED, "an ADC1 pin: ADC2 cannot be read with Wi-Fi on"),
    ("v_at_zero", NUM, 0.2, 4.0, REQUIRED, "the transducer's output at 0 mmHg, V"),
    ("v_at_full_scale", NUM, 1.0, 10.0, REQUIRED, "its output at full_scale_mmhg, V"),
    ("full_scale_mmhg", NUM, 100, 2000, REQUIRED, "its range; the ceiling within 90 % of it"),
    ("divider_ratio", NUM, 0.05, 1.0, REQUIRED, "the divider's output over its input"),
)
INPUTS = (
    ("button_pin", PIN, None, None, REQUIRED, "the knob's push button"),
    ("button_active_low", BOOL, None, None, REQUIRED, "true: pressed pulls the pin low"),
    ("encoder_a_pin", PIN, None, None, None, "the knob's A (CLK), with encoder_b_pin"),
    ("encoder_b_pin", PIN, None, None, None, "the knob's B (DT)"),
    ("encoder_pullups", BOOL, None, None, False, "true: the knob's module pulls A and B up "
                                                 "itself (a KY-040 does)"),
    ("stop_pin", PIN, None, None, None, "a separate stop button"),
    ("stop_active_low", BOOL, None, None, True, "true: pressed pulls the pin low"),
)
LIMITS = tuple((key, INT, BOARD_LIMITS[key][0], BOARD_LIMITS[key][1], REQUIRED,
                BOARD_LIMITS[key][3]) for key in BOARD_LIMITS)
INDICATORS = (
    ("led_pin", PIN, None, None, None, "the status LED, through 330 Ohm to GND"),
    ("buzzer_pin", PIN, None, None, None, "an active buzzer's driver"),
)
DISPLAY = (
    ("sda_pin", PIN, None, None, REQUIRED, "I2C data"),
    ("scl_pin", PIN, None, None, REQUIRED, "I2C clock"),
    ("address", INT, 0x08, 0x77, REQUIRED, "the OLED's I2C address (60, 0x3C, on most)"),
)
GARMENT = (
    ("chamber_ml", LIST, None, None, REQUIRED, "each chamber's air at 80 mmHg, mL, foot first "
                                               "(20 to 5000): only their ratios are used"),
)
# every section, for people and the tests: (its field, its table)
TABLES = (("", TOP), ("outputs", OUTPUTS), ("sensor", SENSOR), ("inputs", INPUTS),
          ("limits", LIMITS), ("indicators", INDICATORS), ("display", DISPLAY),
          ("garment", GARMENT))


class BoardError(Exception):
    pass


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _join(section, key):
    return section + "." + key if section else key


def validate(data, path="<board>"):
    """Check a parsed board file; return it unchanged or raise BoardError."""
    c = filecheck.Checker("board file %s" % path, BoardError)
    c.section(data, TOP)
    mcu = data["mcu"]
    max_gpio, adc1_pins = MCUS[mcu]
    chambers = data["chambers"]

    used = {}  # type: dict

    def pin(section, key, value):
        field = _join(section, key)
        if not _is_int(value) or value < 0 or value > max_gpio:
            c.fail(field, "must be a GPIO number from 0 to %d on %s, got %r" % (max_gpio, mcu, value))
        if value in used:
            c.fail(field, "GPIO%d is already used by %s" % (value, used[value]))
        used[value] = field
        return value

    out = c.section(data["outputs"], OUTPUTS, "outputs")
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
                   "them (e.g. [26, 4]), got %r" % (DUMPS_MAX, dumps))
        for i, v in enumerate(dumps):
            pin("outputs", "dump_pins[%d]" % i, v)
    valves = out["valve_pins"]
    if not isinstance(valves, list) or len(valves) != chambers:
        c.fail("outputs.valve_pins", "must list one GPIO per chamber (%d), got %r" % (chambers, valves))
    for i, v in enumerate(valves):
        pin("outputs", "valve_pins[%d]" % i, v)

    sen = c.section(data["sensor"], SENSOR, "sensor")
    adc = pin("sensor", "adc_pin", sen["adc_pin"])
    if adc not in adc1_pins:
        c.fail("sensor.adc_pin", "must be an ADC1 pin on %s (%s): ADC2 cannot be read while "
               "Wi-Fi is on; got %d" % (mcu, ", ".join(str(p) for p in adc1_pins), adc))
    v0 = sen["v_at_zero"]
    vfs = sen["v_at_full_scale"]
    if vfs < v0 + 1.0:
        c.fail("sensor.v_at_full_scale", "must be at least 1 V above v_at_zero (%s V), got %s" % (v0, vfs))
    fs = sen["full_scale_mmhg"]
    ratio = sen["divider_ratio"]
    if vfs * ratio > ADC_FULL_SCALE_V - 0.2:
        c.fail("sensor.divider_ratio", "puts full scale at %.2f V on the ADC; it must stay below "
               "%.1f V: use a smaller ratio" % (vfs * ratio, ADC_FULL_SCALE_V - 0.2))
    _check_floor(c, mcu, v0, vfs, ratio)

    inp = c.section(data["inputs"], INPUTS, "inputs")
    pin("inputs", "button_pin", inp["button_pin"])
    enc = [inp.get("encoder_a_pin"), inp.get("encoder_b_pin")]
    if (enc[0] is None) != (enc[1] is None):
        c.fail("inputs.encoder_b_pin" if enc[1] is None else "inputs.encoder_a_pin",
               "a rotary encoder needs both encoder_a_pin and encoder_b_pin (or neither)")
    for key in ("encoder_a_pin", "encoder_b_pin", "stop_pin"):
        if inp.get(key) is not None:
            pin("inputs", key, inp[key])

    if "indicators" in data:
        ind = c.section(data["indicators"], INDICATORS, "indicators")
        for key in ("led_pin", "buzzer_pin"):
            if ind.get(key) is not None:
                pin("indicators", key, ind[key])

    if "display" in data:
        dsp = c.section(data["display"], DISPLAY, "display")
        pin("display", "sda_pin", dsp["sda_pin"])
        pin("display", "scl_pin", dsp["scl_pin"])

    if "garment" in data:
        # the chambers' air at 80 mmHg, foot first (measured, or the maker's figures): only
        # their ratios are used, by the fit check's crossed-hoses warning (fitorder.py)
        sizes = c.section(data["garment"], GARMENT, "garment")["chamber_ml"]
        if not isinstance(sizes, list) or len(sizes) != chambers:
            c.fail("garment.chamber_ml", "must list one size per chamber (%d), foot first, "
                   "got %r" % (chambers, sizes))
        for i in range(chambers):
            text = filecheck.problem(INT, sizes[i], 20, 5000)
            if text:
                c.fail("garment.chamber_ml[%d]" % i, text + " (mL)")

    lim = c.section(data["limits"], LIMITS, "limits")
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
        data = filecheck.read(path)
    except OSError as e:
        raise BoardError("board file %s: cannot be read (%s): copy one from boards/" % (path, e))
    except filecheck.NotText as e:
        raise BoardError("board file %s: is not a text file (%s)" % (path, e))
    except ValueError as e:
        raise BoardError("board file %s: is not valid JSON (%s)" % (path, e))
    return validate(data, path)
