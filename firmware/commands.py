# What people ask the boot to do: the button and the knob (through ui.py), the menu's settings,
# and commands from anywhere (MQTT too). Functions of the App (app.py), which keeps thin methods
# of the same names; every path to a start, a stop or a new setting goes through here.
from time import ticks_ms
import sequencer as sq
import safety
import ui
import gate
import lazy
from limits import START_MMHG
from ranges import bounds
from tripped import ACK_PASSED, ACK_SHUT, ACK_NO_AIR, ACK_CANCELLED, ACK_PUMP_ON, ACK_NO_SEAL, \
    ACK_NAMES


def on_input(app, now_ms, ev, detents, stop, contact=False):
    """What the user did with the button, the knob and the stop button this tick."""
    seq = app.seq
    u = app.ui
    trip = app.trip
    if (contact or stop) and trip.ack_running():
        trip.cancel_ack()           # a press while the check puffs: stop puffing at once
    if contact:
        app.gate.note_contact()
    target = seq.next_target_dmmhg // 10
    action = u.handle(now_ms, ev, detents, stop, contact, seq.active(),
                      seq.phase == sq.PAUSED, seq.ending(), app.sup.tripped(), target)
    if action == ui.START:
        command(app, now_ms, "start", pressed=True)
    elif action == ui.STOP:
        command(app, now_ms, "stop")
    elif action == ui.PAUSE:
        command(app, now_ms, "pause")
    elif action == ui.RESUME:
        command(app, now_ms, "resume", pressed=True)
    elif action == ui.CLEAR:
        command(app, now_ms, "clear")
    elif action == ui.SET_TARGET:
        command(app, now_ms, "set_target", u.value)
    elif action == ui.SAVE:
        # checked and used in the service task's next rest window: the checkers are loaded
        # from flash for it (lazy.py), which may stall the chip while every output is off
        app.queue_settings(u.settings(target))
    elif action == ui.MENU_CLOSED:
        app.event(now_ms, "menu", {"closed": "stop button: nothing saved"})
    elif u.menu:
        if action == ui.OPEN_MENU:
            u.load(app.settings)            # it shows what is stored
        app.event(now_ms, "menu", {"item": u.item_name(), "minutes": u.minutes,
                                    "mode": u.mode, "enabled": u.enabled})

NOTICE_RESTART = "RESTART TO USE"     # the display's notice (16 characters)
MEMORY_TEXT = ("settings saved, in use from the next power-on: this board's heap cannot hold "
               "their checker beside the running boot (firmware/lazy.py), so the boot checks "
               "them as it starts; power it off and on to use them. For room to spare flash "
               "the frozen image (docs/HARDWARE.md)")


def apply_settings(app, now_ms, new):
    """Settings changed in the menu (new: every setting, the menu's merged in by
    App.queue_settings): check them, use them, and store them on flash. Loads the checkers
    (settings.py, waveplan.py, program.py) and forgets them after (lazy.py)."""
    try:
        merged = _checked(app, new)
    except MemoryError:
        # the boot's own checks (settings.load, use_program) run before the app loads: the
        # menu's values (each within its range: ui.py) are stored for them, not used now.
        # Nothing is made for it (the heap is full): the values as queued, a fixed notice
        merged = None
        _forget(app)                # (what did load goes before anything else is made)
        keep_for_next_boot(app, new)
        try:
            app.event(now_ms, "warning", {"text": MEMORY_TEXT})
        except MemoryError:
            pass                    # (the display's notice says it; the values are kept)
    if merged is None:
        _forget(app)
        return
    app.settings = merged
    seq = app.seq
    seq.session_ms = merged["minutes"] * 60000
    app.session_limit_ms = seq.session_ms
    seq.set_enabled(merged["enabled"])
    app.monitor.skip_mask = seq.skip_mask
    seq.set_target(merged["pressure_mmhg"] * 10)
    use_program(app, merged)                    # (then the checkers are forgotten)
    app._save = dict(merged)
    app.event(now_ms, "settings", merged)

def keep_for_next_boot(app, values):
    """The menu's settings (every setting) stored for the next power-on's checks, and the
    display's notice: nothing is made (the heap is too full for more)."""
    app._save = values
    app.notice = NOTICE_RESTART


def _checked(app, new):
    """The menu's settings (the stored ones with its own), checked; None (and a warning) if
    refused."""
    import settings
    import waveplan
    try:
        merged = settings.validate(dict(new), app.cfg)
    except settings.SettingsError as e:
        app.event(ticks_ms(), "warning", {"text": "settings not saved: %s" % e})
        return None
    if merged["mode"] != "custom":
        # a mode's settings, checked as a whole (a custom program's file: use_program)
        why = waveplan.check(merged, app.cfg)
        if why:
            app.event(ticks_ms(), "warning", {"text": "settings not saved: %s" % why})
            return None
    return merged


def _forget(app):
    """The checkers out of the heap again (lazy.py); program.py too unless a program runs (its
    Program holds that module's code)."""
    lazy.drop(lazy.CHECKERS if app.seq.program is not None else lazy.CHECKERS + ("program",))


