"""Whole sessions: the real firmware (its main.py) on the virtual board, under MicroPython and
CPython, checked through the trace the simulator writes."""
import json
import subprocess
import sys

import pytest

from sim import paths
from sim.scenario import ScenarioError
from sim.session import build_config, run

SAFE_MMHG = 15


def run_trace(tmp_path, scenario=None, runtime="micropython", name="t", **kw):
    config = build_config(scenario or {}, **kw)
    trace = tmp_path / f"{name}.jsonl"
    summary, follower = run(config, runtime, str(trace), quiet=True)
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    return config, summary, records, follower


def samples_of(records):
    return [r for r in records if r["kind"] == "sample"]


def events_of(records, name=None):
    return [r for r in records if r["kind"] == "event" and (name is None or r["event"] == name)]


@pytest.fixture(scope="module", params=["micropython", "cpython"])
def default_session(request, tmp_path_factory):
    """The default session (the README's simulation command, without the plot)."""
    return run_trace(tmp_path_factory.mktemp(request.param), runtime=request.param)


def test_default_session_fills_foot_to_thigh(default_session):
    config, summary, records, _ = default_session
    n = config["board"]["chambers"]
    fills = [e for e in events_of(records, "phase") if e["phase"] == "fill"]
    assert len(fills) > n * 10
    # within every wave the chambers fill in order 1..N (a top-up repeats a chamber)
    waves = {}
    for e in fills:
        order = waves.setdefault(e["cycle"], [])
        if not order or order[-1] != e["chamber"]:
            order.append(e["chamber"])
    complete = [c for c, order in waves.items() if c < max(waves)]
    assert complete, waves
    for c in complete:
        assert waves[c] == list(range(1, n + 1)), (c, waves[c])
    # and the plant agrees: a chamber's valve is open while the pump runs only for that chamber
    for s in samples_of(records):
        if s["pump"] and s["phase"] == "fill":
            open_ = [i + 1 for i, v in enumerate(s["valves"]) if v]
            assert open_ in ([], [s["chamber"]]), s


def test_default_session_reaches_every_target(default_session):
    config, summary, records, _ = default_session
    target = config["settings"]["pressure_mmhg"]
    n = config["board"]["chambers"]
    fills = summary["fills"]
    assert {f["chamber"] for f in fills} == set(range(1, n + 1))
    for f in fills:
        assert abs(f["p_mmhg"] - target) <= 5, f


def test_default_session_stays_under_the_ceiling(default_session):
    config, summary, records, _ = default_session
    ceiling = config["board"]["limits"]["ceiling_mmhg"]
    assert summary["time_above_ceiling_ms"] == 0
    assert max(max(s["p_chambers_mmhg"]) for s in samples_of(records)) < ceiling
    assert summary["faults"] == []


def test_default_session_ends_on_time_and_vented(default_session):
    config, summary, records, _ = default_session
    start = events_of(records, "start")[0]["t_ms"]
    end = events_of(records, "end")
    assert len(end) == 1 and end[0]["reason"] == "complete"
    session_ms = config["settings"]["minutes"] * 60000
    assert session_ms <= end[0]["t_ms"] - start <= session_ms + 50
    assert summary["end_reason"] == "complete"
    after = [s for s in samples_of(records) if s["t_ms"] >= end[0]["t_ms"] + 5000]
    assert after, "the run should go on for a while after the session"
    assert all(max(s["p_chambers_mmhg"]) < SAFE_MMHG for s in after)
    assert all(s["pump"] == 0 for s in after)
    assert events_of(records, "vented")


def test_trace_format(default_session):
    config, summary, records, _ = default_session
    assert records[0]["kind"] == "header"
    assert {"board", "settings", "plant"} <= set(records[0])
    assert records[-1]["kind"] == "summary"
    for key in ("end_reason", "duration_ms", "max_p_chambers_mmhg", "faults",
                "time_above_ceiling_ms"):
        assert key in records[-1]
    samples = samples_of(records)
    gaps = [b["t_ms"] - a["t_ms"] for a, b in zip(samples, samples[1:])]
    assert max(gaps) <= 50
    for key in ("t_ms", "p_chambers_mmhg", "p_manifold_mmhg", "p_sensed_mmhg", "pump", "valves",
                "dump", "phase", "chamber"):
        assert key in samples[0]
    assert samples[-1]["t_ms"] == config["duration_ms"]


