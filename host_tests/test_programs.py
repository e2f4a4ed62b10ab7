"""Therapy programs and the fit check, with the firmware under MicroPython: each mode's chamber
order, pressures and timings in the trace; the fit check's classes, driven by scenario faults."""
import json

import pytest

import program as prog
from sim import paths
from sim.session import build_config, run

N = 4


def session(tmp_path, settings, faults=(), duration_s=200, name="t", flash_files=None):
    settings = dict({"minutes": 3, "fit_check": False}, **settings)
    trace = tmp_path / f"{name}.jsonl"
    summary, _ = run(build_config({"settings": settings, "faults": list(faults),
                                   "duration_s": duration_s}),
                     "micropython", str(trace), quiet=True, flash_files=flash_files)
    records = [json.loads(x) for x in trace.read_text().splitlines()]
    return summary, records


def ev(records, name):
    return [r for r in records if r["kind"] == "event" and r["event"] == name]


def held(summary, cycle):
    return {f["chamber"]: f["p_mmhg"] for f in summary["fills"] if f["cycle"] == cycle}


def fill_order(records, cycle):
    order = []
    for e in ev(records, "phase"):
        if e["phase"] == "fill" and e["cycle"] == cycle and (not order or order[-1] != e["chamber"]):
            order.append(e["chamber"])
    return order


def phase_spans(records, name):
    """(start, end) of each whole span of phase `name` (not one cut short by the session's
    end)."""
    ends = {e["t_ms"] for e in ev(records, "end") + ev(records, "stop")}
    out, start = [], None
    for e in ev(records, "phase"):
        if e["phase"] == name and start is None:
            start = e["t_ms"]
        elif e["phase"] != name and start is not None:
            if e["t_ms"] not in ends:
                out.append((start, e["t_ms"]))
            start = None
    return out


def test_gradient_steps_down_the_leg(tmp_path):
    summary, rec = session(tmp_path, {"mode": "gradient", "gradient_step_mmhg": 8})
    for cycle in (3, 4):
        h = held(summary, cycle)
        assert fill_order(rec, cycle) == [1, 2, 3, 4]
        for k in range(1, N + 1):
            assert abs(h[k] - (80 - 8 * (k - 1))) <= 3, (cycle, h)


def test_zone_boost_adds_pressure_and_hold_on_one_chamber(tmp_path):
    summary, rec = session(tmp_path, {"mode": "boost", "boost_chamber": 3, "boost_mmhg": 15,
                                      "boost_hold_s": 6})
    h = held(summary, 3)
    assert abs(h[3] - 95) <= 3 and all(abs(h[k] - 80) <= 3 for k in (1, 2, 4)), h
    dwells = phase_spans(rec, "dwell")
    assert dwells and all(5990 <= b - a <= 6020 for a, b in dwells), dwells
    # the dwell comes right after chamber 3's fill, before chamber 4's
    fills3 = [e["t_ms"] for e in ev(rec, "phase") if e["phase"] == "fill" and e["chamber"] == 4]
    assert all(any(a < t and t - b < 20 for a, b in dwells) for t in fills3[:2])


def test_boost_never_passes_the_board_maximum(tmp_path):
    summary, rec = session(tmp_path, {"mode": "boost", "pressure_mmhg": 115, "boost_chamber": 2,
                                      "boost_mmhg": 30}, duration_s=120)
    assert max(f["p_mmhg"] for f in summary["fills"]) <= 120 + 3
    assert summary["time_above_ceiling_ms"] == 0


def test_pulse_releases_each_chamber_below_once_the_next_is_full(tmp_path):
    summary, rec = session(tmp_path, {"mode": "pulse", "pulse_release_pct": 50})
    samples = [r for r in rec if r["kind"] == "sample"]
    releases = phase_spans(rec, "release")
    assert len(releases) >= 6                           # chambers 1-3, every wave
    for a, b in releases[:6]:
        at_end = [s for s in samples if s["t_ms"] <= b][-1]
        # the chamber below the one just filled is down to about half of its 80 mmHg
        lows = [p for p in at_end["p_chambers_mmhg"] if 20 < p < 55]
        assert lows, at_end
    assert fill_order(rec, 2) == [1, 2, 3, 4]


