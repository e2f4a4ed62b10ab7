"""Button-and-knob operation, one test per row of the README's interaction table, with the
firmware under MicroPython. Presses and turns are made at the electrical level (the simulator
toggles the switch and encoder pins with contact bounce); the firmware's own input code
decodes them."""
import json

import pytest

from sim.harness import Boot
from sim.session import build_config, run

SAFE_MMHG = 15


def session(tmp_path, actions, name="t", flash=None, **scenario):
    scenario.setdefault("settings", {"minutes": 2, "fit_check": False})
    scenario.setdefault("duration_s", 90)
    scenario["actions"] = [dict(t_s=t, do=do, **extra) for t, do, *rest in actions
                           for extra in [rest[0] if rest else {}]]
    trace = tmp_path / f"{name}.jsonl"
    summary, _ = run(build_config(scenario), "micropython", str(trace), quiet=True,
                     flash_dir=str(flash) if flash else None)
    records = [json.loads(x) for x in trace.read_text().splitlines()]
    return summary, records


def ev(records, name):
    return [r for r in records if r["kind"] == "event" and r["event"] == name]


def samples(records, t0=0, t1=10 ** 9):
    return [r for r in records if r["kind"] == "sample" and t0 <= r["t_ms"] <= t1]


def test_idle_knob_sets_the_target_in_steps_within_limits(tmp_path):
    summary, rec = session(tmp_path, [(1, "turn", {"detents": 3}), (2, "turn", {"detents": -30}),
                                      (4, "turn", {"detents": 5}), (5, "start")],
                           duration_s=20)
    def target_at(t_ms):
        return [e["target_mmhg"] for e in ev(rec, "target") if e["t_ms"] < t_ms][-1]
    # one step per detent: 80 + 3 x 5; then clamped at 20; then + 5 x 5
    assert [target_at(1900), target_at(3900), target_at(4900)] == [95, 20, 45]
    steps = [e["target_mmhg"] for e in ev(rec, "target")]
    assert all(abs(a - b) == 5 for a, b in zip(steps, steps[1:]))
    assert ev(rec, "start")[0]["target_mmhg"] == 45
    t = 1, "turn", {"detents": 20}
    summary, rec = session(tmp_path, [t], name="high", duration_s=5)
    assert ev(rec, "target")[-1]["target_mmhg"] == 120     # the board's max_target_mmhg


def test_idle_press_starts_a_session(tmp_path):
    summary, rec = session(tmp_path, [(1, "press")], duration_s=20)
    assert len(ev(rec, "start")) == 1 and 1000 < ev(rec, "start")[0]["t_ms"] < 1400
    assert any(s["pump"] for s in samples(rec))


def test_a_start_while_the_menus_settings_wait_is_refused_then_they_apply():
    # The menu's settings are checked and used in a rest window (the checkers come from flash:
    # firmware/lazy.py), never mid-session: a start asked before that (a remote one can come
    # at any moment) is refused with a reason, and the next start runs the new settings.
    b = Boot(settings={"minutes": 2, "fit_check": False})
    b.run(1000)
    b.app.queue_settings({"minutes": 7})
    why = b.app.command(b.t_ms, "start")
    assert why and "still being checked" in why and not b.app.seq.active()
    b.run(500)                      # the service task's next rest window
    assert b.app.settings["minutes"] == 7 and not b.app.settings_waiting()
    assert b.app.command(b.t_ms, "start") is None
    assert b.app.seq.session_ms == 7 * 60000
    b.close()


