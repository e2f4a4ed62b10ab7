# The service task's slow work, away from the control path: the status line, the fault and
# usage logs, the menu's settings (checked, used and stored), the session marker, the display
# and the console.
#
# Flash: every write waits in app._flash_jobs until a rest window (App.rest_window: every output
# released, the watchdog widened), and one call (flashfs.py) is made per window, so the chip
# stalls at most one call's sectors at a time, and only while nothing is energised. A fault
# record goes first: it jumps the queue, its window may open while the trip's vent is still
# being verified (App.at_rest(fault_record): the trip has already driven every output safe),
# and the log's new copy and its rename are made in that one window, so the record is on flash
# within a service run or two of the trip (a reset between the two calls leaves the copy,
# faultlog.current reads it). A window does flash or the console, never both. The usage
# log is appended (one line a session: one sector); at USAGE_LOG_ENTRIES lines it is renamed
# usage.old (one call) and a new one starts: never read, parsed and rewritten whole.
#
# Console: the events' lines wait in app.console (console.py): a UART is written at every run
# within a byte budget; a USB console only in a rest window.
from time import ticks_diff
import json
import limits as L
import faultlog
import flashfs
import commands
from console import USB

USAGE_LOG = "usage.log"           # one line per session (a compliance meter) ...
USAGE_OLD = "usage.old"           # ... and the USAGE_LOG_ENTRIES sessions before those
DRAW_MS = 500                     # the display is redrawn this often
RETRY = 1                         # a fault job's third field: tried once, met a MemoryError


def _due(now_ms, last_ms, every_ms):
    """A periodic job is due: every_ms since last_ms, or last_ms reads as the future (a time
    that can only come from before a jump of the counter: due now, not in 6 days)."""
    age = ticks_diff(now_ms, last_ms)
    return age >= every_ms or age < 0


def exists(path):
    try:
        open(path).close()
        return True
    except OSError:
        return False


def remove(path):
    flashfs.remove(path)


def job(app, work):
    """Queue a flash call for the next rest window. A full queue loses this one (a warning)."""
    jobs = app._flash_jobs
    if len(jobs) >= L.FLASH_JOBS:
        app.event(app._last_tick_ms, "warning", {"text": "flash busy: %s" % (
            "the menu's settings not used" if work[0] == "apply" else work[0] + " not written")})
        return
    if work[0] == "fault":
        # ahead of every other kind (the fault log's own calls keep their order)
        i = 0
        while i < len(jobs) and jobs[i][0] == "fault":
            i += 1
        jobs.insert(i, work)
    else:
        jobs.append(work)


