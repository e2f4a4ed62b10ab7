# The virtual board: an ESP32 wired to the plant, with a virtual clock. It owns simulated time:
# every advance steps the plant, applies scheduled faults and button presses at their instants,
# and writes a sample line of the plant's true state every sample_ms. Runs in both runtimes.
#
# Output lines on stdout (read by sim/session.py):
#   S <t_ms> <p1,p2,..> <p_manifold> <p_sensed> <pump> <valves open bits> <dump open> <ind>
#     (ind: indicator bits, see _sample)
#   @sim {json}            simulator events (boot, fault injected, action, end)
# Everything else on stdout is the firmware's own console.
import json
from plant import Plant
import chipclock
import flashmodel

PRESS_MS = 200          # a short press, as a person makes one
LONG_PRESS_MS = 2500    # a long press: held well past the firmware's 1.5 s
# action -> (input, hold ms); "turn" moves the knob by "detents" (negative: anticlockwise)
ACTIONS = {"start": ("button", PRESS_MS), "press": ("button", PRESS_MS),
           "stop": ("button", LONG_PRESS_MS), "long_press": ("button", LONG_PRESS_MS),
           "clear": ("button", LONG_PRESS_MS), "stop_press": ("stop", PRESS_MS),
           "turn": ("knob", 0), "remote": ("remote", 0), "idle": ("idle", 0)}
# "remote": {"payload": TEXT, "allow_start": bool} delivers TEXT as a (not retained) message on
# the MQTT command topic would, through the firmware's own handler (remote.py), with
# mqtt.allow_start as given (default false)
# "idle": {"s": S} S seconds on a shelf pass at once (a week in moments): see VirtualBoard._idle
TRANSITION_MS = 8       # a knob turned briskly: 4 transitions per detent, 8 ms apart
DETENT_MS = 40
# clockwise from the rest state A=B=1: B falls, A falls, B rises, A rises
_CW = (("enc_b", 0), ("enc_a", 0), ("enc_b", 1), ("enc_a", 1))
_CCW = (("enc_a", 0), ("enc_b", 0), ("enc_a", 1), ("enc_b", 1))


PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3


class SimEnd(SystemExit):
    """Simulated time is up. Not an Exception, so firmware `except Exception` cannot swallow it,
    and a SystemExit, so CPython's asyncio lets it out of a task."""


class BoardReset(SystemExit):
    """The chip resets (watchdog, brown-out): the running firmware is gone at once."""

    def __init__(self, cause):
        super().__init__(cause)
        self.cause = cause


class InjectedFault(RuntimeError):
    """Raised into the firmware by the task_crash, service_crash and loop_crash faults."""


def _deliver_remote():
    """The "remote" action: patch App.tick once per loaded firmware so that, before its next
    tick, the App hands each waiting payload to remote.on_command, as the MQTT service would
    between two control ticks. The patch asks the current board, as _silence_monitor does."""
    import sys
    import simctx
    app_mod = sys.modules.get("app")
    if app_mod is None or getattr(app_mod.App, "_sim_remote", False):
        return
    real = app_mod.App.tick

    def tick(self, now_ms):
        board = simctx.board
        while board is not None and board.remote_inbox:
            payload, allow = board.remote_inbox.pop(0)
            import remote
            self.gate.remote_inflate = allow
            remote.on_command(self, payload.encode(), False)
        return real(self, now_ms)
    app_mod.App.tick = tick
    app_mod.App._sim_remote = True


def _silence_monitor():
    """The monitor_off fault: a firmware bug that leaves monitor.Monitor.check returning
    nothing, so only the supervisor's own checks stand. The class is patched once; the patch
    asks the current board, so other boards in the same process are not affected."""
    import monitor
    import simctx
    if getattr(monitor.Monitor, "_sim_patched", False):
        return
    real = monitor.Monitor.check

    def check(self, *args):
        if simctx.board is not None and simctx.board.monitor_off:
            return 0
        return real(self, *args)
    monitor.Monitor.check = check
    monitor.Monitor._sim_patched = True


