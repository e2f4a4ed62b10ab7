# Maintenance mode's link to the builder's computer (issue 15): one request a line on the
# console, one JSON reply a line. The requests (maint.py says what each may do):
#   enter | read | open K | close K | pump MS | bulb | vent | leave
# (K: 0 the dump, 1..n a chamber, foot first; MS: 1..limits.MAINT_PUMP_MAX_MS). Every reply is
#   {"maint": REQUEST, "ok": 1 or 0, "why": refusal text (when 0), "t_ms": uptime,
#    "on": 1 while in maintenance, "p_dmmhg": the reading (zeroed by this boot's zero, 0 before
#    a session), "uv": the ADC's mean microvolts at the pin, "cmd": the outputs' command bits,
#    "pumped_ms": pump time since enter, "fault": the latched code, "end": why it last ended}
# A reply is a console line like any event's (console.py): written by the service task.
#
# How a computer gets here: from the REPL (the firmware stopped by Ctrl-C, as tools/flash.sh
# does), `import maintlink; maintlink.run()` boots the app as main.py does, with this link as
# a service, and enters maintenance at once if the boot is idle (no fault latched). Every task,
# the supervisor and the watchdog run as in a session. When maintenance ends (leave, no request
# for limits.MAINT_IDLE_MS, a fault, a press) every path opens and the pump stops at once; the
# board resets into its firmware once the vent is verified, any fault record is on flash and
# the last reply is written (App.settled). A request is read only once the reply before it is
# written: replies never pile up behind a fast computer.
import json
import asyncio
from time import ticks_ms
import maint as M
import safety

LINE_MAX = 48               # a request longer than this is not one: dropped


def _state(app, now_ms, verb, code):
    m = app.maint                   # None until the first enter
    rec = {"maint": verb, "ok": 0 if code else 1, "t_ms": app.uptime_ms(now_ms),
           "on": 1 if m is not None and m.on else 0, "p_dmmhg": app.sensor.p_dmmhg,
           "uv": app.sensor.uv, "cmd": app.outputs.cmd,
           "pumped_ms": m.pump_total_ms if m is not None else 0,
           "fault": safety.CODES[app.sup.fault],
           "end": M.END_NAMES[m.ended] if m is not None else ""}
    if code:
        rec["why"] = code if isinstance(code, str) else M.REFUSALS[code]
    return json.dumps(rec)


def handle(app, now_ms, line):
    """One request line -> its reply (a JSON text). Never raises on a bad line."""
    words = line.split()
    verb = words[0] if words else ""
    arg = None
    if len(words) == 2:
        try:
            arg = int(words[1])
        except ValueError:
            arg = None
    m = app.maint
    if verb == "enter" and len(words) == 1:
        code = app.maint_enter(now_ms)
    elif m is None and verb in ("read", "open", "close", "pump", "bulb", "vent", "leave"):
        code = M.R_OFF
    elif verb == "read" and len(words) == 1:
        code = m.touch(now_ms)
    elif verb in ("open", "close", "pump") and arg is not None:
        if verb == "open":
            code = m.open(now_ms, arg)
        elif verb == "close":
            code = m.close(now_ms, arg)
        else:
            code = m.pump(now_ms, arg, app.sensor.p_dmmhg)
    elif verb == "vent" and len(words) == 1:
        code = m.vent(now_ms)
    elif verb == "bulb" and len(words) == 1:
        code = m.bulb(now_ms)
    elif verb == "leave" and len(words) == 1:
        m.leave(now_ms)
        code = M.OK
    else:
        code = "unknown request %r: enter, read, open K, close K, pump MS, bulb, vent, " \
            "leave" % line
        verb = "?"
    return _state(app, now_ms, verb, code)


class Link:
    """The app service that reads requests from the console and queues the replies. read_char:
    a callable returning one character waiting on the console, or None (never blocks)."""
    name = "maint"
    heartbeat_max_ms = 700

    def __init__(self, read_char, reset):
        self._read = read_char
        self._reset = reset         # called once maintenance has ended: the board restarts
        self._buf = ""
        self.heartbeat_ms = ticks_ms()

    async def run(self, app):
        app.console.put(handle(app, ticks_ms(), "enter"))
        while True:
            self.heartbeat_ms = ticks_ms()
            if self.poll(app, ticks_ms()):
                self._reset()       # ended, the vent verified, its last words written
            await asyncio.sleep_ms(10)

    def poll(self, app, now_ms):
        """One run of the link: at most one request read and answered, and only once the
        reply before it is written. True when maintenance is over and the boot has settled
        (App.settled): time to reset."""
        if not app.console.busy():
            # at most a line's worth of characters a run: a flood without newlines never holds
            # the loop (the rest waits in the console's buffer for the next run)
            for _ in range(LINE_MAX + 2):
                c = self._read()
                if c is None:
                    break
                if c == "\n" or c == "\r":
                    line = self._buf
                    self._buf = ""
                    if len(line) > LINE_MAX:
                        app.console.put(handle(app, now_ms, "?"))    # answered, not acted on
                        break
                    if line:
                        app.console.put(handle(app, now_ms, line))
                        break       # one request a run: its reply goes out first
                elif len(self._buf) <= LINE_MAX:
                    self._buf += c  # (past LINE_MAX the line is answered as unknown)
        m = app.maint
        return (m is None or not m.on) and app.settled()


def stdin_reader():
    """A read_char for the REPL's console: one waiting character of sys.stdin, or None."""
    import sys
    import select
    poll = select.poll()
    poll.register(sys.stdin, select.POLLIN)

    def read_char():
        if poll.poll(0):
            return sys.stdin.read(1)
        return None
    return read_char


def run(read_char=None):
    """From the REPL: boot as main.py does, in maintenance mode (see the top of this file)."""
    import board
    cfg, hw = board.boot("board.json")
    import settings
    values, warning = settings.load("settings.json", cfg)
    del settings
    import lazy
    lazy.drop(lazy.CHECKERS)        # as main.py: the checkers go before the app comes
    import app
    link = Link(read_char or stdin_reader(), hw.reset)
    app.run(cfg, hw, values, warning, services=(link,))
