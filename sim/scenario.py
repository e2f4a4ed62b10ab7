"""Scenario files: the public way to describe a simulated run.

    {"board": "esp32-devkitc-4ch",
     "settings": {"pressure_mmhg": 80, "minutes": 20, "mode": "wave"},
     "plant": {"pump_strength": 0.8},
     "faults": [{"t_s": 60, "fault": "valve_stuck_closed", "chamber": 2}],
     "actions": [{"t_s": 0, "do": "start"}, {"t_s": 300, "do": "stop"}],
     "duration_s": 1800,
     "seed": 1}

Every key is checked; an unknown key or value is an error that says what is allowed.
"""
import difflib
from pathlib import Path

from sim import paths

paths.import_device_modules()
import boardcfg  # noqa: E402
import filecheck  # noqa: E402  (the firmware's one checker and JSON reader)
from plant import DEFAULTS as PLANT_DEFAULTS  # noqa: E402
from vboard import ACTIONS  # noqa: E402

# "expect" is read by the test suite (host_tests/scenarios/) and ignored by the simulator
TOP_KEYS = ("board", "settings", "plant", "faults", "actions", "duration_s", "seed", "description",
            "expect", "chip")
# "chip": the virtual ESP32 (sim/device/chipclock.py and docs/PLANT.md): key -> (lowest, highest)
#   uptime_s         the tick counter at power-on (and after each reset), in s: a run can cross
#                    the 2**30 ms wrap (default: 45 s before it)
#   flash_sector_ms  what erasing and writing one 4 KB flash sector takes (default 45, the
#                    datasheets' typical; up to 500: sim/device/flashmodel.py)
#   console          "uart" (the classic ESP32's USB-serial bridge), "usb" (the S3's native
#                    USB), "usb_blocked" (a host holds the port open and does not read)
#   heap_kb          the firmware's MicroPython heap, in KB (default: none, a large heap); needs
#                    the 32-bit MicroPython (sim/chipheap.py, sim/device/heapcap.py)
CHIP_RANGES = {"uptime_s": (0, 10 ** 9), "flash_sector_ms": (0, 500), "heap_kb": (16, 16384)}
CONSOLES = ("uart", "usb", "usb_blocked")
RUN_CAP_S = 4 * 3600        # duration_s: at most this, plus the seconds the idle actions skip
IDLE_MAX_S = 400 * 86400    # one idle action: at most 400 days ...
IDLE_MIN_S = 300            # ... and at least 5 min
# fault name -> extra fields it needs (besides t_s and fault)
FAULTS = {
    "pump_stuck_on": (),
    "pump_dead": (),
    "valve_stuck_closed": ("chamber",),
    "valve_stuck_open": ("chamber",),
    "dump_stuck_closed": (),
    "sensor_open": (),
    "sensor_short": (),
    "sensor_frozen": (),
    "sensor_offset": ("mmhg",),
    "leak": ("chamber", "ml_per_min"),
    "hose_disconnect": ("chamber",),
    "hose_kinked": ("chamber",),    # the chamber's hose kinked shut: no air in or out
    "no_garment": ("chamber",),     # the chamber is not around a leg (fit check)
    "squeeze": ("chamber", "mmhg"), # an outside load on a chamber (the user lies on the calf)
    "hoses_crossed": ("chambers",), # [a, b]: valve a feeds chamber b and valve b chamber a
    "sensor_gain": ("factor",),     # the transducer's span is off: it sees factor x the pressure
    "sensor_drift": ("mmhg_per_min",),  # its zero wanders this fast from t_s on
    "buzzer_dead": (),              # the buzzer makes no sound (the firmware still drives it)
    "led_dead": (),                 # the status light stays dark
    "display_dead": (),             # the display answers on I2C but shows nothing
    "loop_stall": ("ms",),          # the next sensor read blocks for ms (a blocking call)
    "task_crash": (),               # the next sensor read raises inside the control task
    "service_crash": (),            # the service task raises at its next run
    "loop_crash": (),               # the event loop itself raises
    "brownout": (),                 # the chip resets now
    "monitor_off": (),              # a firmware bug: the hazard monitor reports nothing from now
    "console_blocked": (),          # a host holds the USB console open and does not read (an
                                    # S3's "usb" console; a UART cannot be held up)
}
# faults that happen once and cannot end: they refuse "until_s" (loop_stall has its own "ms")
ONE_SHOT = ("loop_stall", "task_crash", "service_crash", "loop_crash", "brownout")
# fault name -> extra fields it may take
OPTIONAL = {"dump_stuck_closed": ("dump",)}    # which dump (from 1); without it every dump
PER_CHAMBER_PLANT = ("chamber_volume_ml", "leak_ml_per_min")
# plant "transducer": the part fitted, where it differs from the board file's sensor block
# (the board file's own ranges: firmware/boardcfg.py's table)
TRANSDUCER_RANGES = {row[0]: (row[2], row[3]) for row in boardcfg.SENSOR
                     if row[1] == filecheck.NUM}
