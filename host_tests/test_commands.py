"""Every command source through one gate, one target in force, a menu that closes by itself and
a first press that makes the boot safe: with the firmware under MicroPython, presses and turns
made at the electrical level, and MQTT commands delivered as the command topic would
(scenario action "remote", through the firmware's own handler remote.py)."""
import json

from host_tests.test_ui import ev, samples, session

QUIET_MS = 3000


def remote(t, payload, allow_start=False):
    return (t, "remote", {"payload": payload, "allow_start": allow_start})


def pump_on_between(rec, t0, t1):
    return [s["t_ms"] for s in samples(rec, t0, t1) if s["pump"]]


def test_a_remote_resume_right_after_a_local_pause_is_refused(tmp_path):
    # the case: a press pauses a fill; 0.3 s later a dashboard sends resume
    summary, rec = session(tmp_path, [(0, "start"), (7, "press"),
                                      remote(7.3, "resume", allow_start=True),
                                      remote(11, "resume", allow_start=True)],
                           duration_s=20)
    pause = ev(rec, "pause")[0]
    refused = ev(rec, "error")          # a remote command is answered with an error event
    assert len(refused) == 1 and refused[0]["payload"] == "resume"
    assert "3 s" in refused[0]["why"] and 7290 <= refused[0]["t_ms"] <= 7320
    assert not ev(rec, "refused")       # ("refused" is for what people do at the boot)
    assert not pump_on_between(rec, pause["t_ms"] + 10, 11000)
    resume = ev(rec, "resume")
    assert len(resume) == 1 and resume[0]["source"] == "remote" and resume[0]["t_ms"] >= 11000
    assert pump_on_between(rec, 11000, 20000)                       # calm, allowed: it resumes


def test_a_local_press_right_after_a_remote_pause_does_not_resume(tmp_path):
    summary, rec = session(tmp_path, [(0, "start"), remote(7, "pause"), (7.5, "press"),
                                      (11, "press")], duration_s=20)
    pause = ev(rec, "pause")[0]
    assert pause["source"] == "remote" and 7000 <= pause["t_ms"] <= 7010
    refused = ev(rec, "refused")
    assert len(refused) == 1 and refused[0]["cmd"] == "resume"
    assert refused[0]["t_ms"] - pause["t_ms"] < QUIET_MS
    assert not pump_on_between(rec, pause["t_ms"] + 10, 11000)
    assert ev(rec, "resume")[0]["t_ms"] > 11000


def test_remote_start_and_resume_need_allow_start(tmp_path):
    summary, rec = session(tmp_path, [remote(1, "start"), (2, "press"), remote(8, "pause"),
                                      remote(12, "resume"), remote(13, '{"cmd": "resume"}')],
                           duration_s=16)
    errors = ev(rec, "error")
    assert len(errors) == 3 and all("allow_start" in e["why"] for e in errors)
    assert [e["payload"] for e in errors] == ["start", "resume", '{"cmd": "resume"}']
    starts = ev(rec, "start")
    assert len(starts) == 1 and starts[0]["source"] == "local"      # only the press started
    assert not ev(rec, "resume")
    assert ev(rec, "status")[-1]["phase"] == "paused"


def test_a_higher_target_waits_for_the_quiet_window_a_lower_one_never_does(tmp_path):
    summary, rec = session(tmp_path, [(0, "start"), (7, "press"), (8, "turn", {"detents": 2}),
                                      (8.5, "turn", {"detents": -1}),
                                      remote(9, '{"cmd": "set_target", "value": 100}'),
                                      remote(9.5, '{"cmd": "set_target", "value": 50}')],
                           duration_s=12)
    refused = ev(rec, "refused")
    # (the knob's two detents may arrive in two ticks: each is refused)
    assert {e["cmd"] for e in refused} == {"set_target"}
    errors = ev(rec, "error")
    assert len(errors) == 1 and "3 s" in errors[0]["why"]            # the remote 100 mmHg
    assert all(e["t_ms"] - ev(rec, "pause")[0]["t_ms"] < QUIET_MS for e in refused + errors)
    assert [(e["target_mmhg"], e["source"]) for e in ev(rec, "target")] == [(75, "local"),
                                                                            (50, "remote")]