def test_warmup_starts_low_and_ramps_to_the_target(tmp_path):
    summary, rec = session(tmp_path, {"mode": "warmup", "warmup_cycles": 3}, duration_s=240,
                           )
    first, second, third = held(summary, 1), held(summary, 2), held(summary, 3)
    assert all(abs(p - 48) <= 4 for p in first.values()), first        # 60 % of 80
    assert all(abs(p - 58) <= 4 for p in second.values()), second      # 73 %
    assert all(abs(p - 80) <= 3 for p in third.values()), third


def test_custom_program_sets_each_chamber_and_the_times(tmp_path):
    summary, rec = session(tmp_path, {"mode": "custom", "program": "calf-focus"})
    spec = json.loads((paths.ROOT / "programs" / "calf-focus.json").read_text())
    h = held(summary, 3)
    for k, c in enumerate(spec["chambers"], 1):
        assert abs(h[k] - c["mmhg"]) <= 3, h
    dwells = phase_spans(rec, "dwell")
    assert dwells and all(9990 <= b - a <= 10020 for a, b in dwells)
    holds = phase_spans(rec, "hold")
    assert holds and all(4990 <= b - a <= 5020 for a, b in holds)
    rests = phase_spans(rec, "rest")
    assert rests and all(24990 <= b - a <= 25020 for a, b in rests)


def test_a_broken_program_file_falls_back_to_the_wave_and_says_why(tmp_path):
    broken = json.dumps({"name": "x", "chambers": [{"mmhg": 300, "hold_s": 0}] * N,
                         "hold_s": 5, "rest_s": 15})
    summary, rec = session(tmp_path, {"mode": "custom", "program": "mine"}, duration_s=60,
                           flash_files={"programs/mine.json": broken})
    warn = [e["text"] for e in ev(rec, "warning")]
    assert any("programs/mine.json" in w and "chambers[0].mmhg" in w and
               "running the plain wave at 40 mmHg" in w for w in warn), warn
    # a program it cannot use: the plain wave no harder than limits.START_MMHG (not the 80 of
    # the settings: the program might have asked for much less)
    assert all(abs(p - 40) <= 5 for p in held(summary, 1).values())


@pytest.mark.parametrize("change,field", [
    ({"hold_s": 31}, "hold_s"),
    ({"rest_s": 14}, "rest_s"),     # shorter than the let-down minimum (limits.LETDOWN_MIN_S)
    ({"rest_s": 0}, "rest_s"),
    ({"speed": 1}, "speed"),
    ({"chambers": [{"mmhg": 80, "hold_s": 0}] * 3, "fit": "exact"}, "chambers"),
    ({"chambers": [], "fit": "stretch"}, "chambers"),
    ({"fit": "squash"}, "fit"),
    ({"chambers": [{"mmhg": 80}] * 4}, "chambers[0].hold_s"),      # missing
    ({"chambers": [80] * 4}, "chambers[0]"),
    ({"chambers": [{"mmhg": 80, "hold_s": 0, "boost": 1}] * 4}, "chambers[0].boost"),
    ({"hold_s": 5.5}, "hold_s"),
    ({"chambers": [{"mmhg": 10, "hold_s": 0}] * 4}, "chambers[0].mmhg"),
    ({"chambers": [{"mmhg": 80, "hold_s": 0, "x": 1}] * 4}, "chambers[0].x"),
    ({"name": ""}, "name"),
])
def test_program_validation_names_the_field(change, field):
    good = json.loads((paths.ROOT / "programs" / "recover.json").read_text())
    prog.validate(good, N, 120)
    with pytest.raises(prog.ProgramError) as e:
        prog.validate(dict(good, **change), N, 120, "p.json")
    assert f"'{field}'" in str(e.value) and "p.json" in str(e.value)


def test_a_rest_under_the_let_down_minimum_names_the_limit():
    good = json.loads((paths.ROOT / "programs" / "recover.json").read_text())
    with pytest.raises(prog.ProgramError) as e:
        prog.validate(dict(good, rest_s=10), N, 120, "p.json")
    assert str(e.value).startswith("p.json: field 'rest_s': must be a whole number from 15 to "
                                   "60, got 10") and "LETDOWN_MIN_S" in str(e.value)


