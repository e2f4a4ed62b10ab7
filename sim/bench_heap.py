"""`boot-sim bench` section 2: the firmware's heap over whole sessions (sim/device/bench_boot).

On the chip-faithful 32-bit MicroPython (sim/runtimes.py) four sessions are measured, each in a
chip-sized heap (CHIP_HEAP_KB, the heap cap of sim/chipheap.py: what is left free there is
measured, and a MemoryError comes where the chip's would):
  mpy_mqtt      the firmware as tools/flash.sh installs it (.mpy files), telemetry connected to a
                mosquitto broker on loopback (without mosquitto: umqtt.simple loaded, no broker)
  mpy_nonet     the same without secrets.json: the network never starts
  frozen_mqtt   the firmware frozen into the image (a build of the 32-bit port with its modules
                in the manifest: tools/mp32.py frozen), telemetry connected
  frozen_nonet  frozen, no network
A session that does not fit (MemoryError) runs again in a large heap for its peak. Without the
32-bit build (the wheel's 64-bit MicroPython) only mpy_mqtt runs, and its figures are said to be
64-bit ones, not the chip's.

The live heap is read after a collection whenever the firmware has allocated (bench_mp.py,
session_heap), less what the simulator holds (its objects, and under the cap the ballast).
"""
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sim import bench as B
from sim import paths, runtimes
from sim.session import build_config, run

# A classic ESP32 without PSRAM: MicroPython's heap starts at 56 KB and grows on demand from what
# ESP-IDF leaves; micropython's ports/esp32/mpconfigport.h sizes that start "so they can grow the
# heap once (double it) and still have enough internal RAM to start WiFi and make a HTTPS
# request". So 112 KB is the most the connected boot can count on.
CHIP_HEAP_KB = 112
CHIP_START_KB = 56
# issue 14's goals (KB of peak live heap, 32-bit)
GOALS_KB = {"frozen_mqtt": 32, "mpy_nonet": 56, "mpy_mqtt": 72}
VARIANTS = (("mpy_mqtt", "mpy", True), ("mpy_nonet", "mpy", False),
            ("frozen_mqtt", "frozen", True), ("frozen_nonet", "frozen", False))
LABELS = {"mpy_mqtt": ".mpy firmware + MQTT", "mpy_nonet": ".mpy firmware, no network",
          "frozen_mqtt": "frozen firmware + MQTT", "frozen_nonet": "frozen firmware, no network"}
LARGE_HEAP_KB = 512             # for the peak of a session that does not fit the chip's
BOOT_LOOK_MS_HOST = 3000        # bench_mp.BOOT_LOOK_MS: the boot's imports come before this


class _Broker:
    """A mosquitto broker on loopback for the telemetry to talk to (None if not installed)."""

    def __init__(self, tmp):
        self.proc = None
        exe = B._which("mosquitto")
        if not exe:
            return
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        import getpass
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(f"user {getpass.getuser()}\nlistener {self.port} 127.0.0.1\n"
                        "allow_anonymous true\npersistence false\nlog_dest stderr\n"
                        "log_type error\n")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


def _module_order():
    """Firmware modules (not main), each after the firmware modules it imports."""
    mods = sorted(p.stem for p in paths.FIRMWARE.glob("*.py") if p.stem != "main")
    deps = {}
    for m in mods:
        text = (paths.FIRMWARE / f"{m}.py").read_text()
        found = set(re.findall(r"^\s*(?:from|import)\s+(\w+)", text, re.M))
        deps[m] = [d for d in found if d in mods and d != m]
    order, seen = [], set()

    def visit(m):
        if m in seen:
            return
        seen.add(m)
        for d in sorted(deps[m]):
            visit(d)
        order.append(m)
    for m in mods:
        visit(m)
    return order


def _frozen_binary():
    """The 32-bit build with every firmware module but main.py frozen in (tools/mp32.py)."""
    sys.path.insert(0, str(paths.ROOT / "tools"))
    try:
        import mp32
    finally:
        sys.path.pop(0)
    t0 = time.monotonic()
    exe = mp32.frozen(paths.FIRMWARE, _module_order())
    return str(exe), round(time.monotonic() - t0, 1)