def use_program(app, values):
    """As _use_program, then the checkers forgotten (lazy.py). A heap that cannot hold them
    (a MemoryError loading them) is a refused program: the plain wave at no more than
    limits.START_MMHG, as for a file that cannot be read; never a crash."""
    try:
        _use_program(app, values)
    except MemoryError:
        app.seq.program = None
        _forget(app)
        _plain_wave(app, "the %s program could not be loaded: the heap is full (boot-sim "
                    "bench, docs/HARDWARE.md: the frozen image)" % values["mode"], START_MMHG)
    finally:
        _forget(app)


def _use_program(app, values):
    """The mode's program, and app-tuning, for the sequencer. A custom program file that
    does not load, or a program or mode whose wave would not let down in time (waveplan.py),
    leaves the plain wave, and says why (a warning event; app.notice for the display). A
    refused program's plain wave fills no higher than the program's lowest chamber (a file it
    cannot read: limits.START_MMHG): never harder than the user asked. Call after the
    settings' target is set."""
    seq = app.seq
    seq.tuning = values["tuning"]
    seq.fit_check = values["fit_check"]
    mode = values["mode"]
    custom = None
    source = "settings.json"
    app.notice = ""
    seq.program = None              # (the old one's code may go: lazy.py)
    if mode == "wave":
        return                      # the plain wave: no program, no checker loaded
    import program
    import waveplan
    if mode == "custom":
        path = "%sprograms/%s.json" % (app.flash_dir, values["program"])
        source = "program file %s" % path
        try:
            custom = program.load(path, app.cfg["chambers"],
                                  app.cfg["limits"]["max_target_mmhg"])
            note = program.gradient_note(custom)
            if note:
                app.event(ticks_ms(), "warning", {"text": "program %s: %s" %
                                                  (values["program"], note)})
        except program.ProgramError as e:
            _plain_wave(app, str(e), START_MMHG)
            mode = "wave"
    if mode != "wave":
        # the program or the mode as a whole: every wave must let down in time
        why = waveplan.check(values, app.cfg, custom, source)
        if why:
            lowest = 0
            if custom:
                lowest = min([c["mmhg"] for c in custom["chambers"]])
            _plain_wave(app, why, lowest, "MODE REFUSED" if custom is None else None)
            mode = "wave"
            custom = None
    seq.program = None if mode == "wave" else program.Program(
        mode, app.cfg["chambers"], app.cfg["limits"]["max_target_mmhg"] * 10, values,
        custom)

