"""What the simulator can be asked for, for `boot-sim scenarios` and `boot-sim faults`: the
scenario library (host_tests/scenarios/*.json, each with its "description"), a scenario found by
name as well as by path, and the fault kinds a scenario may inject with their fields."""
import difflib
import json
from pathlib import Path

from sim import paths
from sim.scenario import FAULTS, ONE_SHOT, OPTIONAL, ScenarioError

LIBRARY = paths.ROOT / "host_tests" / "scenarios"

# fault kind -> what it does (sim/device/plant.py and vboard.py carry them out)
FAULT_HELP = {
    "pump_stuck_on": "the pump runs whatever it is told (its driver shorted)",
    "pump_dead": "the pump does not run",
    "valve_stuck_closed": "the chamber's valve stays shut",
    "valve_stuck_open": "the chamber's valve stays open",
    "dump_stuck_closed": "the dump valve stays shut (every dump, or only dump N)",
    "sensor_open": "the transducer's wire is broken: the ADC reads its floor",
    "sensor_short": "the transducer's output is shorted high: the ADC reads near its top",
    "sensor_frozen": "the transducer's reading stops changing",
    "sensor_offset": "the transducer's zero moves by mmhg",
    "leak": "the chamber leaks ml_per_min (at 80 mmHg)",
    "hose_disconnect": "the chamber's hose is off: its valve lets the air out, the chamber "
                       "stays empty",
    "hose_kinked": "the chamber's hose is kinked shut: no air in or out (as a valve stuck "
                   "shut, seen from the manifold)",
    "no_garment": "the chamber is not around a leg (the fit check finds it)",
    "squeeze": "an outside load on the chamber (someone lying on the calf), mmhg",
    "hoses_crossed": "valve a feeds chamber b and valve b chamber a",
    "sensor_gain": "the transducer's span is off: it sees factor times the pressure",
    "sensor_drift": "the transducer's zero wanders mmhg_per_min from t_s on",
    "buzzer_dead": "the buzzer makes no sound (the firmware still drives it)",
    "led_dead": "the status light stays dark",
    "display_dead": "the display answers on I2C but shows nothing",
    "loop_stall": "the next sensor read blocks for ms (a blocking call in the firmware)",
    "task_crash": "the next sensor read raises inside the control task",
    "service_crash": "the service task raises at its next run",
    "loop_crash": "the event loop itself raises",
    "brownout": "the chip resets now (a supply dip)",
    "monitor_off": "a firmware bug: the hazard monitor reports nothing from now on",
    "console_blocked": "a host holds the S3's USB console open and does not read",
}
# field -> what it takes
FIELD_HELP = {
    "t_s": "when, s from the start of the run",
    "until_s": "when the part is put right again, s from the start (later than t_s)",
    "chamber": "which chamber, 1 at the foot",
    "chambers": "two chambers, e.g. [1, 4]",
    "dump": "which dump valve, from 1 (default: every dump)",
    "mmhg": "mmHg",
    "ml_per_min": "mL/min at 80 mmHg",
    "factor": "the transducer's span factor, e.g. 0.8",
    "mmhg_per_min": "mmHg per minute",
    "ms": "ms",
}


def description(path):
    """A library file's "description", or why there is none."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as e:
        return f"(cannot be read: {e})"
    text = data.get("description") if isinstance(data, dict) else None
    return text if isinstance(text, str) else "(no description)"


def scenarios():
    """[(name, description)] of the library, by name."""
    return [(p.stem, description(p)) for p in sorted(LIBRARY.glob("*.json"))]


def find(name):
    """A scenario's file: a path that exists, else the library's NAME(.json). Raises
    ScenarioError naming the closest library names when neither is there."""
    given = Path(name)
    if given.exists():
        return given
    stem = given.name[:-5] if given.name.endswith(".json") else given.name
    in_library = LIBRARY / f"{stem}.json"
    if given.parent == Path(".") and in_library.exists():
        return in_library
    near = difflib.get_close_matches(stem, [n for n, _ in scenarios()], n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    raise ScenarioError(f"scenario {name}: no such file, and no scenario of that name in the "
                        f"library ({LIBRARY}){hint} (boot-sim scenarios lists them)")


def fault_fields(kind):
    """(required fields, optional fields) of a fault kind, besides "fault"."""
    need = ("t_s",) + tuple(FAULTS[kind])
    may = tuple(OPTIONAL.get(kind, ())) + (() if kind in ONE_SHOT else ("until_s",))
    return need, may


def fault_lines():
    """The fault kinds as `boot-sim faults` prints them: name, fields, what it does."""
    out = []
    for kind in FAULTS:
        need, may = fault_fields(kind)
        fields = ", ".join(need) + (" [" + ", ".join(may) + "]" if may else "")
        out.append(f"{kind:19} {fields}")
        out.append(f"{'':19}   {FAULT_HELP[kind]}")
    used = sorted({f for kind in FAULTS for part in fault_fields(kind) for f in part})
    out.append("")
    out.append("fields ([...]: optional):")
    out += [f"  {f:13} {FIELD_HELP[f]}" for f in used]
    out.append('e.g. {"t_s": 60, "fault": "leak", "chamber": 2, "ml_per_min": 300, '
               '"until_s": 120} in a scenario\'s "faults"')
    return out