def test_idle_long_press_opens_settings_which_survive_a_reboot(tmp_path):
    flash = tmp_path / "flash"
    # menu: minutes (+1 detent = +5 min) -> press -> mode -> press -> chamber 1 -> press ->
    # chamber 2: turn toggles it off -> long press saves and leaves
    summary, rec = session(tmp_path, [(1, "long_press"), (5, "turn", {"detents": 1}),
                                      (6, "press"), (7, "press"), (8, "press"),
                                      (9, "turn", {"detents": 1}), (10, "long_press")],
                           flash=flash, duration_s=15)
    saved = ev(rec, "settings")
    # (this run's settings had 2 minutes: one detent adds 5)
    assert len(saved) == 1 and saved[0]["minutes"] == 7 and saved[0]["enabled"] == [1, 3, 4]
    items = [e["item"] for e in ev(rec, "menu")]
    assert items[0] == "minutes" and "chamber 2" in items
    assert not ev(rec, "start") and not any(s["pump"] for s in samples(rec))
    stored = json.loads((flash / "settings.json").read_text())
    assert stored["minutes"] == 7 and stored["enabled"] == [1, 3, 4]
    # next boot, same flash: the stored settings are used, chamber 2 is never inflated
    # (run() writes the scenario's settings: give it the stored ones, as the device keeps them)
    summary, rec = session(tmp_path, [(0, "start")], name="second", flash=flash,
                           settings=stored, duration_s=70)
    assert ev(rec, "boot")[0]["settings"]["enabled"] == [1, 3, 4]
    fills = {e["chamber"] for e in ev(rec, "phase") if e["phase"] == "fill"}
    assert fills == {1, 3, 4}
    assert max(s["p_chambers_mmhg"][1] for s in samples(rec)) < 1     # never took air


def test_running_knob_raises_the_target_from_the_foot_of_the_next_wave(tmp_path):
    # chamber 2 fills from about 5.9 s: turn +2 (90 mmHg) while it fills. A higher target
    # never starts halfway up the leg (the gradient would reverse): the next wave, from the foot
    summary, rec = session(tmp_path, [(0, "start"), (6.5, "turn", {"detents": 2})],
                           duration_s=80)
    assert [e["target_mmhg"] for e in ev(rec, "target")] == [85, 90]
    held = {(f["cycle"], f["chamber"]): f["p_mmhg"] for f in summary["fills"]}
    assert all(abs(held[(1, k)] - 80) <= 3 for k in (2, 3, 4))
    assert all(abs(held[(2, k)] - 90) <= 3 for k in (1, 2, 3, 4))


def test_running_knob_lowers_the_target_from_the_next_fill(tmp_path):
    summary, rec = session(tmp_path, [(0, "start"), (6.5, "turn", {"detents": -2})],
                           duration_s=40)
    held = {f["chamber"]: f["p_mmhg"] for f in summary["fills"] if f["cycle"] == 1}
    assert abs(held[2] - 80) <= 5 and abs(held[3] - 70) <= 3 and abs(held[4] - 70) <= 3


def test_running_short_press_pauses_and_a_later_press_resumes(tmp_path):
    summary, rec = session(tmp_path, [(0, "start"), (7, "press"), (8, "press"), (20, "press")],
                           duration_s=40)
    pause, resume = ev(rec, "pause"), ev(rec, "resume")
    assert len(pause) == 1 and len(resume) == 1
    # the press 1 s after the pause was a panicking one: it did nothing
    assert 19000 < resume[0]["t_ms"] < 21000
    paused = samples(rec, pause[0]["t_ms"] + 10, resume[0]["t_ms"] - 10)
    assert all(s["pump"] == 0 for s in paused)
    assert max(paused[-1]["p_chambers_mmhg"]) < SAFE_MMHG          # vented while paused
    after = samples(rec, resume[0]["t_ms"], resume[0]["t_ms"] + 5000)
    assert any(s["pump"] for s in after)                            # and inflating again


def test_running_long_press_stops_and_vents(tmp_path):
    summary, rec = session(tmp_path, [(0, "start"), (10, "long_press")], duration_s=30)
    stop = ev(rec, "stop")
    assert len(stop) == 1 and 11500 <= stop[0]["t_ms"] <= 11700
    assert summary["end_reason"] == "stopped" and summary["vented_at_end"]


def test_stop_button_stops_at_once(tmp_path):
    summary, rec = session(tmp_path, [(0, "start"), (10, "stop_press")], duration_s=30)
    stop = ev(rec, "stop")
    assert len(stop) == 1 and 10000 <= stop[0]["t_ms"] <= 10100     # on the press itself
    assert summary["vented_at_end"]