def test_a_program_for_another_board_says_how_many_chambers_and_what_to_do(micropython,
                                                                           tmp_path):
    """Issue 13 (a new user): the shipped programs list 4 chambers; on the 6-chamber S3 board
    the boot said only 'must list one entry per chamber (6)'. A program without "fit" (exact)."""
    exact = json.loads((paths.ROOT / "programs" / "calf-focus.json").read_text())
    del exact["fit"]
    f = str(tmp_path / "calf-exact.json")
    (tmp_path / "calf-exact.json").write_text(json.dumps(exact))
    code = ("import json, program\nout = []\nfor n in (6, 3):\n    try:\n"
            "        program.load(%r, n, 120)\n    except program.ProgramError as e:\n"
            "        out.append(str(e))\nprint(json.dumps(out))" % f)
    six, three = micropython(code)
    assert six == (f"program file {f}: field 'chambers': has 4 entries, the board 6 chambers: "
                   "add 2, or copy it under a new name for this board and give the copy 6 "
                   "(foot first), or set \"fit\": \"stretch\" to spread the entries along the "
                   "leg")
    assert "has 4 entries, the board 3 chambers: remove 1," in three
    with pytest.raises(prog.ProgramError, match="has 4 entries, the board 6 chambers: add 2"):
        prog.load(f, 6, 120)


def test_programs_from_any_editor_load_under_both_runtimes(micropython, tmp_path):
    """Issue 13: a program saved with a UTF-8 byte-order mark and CRLF line ends (Windows
    Notepad) was 'not valid JSON' and the boot ran the plain wave."""
    text = (paths.ROOT / "programs" / "calf-focus.json").read_text()
    files = []
    for name, raw in (("bom", b"\xef\xbb\xbf" + text.encode()),
                      ("crlf", text.replace("\n", "\r\n").encode()),
                      ("both", b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())):
        p = tmp_path / (name + ".json")
        p.write_bytes(raw)
        files.append(str(p))
    code = "import json, program\nprint(json.dumps([program.load(f, 4, 120) for f in %r]))" \
        % files
    want = json.loads(text)
    assert micropython(code) == [want] * 3
    assert [prog.load(f, 4, 120) for f in files] == [want] * 3
    utf16 = tmp_path / "utf16.json"
    utf16.write_bytes(text.encode("utf-16"))
    with pytest.raises(prog.ProgramError, match="UTF-16 text.*save it as UTF-8"):
        prog.load(str(utf16), 4, 120)


def test_ready_programs_are_valid_under_micropython(micropython):
    files = sorted(str(p) for p in (paths.ROOT / "programs").glob("*.json"))
    assert len(files) >= 3
    code = "import json, program\nprint(json.dumps([program.load(f, 4, 120)['name'] for f in %r]))" \
        % files
    assert micropython(code) == [json.loads(open(f).read())["name"] for f in files]


# --- the fit check ------------------------------------------------------------------------
@pytest.mark.parametrize("fault,chamber,result", [
    ({"fault": "no_garment", "chamber": 2}, 2, "no garment or hose off"),
    ({"fault": "hose_disconnect", "chamber": 4}, 4, "no garment or hose off"),
    ({"fault": "valve_stuck_closed", "chamber": 3}, 3, "kinked or blocked"),
])
def test_fit_check_finds_the_problem_and_does_not_start(tmp_path, fault, chamber, result):
    summary, rec = session(tmp_path, {"fit_check": True}, [dict(fault, t_s=0)], duration_s=40)
    fit = [e for e in ev(rec, "fit") if "chamber" in e]
    assert fit and fit[0]["chamber"] == chamber and fit[0]["result"] == result
    faults = ev(rec, "fault")
    assert faults[0]["code"] == "FIT_FAILED" and faults[0]["chamber"] == chamber
    assert not [e for e in ev(rec, "phase") if e["phase"] == "fill"]      # no wave
    assert summary["vented_at_end"] or chamber == 3


def test_fit_check_passes_a_good_boot_and_the_wave_follows(tmp_path):
    summary, rec = session(tmp_path, {"fit_check": True}, duration_s=60)
    fit = ev(rec, "fit")
    assert fit and fit[0]["result"] == "normal" and all(300 < ms < 5000 for ms in fit[0]["ms"])
    assert fill_order(rec, 1) == [1, 2, 3, 4] and not ev(rec, "fault")


def test_fit_check_skips_a_chamber_the_user_switched_off(tmp_path):
    summary, rec = session(tmp_path, {"fit_check": True, "enabled": [1, 3, 4]},
                           [{"t_s": 0, "fault": "no_garment", "chamber": 2}], duration_s=60)
    assert not ev(rec, "fault") and fill_order(rec, 1) == [1, 3, 4]