def test_boot_drives_every_output_safe(tmp_path):
    """Before the button is ever pressed the boot is vented: pump off, every path open, but
    for the idle pump probe (every path closed for 40 ms every 1.8 s, pump off: issue 17,
    part 5)."""
    _, summary, records, _ = run_trace(tmp_path, {"actions": [], "duration_s": 5})
    assert summary["end_reason"] == "not_started"
    n = len(records[0]["board"]["outputs"]["valve_pins"])
    probe_ms = []
    for s in samples_of(records):
        assert s["pump"] == 0
        if s["dump"] == 0:
            assert s["valves"] == [0] * n
            probe_ms.append(s["t_ms"])
        else:
            assert s["valves"] == [1] * n
    assert probe_ms and len(probe_ms) < len(samples_of(records)) // 10


def test_same_seed_same_trace(tmp_path):
    sc = {"settings": {"minutes": 1}, "duration_s": 70}
    a = run_trace(tmp_path, sc, name="a", seed=7)[2]
    b = run_trace(tmp_path, sc, name="b", seed=7)[2]
    c = run_trace(tmp_path, sc, name="c", seed=8)[2]
    assert samples_of(a) == samples_of(b)
    assert samples_of(a) != samples_of(c)


def test_stop_press_vents_at_once(tmp_path):
    sc = {"settings": {"minutes": 5}, "actions": [{"t_s": 0, "do": "start"},
                                                  {"t_s": 30, "do": "stop"}], "duration_s": 60}
    _, summary, records, _ = run_trace(tmp_path, sc)
    stop = events_of(records, "stop")
    assert len(stop) == 1 and stop[0]["reason"] == "stopped"
    # the long press registers 1.5 s after it starts, then everything opens
    assert 31500 <= stop[0]["t_ms"] <= 31700
    later = [s for s in samples_of(records) if s["t_ms"] > stop[0]["t_ms"] + 50]
    # vented at once: pump off, every path open but for the 40 ms pump-off probes (every path
    # closed); once vented, each valve gets a 40 ms check puff (only its path open)
    for s in later:
        if s["phase"] != "check":
            assert s["pump"] == 0, s
            assert s["dump"] == 1 or s["valves"] == [0, 0, 0, 0], s
    puffs = [s for s in later if s["pump"]]
    assert all(s["phase"] == "check" and sum(s["valves"]) == 1 for s in puffs)
    first_puff = min(s["t_ms"] for s in puffs)
    assert all(max(s["p_chambers_mmhg"]) < SAFE_MMHG for s in later if s["t_ms"] >= first_puff)
    assert summary["end_reason"] == "stopped" and summary["vented_at_end"]


# --- every listed fault runs to completion and ends vented, or says why it cannot ----------
FAULTS = [
    ({"fault": "pump_stuck_on"}, "PUMP_STUCK_ON"),
    ({"fault": "pump_dead"}, "NO_RISE"),
    ({"fault": "valve_stuck_closed", "chamber": 2}, "BLOCKED"),
    ({"fault": "valve_stuck_open", "chamber": 2}, None),
    ({"fault": "dump_stuck_closed"}, "VENT_FAILED"),
    ({"fault": "sensor_open"}, "SENSOR_RANGE"),
    ({"fault": "sensor_short"}, "OVER_PRESSURE"),
    ({"fault": "sensor_frozen"}, "SENSOR_FROZEN"),
    ({"fault": "sensor_offset", "mmhg": 20}, "VENT_FAILED"),
    ({"fault": "leak", "chamber": 3, "ml_per_min": 3000}, None),
    ({"fault": "hose_disconnect", "chamber": 3}, "NO_RISE"),
]


@pytest.mark.parametrize("fault,code", FAULTS, ids=[f["fault"] for f, _ in FAULTS])
def test_fault_scenario_runs_and_ends_safe(tmp_path, fault, code):
    # t = 8 s is in the first wave, while chamber 2 fills
    sc = {"settings": {"minutes": 2, "fit_check": False}, "faults": [dict(fault, t_s=8)],
          "duration_s": 150}
    _, summary, records, _ = run_trace(tmp_path, sc)
    injected = events_of(records, "fault_injected")
    assert [e["fault"] for e in injected] == [fault["fault"]]
    assert injected[0]["t_ms"] == 8000
    codes = [f["code"] for f in summary["faults"]]
    if code:
        assert code in codes, codes
    last = samples_of(records)[-1]
    if "VENT_FAILED" in codes:
        return      # the firmware says it could not vent, and keeps every path open
    if fault["fault"] == "valve_stuck_closed":
        # air caught behind a valve that will not open: no vent path exists on this hardware
        trapped = [p for i, p in enumerate(last["p_chambers_mmhg"]) if i != 1]
        assert max(trapped) < SAFE_MMHG
        return
    assert max(last["p_chambers_mmhg"]) < SAFE_MMHG, last
    assert last["pump"] == 0 or fault["fault"] == "pump_stuck_on"