# plant parameter -> (lowest, highest) accepted
PLANT_RANGES = {
    "pump_free_flow_lpm": (0.5, 60), "pump_max_mmhg": (100, 1500), "pump_strength": (0.0, 3.0),
    "pump_spin_ms": (1, 1000), "manifold_volume_ml": (5, 500), "chamber_volume_ml": (50, 5000),
    "chamber_residual_ml": (0, 200), "chamber_half_mmhg": (2, 200), "valve_orifice_mm": (0.3, 12),
    "dump_orifice_mm": (0.3, 20), "discharge_coeff": (0.2, 1.0), "leak_ml_per_min": (0, 5000),
    "relief_mmhg": (50, 1000), "relief_orifice_mm": (0.3, 12), "sensor_noise_mmhg": (0, 20),
    "adc_noise_mv": (0, 100), "adc_floor_mv": (0, 300), "step_ms": (1, 10),
}


class ScenarioError(Exception):
    pass


def _num(value, where, lo, hi, integer=False):
    """The firmware's one checker (firmware/filecheck.py) judges every number."""
    text = filecheck.problem(filecheck.INT if integer else filecheck.NUM, value, lo, hi)
    if text:
        raise ScenarioError(f"{where}: {text}")
    return value


def _obj(value, where, allowed):
    text = filecheck.problem(filecheck.OBJ, value)
    if text:
        raise ScenarioError(f"{where}: {text}")
    key = filecheck.unknown(value, [(k,) for k in allowed])
    if key is not None:
        raise ScenarioError(f"{where}: unknown key '{key}'; allowed: {', '.join(allowed)}")
    return value


def check_plant(plant, chambers, where="plant"):
    _obj(plant, where, tuple(PLANT_DEFAULTS))
    for key, value in plant.items():
        if key == "transducer":
            if value is not None:
                _obj(value, f"{where}.transducer", tuple(TRANSDUCER_RANGES))
                for k, v in value.items():
                    _num(v, f"{where}.transducer.{k}", *TRANSDUCER_RANGES[k])
            continue
        lo, hi = PLANT_RANGES[key]
        if key == "relief_mmhg" and value is None:
            continue
        if key in PER_CHAMBER_PLANT and isinstance(value, list):
            if len(value) != chambers:
                raise ScenarioError(f"{where}.{key}: needs one value per chamber ({chambers}), "
                                    f"got {len(value)}")
            for i, v in enumerate(value):
                _num(v, f"{where}.{key}[{i}]", lo, hi)
        else:
            _num(value, f"{where}.{key}", lo, hi, integer=(key == "step_ms"))
    return plant


