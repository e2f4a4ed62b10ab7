"""Issue 12: slow flash and a blocking console (sim/device/flashmodel.py, firmware/flashfs.py,
firmware/console.py, App.rest_window in firmware/app.py).

A flash sector erase stalls the whole chip (45 ms typical, 400 ms at worst), and a console write
waits: the classic ESP32's UART in 10 ms steps, the S3's USB up to 500 ms a write when a host
holds the port open without reading. The firmware writes flash, and a USB console, only in rest
windows (every output released, the watchdog widened), one flash call a window; a UART within a
byte budget per service run. So no control tick is late by more than 50 ms while anything is
driven ("tick_gap"); the chip's stalls with every output released are reported apart
("tick_gap_rest")."""
import json
import re
from pathlib import Path

import pytest

from sim import paths
from sim.session import build_config, run
from sim.scenario import ScenarioError

ROOT = Path(__file__).resolve().parent.parent
LATE_MS = 50                    # no control tick later than this ...
GAP_MS = 10 + LATE_MS           # ... so no two ticks further apart than the period plus it


def _run(tmp_path, scenario, runtime="micropython", flash=None, name="t"):
    config = build_config(scenario)
    config["tick_gap"] = True
    trace = tmp_path / f"{name}.jsonl"
    summary, _ = run(config, runtime, str(trace), quiet=True,
                     flash_dir=str(flash) if flash else None)
    records = [json.loads(x) for x in trace.read_text().splitlines()]
    return summary, [r for r in records if r["kind"] == "event"]


def _of(events, name):
    return [e for e in events if e["event"] == name]


def _gap(events, name="tick_gap"):
    return max((e["gap_ms"] for e in _of(events, name)), default=0)


def _usage_rec(i):
    return {"uptime_ms": 1000 * i, "minutes_set": 20, "ran_s": 1200, "mode": "wave",
            "target_mmhg": 80, "waves": 22, "enabled": [1, 2, 3, 4], "end": "complete",
            "n": i}


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_a_full_usage_log_on_the_slowest_flash_keeps_the_ticks_on_time(tmp_path, runtime):
    """100 sessions in the log (15 KB), every sector 400 ms: the session's end appends one line
    (one sector) and trims the log with one rename, each in its own rest window; the session
    marker is written and removed the same way. No tick is late while anything is driven,
    nothing is lost, no fault, no reset (the watchdog is widened around each call)."""
    flash = tmp_path / "flash"
    flash.mkdir()
    old = [_usage_rec(i) for i in range(100)]
    (flash / "usage.log").write_text("".join(json.dumps(r) + "\n" for r in old))
    assert len((flash / "usage.log").read_bytes()) > 14000
    summary, events = _run(tmp_path, {"settings": {"minutes": 1, "fit_check": False},
                                      "chip": {"flash_sector_ms": 400}, "duration_s": 80},
                           runtime, flash)
    assert summary["end_reason"] == "complete" and not summary["faults"]
    assert not _of(events, "reset")
    assert not [w for w in _of(events, "warning") if "framebuf" not in w["text"]]
    gap, rest = _gap(events), _gap(events, "tick_gap_rest")
    print(f"\n{runtime}: longest gap between control ticks {gap} ms while driven, "
          f"{rest} ms in a rest window (400 ms sectors)")
    assert gap <= GAP_MS
    assert 400 <= rest <= 400 + 2 * GAP_MS     # one sector a window, never two
    io = _of(events, "chipio")[-1]
    # the marker made and removed, the record appended, the log renamed usage.old: 4 sectors
    assert io["flash_calls"] == 4 and io["sectors"] == 4 and io["longest_flash_ms"] == 400
    paths.import_device_modules()
    import housekeeping
    kept = housekeeping.usage_records(str(flash) + "/")
    assert len(kept) == 100 and kept[-1]["end"] == "complete" and "n" not in kept[-1]
    assert [r["n"] for r in kept[:-1]] == list(range(1, 100))    # the oldest one trimmed
    assert not (flash / "usage.log").exists() and not (flash / "session.run").exists()
    # the next session starts a new log: one line
    summary, events = _run(tmp_path, {"settings": {"minutes": 1, "fit_check": False},
                                      "chip": {"flash_sector_ms": 400}, "duration_s": 80},
                           runtime, flash, name="t2")
    assert not summary["faults"] and _gap(events) <= GAP_MS
    assert len((flash / "usage.log").read_text().splitlines()) == 1
    assert len(housekeeping.usage_records(str(flash) + "/")) == 100