def test_usage_log_keeps_every_session_and_the_simulator_reads_it(tmp_path):
    import subprocess
    import sys
    flash = tmp_path / "flash"
    for sc in ({"settings": {"minutes": 1, "fit_check": False}, "duration_s": 70},
               {"settings": {"minutes": 2, "mode": "gradient", "fit_check": False},
                "actions": [{"t_s": 0, "do": "start"}, {"t_s": 40, "do": "stop"}],
                "duration_s": 50},
               {"settings": {"minutes": 2, "fit_check": False}, "duration_s": 20,
                "faults": [{"t_s": 7, "fault": "pump_dead"}]}):
        run(build_config(sc), "micropython", None, quiet=True, flash_dir=str(flash))
    rows = [json.loads(x) for x in (flash / "usage.log").read_text().splitlines()]
    assert [(r["mode"], r["end"]) for r in rows] == [
        ("wave", "complete"), ("gradient", "stopped"), ("wave", "fault NO_RISE")]
    # (a session runs until it is vented and its valves are checked: a few s past its time)
    assert 60 <= rows[0]["ran_s"] <= 65 and rows[1]["target_mmhg"] == 80 and rows[1]["waves"] == 1
    out = subprocess.run([sys.executable, "-m", "sim.cli", "usage", "--flash", str(flash)],
                         capture_output=True, text=True, cwd=paths.ROOT)
    assert out.returncode == 0 and "of 5.0 planned minutes" in out.stdout
    assert "1 of 3 sessions complete" in out.stdout


# --- gradient order (issue 17, part 2) ---------------------------------------------------------
def _held(summary):
    return {(f["cycle"], f["chamber"]): f["p_mmhg"] for f in summary["fills"]}


def test_a_higher_target_mid_wave_never_reverses_the_gradient(tmp_path):
    """The issue's case: gradient mode at 60 mmHg, 8 lower per chamber; eight detents up while
    chamber 2 fills gave foot 59.8, calf 51.9, knee 85.4, thigh 76.7 in one wave. Now the
    higher target starts from the foot of the next wave."""
    from host_tests.test_ui import session
    summary, rec = session(tmp_path, [(0, "start"), (6.5, "turn", {"detents": 8})],
                           settings={"minutes": 3, "fit_check": False, "mode": "gradient",
                                     "pressure_mmhg": 60, "gradient_step_mmhg": 8},
                           duration_s=120)
    held = _held(summary)
    for (cycle, k), p in held.items():
        if (cycle, k - 1) in held:
            assert p <= held[(cycle, k - 1)] + 3 + 1.5, (cycle, k, held)   # + accuracy
    assert abs(held[(1, 4)] - 36) <= 3 and abs(held[(2, 1)] - 100) <= 3


def test_a_program_that_climbs_the_leg_is_held_to_the_gradient_unless_it_says_boost(tmp_path):
    from host_tests.test_ui import session
    flash = tmp_path / "flash"
    (flash / "programs").mkdir(parents=True)
    climb = {"name": "climb", "hold_s": 2, "rest_s": 15,
             "chambers": [{"mmhg": 40, "hold_s": 0}, {"mmhg": 60, "hold_s": 0},
                          {"mmhg": 70, "hold_s": 0, "boost": True}, {"mmhg": 80, "hold_s": 0}]}
    (flash / "programs" / "climb.json").write_text(json.dumps(climb))
    summary, rec = session(tmp_path, [(0, "start")], flash=flash, duration_s=30,
                           settings={"minutes": 2, "fit_check": False, "mode": "custom",
                                     "program": "climb"})
    warning = [e["text"] for e in rec if e["kind"] == "event" and e["event"] == "warning"]
    note = [w for w in warning if w.startswith("program climb:")]
    assert len(note) == 1
    assert "chamber 2 asks 20 mmHg above chamber 1: it is held to 3 mmHg above it" in note[0]
    assert "chamber 3 is filled 10 mmHg above chamber 2 on purpose (boost)" in note[0]
    assert "chamber 4 asks 10 mmHg above chamber 3" in note[0]
    held = _held(summary)
    assert abs(held[(1, 2)] - 43) <= 2.5          # held to 40 + 3
    assert abs(held[(1, 3)] - 70) <= 2.5          # boosted on purpose: as asked
    assert abs(held[(1, 4)] - 73) <= 2.5          # held to 70 + 3