def session(fw_dir, mqtt, minutes, umqtt, tmp, heap_kb=None, binary=None):
    """One whole session with the heap watched; returns bench_mp's figures with how it ran."""
    broker = _Broker(tmp) if mqtt and umqtt else None
    try:
        scenario = {"settings": {"pressure_mmhg": B.TARGET_MMHG, "minutes": minutes},
                    # telemetry connects before the session (no lookups during one)
                    "actions": [{"t_s": 5, "do": "start"}],
                    "duration_s": minutes * 60 + 45}
        if heap_kb:
            scenario["chip"] = {"heap_kb": heap_kb}
        config = build_config(scenario)
        config["sample_ms"] = 10 ** 9           # no trace samples: the heap is watched
        config["sim_preload"] = ["bench_mp"]    # the bench's own code: the simulator's share
        files = {}
        if broker is not None and broker.proc is not None:
            mode = "telemetry"
            files["secrets.json"] = json.dumps(
                {"wifi": {"ssid": "bench", "password": "bench-pass"},
                 "mqtt": {"host": "127.0.0.1", "port": broker.port}})
            config["pace"] = 150        # the broker's replies take real time
            config["network"] = {"ssid": "bench", "password": "bench-pass"}
        elif mqtt and umqtt:
            mode = "umqtt"
        else:
            mode = "none"
        env = B._mp_env([paths.DEVICE / "bench_boot"], [umqtt] if umqtt else [], fw=fw_dir)
        env["BENCH_FIRMWARE_MAIN"] = str(paths.FIRMWARE / "main.py")
        # the MQTT modules are loaded up front to measure them (2c), but not in the chip's heap:
        # there the firmware decides whether the network fits (netstart.py), as on the chip
        env["BENCH_MQTT"] = mode if not heap_kb or heap_kb >= LARGE_HEAP_KB else "none"
        trace = Path(tmp) / "heap-trace.jsonl"
        summary, follower = run(config, "micropython", str(trace), quiet=True, extra_env=env,
                                flash_files=files, firmware_dir=str(fw_dir), binary=binary)
        exits = [r for r in map(json.loads, trace.read_text().splitlines())
                 if r.get("event") == "firmware_exit"]
    finally:
        if broker is not None:
            broker.stop()
    st = None
    for line in follower.console:
        if line.startswith("BENCH "):
            st = json.loads(line[6:])["session_heap"]
    if st is None:
        raise RuntimeError("bench heap: no figures from the device process" +
                           (f" ({exits[0].get('why')})" if exits else "") + ":\n" +
                           "\n".join(follower.console[-20:]))
    net = [e for e in follower.events if e[1] == "network"]
    said = [r.get("text", "") for _, kind, r in follower.events if kind == "warning"]
    st.update(mode=mode, end_reason=summary["end_reason"], heap_kb=heap_kb,
              task_crash=any(f["code"] == "TASK_CRASH" for f in summary["faults"]),
              heap_short=next((t.split(" (")[0] for t in said
                               if t.startswith("the heap was too full")), ""),
              connected=any(r.get("status") == "connected" for _, _, r in net),
              boot_said="; ".join(t.split(":")[0] for t in said if "network" in t),
              net_why="; ".join(str(r.get("why", r.get("status"))) for _, _, r in net[-3:]),
              exit=exits[0].get("why") if exits else None,
              exit_s=round(exits[0]["t_ms"] / 1000, 1) if exits else None)
    return st


def _kb(b):
    return round(b / 1024, 1)