def test_a_usb_console_nobody_reads_for_10_s_costs_lines_not_safety(tmp_path):
    """An S3 (its console the native USB): a host holds the port open and stops reading for
    10 s in the session's first rest. Each write then waits 500 ms and is lost: the firmware
    writes USB only in rest windows, stops at the first slow write and tries again 5 s later,
    so the session goes on, no fault, no tick late while driven, and the count of lost lines is
    the first thing the host reads when it reads again."""
    summary, events = _run(tmp_path, {
        "board": "esp32-s3-devkitc-6ch", "settings": {"minutes": 2, "fit_check": False},
        "faults": [{"t_s": 40, "fault": "console_blocked", "until_s": 50}],
        "duration_s": 150})
    phases = [(e["t_ms"], e["phase"]) for e in _of(events, "phase")]
    assert [p for t, p in phases if t <= 40000][-1] == "rest"    # (the block is in a rest)
    assert summary["end_reason"] == "complete" and not summary["faults"]
    assert not _of(events, "reset")
    gap, rest = _gap(events), _gap(events, "tick_gap_rest")
    print(f"\nblocked USB console: longest gap {gap} ms while driven, {rest} ms in a rest window")
    assert gap <= GAP_MS and rest <= 500 + 2 * GAP_MS
    io = _of(events, "chipio")[-1]
    dropped = _of(events, "console")
    assert io["console_lines_lost"] >= 2 and dropped
    # (lost: each write that waited; the lines in the USB buffer when the host stopped reading
    # are gone too, unseen by the firmware)
    assert dropped[0]["t_ms"] >= 50000 and dropped[0]["dropped"] >= 1
    print(f"lines the host never got: {io['console_lines_lost']}; "
          f"reported dropped: {[d['dropped'] for d in dropped]}")


def test_a_usb_console_on_a_classic_esp32_is_refused():
    with pytest.raises(ScenarioError, match="no native USB"):
        build_config({"chip": {"console": "usb"}})


def test_the_console_buffer_drops_with_a_count():
    paths.import_device_modules()
    import console
    import limits as L
    import simctx
    import vboard
    simctx.board = vboard.VirtualBoard(build_config({}), lambda line: None, 0, lambda t, d: t + d)
    out = []
    c = console.Console(out.append, console.UART)
    for i in range(L.CONSOLE_LINES + 5):
        c.put('{"event": "x", "i": %d}' % i)
    c.put_status('{"event": "status", "n": 1}')
    c.put_status('{"event": "status", "n": 2}')     # only the newest status waits
    assert c.dropped == 5
    for _ in range(60):
        c.drain(0, False)
        assert len(out[-1]) <= L.CONSOLE_RUN_BYTES     # (a run's share: the UART's FIFO)
    lines = "".join(out).splitlines()
    assert json.loads(lines[0]) == {"event": "console", "dropped": 5, "t_ms": 0}
    assert len(lines) == 1 + L.CONSOLE_LINES + 1 and json.loads(lines[-1])["n"] == 2
    usb = console.Console(out.append, console.USB)
    usb.put("x")
    usb.drain(0, False)                                 # USB: only in a rest window
    assert usb.pending()


# what writes to flash, anywhere in the firmware, besides flashfs.py
_WRITES = re.compile(r"""(?<![\w.])open\([^)]*,\s*["'][wax]|os\.(rename|remove|unlink|mkdir|rmdir)\(""")
# (netguard's note around a network step, once a file, is in the RTC's memory now: rtcnote.py)
_KNOWN = set()


def test_only_flashfs_writes_flash():
    found = []
    for f in sorted((ROOT / "firmware").glob("*.py")):
        if f.name == "flashfs.py" or f.name in _KNOWN:
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if _WRITES.search(line.split("#")[0]):
                found.append(f"{f.name}:{n}: {line.strip()}")
    assert not found, "flash written outside flashfs.py:\n" + "\n".join(found)