# --- programs on a board with another number of chambers (issue 18 part 3) -----------------
S3 = "esp32-s3-devkitc-6ch"


def test_fit_stretch_spreads_a_programs_entries_along_the_leg(micropython):
    f = str(paths.ROOT / "programs" / "calf-focus.json")
    code = ("import json, program\nout = []\nfor n in (4, 6, 3, 8):\n"
            "    d = program.load(%r, n, 120)\n"
            "    out.append([[c['mmhg'] for c in d['chambers']], program.gradient_note(d)])\n"
            "print(json.dumps(out))" % f)
    got = micropython(code)
    host = [prog.load(f, n, 120) for n in (4, 6, 3, 8)]      # the same under CPython
    assert got == [[[c["mmhg"] for c in d["chambers"]], prog.gradient_note(d)] for d in host]
    four, six, three, eight = got
    assert four[0] == [60, 60, 80, 50] and "stretched" not in four[1]
    assert six[0] == [60, 60, 60, 80, 50, 50]
    assert six[1].startswith("lists 4 chambers, the board has 6: stretched along the leg, "
                             "chambers 1-6 take its entries 1, 2, 2, 3, 4, 4; chamber 4 is "
                             "filled 20 mmHg above chamber 3 on purpose (boost)"), six[1]
    assert three[0] == [60, 80, 50] and "(entry 2 left out)" in three[1]
    assert eight[0] == [60, 60, 60, 60, 80, 80, 50, 50]


def test_a_bad_entry_is_refused_even_where_the_stretch_leaves_it_out(tmp_path):
    spec = json.loads((paths.ROOT / "programs" / "recover.json").read_text())
    spec["chambers"][1]["mmhg"] = 500
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(spec))
    with pytest.raises(prog.ProgramError, match=r"chambers\[1\]\.mmhg"):
        prog.load(str(f), 3, 120)          # the stretch to 3 leaves entry 2 out


def test_a_shipped_program_runs_on_the_six_chamber_board(tmp_path):
    """The shipped programs list 4 chambers; on the 6-chamber S3 board the boot ran the plain
    wave. With "fit": "stretch" it runs the program, stretched, and says how."""
    trace = tmp_path / "t.jsonl"
    config = build_config({"board": S3, "duration_s": 150,
                           "settings": {"minutes": 3, "fit_check": False, "mode": "custom",
                                        "program": "calf-focus"}})
    summary, _ = run(config, "micropython", str(trace), quiet=True)
    rec = [json.loads(x) for x in trace.read_text().splitlines()]
    warnings = [w["text"] for w in ev(rec, "warning")]
    assert any(w.startswith("program calf-focus: lists 4 chambers, the board has 6: stretched")
               for w in warnings), warnings
    assert not any("plain wave" in w for w in warnings), warnings
    h = held(summary, 2)
    assert sorted(h) == [1, 2, 3, 4, 5, 6], h
    want = [60, 60, 60, 80, 50, 50]
    for k in range(1, 7):
        # the gradient order holds chamber 5 and 6 (50) below the boosted calf: as asked
        assert abs(h[k] - want[k - 1]) <= 3, (k, h)
    assert fill_order(rec, 2) == [1, 2, 3, 4, 5, 6]


def test_a_program_without_fit_on_the_six_chamber_board_is_refused_and_says_how_to_fit(
        tmp_path):
    exact = json.loads((paths.ROOT / "programs" / "recover.json").read_text())
    del exact["fit"]
    trace = tmp_path / "t.jsonl"
    config = build_config({"board": S3, "duration_s": 20,
                           "settings": {"minutes": 3, "fit_check": False, "mode": "custom",
                                        "program": "exact4"}})
    run(config, "micropython", str(trace), quiet=True,
        flash_files={"programs/exact4.json": json.dumps(exact)})
    rec = [json.loads(x) for x in trace.read_text().splitlines()]
    warnings = [w["text"] for w in ev(rec, "warning")]
    assert any("programs/exact4.json: field 'chambers': has 4 entries, the board 6 chambers" in w
               and 'set "fit": "stretch"' in w and "running the plain wave at 40 mmHg" in w
               for w in warnings), warnings