def check_events(items, where, chambers, duration_s, dumps=1):
    if not isinstance(items, list):
        raise ScenarioError(f"{where}: must be a list")
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        if where == "faults":
            if not isinstance(item, dict) or item.get("fault") not in FAULTS:
                got = item.get("fault") if isinstance(item, dict) else item
                near = difflib.get_close_matches(str(got), list(FAULTS), n=2, cutoff=0.6)
                hint = f" (did you mean {' or '.join(near)}?)" if near else ""
                raise ScenarioError(f"{w}.fault: {got!r} is not a fault kind{hint}; boot-sim "
                                    f"faults lists them: {', '.join(FAULTS)}")
            need = FAULTS[item["fault"]]
            _obj(item, w, ("t_s", "fault", "until_s") + need + OPTIONAL.get(item["fault"], ()))
            if "dump" in item:
                _num(item["dump"], f"{w}.dump", 1, dumps, integer=True)
            for key in need:
                if key not in item:
                    raise ScenarioError(f"{w}: fault '{item['fault']}' needs '{key}'")
            if "chamber" in need:
                _num(item["chamber"], f"{w}.chamber", 1, chambers, integer=True)
            if "chambers" in need:
                pair = item["chambers"]
                if not isinstance(pair, list) or len(pair) != 2:
                    raise ScenarioError(f"{w}.chambers: must be two chambers, e.g. [1, 4]")
                for k, c in enumerate(pair):
                    _num(c, f"{w}.chambers[{k}]", 1, chambers, integer=True)
                if pair[0] == pair[1]:
                    raise ScenarioError(f"{w}.chambers: must be two different chambers")
            if "mmhg" in need:
                if item["fault"] == "squeeze":
                    _num(item["mmhg"], f"{w}.mmhg", 1, 200)     # a load only presses
                else:
                    _num(item["mmhg"], f"{w}.mmhg", -300, 300)
            if "ms" in need:
                _num(item["ms"], f"{w}.ms", 1, 600000, integer=True)
            if "factor" in need:
                _num(item["factor"], f"{w}.factor", 0.2, 5)
            if "mmhg_per_min" in need:
                _num(item["mmhg_per_min"], f"{w}.mmhg_per_min", -100, 100)
            if "ml_per_min" in need:
                _num(item["ml_per_min"], f"{w}.ml_per_min", 0, 20000)
        else:
            _obj(item, w, ("t_s", "do", "detents", "payload", "allow_start", "s"))
            if item.get("do") not in ACTIONS:
                raise ScenarioError(f"{w}.do: must be one of {', '.join(ACTIONS)}, "
                                    f"got {item.get('do')!r}")
            if item["do"] == "remote":
                if not isinstance(item.get("payload"), str) or len(item["payload"]) > 1000:
                    raise ScenarioError(f"{w}: 'remote' needs 'payload', the message text as "
                                        "sent to the MQTT command topic (at most 1000 "
                                        "characters), e.g. \"resume\"")
                if not isinstance(item.get("allow_start", False), bool):
                    raise ScenarioError(f"{w}.allow_start: must be true or false (mqtt."
                                        "allow_start in secrets.json)")
            elif "payload" in item or "allow_start" in item:
                raise ScenarioError(f"{w}: only 'remote' takes 'payload' and 'allow_start'")
            if item["do"] == "turn":
                if "detents" not in item:
                    raise ScenarioError(f"{w}: 'turn' needs 'detents' (negative: "
                                        "anticlockwise)")
                _num(item["detents"], f"{w}.detents", -100, 100, integer=True)
                if item["detents"] == 0:
                    raise ScenarioError(f"{w}.detents: must not be 0")
            elif "detents" in item:
                raise ScenarioError(f"{w}: only 'turn' takes 'detents'")
            if item["do"] == "idle":
                if "s" not in item:
                    raise ScenarioError(f"{w}: 'idle' needs 's', the seconds on the shelf "
                                        "(604800: a week)")
                _num(item["s"], f"{w}.s", 1, IDLE_MAX_S, integer=True)
            elif "s" in item:
                raise ScenarioError(f"{w}: only 'idle' takes 's'")
        if "t_s" not in item:
            raise ScenarioError(f"{w}: needs 't_s' (seconds from the start of the run)")
        if isinstance(item["t_s"], (int, float)) and item["t_s"] > duration_s:
            raise ScenarioError(f"{w}.t_s: {item['t_s']} is after the run's end ({duration_s} "
                                "s): set duration_s longer (it is the session plus 40 s unless "
                                "set; an idle action's seconds may go past the 4 h cap)")
        _num(item["t_s"], f"{w}.t_s", 0, duration_s)
        if "until_s" in item:
            if item["fault"] in ONE_SHOT:
                why = "its length is 'ms'" if item["fault"] == "loop_stall" else \
                    "it happens once"
                raise ScenarioError(f"{w}.until_s: fault '{item['fault']}' cannot end ({why}); "
                                    "remove 'until_s'")
            _num(item["until_s"], f"{w}.until_s", item["t_s"], duration_s)
            if item["until_s"] <= item["t_s"]:
                raise ScenarioError(f"{w}.until_s: must be after t_s ({item['t_s']}), "
                                    f"got {item['until_s']}")
    return items