# --- a press during a rest window's stall (firmware/board.py: the pins' edges latched) --------
# An S3 whose USB console a host holds open without reading: each rest window's console write
# stalls the chip 500 ms. In this session (started at 5 s) the stalls fall at about 40.8-41.3 s
# and 44.2-44.7 s; a press of 200 ms made inside one comes and goes unseen by the polling.
_BLOCKED_S3 = {"board": "esp32-s3-devkitc-6ch", "chip": {"console": "usb_blocked"},
               "settings": {"minutes": 2, "fit_check": False}, "duration_s": 50}


@pytest.mark.parametrize("t_s,do,event", [(41.0, "stop_press", "stop"),
                                          (44.3, "stop_press", "stop"),
                                          (44.3, "press", "pause"), (41.0, "press", "pause")])
def test_a_press_inside_a_rest_window_stall_is_acted_on(tmp_path, t_s, do, event):
    summary, events = _run(tmp_path, dict(_BLOCKED_S3, actions=[{"t_s": 5, "do": "start"},
                                                                {"t_s": t_s, "do": do}]))
    acted = _of(events, event)
    assert len(acted) == 1, (do, t_s, acted)         # seen, once (the contact bounces)
    # acted on only after the press had ended: it was made and released inside a stall
    assert acted[0]["t_ms"] >= t_s * 1000 + 200
    assert summary["end_reason"] == ("stopped" if event == "stop" else "running")
    assert not summary["faults"] and not _of(events, "reset")


def test_the_readme_slow_chip_example_starts_its_session(tmp_path):
    """README's chip example: the S3 at 400 ms sectors with a USB console nobody reads, the
    default start press at 0 s (made while the chip is stalled at boot)."""
    summary, events = _run(tmp_path, {"board": "esp32-s3-devkitc-6ch", "duration_s": 30,
                                      "chip": {"uptime_s": 0, "flash_sector_ms": 400,
                                               "console": "usb_blocked"}})
    assert summary["end_reason"] != "not_started" and not summary["faults"]


def test_a_long_stop_press_still_stops_with_the_latch(tmp_path):
    """With the latch: a press pauses, the next resumes, and the long press (held 2.5 s)
    pauses at its contact and stops the session at 1.5 s held: each once, the contacts
    bouncing."""
    summary, events = _run(tmp_path, dict(_BLOCKED_S3, actions=[
        {"t_s": 5, "do": "start"}, {"t_s": 20, "do": "press"}, {"t_s": 25, "do": "press"},
        {"t_s": 30, "do": "stop"}], duration_s=40))
    seen = [(e["event"], e["t_ms"]) for e in events if e["event"] in ("pause", "resume", "stop")]
    assert [n for n, _ in seen] == ["pause", "resume", "pause", "stop"], seen
    assert 31500 <= seen[-1][1] <= 31800 and summary["end_reason"] == "stopped"


# --- the fault record lands as soon as the outputs are safe (housekeeping.py) -----------------
@pytest.mark.parametrize("sector_ms", [45, 400])
def test_a_fault_then_a_brownout_300_ms_later_keeps_the_fault_latched(tmp_path, sector_ms):
    """NO_RISE, then the power dips 300 ms later: the fault record went to flash in the first
    service run after the trip (the trip's vent still being verified), so the next boot comes
    back with the fault latched. (It took 1.4 s at 45 ms sectors, 2.1 s at 400 ms: two windows,
    each after the vent and the valve check.)"""
    from sim.harness import Boot
    import safety
    b = Boot(settings={"minutes": 2, "fit_check": False}, flash_dir=str(tmp_path),
             chip={"flash_sector_ms": sector_ms})
    b.press("start")
    b.run(2000)                                 # (in the zero phase: the fill finds no pump)
    b.inject({"fault": "pump_dead"})
    for _ in range(3000):
        b.run(10)
        if b.app.sup.fault:
            break
    assert b.app.sup.fault == safety.NO_RISE
    b.run(300)
    b.inject({"fault": "brownout"})
    b.run(100)
    assert b.resets == 1
    assert b.app.sup.fault == safety.NO_RISE, "the latched fault was lost with the brownout"
    assert any('"restored": true' in e for e in b.events)


