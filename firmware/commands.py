# What people ask the boot to do: the button and the knob (through ui.py), the menu's settings,
# and commands from anywhere (MQTT too). Functions of the App (app.py), which keeps thin methods
# of the same names; every path to a start, a stop or a new setting goes through here.
from time import ticks_ms
import sequencer as sq
import ui
import program
from settings import bounds as settings_bounds, validate as settings_validate, SettingsError


def on_input(app, now_ms, ev, detents, stop):
    """What the user did with the button, the knob and the stop button this tick."""
    seq = app.seq
    u = app.ui
    action = u.handle(now_ms, ev, detents, stop, seq.active(), seq.phase == sq.PAUSED,
                      seq.ending(), app.sup.tripped())
    if action == ui.START:
        if u.target_mmhg != app.settings["pressure_mmhg"]:
            app.settings["pressure_mmhg"] = u.target_mmhg      # remembered for next time
            app._save = dict(app.settings)
        command(app, now_ms, "start")
    elif action == ui.STOP:
        command(app, now_ms, "stop")
    elif action == ui.PAUSE:
        command(app, now_ms, "pause")
    elif action == ui.RESUME:
        command(app, now_ms, "resume")
    elif action == ui.CLEAR:
        command(app, now_ms, "clear")
    elif action == ui.SET_TARGET:
        command(app, now_ms, "set_target", u.value)
    elif action == ui.SAVE:
        apply_settings(app, now_ms, u.settings())
    elif u.menu:
        app.event(now_ms, "menu", {"item": u.item_name(), "minutes": u.minutes,
                                    "mode": u.mode, "enabled": u.enabled})

def apply_settings(app, now_ms, new):
    """Settings changed in the menu: check them, use them, and store them on flash."""
    merged = dict(app.settings)
    merged.update(new)
    try:
        merged = settings_validate(merged, app.cfg)
    except SettingsError as e:
        app.event(now_ms, "warning", {"text": "settings not saved: %s" % e})
        return
    app.settings = merged
    seq = app.seq
    seq.session_ms = merged["minutes"] * 60000
    app.session_limit_ms = seq.session_ms
    seq.set_enabled(merged["enabled"])
    app.monitor.skip_mask = seq.skip_mask
    use_program(app, merged)
    seq.set_target(merged["pressure_mmhg"] * 10)
    app._save = dict(merged)
    app.event(now_ms, "settings", merged)

def use_program(app, values):
    """The mode's program, and app-tuning, for the sequencer. A custom program file that
    does not load leaves the plain wave, and says why."""
    seq = app.seq
    seq.tuning = values["tuning"]
    seq.fit_check = values["fit_check"]
    mode = values["mode"]
    custom = None
    if mode == "custom":
        path = "%sprograms/%s.json" % (app.flash_dir, values["program"])
        try:
            custom = program.load(path, app.cfg["chambers"],
                                  app.cfg["limits"]["max_target_mmhg"])
        except program.ProgramError as e:
            app.event(ticks_ms(), "warning", {"text": "%s: running the plain wave" % e})
            mode = "wave"
    seq.program = None if mode == "wave" else program.Program(
        mode, app.cfg["chambers"], app.cfg["limits"]["max_target_mmhg"] * 10, values,
        custom)

def command(app, now_ms, name, value=None):
    """The one way anything asks the boot to do something (the button, the knob, MQTT).
    Returns None when done, else why not (a short text). Stopping is never refused."""
    seq = app.seq
    if name == "stop":
        if seq.active():
            seq.stop(now_ms)
        return None
    if name == "clear":
        if not app.sup.tripped():
            return None
        if app.sup.clear(now_ms, app.sensor.p_dmmhg, app.sensor.bad_run):
            app._log_queue.append(None)      # None: acknowledge the newest record
            app.event(now_ms, "clear")
            return None
        app.event(now_ms, "clear_refused", {"why": "not verified vented yet"})
        return "not verified vented yet"
    if name == "pause":
        if seq.active() and not seq.ending() and seq.phase not in (sq.ZERO, sq.PAUSED):
            seq.pause(now_ms)
            app.sup.begin_vent(now_ms)
            app.event(now_ms, "pause")
            return None
        return "not running"
    if name == "set_target":
        lo, hi = settings_bounds("pressure_mmhg", app.cfg)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            return "target must be a whole number from %d to %d mmHg" % (lo, hi)
        seq.set_target(value * 10)              # the next fill uses it
        app.event(now_ms, "target", {"target_mmhg": value})
        return None
    if app.sup.tripped():
        return "a fault is latched: acknowledge it first"
    if name == "resume":
        if seq.phase != sq.PAUSED:
            return "not paused"
        seq.resume(now_ms)
        app.event(now_ms, "resume")
        return None
    if name == "start":
        if seq.active():
            return "already running"
        seq.start(now_ms)
        app.session_start_ms = now_ms
        app.monitor.begin_session(now_ms)
        app.sensor.zero_begin()
        app._mark = 1
        app.event(now_ms, "start", {
            "target_mmhg": seq.next_target_dmmhg // 10, "minutes": app.settings["minutes"],
            "mode": app.settings["mode"], "chambers": seq.chambers})
        return None
    return "unknown command"