def test_fault_shows_and_a_long_press_acknowledges_once_safe(tmp_path):
    # a 500 ms stall mid-fill: the watchdog resets the boot, which comes up with LOOP_STALL
    summary, rec = session(
        tmp_path, [(0, "start"), (9.5, "press"), (12, "long_press"), (20, "long_press")],
        faults=[{"t_s": 7, "fault": "loop_stall", "ms": 500}], duration_s=30)
    fault = ev(rec, "fault")[0]
    assert fault["code"] == "LOOP_STALL" and "report" in fault["advice"]
    # the short press did nothing; the long press ran the acknowledgement check (a puff per
    # chamber) and then acknowledged; the second long press had nothing left to acknowledge
    checks, clears = ev(rec, "clear_check"), ev(rec, "clear")
    assert len(checks) == 1 and 13500 <= checks[0]["t_ms"] <= 13700
    # the pump-off probe (100 ms), the sealed-manifold puff and its vent (~140 ms), then a
    # 200 ms puff and a 120 ms vent per chamber
    assert len(clears) == 1 and 0 < clears[0]["t_ms"] - checks[0]["t_ms"] <= 250 + 4 * 330
    status = [e for e in ev(rec, "status") if fault["t_ms"] < e["t_ms"] < clears[0]["t_ms"]]
    assert status and all(e["fault"] == "LOOP_STALL" for e in status)  # the cause stays visible
    assert not ev(rec, "start")[1:]                                   # nothing restarted
    pumped = [s for s in samples(rec, checks[0]["t_ms"]) if s["pump"]]
    # from the press on, the pump ran only for the check's puffs
    assert pumped and all(s["t_ms"] <= clears[0]["t_ms"] for s in pumped)


def test_a_dead_pump_cannot_prove_the_chambers_empty(tmp_path):
    summary, rec = session(tmp_path, [(0, "start"), (12, "long_press")],
                           faults=[{"t_s": 7, "fault": "pump_dead"}], duration_s=20)
    assert ev(rec, "fault")[0]["code"] == "NO_RISE"
    refused = ev(rec, "clear_refused")
    # the puff into the closed manifold builds nothing
    assert not ev(rec, "clear") and refused
    assert refused[0]["why"] == "no pressure in the closed manifold"
    assert "pump" in refused[0]["advice"]
    assert ev(rec, "status")[-1]["fault"] == "NO_RISE"          # still latched, alarming


def test_acknowledge_is_refused_while_the_boot_is_not_vented(tmp_path):
    summary, rec = session(tmp_path, [(0, "start"), (35, "long_press")],
                           faults=[{"t_s": 20, "fault": "dump_stuck_closed"}], duration_s=45)
    assert ev(rec, "fault")[0]["code"] == "VENT_FAILED"
    assert ev(rec, "clear_refused") and not ev(rec, "clear")


def test_a_panicking_press_right_after_a_stop_does_not_start_again(tmp_path):
    summary, rec = session(tmp_path, [(0, "start"), (10, "stop_press"), (11, "press"),
                                      (12, "press"), (20, "press")], duration_s=30)
    starts = ev(rec, "start")
    assert len(starts) == 2 and starts[1]["t_ms"] > 19000     # only the calm press starts


def test_the_oled_shows_bars_and_the_fault(tmp_path):
    from sim.plot import screen_pixels
    config = build_config({"settings": {"minutes": 2, "fit_check": False}, "duration_s": 14})
    _, follower = run(config, "micropython", None, quiet=True)
    px = screen_pixels(follower.screen)
    # mid-fill of chamber 4: chambers 1-3 hold 80 mmHg of a 150 mmHg scale: filled bars
    bars = [sum(px[y][x] for y in range(21, 54)) for x in (16, 48, 80)]
    assert all(b >= 15 for b in bars), bars
    config = build_config({"settings": {"minutes": 2, "fit_check": False}, "duration_s": 12,
                           "faults": [{"t_s": 7, "fault": "pump_dead"}]})
    _, follower = run(config, "micropython", None, quiet=True)
    px = screen_pixels(follower.screen)
    lit = sum(sum(row) for row in px[56:64])
    assert lit > 128 * 8 // 2            # the fault line is drawn inverted: mostly lit