def check_idle(faults, actions):
    """The idle actions' windows (t_s, t_s + s) are empty: nothing happens on the shelf, so no
    action, fault start or fault end may fall inside one."""
    for i, idle in enumerate(actions):
        if idle.get("do") != "idle":
            continue
        lo, hi = idle["t_s"], idle["t_s"] + idle["s"]
        if idle["s"] < IDLE_MIN_S:
            raise ScenarioError(f"actions[{i}].s: an idle action passes at least {IDLE_MIN_S} "
                                "s (it may run up to 240 s first, until the boot has settled); "
                                "for less, just leave a gap between actions")
        for where, items in (("actions", actions), ("faults", faults)):
            for k, item in enumerate(items):
                for key in ("t_s", "until_s"):
                    t = item.get(key)
                    if t is not None and item is not idle and lo < t < hi:
                        raise ScenarioError(
                            f"{where}[{k}].{key}: {t} falls inside actions[{i}]'s idle window "
                            f"({lo} to {hi} s): nothing happens on the shelf; move it to "
                            f"{hi} s or later")


def check_chip(chip):
    _obj(chip, "chip", tuple(CHIP_RANGES) + ("console",))
    for key, (lo, hi) in CHIP_RANGES.items():
        if key in chip:
            _num(chip[key], f"chip.{key}", lo, hi)
    if "console" in chip and chip["console"] not in CONSOLES:
        raise ScenarioError(f"chip.console: must be one of {', '.join(CONSOLES)}, "
                            f"got {chip['console']!r}")
    return chip


def idle_s(actions):
    """The seconds a list of actions spends on the shelf (0 when it is not a list of objects)."""
    if not isinstance(actions, list):
        return 0
    total = 0
    for a in actions:
        if isinstance(a, dict) and a.get("do") == "idle" and isinstance(a.get("s"), int) \
                and not isinstance(a.get("s"), bool) and 0 < a["s"] <= IDLE_MAX_S:
            total += a["s"]
    return total


def resolve_board(name_or_path):
    """A board name (boards/NAME.json) or a path to a board file."""
    p = Path(name_or_path)
    if p.suffix == ".json" or p.exists():
        return p
    candidate = paths.BOARDS / f"{name_or_path}.json"
    if not candidate.exists():
        names = ", ".join(sorted(b.stem for b in paths.BOARDS.glob("*.json")))
        raise ScenarioError(f"board '{name_or_path}': no such board; known boards: {names}")
    return candidate


def load(path):
    """A scenario file, read by the firmware's one JSON reader (a UTF-8 byte-order mark and
    CRLF line ends accepted) and checked."""
    try:
        data = filecheck.parse(Path(path).read_bytes())     # (no chip's size limit here)
    except OSError as e:
        raise ScenarioError(f"scenario {path}: cannot be read ({e})") from None
    except filecheck.NotText as e:
        raise ScenarioError(f"scenario {path}: is not a text file ({e})") from None
    except RecursionError:
        raise ScenarioError(f"scenario {path}: is nested too deeply to be a scenario") from None
    except ValueError as e:
        raise ScenarioError(f"scenario {path}: is not valid JSON ({e})") from None
    try:
        return check_top(data)
    except ScenarioError as e:
        raise ScenarioError(f"scenario {path}: {e}") from None


def check_top(data):
    _obj(data, "scenario", TOP_KEYS)
    for key in ("settings", "plant"):
        if key in data:
            _obj(data[key], key, tuple(data[key]))  # contents checked once the board is known
    if "duration_s" in data:
        _num(data["duration_s"], "duration_s", 1, RUN_CAP_S + idle_s(data.get("actions")))
    if "chip" in data:
        check_chip(data["chip"])
    if "seed" in data:
        _num(data["seed"], "seed", 0, 2**31 - 1, integer=True)
    if "board" in data and not isinstance(data["board"], str):
        raise ScenarioError("board: must be a board name or a path to a board file")
    return data