def _break_service():
    """The service_crash fault: a firmware bug that makes the service task raise at its next
    run (as a MemoryError while it rewrites the usage log would). App.service calls
    housekeeping.service; that function is patched once, and the patch asks the current board,
    so other boards in the same process are not affected."""
    import housekeeping
    import simctx
    if getattr(housekeeping, "_sim_patched", False):
        return
    real = housekeeping.service

    def service(app, now_ms):
        board = simctx.board
        if board is not None and board._crash == "service_crash":
            board._crash = None
            raise InjectedFault("injected fault: the service task crashed")
        return real(app, now_ms)
    housekeeping.service = service
    housekeeping._sim_patched = True


class VirtualBoard:
    def __init__(self, config, emit, start_ticks, ticks_add):
        board = config["board"]
        self.emit = emit
        self.n = board["chambers"]
        self.plant = Plant(self.n, board["sensor"], config.get("plant"), config.get("seed", 1),
                           board.get("mcu", "esp32"))      # the chip: its ADC (adcmodel.py)
        out = board["outputs"]
        self.active_high = out["active_high"]
        self.roles = {out["pump_pin"]: ("pump", 0),
                      board["sensor"]["adc_pin"]: ("adc", 0),
                      board["inputs"]["button_pin"]: ("button", 0)}
        dumps = out.get("dump_pins") or [out["dump_pin"]]
        for i, pin in enumerate(dumps):
            self.roles[pin] = ("dump", i)
        self.plant.set_dumps(len(dumps))        # each dump a path of its own
        for i, pin in enumerate(out["valve_pins"]):
            self.roles[pin] = ("valve", i)
        ind = board.get("indicators") or {}
        for key, name in (("led_pin", "led"), ("buzzer_pin", "buzzer")):
            if ind.get(key) is not None:
                self.roles[ind[key]] = (name, 0)
        self.buzzer = 0             # what the firmware drives the buzzer and LED to ...
        self.led = 0
        self.dead = {"buzzer": False, "led": False, "display": False}  # ... and what is dead
        inp = board["inputs"]
        # electrical inputs: pin -> input name, and each input's level now (at rest first)
        self.inputs = {inp["button_pin"]: "button"}
        self.active_level = {"button": 0 if inp["button_active_low"] else 1,
                             "stop": 0 if inp.get("stop_active_low", True) else 1}
        self.level = {"button": 1 - self.active_level["button"],
                      "stop": 1 - self.active_level["stop"], "enc_a": 1, "enc_b": 1}
        for key, name in (("stop_pin", "stop"), ("encoder_a_pin", "enc_a"),
                          ("encoder_b_pin", "enc_b")):
            if inp.get(key) is not None:
                self.inputs[inp[key]] = name
        self.irqs = {}              # pin -> (pin object, handler, trigger)
        dsp = board.get("display")
        self.oled_addr = dsp["address"] if dsp else None
        self.oled_ram = bytearray(1024)
        self.oled_frames = 0
        self.oled_each = bool(config.get("screen_frames"))   # --screen FILE.gif: every frame
        self._oled_cmds = []
        self._oled_cols = (0, 127)
        self._oled_pages = (0, 7)
        self._oled_col = 0
        self._oled_page = 0
        self.levels = {}            # output latch per pin
        self.first_writes = {}      # the first level each pin was ever driven to
        self.ms = 0                 # simulated ms since the board powered up
        # the event loop's own clock (the host port's ticks, continuous: never wraps in a run) ...
        self.ticks0 = start_ticks
        self._ticks_add = ticks_add
        # ... and the chip's tick counter, which the firmware reads (chipclock.py)
        chip = config.get("chip") or {}
        self.ticks_period = chipclock.PERIOD[board.get("mcu", "esp32")]
        self.ticks_diff, self.ticks_add = chipclock.make_diff(self.ticks_period)
        # the flash and the console take the chip's time (flashmodel.py)
        self.chipio = flashmodel.ChipIO(self, chip, board.get("mcu", "esp32"))
        uptime_s = chip.get("uptime_s")
        self._ticks_at_power_up = chipclock.DEFAULT_UPTIME_MS if uptime_s is None else \
            int(uptime_s * 1000)
        self._power_up_ms = 0       # self.ms at the last power-up (the counter starts again)
        self._ticks_skipped = 0     # what the idle action's jumps added beyond self.ms
        self._rebase()
        self._idles = sorted([a for a in config.get("actions", []) if a["do"] == "idle"],
                             key=lambda a: a["t_ms"])
        self._ii = 0
        self._idle_jumps = []       # (t_ms, tick jump) still to come for an idle action
        self._moved_ms = 0          # an output was last energised (the second jump waits)
        self.jumps = []             # each idle jump: (ms, ms since an output was energised)
        # an idle action waiting: the pump or a valve last on (a boot that never pumped has
        # settled 10 s after power-up: only the let-down after a session needs the long wait)
        self._busy_ms = 10000 - chipclock.IDLE_SETTLE_MS
        self.shelf_ms = 0           # simulated time the idle actions skipped (simopts pacing)
        self._dump_ms = 0           # ... a dump last shut
        self.end_ms = config["duration_ms"]
        self.sample_ms = config.get("sample_ms", 20)
        self._next_sample = 0
        self.ended = False
        self.faults = sorted(config.get("faults", []), key=lambda f: f["t_ms"])
        self._fi = 0
        self._ends = []             # (until_ms, fault, what to put back): faults that end
        self._rng = config.get("seed", 1) * 7919 + 17
        self._edges = self._input_edges(config.get("actions", []))
        self._ei = 0
        self._remote = sorted([a for a in config.get("actions", []) if a["do"] == "remote"],
                              key=lambda a: a["t_ms"])
        self._ri = 0
        self.remote_inbox = []      # (payload text, allow_start) for the firmware's next tick
        self.plant.watch_mmhg = board["limits"]["ceiling_mmhg"]
        self.reset_cause = PWRON_RESET
        self.rtc_memory = b""       # machine.RTC().memory(): kept across a watchdog reset only
        self.in_reset = False       # between a reset and the next boot: writes go nowhere
        self._wdt_ms = 0            # watchdog timeout, 0 = not started
        self._wdt_fed = 0
        self._stall_ms = 0          # loop_stall: the next sensor read blocks this long
        self._crash = None          # task_crash / loop_crash waiting to be raised
        self.monitor_off = False    # monitor_off: the firmware's hazard monitor reports nothing
        self._reset_at = -1         # brownout: reset at this time
        self._dirty = False         # an output changed: sample at once

    # --- time --------------------------------------------------------------------------------
    def loop_ticks_ms(self):
        """The event loop's clock (MicroPython: asyncio's scheduling), on the host port's
        period. The firmware reads ticks_ms(). An idle action's shelf is not on it: on the
        32-bit port (period 2**30, as the chip's) a week in one step is past half a period,
        where ticks_add refuses it and the task queue would read every wake time as far in
        the future; the chip's loop ran through the shelf, its tasks at their own pace, as
        they go on here after it."""
        return self._ticks_add(self.ticks0, self.ms - self.shelf_ms)

    def ticks_ms(self):
        """The chip's tick counter: ms since power-up from the scenario's uptime_s, wrapping
        at the chip's period (2**30 on the ESP32 and the S3). C on the chip, allocating
        nothing: so here too, on a 32-bit MicroPython, while self.ms is under 2**30 (12 days):
        the base is kept in (-period, 0] (_rebase), where base + ms stays a small int."""
        return (self._tick_base + self.ms) & self._ticks_mask

    def _rebase(self):
        """_tick_base, after power-up or an idle jump: the counter's offset from self.ms."""
        r = (self._ticks_at_power_up - self._power_up_ms + self._ticks_skipped) \
            % self.ticks_period
        self._tick_base = r - self.ticks_period if r else 0
        self._ticks_mask = self.ticks_period - 1     # (the period is no small int there)

    def ticks_us(self):
        """The chip's microsecond counter: the same period, so it wraps every 17.9 min."""
        return ((self._ticks_at_power_up + self.ms - self._power_up_ms + self._ticks_skipped)
                * 1000) & (self.ticks_period - 1)

    def _settled(self, since_ms):
        """An idle action may jump now: the pump off for IDLE_SETTLE_MS (no session, no check:
        the let-down and every other wait the firmware keeps after one has run out, as on a
        shelf; a boot that never pumped, 10 s after power-up), every valve and dump released
        for IDLE_QUIET_MS (idle's probes seal the manifold for a moment every 1.8 s). Keeps its
        own record."""
        p = self.plant
        if p.pump_cmd or p.pump_running():      # (a pump stuck on runs whatever the command)
            self._busy_ms = self.ms
        if any(p.dump_cmds) or any(p.valve_cmd) or self.ms <= since_ms:
            self._dump_ms = self.ms
        return self.ms - self._busy_ms >= chipclock.IDLE_SETTLE_MS and \
            self.ms - self._dump_ms >= chipclock.IDLE_QUIET_MS

    def _idle(self, action):
        """The "idle" action: S seconds on a shelf pass at once, once the boot has settled
        (_settled; at most IDLE_WAIT_MS later, which the shelf time absorbs). The plant stands
        still (every chamber vented at rest, nothing scheduled in the window: the scenario
        checks that), the watchdog counts from the other side, and the tick counter moves on
        by S in one or two jumps (chipclock.jump_steps) with IDLE_ROUND_MS of ordinary running
        between them: a stamp the firmware refreshes every round sees a step back, one it
        keeps ends S older. What a shelf cannot show: a wait the firmware keeps for longer
        than IDLE_SETTLE_MS would read as just begun."""
        waited = self.ms - action["t_ms"]
        skip = int(action["s"] * 1000)
        steps = chipclock.jump_steps(skip, self.ticks_period)
        rounds = chipclock.IDLE_ROUND_MS * (len(steps) - 1)
        jump_ms = skip - rounds - waited
        # jumped_ms: time the firmware's uptime does not count (it saw its ticks step back)
        note = {"sim": "idle", "t_ms": self.ms, "s": action["s"], "jumped_ms": jump_ms}
        if self.ms - self._busy_ms < chipclock.IDLE_SETTLE_MS:
            note["not_at_rest"] = "the boot was not at rest: the plant froze as it was"
        self.emit("@sim " + json.dumps(note))
        self.jumps.append((self.ms, self.ms - self._moved_ms))
        self.ms += jump_ms
        self.shelf_ms += jump_ms
        self.plant.t_ms += jump_ms
        self._ticks_skipped += steps[0] - jump_ms
        self._rebase()
        self._wdt_fed += jump_ms
        self._next_sample = self.ms
        if len(steps) > 1:
            self._idle_jumps.append((self.ms + rounds, steps[1]))

    def advance(self, ms):
        """Let ms of simulated time pass, with everything scheduled in it."""
        if self.ended or self.in_reset:
            return
        target = self.ms + ms
        while True:
            if self._dirty:
                # an output changed: sample now, even if this ms was sampled before the change
                self._dirty = False
                self._sample()
            nxt = target
            if self._next_sample < nxt:
                nxt = self._next_sample
            if self._fi < len(self.faults) and self.faults[self._fi]["t_ms"] < nxt:
                nxt = self.faults[self._fi]["t_ms"]
            if self._ends and self._ends[0][0] < nxt:
                nxt = self._ends[0][0]
            if self._ei < len(self._edges) and self._edges[self._ei][0] < nxt:
                nxt = self._edges[self._ei][0]
            if self._ri < len(self._remote) and self._remote[self._ri]["t_ms"] < nxt:
                nxt = self._remote[self._ri]["t_ms"]
            if self._ii < len(self._idles) and self._idles[self._ii]["t_ms"] < nxt:
                # due: look again every 10 ms until the boot has settled (_settled)
                t_idle = self._idles[self._ii]["t_ms"]
                nxt = t_idle if t_idle > self.ms else min(nxt, self.ms + 10)
            if self._idle_jumps and self._idle_jumps[0][0] < nxt:
                nxt = self._idle_jumps[0][0]
            if self._wdt_ms and self._wdt_fed + self._wdt_ms < nxt:
                nxt = self._wdt_fed + self._wdt_ms
            if 0 <= self._reset_at < nxt:
                nxt = self._reset_at
            if nxt > self.end_ms:
                nxt = self.end_ms
            if nxt > self.ms:
                self.plant.advance(nxt)
                self.ms = nxt
                for t in self.plant.crossings:
                    self.emit('@sim {"sim": "ceiling_crossed", "t_ms": %d}' % t)
                self.plant.crossings.clear()
            while self._ei < len(self._edges) and self._edges[self._ei][0] <= self.ms:
                _, name, level = self._edges[self._ei]
                self._ei += 1
                self._set_input(name, level)
            while self._fi < len(self.faults) and self.faults[self._fi]["t_ms"] <= self.ms:
                self._inject(self.faults[self._fi])
                self._fi += 1
            while self._ends and self._ends[0][0] <= self.ms:
                self._end(self._ends.pop(0))
            while self._ri < len(self._remote) and self._remote[self._ri]["t_ms"] <= self.ms:
                a = self._remote[self._ri]
                self._ri += 1
                self.remote_inbox.append((a["payload"], bool(a.get("allow_start", False))))
                self.emit("@sim " + json.dumps({"sim": "remote", "t_ms": self.ms,
                                                "payload": a["payload"]}))
            if self.remote_inbox:
                _deliver_remote()
            while self._idle_jumps and self._idle_jumps[0][0] <= self.ms:
                if self.ms - self._moved_ms < chipclock.IDLE_QUIET_MS or \
                        self.plant.pump_running():
                    # the round between the jumps started something (a valve check's puffs,
                    # a probe): the next jump waits until it is over, as the first did (a
                    # jump inside a puff would hold its pump on behind the step back)
                    self._idle_jumps[0] = (self.ms + 10, self._idle_jumps[0][1])
                    break
                self.jumps.append((self.ms, self.ms - self._moved_ms))
                self._ticks_skipped += self._idle_jumps.pop(0)[1]
                self._rebase()
            if self._ii < len(self._idles) and self._idles[self._ii]["t_ms"] <= self.ms:
                t_idle = self._idles[self._ii]["t_ms"]
                if self._settled(t_idle) or self.ms - t_idle >= chipclock.IDLE_WAIT_MS:
                    self._ii += 1
                    self._idle(self._idles[self._ii - 1])
                    if target < self.ms:
                        target = self.ms
            if self._next_sample <= self.ms:
                self._sample()
                self._next_sample += self.sample_ms
            if self.ms >= self.end_ms:
                self.ended = True
                raise SimEnd()
            if self._wdt_ms and self.ms >= self._wdt_fed + self._wdt_ms:
                self.reset(WDT_RESET)
            if self._reset_at >= 0 and self.ms >= self._reset_at:
                self._reset_at = -1
                self.reset(HARD_RESET)
            if self.ms >= target:
                return

    def run_out(self):
        """After the firmware has stopped: let the plant run to the end with outputs as left."""
        try:
            self.advance(self.end_ms - self.ms)
        except SimEnd:
            pass

    # --- the I2C display (an SSD1306 in horizontal addressing mode) --------------------------
    def i2c_scan(self):
        return [self.oled_addr] if self.oled_addr is not None else []

    def i2c_write(self, addr, data):
        if addr != self.oled_addr:
            raise OSError(19, "ENODEV")         # nothing answers at that address
        if self.dead["display"]:
            return len(data)                    # display_dead: it answers, the panel shows nothing
        if data[0] == 0x40:                     # display data (read in place: no copy)
            for i in range(1, len(data)):
                self.oled_ram[self._oled_page * 128 + self._oled_col] = data[i]
                self._oled_col += 1
                if self._oled_col > self._oled_cols[1]:
                    self._oled_col = self._oled_cols[0]
                    self._oled_page = self._oled_pages[0] if self._oled_page >= \
                        self._oled_pages[1] else self._oled_page + 1
            self.oled_frames += 1
            if self.oled_each:
                self.emit("@sim " + json.dumps({"sim": "frame", "t_ms": self.ms,
                                                "ram": self.screen_hex()}))
            return len(data)
        # commands: only the addressing ones matter to the picture
        self._oled_cmds.extend(data[1:])
        c = self._oled_cmds
        while c:
            if c[0] in (0x21, 0x22):
                if len(c) < 3:
                    break
                if c[0] == 0x21:
                    self._oled_cols = (c[1], c[2])
                    self._oled_col = c[1]
                else:
                    self._oled_pages = (c[1], c[2])
                    self._oled_page = c[1]
                del c[:3]
            elif c[0] in (0x20, 0x81, 0x8D, 0xA8, 0xD3, 0xD5, 0xD9, 0xDA, 0xDB):
                if len(c) < 2:
                    break
                del c[:2]                       # a command with one argument
            else:
                del c[:1]
        return len(data)

    def screen_hex(self):
        return bytes(self.oled_ram).hex() if hasattr(bytes, "hex") else \
            "".join("%02x" % b for b in self.oled_ram)

    # --- resets and the watchdog -------------------------------------------------------------
    def reset(self, cause):
        """The chip resets now: outputs float (the board's pull-downs switch everything off)."""
        self.in_reset = True
        self.reset_cause = cause
        if cause != WDT_RESET:
            self.rtc_memory = b""   # a brown-out: the RTC's memory is not to be trusted
        self.emit('@sim {"sim": "reset", "t_ms": %d, "cause": "%s"}'
                  % (self.ms, "watchdog" if cause == WDT_RESET else "brownout"))
        raise BoardReset(cause)

    def power_up(self):
        """Boot again after a reset: every output released, no watchdog until started."""
        self.in_reset = False
        self._power_up_ms = self.ms     # the tick counter starts again from uptime_s
        self._ticks_skipped = 0
        self._rebase()
        self.levels = {}
        self.buzzer = 0
        self.led = 0
        p = self.plant
        p.pump_cmd = False
        p.dump_cmd = False
        for i in range(self.n):
            p.valve_cmd[i] = False
        self._wdt_ms = 0
        self._stall_ms = 0
        self._crash = None
        self._dirty = True
        self.irqs = {}      # a reset forgets every pin interrupt (and the old firmware with it)

    def wdt_start(self, timeout_ms):
        self._wdt_ms = timeout_ms
        self._wdt_fed = self.ms

    def wdt_feed(self):
        self._wdt_fed = self.ms

    def check_loop(self):
        """Called where asyncio waits: a loop_crash fault raises here, inside the scheduler."""
        if self._crash == "loop_crash":
            self._crash = None
            raise InjectedFault("injected fault: the event loop crashed")

    # --- pins --------------------------------------------------------------------------------
    def pin_write(self, pin, level):
        if self.in_reset:
            return
        self._dirty = True
        self.levels[pin] = level
        if pin not in self.first_writes:
            self.first_writes[pin] = level
        role = self.roles.get(pin)
        if role is None:
            return
        kind, i = role
        if kind == "led" or kind == "buzzer":
            setattr(self, kind, level)          # indicators are active high (board.py)
            return
        energised = bool(level) == self.active_high
        if energised:
            self._moved_ms = self.ms
        p = self.plant
        if kind == "pump":
            if p.pump_cmd or energised:
                self._busy_ms = self.ms     # the pump ran until now (an idle action waits)
            p.pump_cmd = energised
        elif kind == "dump":
            p.dump_cmds[i] = energised
        elif kind == "valve":
            p.valve_cmd[i] = energised

    def pin_read(self, pin):
        name = self.inputs.get(pin)
        if name is not None:
            return self.level[name]
        return self.levels.get(pin, 0)

    def pin_irq(self, pin, pin_obj, handler, trigger):
        if handler is None:
            self.irqs.pop(pin, None)
        else:
            self.irqs[pin] = (pin_obj, handler, trigger)

    def _set_input(self, name, level):
        if self.level[name] == level:
            return
        self.level[name] = level
        for pin, n in self.inputs.items():
            if n == name and pin in self.irqs:
                pin_obj, handler, trigger = self.irqs[pin]
                if trigger & (1 if level else 2):       # IRQ_RISING = 1, IRQ_FALLING = 2
                    handler(pin_obj)

    def read_uv(self, pin):
        if self._stall_ms:
            ms, self._stall_ms = self._stall_ms, 0
            self.advance(ms)        # a blocking call: time passes, the firmware does not run
        if self._crash == "task_crash":
            self._crash = None
            raise InjectedFault("injected fault: the task reading the sensor crashed")
        if self.roles.get(pin, ("", 0))[0] != "adc":
            return 0        # a pin with nothing wired to it, pulled down
        return self.plant.read_uv()

    # --- scenario ----------------------------------------------------------------------------
    def schedule(self, t_ms, do):
        """An action at t_ms (not in the past; a name, or a dict such as {"do": "turn",
        "detents": 3}), added to the electrical timeline."""
        done = self._edges[:self._ei]
        rest = self._edges[self._ei:] + self._input_edges([dict(do, t_ms=t_ms)
                                                           if isinstance(do, dict)
                                                           else {"t_ms": t_ms, "do": do}])
        rest.sort(key=lambda e: e[0])
        self._edges = done + rest

    def inject(self, fault):
        """A fault now (fault["t_ms"] is only recorded)."""
        self._inject(fault)

    def _chatter(self):
        self._rng = (self._rng * 1103515245 + 12345) & 0x7FFFFFFF
        return self._rng

    def _bounce(self, edges, t, name, level, most=5):
        """A contact that closes or opens chatters 2 to `most` times over a few ms."""
        for _ in range(2 + self._chatter() % (most - 1)):
            edges.append((t, name, level))
            edges.append((t + 1, name, 1 - level))
            t += 2
        edges.append((t, name, level))

    def _input_edges(self, actions):
        """The electrical timeline of the button, the stop button and the knob."""
        edges = []
        for a in sorted(actions, key=lambda a: a["t_ms"]):
            name, hold = ACTIONS[a["do"]]
            t = a["t_ms"]
            if name in ("remote", "idle"):
                continue
            if name == "knob":
                n = a["detents"]
                for d in range(abs(n)):
                    for i, (ch, level) in enumerate(_CW if n > 0 else _CCW):
                        self._bounce(edges, t + d * DETENT_MS + i * TRANSITION_MS, ch, level,
                                     most=3)
                continue
            on = self.active_level[name]
            self._bounce(edges, t, name, on)
            self._bounce(edges, t + hold, name, 1 - on)
        edges.sort(key=lambda e: e[0])
        return edges

    def _inject(self, f):
        p = self.plant
        kind = f["fault"]
        i = f.get("chamber", 1) - 1
        prev_offset = p.sensor_offset_mmhg      # what an ending sensor_offset puts back
        if kind == "pump_stuck_on":
            p.pump_forced = True
        elif kind == "pump_dead":
            p.pump_forced = False
        elif kind == "valve_stuck_closed":
            p.valve_forced[i] = True
        elif kind == "valve_stuck_open":
            p.valve_forced[i] = False
        elif kind == "dump_stuck_closed":
            if "dump" in f:
                p.dumps_forced[f["dump"] - 1] = True
            else:
                p.dump_forced = True        # every dump (a blocked exhaust; one dump: it)
        elif kind == "sensor_open":
            p.sensor_mode = 1
        elif kind == "sensor_short":
            p.sensor_mode = 2
        elif kind == "sensor_frozen":
            p.freeze_sensor()
        elif kind == "sensor_offset":
            p.sensor_offset_mmhg = f["mmhg"]
        elif kind == "leak":
            p.add_leak(i, f["ml_per_min"])
        elif kind == "hose_disconnect":
            p.disconnected[i] = True
        elif kind == "hose_kinked":
            p.kinked[i] = True
        elif kind == "no_garment":
            p.no_garment(i)
        elif kind == "squeeze":
            p.squeeze(i, f["mmhg"])
        elif kind == "hoses_crossed":
            p.cross_hoses(f["chambers"][0] - 1, f["chambers"][1] - 1)
        elif kind == "sensor_gain":
            p.sensor_gain = f["factor"]
        elif kind == "sensor_drift":
            p.drift_sensor(f["mmhg_per_min"])
        elif kind in ("buzzer_dead", "led_dead", "display_dead"):
            self.dead[kind[:-5]] = True
            self._dirty = True
        elif kind == "loop_stall":
            self._stall_ms = f["ms"]
        elif kind in ("task_crash", "loop_crash"):
            self._crash = kind
        elif kind == "service_crash":
            self._crash = kind
            _break_service()
        elif kind == "brownout":
            self._reset_at = self.ms
        elif kind == "monitor_off":
            self.monitor_off = True
            _silence_monitor()
        elif kind == "console_blocked":
            self.chipio.blocked = True      # a host holds the USB console open, not reading
        else:
            raise ValueError("unknown fault %r" % kind)
        rec = {"sim": "fault", "t_ms": self.ms}
        rec.update(f)
        self.emit("@sim " + json.dumps(rec))
        if f.get("until_ms") is not None:
            # a fault that ends (a connector pulled on and off, a kink that opens)
            entry = (f["until_ms"], f, prev_offset)
            k = 0
            while k < len(self._ends) and self._ends[k][0] <= entry[0]:
                k += 1
            self._ends.insert(k, entry)

    def _end(self, entry):
        """A fault's "until_s" has come: the part works again, its effect is gone."""
        _, f, prev_offset = entry
        p = self.plant
        kind = f["fault"]
        i = f.get("chamber", 1) - 1
        if kind in ("pump_stuck_on", "pump_dead"):
            p.pump_forced = None
        elif kind in ("valve_stuck_closed", "valve_stuck_open"):
            p.valve_forced[i] = None
        elif kind == "dump_stuck_closed":
            if "dump" in f:
                p.dumps_forced[f["dump"] - 1] = None
            else:
                p.dump_forced = None
        elif kind in ("sensor_open", "sensor_short", "sensor_frozen"):
            p.sensor_mode = 0
        elif kind == "sensor_offset":
            p.sensor_offset_mmhg = prev_offset
        elif kind == "leak":
            p.add_leak(i, -f["ml_per_min"])
        elif kind == "hose_disconnect":
            p.disconnected[i] = False
        elif kind == "hose_kinked":
            p.kinked[i] = False
        elif kind == "no_garment":
            p.garment_on(i)
        elif kind == "squeeze":
            p.squeeze(i, 0)
        elif kind == "hoses_crossed":
            p.cross_hoses(f["chambers"][0] - 1, f["chambers"][1] - 1)     # put right
        elif kind == "sensor_gain":
            p.sensor_gain = 1.0
        elif kind == "sensor_drift":
            p.drift_sensor(0)
        elif kind in ("buzzer_dead", "led_dead", "display_dead"):
            self.dead[kind[:-5]] = False
            self._dirty = True
        elif kind == "monitor_off":
            self.monitor_off = False
        elif kind == "console_blocked":
            self.chipio.blocked = False
        else:
            raise ValueError("fault %r cannot end" % kind)
        self.emit("@sim " + json.dumps({"sim": "fault_end", "t_ms": self.ms, "fault": kind}))

    def _sample(self):
        p = self.plant
        valves = 0
        for i in range(self.n):
            if p.valve_open(i):
                valves |= 1 << i
        # indicators: bit 0 buzzer driven, 1 LED driven, 2 buzzer dead, 3 LED dead, 4 display
        # dead (a driven output that is dead does nothing physically)
        d = self.dead
        ind = (1 if self.buzzer else 0) | (2 if self.led else 0) | (4 if d["buzzer"] else 0) | \
            (8 if d["led"] else 0) | (16 if d["display"] else 0)
        self.emit("S %d %s %.2f %.2f %d %d %d %d" % (
            self.ms, ",".join(["%.2f" % x for x in p.p_chambers]), p.p_manifold,
            p.sensed_mmhg(), 1 if p.pump_running() else 0, valves, 1 if p.dump_open() else 0,
            ind))