# --- a rest window's console share is bounded in time, and never shares a window with flash ---
def test_a_slow_reading_host_holds_a_rest_window_at_most_the_console_time_bound():
    """A host that reads, but slowly (90 ms a write, under CONSOLE_SLOW_MS: not "stuck"): one
    rest window's drain stops once CONSOLE_REST_MS have passed (it took 32 x 90 ms = 2.9 s for
    a full buffer, past REST_WDT_MS); the rest goes out in the next windows, in order."""
    paths.import_device_modules()
    import console
    import limits as L
    import simctx
    import vboard
    vb = vboard.VirtualBoard(build_config({}), lambda line: None, 0, lambda t, d: t + d)
    simctx.board = vb
    out = []

    def slow(text):
        vb.advance(90)
        out.append(text)
    c = console.Console(slow, console.USB)
    for i in range(L.CONSOLE_LINES):
        c.put('{"event": "x", "i": %d}' % i)
    windows = 0
    while c.pending():
        t0 = vb.ms
        c.drain(0, True)
        windows += 1
        assert vb.ms - t0 <= L.CONSOLE_REST_MS + L.CONSOLE_SLOW_MS
        assert 2 * L.CONSOLE_REST_MS + 500 < L.REST_WDT_MS      # (and a write that times out)
    got = [json.loads(x)["i"] for x in "".join(out).splitlines()]
    assert got == list(range(L.CONSOLE_LINES)) and windows >= L.CONSOLE_LINES // 3


def test_a_rest_window_writes_flash_or_the_console_never_both(tmp_path):
    """A window with a flash call waiting makes it and writes nothing to a USB console (up to
    400 ms of a sector and 700 ms of console in one window, with a fault record's 1.2 s: past
    REST_WDT_MS); the console has the next window to itself."""
    from types import SimpleNamespace
    paths.import_device_modules()
    import console
    import housekeeping
    import simctx
    import vboard
    simctx.board = vboard.VirtualBoard(build_config({}), lambda line: None, 0,
                                       lambda t, d: t + d)
    out = []
    c = console.Console(out.append, console.USB)
    c.put('{"event": "x"}')
    mark = str(tmp_path / "session.run")
    app = SimpleNamespace(_flash_jobs=[("mark", 1)], console=c, mark_path=mark,
                          flash_dir=str(tmp_path) + "/", uptime_ms=lambda now_ms: now_ms,
                          event=lambda *a: out.append(a))
    housekeeping.rest_work(app, 0)
    assert (tmp_path / "session.run").exists() and out == [] and c.pending()
    housekeeping.rest_work(app, 100)
    assert out == ['{"event": "x"}\n'] and not c.pending()


def test_a_fault_log_copy_left_by_a_reset_before_its_rename_is_restored(tmp_path):
    """A reset between the fault log's new copy and its rename (one window): the copy holds the
    newest record, and the next boot restores it (the old log's last record was acknowledged)."""
    from sim.harness import Boot
    import safety
    (tmp_path / "faults.log").write_text('{"code": "NO_RISE", "ack": true}\n')
    (tmp_path / "faults.log.tmp").write_text('{"code": "NO_RISE", "ack": true}\n'
                                             '{"code": "SENSOR_RANGE", "uptime_ms": 9000}\n')
    b = Boot(settings={"minutes": 2}, flash_dir=str(tmp_path))
    assert b.app.sup.fault == safety.SENSOR_RANGE
    assert any('"restored": true' in e for e in b.events)


def test_a_heap_too_full_for_a_flash_job_and_its_warning_leaves_the_service_task_alive(
        monkeypatch):
    """The menu's settings applied in a rest window on a heap that cannot hold the apply
    beyond its own handler: the values kept for the next power-on (written to flash), a
    notice on the display, no crash."""
    import commands
    import housekeeping
    from sim.harness import Boot
    real = housekeeping._flash

    def no_heap_for_apply(app, work, now_ms):
        if work[0] == "apply":
            raise MemoryError("memory allocation failed")
        return real(app, work, now_ms)
    boot = Boot()
    boot.run(500)
    monkeypatch.setattr(housekeeping, "_flash", no_heap_for_apply)
    values = dict(boot.app.settings, pressure_mmhg=60)
    boot.app._flash_jobs.append(("apply", values))
    boot.run(3000)
    assert not boot.app._flash_jobs and boot.service_alive
    assert boot.app.notice == commands.NOTICE_RESTART
    stored = json.loads(open(boot.flash + "settings.json").read())
    assert stored["pressure_mmhg"] == 60                    # kept for the next power-on
    assert boot.app.sup.fault == 0 and boot.app.service_short_runs == 1