def run_section(quick=False):
    """Section 2's figures and rows."""
    minutes = 1 if quick else 20
    umqtt = B._umqtt_dir()
    is32 = runtimes.is_32bit("micropython")
    out = {"minutes": minutes, "umqtt": str(umqtt) if umqtt else None, "word_bytes":
           4 if is32 else 8, "chip_heap_kb": CHIP_HEAP_KB if is32 else None, "variants": {}}
    with tempfile.TemporaryDirectory(prefix="bench-heap-") as tmp:
        # the firmware as a builder copies it to the board: .mpy files (mpy-cross, bytecode),
        # so no compiler runs on the device and the heap holds what an ESP32's would
        fw_mpy = Path(tmp) / "fw"
        B._compile_mpy(fw_mpy)
        foot = B._mp_json(["footprint"] + _module_order(), "bench_footprint", tmp, fw=fw_mpy)
        empty = Path(tmp) / "frozen-flash"      # a frozen image: nothing on the flash
        empty.mkdir()
        for name, kind, mqtt in (VARIANTS if is32 else VARIANTS[:1]):
            binary = None
            if kind == "frozen":
                if "frozen_binary" not in out:
                    out["frozen_binary"], out["frozen_build_s"] = _frozen_binary()
                binary = out["frozen_binary"]
            fw = fw_mpy if kind == "mpy" else empty
            cap = CHIP_HEAP_KB if is32 else None
            st = session(fw, mqtt, minutes, umqtt, tmp, cap, binary)
            if cap and mqtt and not st["exit"] and not st["connected"]:
                st["exit"] = None
                st["no_network"] = st["boot_said"] or st["net_why"] or "never connected"
            if cap and not st["exit"] and (st["task_crash"] or st["heap_short"]):
                # it ran, but the heap did not hold it: the service task could not run its
                # slow work (app.py: a warning once, or, for good, TASK_CRASH and a reset)
                st["exit"] = "MemoryError: " + ("the service task could not run (TASK_CRASH)"
                                                if st["task_crash"] else st["heap_short"])
            if cap and (st["exit"] and "MemoryError" in st["exit"] or st.get("no_network")):
                # it does not fit: its peak, from a run in a larger heap (a cap all the same:
                # the collections the watch makes are quick in a small heap, slow in 4 MB)
                capped = st
                st = session(fw, mqtt, minutes, umqtt, tmp, LARGE_HEAP_KB, binary)
                st["capped"] = {k: capped.get(k) for k in ("exit", "exit_s", "heap_kb",
                                                           "peak_live", "min_free",
                                                           "no_network")}
            if st["exit"]:
                raise RuntimeError(f"bench heap, {name}: {st['exit']} (heap_kb "
                                   f"{st['heap_kb']})")
            out["variants"][name] = st
    out["footprint"] = foot
    return _rows(out, foot)