# --- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario,words", [
    ({"nonsense": 1}, ["unknown key 'nonsense'"]),
    ({"faults": [{"t_s": 1, "fault": "gremlins"}]}, ["faults[0].fault", "pump_stuck_on"]),
    ({"faults": [{"t_s": 1, "fault": "leak", "chamber": 2}]}, ["needs 'ml_per_min'"]),
    ({"faults": [{"t_s": 1, "fault": "valve_stuck_open", "chamber": 9}]}, ["chamber", "1 to 4"]),
    ({"actions": [{"t_s": 1, "do": "dance"}]}, ["actions[0].do", "start"]),
    ({"plant": {"pump_strength": -1}}, ["plant.pump_strength"]),
    ({"plant": {"pump_colour": "red"}}, ["unknown key 'pump_colour'"]),
    ({"settings": {"pressure_mmhg": 300}}, ["pressure_mmhg", "20 to 120"]),
    ({"settings": {"mode": "tornado"}}, ["mode", "wave"]),
    ({"board": "no-such-board"}, ["no-such-board", "esp32-devkitc-4ch"]),
])
def test_bad_scenario_is_refused_with_a_clear_error(scenario, words):
    with pytest.raises(ScenarioError) as e:
        build_config(scenario)
    for w in words:
        assert w in str(e.value)


def test_cli_run_writes_trace_and_plot(tmp_path):
    trace, png = tmp_path / "t.jsonl", tmp_path / "t.png"
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", "run", "--minutes", "1", "--pressure", "60",
         "--seed", "3", "--trace", str(trace), "--plot", str(png)],
        capture_output=True, text=True, cwd=paths.ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "faster than real time" in proc.stdout
    assert "end: complete" in proc.stdout
    assert "[01:" in proc.stderr        # progress lines with simulated time
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000
    header = json.loads(trace.read_text().splitlines()[0])
    assert header["settings"]["pressure_mmhg"] == 60 and header["seed"] == 3


def test_cli_bad_board_file_names_the_field(tmp_path):
    board = json.loads(paths.DEFAULT_BOARD.read_text())
    board["limits"]["ceiling_mmhg"] = 400
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(board))
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "run", "--board", str(bad)],
                          capture_output=True, text=True, cwd=paths.ROOT, timeout=60)
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "limits.ceiling_mmhg" in proc.stderr
    assert "250" in proc.stderr


def test_the_pressure_home_assistant_shows_is_the_manifold_about_0_in_the_hold(tmp_path):
    """Issue 13 (a new user): the README called Home Assistant's Pressure sensor "the pressure";
    it is the one transducer, on the manifold (the state's p_mmhg, the trace's p_sensed_mmhg),
    drained and shut during the hold while the chambers keep theirs. The docs say so."""
    _, _, records, _ = run_trace(tmp_path, {"settings": {"minutes": 5, "fit_check": False},
                                            "duration_s": 90})
    hold = [s for s in samples_of(records) if s["phase"] == "hold"]
    assert len(hold) > 100
    assert all(abs(s["p_sensed_mmhg"]) < 2 and min(s["p_chambers_mmhg"]) > 70 for s in hold)
    readme = (paths.ROOT / "README.md").read_text()
    ha = " ".join(readme[readme.index("## Connecting to Home Assistant"):].split())
    assert "The Pressure sensor (`p_mmhg`, in mmHg whatever Home Assistant's unit system) is " \
        "the boot's one transducer, on the manifold, not in the chambers" in ha
    assert "in the hold the manifold is drained and shut, so it reads about 0 while the " \
        "chambers keep their pressure" in ha
    mqtt = " ".join((paths.ROOT / "docs" / "MQTT.md").read_text().split())
    assert "`p_mmhg` is the manifold pressure (the one sensor), not a chamber's" in mqtt
    assert "sensors for the manifold's pressure (mmHg: about 0 during the hold" in mqtt