def test_a_fault_record_that_meets_a_full_heap_waits_for_the_next_window(monkeypatch):
    """A MemoryError in the service task's slow work skips that run (no crash) and keeps the
    job in hand; a heap that stays too full stops the heartbeat, and the supervisor trips."""
    import housekeeping
    from sim.harness import Boot
    real = housekeeping._flash
    failing = [3]

    def short_heap(app, work, now_ms):
        if work[0] == "fault" and failing[0]:
            failing[0] -= 1
            raise MemoryError("memory allocation failed")
        return real(app, work, now_ms)
    boot = Boot()
    boot.run(500)
    monkeypatch.setattr(housekeeping, "_flash", short_heap)
    boot.inject({"fault": "sensor_open"})
    boot.run(5000)
    assert boot.service_alive and boot.app.service_short_runs == 3
    assert boot.app.sup.fault != 0 and not boot.app._flash_jobs
    import faultlog
    assert faultlog.current(boot.flash + "faults.log")      # the record landed after all

    def never(*args, **kwargs):
        raise MemoryError("memory allocation failed")
    boot = Boot()
    boot.run(500)
    monkeypatch.setattr(housekeeping, "service", never)
    boot.run(3000)
    assert boot.app.sup.fault != 0          # the service task's heartbeat stopped: tripped


def _fault_log_after(monkeypatch, module, name, fail_when):
    """A sensor fault whose flash work meets one MemoryError where fail_when(args) says: the
    fault log's records afterwards."""
    import faultlog
    import housekeeping
    from sim.harness import Boot
    target = getattr(module, name)
    left = [1]

    def once(*args, **kwargs):
        if left[0] and fail_when(args):
            left[0] -= 1
            raise MemoryError("memory allocation failed")
        return target(*args, **kwargs)
    boot = Boot()
    boot.run(500)
    monkeypatch.setattr(module, name, once)
    boot.inject({"fault": "sensor_open"})
    boot.run(5000)
    assert left[0] == 0 and boot.service_alive and boot.app.service_short_runs == 1
    return faultlog.current(boot.flash + "faults.log"), housekeeping


def test_a_fault_record_whose_rename_meets_a_full_heap_is_written_once(monkeypatch):
    import flashfs
    records, _ = _fault_log_after(monkeypatch, flashfs, "rename",
                                  lambda args: args[1].endswith("faults.log"))
    assert [r["code"] for r in records] == ["SENSOR_RANGE"], records


def test_a_fault_record_is_not_lost_when_queueing_it_meets_a_full_heap(monkeypatch):
    import housekeeping
    records, _ = _fault_log_after(monkeypatch, housekeeping, "job",
                                  lambda args: args[1][0] == "fault")
    assert [r["code"] for r in records] == ["SENSOR_RANGE"], records


def test_two_identical_fault_records_are_both_written():
    """Records restored after a watchdog reset carry no time ({"code": "LOOP_STALL", "why":
    "watchdog reset"}): a second one before the first is acknowledged is a second record, not
    a retry to skip (a hostile review)."""
    import faultlog
    from sim.harness import Boot
    boot = Boot()
    boot.run(500)
    rec = {"code": "LOOP_STALL", "why": "watchdog reset"}
    boot.app._log_queue.append(dict(rec))
    boot.run(1000)
    boot.app._log_queue.append(dict(rec))
    boot.run(1000)
    assert faultlog.current(boot.flash + "faults.log") == [rec, rec]


def test_a_usage_line_that_meets_a_full_heap_before_it_is_written_is_written_later(
        monkeypatch):
    import housekeeping
    from sim.harness import Boot
    real = housekeeping._count_lines
    left = [1]

    def once(path):
        if left[0]:
            left[0] -= 1
            raise MemoryError("memory allocation failed")
        return real(path)
    boot = Boot(settings={"minutes": 1, "fit_check": False})
    monkeypatch.setattr(housekeeping, "_count_lines", once)
    boot.press("start")
    boot.run(100000)
    lines = open(boot.flash + housekeeping.USAGE_LOG).read().splitlines()
    assert left[0] == 0 and len(lines) == 1, lines