def _plain_wave(app, why, cap_mmhg, notice=None):
    """A refused program or mode: the plain wave, at no more than cap_mmhg (0: no cap)."""
    seq = app.seq
    if cap_mmhg and seq.next_target_dmmhg > cap_mmhg * 10:
        seq.set_target(cap_mmhg * 10)
    app.event(ticks_ms(), "warning", {"text": "%s: running the plain wave at %d mmHg" %
                                      (why, seq.next_target_dmmhg // 10)})
    app.notice = notice or "PROGRAM REFUSED"


def command(app, now_ms, name, value=None, source=gate.LOCAL, pressed=False):
    """The one way anything asks the boot to do something (the button, the knob, the menu, the
    stop button, MQTT). Every request passes the one gate (gate.py). Returns None when done, else
    why not (a short text; a refusal by the gate is also an event). Stopping is never refused."""
    seq = app.seq
    g = app.gate
    if name == "stop":
        g.calm_down(now_ms)
        app.trip.cancel_ack()
        if seq.active():
            seq.stop(now_ms)
        return None
    if name == "pause":
        if app.sup.tripped():
            return "a fault is latched: the pump is off and every path is open already"
        if not seq.active() or seq.ending():
            return "not running"
        if seq.phase == sq.PAUSED:
            return "already paused"
        g.calm_down(now_ms)
        if seq.phase == sq.ZERO:
            # the start-up vent has no zero to keep yet, nor a wave to resume: a pause this
            # early ends the session, before anything inflates
            seq.stop(now_ms)
            app.event(now_ms, "pause", {"source": gate.SOURCES[source],
                                        "text": "paused in the start-up vent: the session "
                                                "is stopped; start again when ready"})
            return None
        seq.pause(now_ms)
        app.sup.begin_vent(now_ms)
        app.event(now_ms, "pause", {"source": gate.SOURCES[source]})
        return None
    if name == "clear":
        return _clear(app, now_ms)
    if app.sup.tripped():
        return LATCHED_TEXT
    raises = False
    if name == "set_target":
        lo, hi = bounds("pressure_mmhg", app.cfg)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            return "target must be a whole number from %d to %d mmHg" % (lo, hi)
        if seq.program is not None and seq.program.custom:
            # each chamber's pressure is the program file's: a target would change nothing
            return ("the custom program sets each chamber's pressure (its file's mmhg): the "
                    "target does not apply; edit the program, or choose another mode")
        raises = value * 10 > seq.next_target_dmmhg
    elif name not in ("start", "resume"):
        return "unknown command"
    why = g.why_not(now_ms, name, source, raises, pressed)
    if why is not None:
        if source == gate.LOCAL:    # (a remote one is answered with an "error" event)
            app.event(now_ms, "refused", {"cmd": name, "why": why})
        return why
    if name == "set_target":
        seq.set_target(value * 10)              # the next fill uses it
        app.event(now_ms, "target", {"target_mmhg": value, "source": gate.SOURCES[source]})
        return None
    if name == "resume":
        if seq.phase != sq.PAUSED:
            return "not paused"
        seq.resume(now_ms)
        app.event(now_ms, "resume", {"source": gate.SOURCES[source]})
        return None
    if seq.active():
        return "already running"
    if app.settings_waiting():
        # the menu's settings change only while idle: they are used first (a rest window)
        why = "the menu's settings are still being checked: start again in a second"
        if source == gate.LOCAL:
            app.event(now_ms, "refused", {"cmd": name, "why": why})
        return why
    target = seq.next_target_dmmhg // 10
    if target != app.settings["pressure_mmhg"]:
        app.settings["pressure_mmhg"] = target          # remembered for next time, whoever
        app._save = dict(app.settings)                  # set it (knob, MQTT)
    seq.start(now_ms)
    app.session_start_ms = now_ms
    app.monitor.begin_session(now_ms)
    app.holdwatch.begin_session()
    app.sensor.zero_begin()
    app._mark = 1
    app.event(now_ms, "start", {
        "target_mmhg": seq.next_target_dmmhg // 10, "minutes": app.settings["minutes"],
        "mode": app.settings["mode"], "chambers": seq.chambers,
        "source": gate.SOURCES[source]})
    return None


def _clear(app, now_ms):
    """A person acknowledges the fault. Allowed only once the vent is verified; then the
    acknowledgement check (tripped.py) must prove every chamber in use open, now, before the
    fault clears (ack_done). Not from MQTT: somebody must be at the boot."""
    sup = app.sup
    if not sup.tripped():
        return None
    app.gate.calm_down(now_ms)
    if app.trip.ack_running():
        return "checking the chambers"
    if not sup.may_clear(app.sensor.p_dmmhg, app.sensor.bad_run):
        app.event(now_ms, "clear_refused", {"why": "not verified vented", "advice": NOT_VENTED})
        return "not verified vented"
    mask = app.seq.enabled_mask
    app.trip.begin_ack(now_ms, app.sensor.p_dmmhg, mask)
    chambers = []
    for k in range(app.seq.chambers):
        if mask & (1 << k):
            chambers.append(k + 1)
    app.event(now_ms, "clear_check", {"chambers": chambers})
    return None


NOT_VENTED = ("the boot does not read vented (a sensor out of range or frozen, a manifold "
              "still under pressure, or isolation): make sure every chamber is soft (open the "
              "hoses by hand), check the sensor and the dump valve, then hold the button again")
LATCHED_TEXT = ("a fault is latched: nothing but stop until someone acknowledges it with a "
                "long press on the boot")


ACK_ADVICE = {
    ACK_SHUT: "chamber %d's valve did not open to the check's puff: it may still hold air "
              "around the leg. Open that chamber's hose by hand now, then test its valve; the "
              "fault stays until every chamber takes the puff",
    ACK_NO_AIR: "the check's puff into chamber %d did not reach the sensor (a dead pump, a "
                "sensor that cannot see): no chamber can be proven empty. Make sure every "
                "chamber is soft (open the hoses by hand), then check the pump and the sensor",
    ACK_CANCELLED: "the check was stopped at chamber %d before it finished (a press, the stop "
                   "button, or the sensor; 0: before the chamber puffs): hold the button again "
                   "to retry",
    ACK_PUMP_ON: "the pressure climbed with the pump switched off and every path closed: the "
                 "pump still runs. Unplug the boot's power now, open the chamber hoses by hand, "
                 "then check the pump driver",
    ACK_NO_SEAL: "a puff into the closed manifold built no pressure: the pump gives no air, the "
                 "sensor cannot see, or a path does not close (a chamber valve or the dump stuck "
                 "open, which could hide a chamber shut in behind another valve). Make sure "
                 "every chamber is soft (open the hoses by hand), then check the pump, the "
                 "sensor and each valve",
}


def ack_done(app, now_ms, result):
    """The acknowledgement check ended (tripped.take_ack): clear the fault only if it passed."""
    sup = app.sup
    app.gate.calm_down(now_ms)
    if result == ACK_PASSED and sup.clear(now_ms, app.sensor.p_dmmhg, app.sensor.bad_run):
        app._log_queue.append(None)      # None: acknowledge the newest record
        app.event(now_ms, "clear")
        return
    k = app.trip.ack_chamber
    if result == ACK_SHUT:
        sup.trip(safety.VENT_FAILED, now_ms)      # a valve stuck shut: the worst there is
        app.monitor.chamber = k
        app.display_unknown(k)      # (VENT_FAILED may be latched already: no change to see)
    text = ACK_ADVICE[result] if result in ACK_ADVICE else "not verified vented"
    if "%d" in text:
        text = text % k
    app.event(now_ms, "clear_refused", {"why": ACK_NAMES[result], "chamber": k, "advice": text})