def service(app, now_ms):
    """Slow work: the status line, the display; flash calls and console lines queued, made
    when they may be (see the top of this file)."""
    if _due(now_ms, app._last_status_ms, L.STATUS_MS):
        app._last_status_ms = now_ms
        app.status(now_ms)
    # each queued first, then taken off: a MemoryError in between loses nothing (the service
    # run ends there, App.service, and the next one queues it)
    q = app._log_queue
    while q:
        job(app, ("fault", q[0]))
        q.pop(0)
    display = app.hw.display
    if display is not None and _due(now_ms, app._last_draw_ms, DRAW_MS):
        app._last_draw_ms = now_ms
        u = app.ui
        menu = None
        if u.menu:
            menu = (u.item_name(), u.settings_value())
        display.draw(app.snapshot(now_ms), [d // 10 for d in app.chamber_dmmhg],
                     app.cfg["limits"]["ceiling_mmhg"], menu, app.notice)
    if app._usage is not None:
        rec = app._usage
        job(app, ("usage", rec))
        app._usage = None
        app.event(now_ms, "usage", rec)
    if app._save is not None:
        job(app, ("settings", app._save))
        app._save = None
    if app._mark:
        job(app, ("mark", app._mark))
        app._mark = 0
    con = app.console
    con.drain(app.uptime_ms(now_ms), False)
    jobs = app._flash_jobs
    record = bool(jobs) and jobs[0][0] == "fault" and jobs[0][1] is not None
    if (jobs or (con.kind == USB and con.pending())) and app.at_rest(record):
        app.rest_window(now_ms, rest_work, record)


def rest_work(app, now_ms):
    """Inside a rest window: one flash call; or, with none waiting, a USB console's lines (never
    both in one window: limits.REST_WDT_MS)."""
    if app._flash_jobs:
        work = app._flash_jobs.pop(0)
        try:
            _flash(app, work, now_ms)
        except OSError as e:
            app.event(now_ms, "warning", {"text": "%s not written to flash: %s" % (work[0], e)})
        except MemoryError:
            if work[0] == "apply":
                # a heap too full for the apply beyond its own handler (commands.py): the
                # values (every setting, merged when queued) kept for the next power-on
                commands.keep_for_next_boot(app, work[1])
            elif work[0] == "fault":
                # again next window, marked a retry: its copy may hold it already (_flash)
                app._flash_jobs.insert(0, ("fault", work[1], RETRY))
            elif work[0] != "usage":
                # done again next window: the settings' copy, the marker, a rename (done
                # already: an OSError, a warning). A usage line may be half in: not twice
                app._flash_jobs.insert(0, work)
            raise                   # the service run ends here (App.service)
    elif app.console.kind == USB:     # (a UART had its share of this run already)
        app.console.drain(app.uptime_ms(now_ms), True)


def _flash(app, work, now_ms):
    kind = work[0]
    d = app.flash_dir
    if kind == "apply":
        # the menu's settings: the checkers come from flash for it (lazy.py)
        if app.seq.active():            # (a start waits for them: never mid-session)
            app.event(now_ms, "warning", {"text": "the menu's settings not used: a session "
                                                  "runs; save them again when idle"})
        else:
            app.apply_settings(now_ms, work[1])     # (a heap too full for it: a warning)
    elif kind == "rename":
        flashfs.rename(work[1], work[2])
    elif kind == "fault":
        # the fault log is small (FAULT_LOG_ENTRIES lines): a new copy, renamed in the same
        # window (at most 3 sectors: limits.REST_WDT_MS), so a record lands in one window; a
        # reset between the two leaves the copy, which faultlog.current reads
        rec = work[1]
        records = faultlog.current(app.log_path)
        if rec is None:
            if not records or records[-1].get("ack"):
                return
            records[-1]["ack"] = True
        elif len(work) < 3 or not records or records[-1] != rec:
            records.append(rec)     # (not on a retry whose copy holds it: not twice)
        tmp = app.log_path + ".tmp"
        flashfs.write(tmp, faultlog.text(records[-L.FAULT_LOG_ENTRIES:]))
        flashfs.rename(tmp, app.log_path)
    elif kind == "usage":
        try:
            line = json.dumps(work[1]) + "\n"
            if app._usage_lines < 0:
                app._usage_lines = _count_lines(d + USAGE_LOG)
        except MemoryError:
            app._flash_jobs.insert(0, work)     # nothing written yet: again next window
            raise
        flashfs.append(d + USAGE_LOG, line)
        app._usage_lines += 1
        if app._usage_lines >= L.USAGE_LOG_ENTRIES:
            app._usage_lines = 0        # the trim: one rename, next window
            app._flash_jobs.insert(0, ("rename", d + USAGE_LOG, d + USAGE_OLD))
    elif kind == "settings":
        tmp = app.settings_path + ".tmp"
        flashfs.write(tmp, flashfs.json_pieces(work[1]))
        app._flash_jobs.insert(0, ("rename", tmp, app.settings_path))
    elif kind == "mark":
        if work[1] > 0:
            flashfs.touch(app.mark_path)
        else:
            flashfs.remove(app.mark_path)


def _count_lines(path):
    n = 0
    try:
        with open(path) as f:
            for _ in f:
                n += 1
    except OSError:
        pass
    return n


def usage_records(flash_dir=""):
    """The usage log's records, oldest first: the newest USAGE_LOG_ENTRIES of usage.old and
    usage.log (for tools; the firmware never reads the log back)."""
    out = faultlog.read(flash_dir + USAGE_OLD) + faultlog.read(flash_dir + USAGE_LOG)
    return out[-L.USAGE_LOG_ENTRIES:]