def test_without_framebuf_the_firmware_runs_and_says_so(tmp_path):
    config = build_config({"settings": {"minutes": 1}, "duration_s": 20})
    trace = tmp_path / "t.jsonl"
    summary, follower = run(config, "cpython", str(trace), quiet=True)
    records = [json.loads(x) for x in trace.read_text().splitlines()]
    assert any("display not driven" in e.get("text", "") for e in ev(records, "warning"))
    assert follower.screen == bytes(1024) and summary["fills"]


def test_the_displays_bars_empty_when_a_vent_is_verified_after_a_fault():
    # issue 18, part 1: after a fault the bars kept every chamber at about 80 mmHg while the
    # boot read 0 (they were emptied only as a normal wave's vent began)
    from sim.harness import Boot
    import sequencer
    b = Boot(settings={"minutes": 3, "fit_check": False, "hold_s": 20})
    b.press("start")
    while b.app.seq.phase != sequencer.HOLD and b.t_ms < 60000:
        b.run(100)
    assert min(b.app.chamber_dmmhg) > 600, b.app.chamber_dmmhg
    b.inject({"fault": "pump_stuck_on"})
    b.run(8000)
    assert b.app.sup.tripped() and not b.app.sup.venting
    assert max(b.vb.plant.p_chambers) < 15
    assert b.app.chamber_dmmhg == [0] * 4, b.app.chamber_dmmhg


