# The service task's slow work, away from the control path: the status line, the fault and
# usage logs, the settings file, the session marker, and the display. Flash writes can take
# tens of ms; none of this may ever run inside a control tick.
from time import ticks_diff
import limits as L
import faultlog
from settings import save as settings_save

USAGE_LOG = "usage.log"           # one line per session (a compliance meter)
DRAW_MS = 500                     # the display is redrawn this often


def exists(path):
    try:
        open(path).close()
        return True
    except OSError:
        return False


def take(path):
    """A marker's text, the marker then removed; "" if there is none."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return ""
    remove(path)
    return text


def put(path, text):
    """Write a small marker file. Returns False if the flash refused (the marker is lost)."""
    try:
        with open(path, "w") as f:
            f.write(text)
        return True
    except OSError:
        return False


def remove(path):
    import os
    try:
        os.remove(path)
    except OSError:
        pass


def service(app, now_ms):
    """Slow work: the status line and flash writes."""
    if ticks_diff(now_ms, app._last_status_ms) >= L.STATUS_MS:
        app._last_status_ms = now_ms
        app.status(now_ms)
    while app._log_queue:
        rec = app._log_queue.pop(0)
        try:
            if rec is None:
                faultlog.acknowledge(app.log_path)
            else:
                faultlog.append(app.log_path, rec, L.FAULT_LOG_ENTRIES)
        except OSError as e:
            app.event(now_ms, "warning", {"text": "fault log not written: %s" % e})
    display = app.hw.display
    if display is not None and ticks_diff(now_ms, app._last_draw_ms) >= DRAW_MS:
        app._last_draw_ms = now_ms
        u = app.ui
        menu = None
        if u.menu:
            menu = (u.item_name(), u.settings_value())
        display.draw(app.snapshot(now_ms), [d // 10 for d in app.chamber_dmmhg],
                     app.cfg["limits"]["ceiling_mmhg"], menu)
    if app._usage is not None:
        rec, app._usage = app._usage, None
        try:
            faultlog.append(app.flash_dir + USAGE_LOG, rec, L.USAGE_LOG_ENTRIES)
        except OSError as e:
            app.event(now_ms, "warning", {"text": "usage log not written: %s" % e})
        app.event(now_ms, "usage", rec)
    if app._save is not None:
        values, app._save = app._save, None
        try:
            settings_save(app.settings_path, values)
        except OSError as e:
            app.event(now_ms, "warning", {"text": "settings not saved: %s" % e})
    if app._mark:
        try:
            if app._mark > 0:
                open(app.mark_path, "w").close()
            else:
                remove(app.mark_path)
        except OSError:
            pass
        app._mark = 0