def _rows(out, foot):
    v = out["variants"]
    st = v["mpy_mqtt"]
    is32 = out["word_bytes"] == 4
    word = "32-bit" if is32 else "64-bit: the wheel's runtime, twice the chip's words"
    peak = max(st["peak_live"], st["peak_bound"])
    loaded = [m for m in st["modules"] if m in foot["modules"]]
    libs = [m for m in st["modules"] if m in foot["libraries"]]
    code = sum(foot["modules"][m] for m in loaded) + sum(foot["libraries"][m] for m in libs)
    running_s = (st["end_ms"] - BOOT_LOOK_MS_HOST) / 1000
    rate = st["allocated_running"] / running_s if running_s > 0 else 0
    mqtt_note = {"telemetry": "firmware telemetry (secrets.json set), " +
                 ("connected to a mosquitto broker on loopback, publishing" if st["connected"]
                  else "never connected: " + st["net_why"]),
                 "umqtt": "no broker (mosquitto missing): umqtt.simple imported and one "
                          "MQTTClient made (not connected)",
                 "none": "no MQTT client (umqtt.simple could not be fetched)"}[st["mode"]]
    rows = [
        (f"2a peak live heap, .mpy firmware + MQTT, whole session ({word.split(':')[0]})",
         B._fmt_kb(st["peak_live"]),
         f"<= {GOALS_KB['mpy_mqtt']} KB" if is32 else "(32-bit)",
         st["peak_live"] <= GOALS_KB["mpy_mqtt"] * 1024 if is32 else None,
         f"read after a collection; at most {B._fmt_kb(peak)} between two readings; "
         f"{mqtt_note}" + ("" if is32 else f"; {word}: tools/mp32.py builds the 32-bit one")),
        ("2b of which: the firmware modules it loaded (code + globals)", B._fmt_kb(code), "-",
         None, f"{len(loaded)} modules{' + umqtt.simple' if libs else ''}, largest: " +
         ", ".join(f"{k} {B._fmt_kb(foot['modules'][k])}" for k in
                   sorted(loaded, key=lambda k: -foot["modules"][k])[:4])),
        ("2c of which: MQTT (telemetry modules and client)", B._fmt_kb(st["mqtt_bytes"]), "-",
         None, ", ".join(st.get("mqtt_modules", [])) or "none"),
        ("2e largest allocation burst between two readings while running",
         B._fmt_kb(st["peak_burst_running"]), "-", None,
         f"at boot: {B._fmt_kb(st['boot_burst'])} (loading the .mpy modules; from .py the "
         "compiler would need more)"),
    ]
    heap32 = {}
    if is32:
        letters = {"mpy_nonet": "2d", "frozen_mqtt": "2g", "frozen_nonet": "2h"}
        for name, tag in letters.items():
            s = v[name]
            goal = GOALS_KB.get(name)
            rows.append((f"{tag} peak live heap, {LABELS[name]}, whole session (32-bit)",
                         B._fmt_kb(s["peak_live"]), f"<= {goal} KB" if goal else "-",
                         s["peak_live"] <= goal * 1024 if goal else None,
                         f"at most {B._fmt_kb(max(s['peak_live'], s['peak_bound']))} between "
                         "two readings" + ("; the image: tools/mp32.py frozen, every firmware "
                                           "module but main.py" if "frozen" in name else "")))
        free = []           # (variant, value, what it means)
        for name, _, _ in VARIANTS:
            c = v[name].get("capped") or {}
            if c.get("no_network"):
                free.append((name, f"{B._fmt_kb(c['min_free'])}, no network",
                             f"ran without the network and said why: {c['no_network']}"))
            elif c:
                when = "running" if c["exit_s"] is None else "loading" \
                    if c["exit_s"] * 1000 < BOOT_LOOK_MS_HOST else f"{c['exit_s']} s"
                free.append((name, f"MemoryError ({when})", c["exit"]))
            else:
                free.append((name, B._fmt_kb(v[name]["min_free"]), ""))
        fits = all(not (v[n].get("capped") or {}).get("exit") for n, _, _ in VARIANTS)
        rows.append((f"2i free heap left in a {CHIP_HEAP_KB} KB heap (the session run in it)",
                     " / ".join(value for _, value, _ in free), "> 0, no MemoryError", fits,
                     "; ".join(f"{LABELS[n]}: {value}" + (f" ({why})" if why else "")
                               for n, value, why in free) +
                     f": the least free after a collection, the firmware run within "
                     f"{CHIP_HEAP_KB} KB (chip.heap_kb: a stock ESP32's {CHIP_START_KB} KB heap "
                     "grown once, what its port leaves Wi-Fi and TLS room for)"))
        heap32 = {f"{n}_kb": _kb(v[n]["peak_live"]) for n, _, _ in VARIANTS}
        heap32.update({f"{n}_free_kb": _kb((v[n].get("capped") or v[n])["min_free"])
                       if not (v[n].get("capped") or {}).get("exit") else None
                       for n, _, _ in VARIANTS})
        heap32["chip_heap_kb"] = CHIP_HEAP_KB
    else:
        rows.append(("2d-2i the chip's heap (32-bit)", "not measured", "-", None,
                     "the 32-bit MicroPython is not set up here: tools/setup.sh builds it with "
                     "MICROPYTHON_SRC (tools/mp32.py)"))
    out.update(peak_bytes=peak, code_bytes=code, loaded_modules=loaded + libs,
               garbage_B_per_s=rate, mode=st["mode"], connected=st["connected"], st=st,
               end_reason=st["end_reason"], heap_32bit=heap32, rows=rows)
    return out


def derived_rows(heap, alloc):
    """Garbage rates (1e without the network, 2f with it) and how often the chip collects."""
    rows = []
    v = heap.get("variants", {})
    is32 = heap.get("word_bytes") == 4
    for key, label, res, name in (
            ("1e", "control + supervisor + service tasks, no network",
             alloc["summary"]["garbage_B_per_s"], "mpy_nonet"),
            ("2f", "whole session with the telemetry", heap["garbage_B_per_s"], "mpy_mqtt")):
        free = v.get(name, {}).get("min_free") if is32 and not v.get(name, {}).get("capped") \
            else None
        if free:
            every = free / res if res > 0 else float("inf")
            note = (f"with {B._fmt_kb(free)} free at the peak in {CHIP_HEAP_KB} KB (2i), a "
                    f"collection at least every {B._duration(every)}")
        elif is32:
            note = f"no free heap measured in {CHIP_HEAP_KB} KB (2i)"
        else:
            note = "64-bit words: the chip's rate is about half"
        rows.append((f"{key} garbage rate, {label}", f"{res:.0f} B/s", "-", None,
                     note + (alloc.get("service_note", "") if key == "1e" else "")))
    return rows