def test_remote_then_knob_moves_from_the_target_in_force(tmp_path):
    # the case: 40 mmHg from Home Assistant because it hurt, then one detent down
    summary, rec = session(tmp_path, [(0, "start"),
                                      remote(5, '{"cmd": "set_target", "value": 40}'),
                                      (6, "turn", {"detents": -1})], duration_s=8)
    assert [e["target_mmhg"] for e in ev(rec, "target")] == [40, 35]
    assert ev(rec, "status")[-1]["target_mmhg"] == 35


def test_knob_then_remote_then_knob(tmp_path):
    summary, rec = session(tmp_path, [(0, "start"), (5, "turn", {"detents": 2}),
                                      remote(6, '{"cmd": "set_target", "value": 60}'),
                                      (7, "turn", {"detents": 1})], duration_s=9)
    assert [e["target_mmhg"] for e in ev(rec, "target")] == [85, 90, 60, 65]


def test_the_menu_saves_the_target_in_force(tmp_path):
    flash = tmp_path / "flash"
    summary, rec = session(tmp_path, [remote(1, '{"cmd": "set_target", "value": 40}'),
                                      (2, "long_press"), (6, "long_press")],
                           flash=flash, duration_s=9)
    saved = ev(rec, "settings")
    assert len(saved) == 1 and saved[0]["pressure_mmhg"] == 40
    assert json.loads((flash / "settings.json").read_text())["pressure_mmhg"] == 40


def test_a_menu_left_open_closes_by_itself(tmp_path):
    # opened at ~3.5 s (long press held 1.5 s); left alone 30 s; then a press starts a session
    # and a turn sets the target, instead of moving to the next item and changing the minutes
    summary, rec = session(tmp_path, [(2, "long_press"), (35, "turn", {"detents": 1}),
                                      (36, "press")], duration_s=40)
    opened = ev(rec, "menu")[0]["t_ms"]
    closed = [e for e in ev(rec, "menu") if "closed" in e]
    assert len(closed) == 1 and 30000 <= closed[0]["t_ms"] - opened <= 30020
    assert ev(rec, "target")[0]["target_mmhg"] == 85
    assert len(ev(rec, "start")) == 1 and not ev(rec, "settings")


def test_the_first_contact_stops_the_pump_before_the_gesture_is_known(tmp_path):
    # a long press (a stop) in the middle of chamber 2's fill: the pump stops within 50 ms of
    # the contact closing, not 1.5 s later when the long press is recognised
    summary, rec = session(tmp_path, [(0, "start"), (6.5, "long_press")], duration_s=15)
    assert pump_on_between(rec, 6400, 6500)                        # it was filling
    off = [s["t_ms"] for s in samples(rec, 6500) if not s["pump"]][0]
    assert off - 6500 <= 50
    check = min(e["t_ms"] for e in ev(rec, "phase") if e["phase"] == "check")
    assert not pump_on_between(rec, off, check - 10)      # then only the valve check's puffs
    pause, stop = ev(rec, "pause")[0], ev(rec, "stop")[0]
    assert pause["t_ms"] <= 6550 and 7990 <= stop["t_ms"] <= 8100
    assert summary["end_reason"] == "stopped" and summary["vented_at_end"]


def test_a_press_during_the_acknowledgement_check_stops_it(tmp_path):
    # the long press's LONG comes at ~13.53 s and it is released at 14.5 s; the check's puffs
    # run until ~14.8 s: a new press at 14.6 s stops them
    summary, rec = session(tmp_path, [(0, "start"), (12, "long_press"), (14.6, "press")],
                           faults=[{"t_s": 7, "fault": "loop_stall", "ms": 500}],
                           duration_s=16)
    check = ev(rec, "clear_check")[0]
    refused = ev(rec, "clear_refused")
    assert refused and refused[0]["why"] == "cancelled" and not ev(rec, "clear")
    assert not pump_on_between(rec, refused[0]["t_ms"] + 10, 16000)
    assert 14600 <= refused[0]["t_ms"] <= 14650 and check["t_ms"] < refused[0]["t_ms"]
    assert ev(rec, "status")[-1]["fault"] == "LOOP_STALL"