def _text_page(text):
    """What framebuf's font draws for text at the top of an 8-row page (the firmware's own
    font: MicroPython's framebuf), as SSD1306 page bytes, one per column."""
    import subprocess
    from sim.session import micropython_binary
    code = ("import framebuf\nb = bytearray(128)\n"
            "framebuf.FrameBuffer(b, 128, 8, framebuf.MONO_VLSB).text(%r, 0, 0, 1)\n"
            "print(bytes(b).hex())" % text)
    out = subprocess.run([micropython_binary(), "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return bytes.fromhex(out.strip())


def test_in_a_hold_the_display_says_its_pressure_is_the_manifolds(tmp_path):
    # issue 18, part 1: the bottom line read "p   0.0" in a hold while every chamber held
    # 80 mmHg: it is the manifold's (drained and shut in the hold); the bars show the chambers
    config = build_config({"settings": {"minutes": 2, "fit_check": False, "hold_s": 30},
                           "duration_s": 30})
    trace = tmp_path / "t.jsonl"
    _, follower = run(config, "micropython", str(trace), quiet=True)
    records = [json.loads(x) for x in trace.read_text().splitlines()]
    last = samples(records)[-1]
    assert last["phase"] == "hold" and last["p_manifold_mmhg"] < 2, last
    assert min(last["p_chambers_mmhg"]) > 70, last
    bottom = follower.screen[7 * 128:8 * 128]
    assert bottom[:9 * 8] == _text_page("manifold ")[:9 * 8]
    from sim.plot import screen_pixels
    px = screen_pixels(follower.screen)
    bars = [sum(px[y][x] for y in range(21, 54)) for x in (16, 48, 80, 112)]
    assert all(b >= 15 for b in bars), bars            # the chambers' air, as bars


def test_the_live_status_line_names_the_manifold_and_shows_the_chambers(tmp_path):
    import io
    config = build_config({"settings": {"minutes": 2, "fit_check": False, "hold_s": 30},
                           "duration_s": 50})
    out = io.StringIO()
    run(config, "micropython", None, progress_stream=out)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 9, lines
    held = [x for x in lines if " hold " in x]
    assert held, lines
    # e.g. "[00:25 / 00:50] hold   ch 4 manifold   0.1, chambers 80/80/80/80 mmHg  ..."
    for line in held:
        after = line.split("manifold ")[1]
        manifold, chambers = after.split(", chambers ")
        assert float(manifold) < 2, line
        assert [float(x) > 70 for x in chambers.split(" ")[0].split("/")] == [True] * 4, line
    assert all(" p " not in x for x in lines), lines


def test_a_chamber_the_boot_cannot_prove_empty_shows_a_cross_not_an_empty_bar():
    """A valve stuck shut in the hold: the manifold's vent is verified, yet chamber 2 keeps its
    air; VENT_FAILED names it, and its bar is 'unknown' (a cross), not empty, until an
    acknowledgement's check proves it empty. The phase line says STOPPED, not IDLE."""
    from sim.harness import Boot
    import app as fw_app
    import sequencer
    b = Boot(settings={"minutes": 3, "fit_check": False, "hold_s": 20})
    b.press("start")
    while b.app.seq.phase != sequencer.HOLD and b.t_ms < 60000:
        b.run(100)
    b.inject({"fault": "valve_stuck_closed", "chamber": 2})
    import safety
    t0 = b.t_ms
    while b.app.sup.fault != safety.VENT_FAILED and b.t_ms < t0 + 90000:
        b.run(100)
    assert b.app.sup.fault == safety.VENT_FAILED, safety.CODES[b.app.sup.fault]
    b.run(3000)
    assert b.vb.plant.p_chambers[1] > 40                    # it holds air ...
    assert b.app.chamber_dmmhg[1] == fw_app.UNKNOWN_DMMHG   # ... and the bar does not lie
    assert all(d <= 0 for d in b.app.chamber_dmmhg)


def test_the_screen_draws_the_unknown_chamber_as_a_cross_and_says_stopped(tmp_path):
    """The same, on the screen the firmware draws under MicroPython (framebuf)."""
    import subprocess
    from sim.plot import screen_pixels
    from sim.session import micropython_binary
    config = build_config({"settings": {"minutes": 2, "fit_check": False, "hold_s": 20},
                           "duration_s": 75,
                           "faults": [{"t_s": 20, "fault": "valve_stuck_closed", "chamber": 2}]})
    trace = tmp_path / "t.jsonl"
    summary, follower = run(config, "micropython", str(trace), quiet=True)
    assert [f["code"] for f in summary["faults"]][-1] == "VENT_FAILED", summary["faults"]
    px = screen_pixels(follower.screen)
    top, bottom = 20, 54                # display.py's BAR_TOP, BAR_BOTTOM (it needs framebuf)
    inside = [sum(px[y][x] for y in range(top + 3, bottom - 3)) for x in range(2, 128)]
    box = [sum(inside[x - 2] for x in range(k * 32 + 6, k * 32 + 26)) for k in range(4)]
    assert box[1] >= 20 and box[0] == box[2] == box[3] == 0, box    # a cross in chamber 2's
    code = ("import framebuf\nb = bytearray(1024)\n"
            "framebuf.FrameBuffer(b, 128, 64, framebuf.MONO_VLSB).text('STOPPED', 0, 10, 1)\n"
            "print(bytes(b).hex())")
    want = screen_pixels(bytes.fromhex(subprocess.run(
        [micropython_binary(), "-c", code], capture_output=True, text=True,
        check=True).stdout.strip()))
    assert [row[:56] for row in px[10:18]] == [row[:56] for row in want[10:18]]


def test_with_a_dead_pump_every_chamber_that_showed_air_is_unknown_not_empty():
    """The pump dies while chamber 3 fills: no puff can prove chambers 1 and 2 open, so
    VENT_FAILED; the manifold's verified vent must not empty their bars (a hostile review)."""
    from sim.harness import Boot
    import app as fw_app
    import safety
    import sequencer
    b = Boot(settings={"minutes": 3, "fit_check": False})
    b.press("start")
    while not (b.app.seq.phase == sequencer.FILL and b.app.seq.chamber == 3) and b.t_ms < 60000:
        b.run(10)
    b.inject({"fault": "pump_dead"})
    b.run(15000)
    assert b.app.sup.fault == safety.VENT_FAILED, safety.CODES[b.app.sup.fault]
    assert b.app.chamber_dmmhg[:3] == [fw_app.UNKNOWN_DMMHG] * 3, b.app.chamber_dmmhg
    assert b.app.chamber_dmmhg[3] == 0