def test_a_menu_left_without_saving_forgets_its_edits(tmp_path):
    # edit the minutes, leave with the stop button; reopen and save at once: the stored
    # minutes, not the abandoned edit
    flash = tmp_path / "flash"
    summary, rec = session(tmp_path, [(1, "long_press"), (5, "turn", {"detents": 2}),
                                      (6, "stop_press"), (8, "long_press"),
                                      (12, "long_press")], flash=flash, duration_s=15)
    closed = [e for e in ev(rec, "menu") if "closed" in e]
    assert len(closed) == 1 and "nothing saved" in closed[0]["closed"]
    saved = ev(rec, "settings")
    assert len(saved) == 1 and saved[0]["minutes"] == 2       # the scenario's stored 2 min


def test_a_pause_in_the_start_up_vent_stops_the_session_before_anything_inflates(tmp_path):
    summary, rec = session(tmp_path, [(0, "start"), (1, "press"), (10, "start"),
                                      remote(20, "pause")], duration_s=25)
    pause = ev(rec, "pause")[0]
    assert 1000 <= pause["t_ms"] <= 1050 and "stopped" in pause["text"]
    # the zero phase ends in a stop: no fill nor fit check (only the stop's valve-check puffs)
    assert not [e for e in ev(rec, "phase") if e["t_ms"] < 10000 and e["phase"] in
                ("fill", "fit")]
    assert summary["end_reason"] == "stopped" or ev(rec, "stop")
    assert not ev(rec, "fault")                          # no zero taken, no false ZERO_OFFSET
    # a calm press starts again, with a proper zero; a remote pause in its zero phase too
    assert len(ev(rec, "start")) == 2 and len(ev(rec, "zero")) == 1


def test_nothing_but_stop_while_a_fault_is_latched(tmp_path):
    summary, rec = session(tmp_path, [(0, "start"),
                                      remote(12, '{"cmd": "set_target", "value": 40}'),
                                      remote(12.5, "pause"), (13, "turn", {"detents": -2})],
                           faults=[{"t_s": 7, "fault": "pump_dead"}], duration_s=15)
    assert ev(rec, "fault")[0]["code"] == "NO_RISE"
    errors = ev(rec, "error")
    assert "long press on the boot" in errors[0]["why"]
    assert "every path is open already" in errors[1]["why"]
    assert not ev(rec, "target") and ev(rec, "status")[-1]["target_mmhg"] == 80


def test_a_press_begun_in_the_quiet_window_does_not_resume_when_released_after_it(tmp_path):
    # review finding: paused at ~7.03 s; a press whose contact closes at ~9.85 s (quiet until
    # 10.03 s) and is released at ~10.05 s (no longer quiet) must not resume: a press is
    # judged at its contact
    summary, rec = session(tmp_path, [(0, "start"), (7, "press"), (9.82, "press")],
                           duration_s=14)
    pause = ev(rec, "pause")[0]["t_ms"]
    refused = ev(rec, "refused")
    assert len(refused) == 1 and refused[0]["cmd"] == "resume"
    assert refused[0]["t_ms"] - pause > 3000        # released after the window...
    assert not ev(rec, "resume")                    # ...but begun in it


def test_a_target_set_over_mqtt_is_remembered_at_the_start(tmp_path):
    flash = tmp_path / "flash"
    summary, rec = session(tmp_path, [remote(1, '{"cmd": "set_target", "value": 40}'),
                                      remote(2, "start", allow_start=True)], flash=flash,
                           duration_s=5)
    assert ev(rec, "start")[0]["target_mmhg"] == 40
    assert json.loads((flash / "settings.json").read_text())["pressure_mmhg"] == 40


def test_the_summary_says_what_the_boot_answered(tmp_path, capsys):
    """A run's summary lists refused commands and acknowledgements with the boot's reasons,
    not only the trace."""
    from sim.cli import main
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({
        "settings": {"minutes": 2, "fit_check": False},
        "faults": [{"t_s": 7, "fault": "pump_dead"}],
        "actions": [{"t_s": 0, "do": "start"}, {"t_s": 12, "do": "long_press"},
                    {"t_s": 16, "do": "remote", "payload": "resume"}],
        "duration_s": 18}))
    assert main(["run", "--scenario", str(scenario), "--quiet"]) in (0, None)
    out = capsys.readouterr().out
    assert "acknowledgement refused at 13.7 s (no pressure in the closed manifold)" in out
    assert "check the pump" in out
    assert "MQTT command 'resume' refused at 16.0 s: a fault is latched" in out
