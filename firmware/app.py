# The application: thin asyncio tasks around the pure logic.
#   control task, every TICK_MS: tick() reads the sensor, lets the supervisor and the hazard
#     monitor check the sample, reads the button, asks the sequencer what to do, drives outputs;
#   supervisor task, every 50 ms: supervise() checks every task's heartbeat (control, service,
#     each network service) and the session's limits, and only then feeds the hardware watchdog;
#   service task, every 100 ms: service() writes the console and the flash (the logs, the
#     settings), kept off the control path (housekeeping.py); what blocks the chip (a flash
#     sector, a USB console that is not read) only in a rest window: rest_window().
# What people ask for (button, knob, menu, MQTT) is commands.py; the outputs while a fault is
# latched, tripped.py.
# Any exception in a task, or in the loop, ends with every output safe and a latched fault.
# Events go to the console as JSON lines: {"event": name, "t_ms": ms since boot, ...}, through a
# bounded buffer the service task writes out (console.py).
import asyncio
import gc
import json
from time import ticks_ms, ticks_diff
import limits as L
import safety
import sequencer as sq
import button as btn
import alarm
import faultlog
from monitor import Monitor
from pressure import Sensor
from valves import SAFE, PUMP_ON
from tripped import TripResponse, ACK_NONE
from dumpcheck import DumpCheck
from gate import Gate
from ranges import bounds
import ui
import commands
import housekeeping
import fitorder
import holdwatch
import netguard
import rtcnote
import console
import flashfs

SHORT_HEAP_TEXT = ("the heap was too full for the status line, display or console once or "
                   "more (runs: how often; nothing was lost): the boot is safe, but flash the "
                   "frozen image for room to spare (docs/HARDWARE.md)")
UNKNOWN_DMMHG = -1                # a chamber's bar: not known to be empty (display.py)
FAULT_LOG = "faults.log"
SESSION_MARK = "session.run"      # exists while a session runs: a reset mid-session is noticed
MAINTENANCE = "maintenance.mark"  # Ctrl-C at the console: the watchdog reset that follows is
                                  # maintenance (mpremote, flash.sh), not a stall
EARLY_EVENTS = 6                  # events kept for a listener that comes after them
LOOP_GAP_MS = 200                 # ticks this far apart mean the loop was blocked: trip
CHECK_NO_AIR_TEXT = ("the valve check after the vent saw no air from the pump (is it dead?): a "
                     "chamber that had air may still hold it behind a valve stuck shut, and "
                     "nothing can prove it open; check the chambers by hand")
NO_AIR_TEXT = ("the pressure did not rise, and a chamber that had air may be out of the "
               "sensor's sight (the pump gave no air, or the chamber was cut off mid-fill): it "
               "cannot be proven open; check the chambers by hand")
REST_NOTE = ("rest lengthened to %.1f s: the fills and hold are long, and every chamber must "
             "be let down (below 15 mmHg) at least 15 s between squeezes and 30 %% of the time "
             "(limits.LETDOWN_MIN_S, MAX_PRESSED_PCT); shorten the hold or use fewer chambers "
             "for shorter waves")
DUMP_STUCK_TEXT = ("dump valve %d does not open (stuck shut, or its exhaust is blocked): the boot "
                   "still vents through the other dump, which is checked after every vent, so "
                   "the session goes on; have dump valve %d freed or replaced before the next "
                   "session: with one more jam the chambers could not be let out")
NO_DUMP_TEXT = ("no dump valve opens (each puffed on its own after the vent): nothing can let "
                "the air out of the boot; open the chamber hoses by hand")
HOLD_LOSS_TEXT = ("chamber %d lost %.1f mmHg in %.1f s behind its closed valve (%.0f mmHg/min; "
                  "left at %.1f, read %.1f mmHg at the end of the hold): a leak the pump has to "
                  "make up at every wave (a torn tube, a loose connector); check that chamber's "
                  "hose and fittings")
HOLD_DROP_TEXT = ("chamber %d lost %.1f mmHg in %.1f s behind its closed valve (%.0f mmHg/min; "
                  "left at %.1f, read %.1f mmHg at the end of the hold, more than %d below its "
                  "target): a leak (a torn tube, a loose connector: check that chamber's hose and "
                  "fittings), or the leg moved off something that pressed on it as it filled; "
                  "read as low at the next wave it is HOLD_LOSS")
HOLD_NONE_NOTE = ("; or its valve did not open to be read (a valve stuck shut reads as an empty "
                  "chamber while it keeps its air: the valve check after the vent names it)")
HOLD_OVER_TEXT = ("chamber %d read %.1f mmHg at the end of the hold, its target %.0f (left at %.1f "
                  "when its valve closed): something presses on it from outside; move off the "
                  "chamber, uncross the legs")
ISOLATE_TEXT = ("the pump cannot be stopped and the dump does not open: every chamber valve is "
                "closed to keep the air out of the leg; unplug the boot's power, then open the "
                "chamber hoses by hand")


def _mmhg(dmmhg):
    return round(dmmhg / 10, 1)


def _plan_note(cycle, cut, trimmed_ms, chambers):
    """The warning for a wave the run-time plan changed (sequencer.plan_note_cycle)."""
    what = []
    if trimmed_ms:
        what.append("its holds cut by %d s" % ((trimmed_ms + 999) // 1000))
    if cut:
        what.append("chamber %d%s not filled" %
                    (cut, "" if cut == chambers else " and above"))
    return ("wave %d ran long (the fills are slower than planned): %s, so the boot lets down "
            "within %d s of a wave's first fill (limits.WAVE_PLAN_MS; 170 s trips "
            "TIME_AT_PRESSURE); lower the pressure, shorten the holds or use fewer chambers "
            "(said once a session)" % (cycle, " and ".join(what), L.WAVE_PLAN_MS // 1000))


class App:
    def __init__(self, cfg, hw, settings, emit=None, flash_dir="", services=()):
        self.cfg = cfg
        self.hw = hw
        self.settings = settings
        # the console: the firmware's lines wait here for the service task (console.py); the
        # classic ESP32's REPL is a UART, the S3's its native USB
        self.console = console.Console(emit, console.USB if cfg.get("mcu") == "esp32s3"
                                       else console.UART)
        # optional services (e.g. MQTT telemetry): objects with `async def run(self, app)`,
        # started as their own tasks; nothing here waits for them or depends on them. One with
        # `name` and `heartbeat_max_ms` sets `heartbeat_ms = ticks_ms()` at least that often
        # while it runs, and is watched like the app's own tasks (see supervise)
        self.services = services
        self._watched = []            # the services whose heartbeats supervise() checks
        self.listeners = []           # callables(record dict), told of every event
        self.early = []               # events before the first listener (a refused program,
                                      # a damaged settings file): told to it when it comes
        self.log_path = flash_dir + FAULT_LOG
        self.mark_path = flash_dir + SESSION_MARK
        s = cfg["sensor"]
        self.sensor = Sensor(hw.read_uv, s["v_at_zero"], s["v_at_full_scale"],
                             s["full_scale_mmhg"], s["divider_ratio"],
                             adc_floor_v=L.ADC_FLOOR_V[cfg["mcu"]])
        self.outputs = hw.outputs
        n = cfg["chambers"]
        self.seq = sq.WaveSequencer(
            n, settings["pressure_mmhg"] * 10, settings["hold_s"] * 1000,
            settings["rest_s"] * 1000, settings["minutes"] * 60000, L.FILL_TIMEOUT_MS)
        self.sup = safety.Supervisor(
            cfg["limits"]["ceiling_mmhg"] * 10, L.SAFE_MMHG * 10, L.VENT_BUDGET_MS,
            L.SENSOR_BAD_SAMPLES, L.SESSION_GRACE_MS)
        self.monitor = Monitor(n)
        self.seq.fill_budget = self.monitor.fill_budget_ms     # the wave plan's longest fills
        self.holdwatch = holdwatch.HoldWatch()
        self.flash_dir = flash_dir
        self.seq.set_enabled(settings["enabled"])
        self.monitor.skip_mask = self.seq.skip_mask
        self.settings_path = flash_dir + "settings.json"
        self.ui = ui.UI(n, bounds("pressure_mmhg", cfg), bounds("minutes", cfg),
                        L.MODES, settings)
        self.stop_button = btn.Button()
        self.gate = Gate()            # the one gate every command passes (gate.py)
        self.chamber_dmmhg = [0] * n  # what each chamber holds, as last seen (for the display)
        self._check_owed = False      # a chamber had air since the last valve check, so the
        self._air_seen = False        # next must see the pump's air: two readings in a row
        self._air_run = 0             # L.CHECK_AIR_DMMHG over the puff's first
        self._puff_k = 0              # the chamber being puffed, and the manifold's reading
        self._puff_p0 = 0             # as its puff began
        self._last_draw_ms = ticks_ms()
        self._save = None             # settings waiting for the service task to write
        self._usage = None            # the usage record of a session that just ended
        self.trip = TripResponse(n)   # what the outputs do while a fault is latched
        # a second vent path ("dump_pins"): every dump is checked after every vent
        dumps = len(cfg["outputs"].get("dump_pins") or (0,))
        if dumps > 1:
            self.seq.dump_check = DumpCheck(dumps, n)
        self._dump_session = -1       # the session whose shut dumps were told, once each
        self._dumps_told = 0
        # the supervisor keeps its own session clock, from the settings, not the sequencer's
        self.session_limit_ms = settings["minutes"] * 60000
        self.session_start_ms = 0
        self.button = btn.Button()
        now = ticks_ms()
        # uptime: ticks wrap (2**30 ms on the ESP32) and a ticks_diff is right only under 2**29
        # ms, so each tick adds its gap to a count of whole seconds and a part (small ints: no
        # allocation in the tick; 2**30 s is 34 years)
        self._uptime_s = 0
        self._uptime_part_ms = 0
        self.heartbeat_ms = now       # the control task's, every tick
        self.service_beat_ms = now    # the service task's, every run
        self.service_short_runs = 0   # service runs cut short by a MemoryError (service())
        self._short_told = False
        self._supervised_ms = now     # the supervisor's own last run
        self._dead = False            # a heartbeat stopped: the watchdog is no longer fed
        self._last_tick_ms = now
        self._last_status_ms = now
        self._alarm_since_ms = now
        self._alarm_state = alarm.IDLE
        self._led = -1
        self._buzz = -1
        self._selftest = 0            # power-on chirp and blink: 0 not yet, 1 on, 2 done
        self._selftest_ms = 0
        self._phase = sq.IDLE
        self._chamber = 0
        self._fault = safety.NONE
        self._end = sq.END_NONE
        self._was_venting = False
        self._was_isolated = False
        self._log_queue = []          # fault records waiting for the service task
        self._flash_jobs = []         # flash calls waiting for a rest window (housekeeping.py)
        self._usage_lines = -1        # lines in usage.log (-1: not counted yet)
        self._held_tick = False       # a rest window held the loop: the next tick's gap and ...
        self._held_sup = False        # ... the supervisor's next look are not a stall
        self._mark = 0                # session marker to write: 1 create, -1 remove
        self.notice = ""              # a refused program or mode, for the display (16 chars)
        # maintenance mode (maint.py, maintlink.py): a computer's safe primitives, from idle;
        # loaded on the first enter (the stock heap of a session does not hold it: issue 14)
        self.maint = None
        self._use_program(settings)   # last: it may report a bad program file

    # --- reporting ------------------------------------------------------------------------
    def uptime_ms(self, now_ms):
        """ms since this boot (now_ms: ticks_ms). Never wraps: a plain number, which grows past
        the small-int range after 12 days (an allocation then, only where it is asked for)."""
        since = ticks_diff(now_ms, self._last_tick_ms)
        return self._uptime_s * 1000 + self._uptime_part_ms + (since if since > 0 else 0)

    def event(self, now_ms, name, fields=None):
        rec = {"event": name, "t_ms": self.uptime_ms(now_ms)}
        if fields:
            rec.update(fields)
        if name == "status":
            self.console.put_status(json.dumps(rec))    # the newest one only (console.py)
        else:
            self.console.put(json.dumps(rec))           # no I/O here: the service task writes
        if self.services and not self.listeners and name != "status" and \
                len(self.early) < EARLY_EVENTS:     # (no service: nobody will come for them)
            self.early.append(rec)
        for listener in self.listeners:
            try:
                listener(rec)
            except Exception as e:  # a listener must never break the control path
                self.console.put(json.dumps({"event": "warning", "text": "listener: %r" % e}))

    def snapshot(self, now_ms):
        """The state a user sees: for the status line, the display and telemetry."""
        seq = self.seq
        return {"phase": sq.PHASES[seq.phase], "chamber": seq.chamber, "cycle": seq.cycle,
                "p_mmhg": _mmhg(self.sensor.p_dmmhg), "target_mmhg": seq.next_target_dmmhg // 10,
                "remaining_s": seq.remaining_ms(now_ms) // 1000,
                "fault": safety.CODES[self.sup.fault]}

    def status(self, now_ms):
        self.event(now_ms, "status", self.snapshot(now_ms))

    # --- start-up -------------------------------------------------------------------------
    def restore(self, now_ms):
        """After a reset: an unacknowledged fault stays latched, and an interrupted session is
        reported, never resumed. A watchdog reset is told apart by the marker left on flash:
        maintenance at the console (no fault); a task the supervisor found dead (TASK_CRASH,
        naming the task); a network step that hung (a warning, no fault: netguard records the
        step, skipped until secrets.json changes); none, a stalled loop (LOOP_STALL).
        Runs in App.main before any task or service starts, so it reads every marker first
        (netguard.Guard, made when the network service starts, then sees the record)."""
        last = faultlog.unacknowledged(self.log_path)
        wdt = self.hw.reset_by_watchdog()
        maintenance = housekeeping.exists(self.flash_dir + MAINTENANCE)
        if maintenance:
            housekeeping.remove(self.flash_dir + MAINTENANCE)
        dead = rtcnote.take(self.hw.rtc, rtcnote.TASK)
        hung = netguard.after_reset(self.flash_dir, wdt, self.hw.rtc)
        if hung and housekeeping.exists(self.mark_path):
            hung = ""       # a session ran: a blocked loop then is a stall, whoever caused it
        if wdt and maintenance:
            self.event(now_ms, "warning", {"text": "restarted after maintenance at the console "
                                                   "(Ctrl-C): no fault"})
        elif wdt and dead:
            self.sup.trip(safety.TASK_CRASH, now_ms)
            self.event(now_ms, "warning", {"text": "restarted by the watchdog: the %s task had "
                                                   "stopped; the boot is vented and the session "
                                                   "was not resumed" % dead, "task": dead})
            self._log_queue.append({"code": "TASK_CRASH", "why": "watchdog reset", "task": dead})
            return self._cut_short(now_ms)
        elif wdt and hung:
            self.event(now_ms, "warning", {"text": "restarted by the watchdog during the "
                                                   "network's %s step: no fault; %s"
                                                   % (hung, netguard.ADVICE[hung]),
                                           "step": hung})
        elif wdt:
            self.sup.trip(safety.LOOP_STALL, now_ms)
            self.event(now_ms, "warning", {"text": "restarted by the watchdog: the boot is "
                                                   "vented and the session was not resumed"})
            self._log_queue.append({"code": "LOOP_STALL", "why": "watchdog reset"})
            return self._cut_short(now_ms)
        # no new fault: one left unacknowledged stays latched, whatever reset the board
        if last is not None and last.get("code") in safety.CODES[1:]:
            code = safety.CODES.index(last["code"])
            self.sup.trip(code, now_ms)
            self._fault = code          # already in the log: report it, do not log it again
            self.event(now_ms, "fault", {"code": last["code"], "advice": safety.ADVICE[code],
                                         "restored": True})
        self._cut_short(now_ms)

    def _cut_short(self, now_ms):
        try:
            open(self.mark_path).close()
            self.event(now_ms, "warning", {"text": "the last session was cut short by a reset "
                                                   "or power loss; it was not resumed"})
            # the leg was squeezed until the reset: the let-down counts from now
            self.seq.letdown_from(now_ms)
            self.monitor.letdown_from(now_ms)
            self._mark = -1
        except OSError:
            pass

    # --- the control tick -----------------------------------------------------------------
    def tick(self, now_ms):
        seq = self.seq
        sup = self.sup
        sensor = self.sensor
        gap = ticks_diff(now_ms, self._last_tick_ms)
        self._last_tick_ms = now_ms
        if gap > 0:     # (never below 0 on a chip; the simulator's idle jumps step back)
            part = self._uptime_part_ms + gap
            if part >= 1000:
                self._uptime_s += part // 1000
                part %= 1000
            self._uptime_part_ms = part
        p = sensor.read()
        sup.check_sample(now_ms, p, sensor.bad_run,
                         self.outputs.cmd & ~seq.skip_mask == 0,
                         sensor.same_run < L.FROZEN_SAMPLES)
        sup.check_session(now_ms, seq.active(), self.session_start_ms, self.session_limit_ms)
        if gap > LOOP_GAP_MS and seq.active() and not self._held_tick:
            sup.trip(safety.LOOP_STALL, now_ms)       # the outputs went unwatched that long
        self._held_tick = False     # (a rest window's gap: every output was released throughout)
        self.gate.tick(now_ms)
        down_was = self.button.down
        ev = self.button.update(now_ms, self.hw.button_pressed())
        contact = self.button.down and not down_was     # the first contact: safe at once
        stop_was = self.stop_button.down
        self.stop_button.update(now_ms, self.hw.stop_pressed())
        stop = self.stop_button.down and not stop_was       # acts on the press, not release
        detents = self.hw.knob_detents()
        if ev != btn.NONE or detents or stop or contact:
            m = self.maint
            if m is not None and m.on:
                m.leave(now_ms, m.END_INPUT)    # a person at the boot: vent
            else:
                self.on_input(now_ms, ev, detents, stop, contact)
        if self.ui.expire(now_ms):
            self.event(now_ms, "menu", {"closed": "left alone: nothing saved"})
        if seq.want_zero:
            sensor.zero_add()
        if not sup.tripped():
            m = self.maint
            if m is not None and m.on:
                self._maint_control(now_ms, p, m)
            else:
                self._control(now_ms, p)
        if sup.tripped():
            m = self.maint
            if m is not None and m.on:
                m.leave(now_ms, m.END_FAULT)
            # every tick, every pin: a latched fault keeps re-driving the tripped state (safe,
            # or isolation, the retry pulses, the valve check's puffs: tripped.py)
            trip = self.trip
            cmd = trip.command(now_ms, p, sup, sensor.bad_run, seq.enabled_mask)
            if trip.found_shut:
                self.monitor.chamber = trip.found_shut      # named in the fault event
                trip.found_shut = 0
            ack = trip.take_ack()
            if ack != ACK_NONE:
                commands.ack_done(self, now_ms, ack)
            if cmd == SAFE:
                self.outputs.safe()
            else:
                self.outputs.apply(cmd)
            seq.abort(now_ms)
        else:
            self.trip.reset()
        self._indicators(now_ms)
        self._report_changes(now_ms)
        self.heartbeat_ms = now_ms

    def _control(self, now_ms, p):
        seq = self.seq
        sup = self.sup
        mon = self.monitor
        phase, chamber = seq.phase, seq.chamber
        cmd = seq.step(now_ms, p)
        if seq.phase != phase or seq.chamber != chamber:
            # learn the fill that just ended before the next one starts
            if phase == sq.SETTLE and not (seq.phase == sq.FILL and seq.chamber == chamber):
                mon.fill_done(chamber, seq.cycle)
            if seq.phase == sq.FILL and seq.topups == 0:
                mon.begin_fill(seq.chamber)
        if seq.fit_failed:
            k = seq.fit_failed
            seq.fit_failed = 0
            seq.end_reason = sq.END_NONE
            mon.chamber = k
            self.event(now_ms, "fit", {"chamber": k, "result": sq.FIT_CLASSES[seq.fit_class[k - 1]],
                                       "ms": seq.fit_ms[k - 1]})
            sup.trip(safety.FIT_FAILED, now_ms)
            return
        if phase == sq.FIT_VENT and seq.phase == sq.REST:     # the fit check passed
            # a slice, not a comprehension: a comprehension would make `seq` a closure cell,
            # allocated on every call of _control
            self.event(now_ms, "fit", {"result": "normal", "ms": seq.fit_ms[:seq.chambers]})
            garment = self.cfg.get("garment")
            if garment:
                small, big = fitorder.crossed(seq.fit_ms, seq.fit_class, garment["chamber_ml"])
                if small:
                    self.event(now_ms, "warning", {
                        "text": fitorder.warning(seq.fit_ms, small, big, garment["chamber_ml"]),
                        "chambers": [small, big]})
        if seq.rest_note_ms:
            self.event(now_ms, "warning", {"text": REST_NOTE % (seq.rest_note_ms / 1000)})
            seq.rest_note_ms = 0
        if seq.plan_note_cycle:
            self.event(now_ms, "warning", {"text": _plan_note(
                seq.plan_note_cycle, seq.plan_cut, seq.plan_trimmed_ms, seq.chambers)})
            seq.plan_note_cycle = 0
            seq.plan_cut = 0
            seq.plan_trimmed_ms = 0
        if seq.fill_timed_out:
            seq.fill_timed_out = False
            seq.end_reason = sq.END_NONE
            mon.chamber = chamber
            self._no_rise(now_ms)
            return
        if phase == sq.ZERO and (seq.phase == sq.FILL or seq.phase == sq.FIT):
            # the zero phase ran its course (a stop during it takes no zero at all)
            if not self.sensor.zero_commit():
                sup.trip(safety.ZERO_OFFSET, now_ms)
                return
            self.event(now_ms, "zero", {"offset_mmhg": _mmhg(self.sensor.zero_dmmhg)})
        if seq.phase == sq.FILL or seq.phase == sq.SETTLE:
            self.chamber_dmmhg[seq.chamber - 1] = p     # its valve is open: the manifold is it
            if p >= L.SAFE_MMHG * 10:
                self._check_owed = True     # the next valve check must prove this air out
        elif phase == sq.VENT and seq.phase != sq.VENT and p < sq.VENTED_DMMHG:
            self._display_vented()      # the wave's vent drained (at VENT_MAX_MS it may not)
        if seq.phase == sq.CHECK:
            if phase != sq.CHECK:
                self._air_seen = False
                self._puff_k = 0
            if seq.checking:
                # a puff into an open, empty chamber lifts the manifold (1 mmHg and more at
                # half a pump's flow into 0.3 L); a dead pump's puffs lift nothing, and then a
                # valve stuck shut on a full chamber passes the check unseen (the soak found
                # it). The lift is counted from the puff's first reading: a manifold that has
                # not drained yet (the vent ends on VENT_MAX_MS) reads high with no pump at all
                if seq.checking != self._puff_k or seq.in_phase_ms(now_ms) == 0:
                    self._puff_k = seq.checking
                    self._puff_p0 = p
                    self._air_run = 0
                elif p - self._puff_p0 >= L.CHECK_AIR_DMMHG:
                    self._air_run += 1
                    if self._air_run >= 2:
                        self._air_seen = True
                else:
                    self._air_run = 0
        elif phase == sq.CHECK:
            owed = self._check_owed and not self._air_seen
            self._check_owed = False
            if owed and not sup.tripped():
                self.event(now_ms, "warning", {"text": CHECK_NO_AIR_TEXT})
                sup.trip(safety.VENT_FAILED, now_ms)
                return
        written = self.outputs.apply(cmd)
        resting = seq.in_phase_ms(now_ms) if seq.phase == sq.REST else -1
        code = mon.check(now_ms, p, self.sensor.uv, written, seq.phase == sq.FILL, seq.chamber,
                         seq.probing or seq.sealing, resting, seq.checking,
                         seq.phase == sq.SEAL or seq.phase == sq.HOLD or seq.phase == sq.DWELL
                         or seq.phase == sq.PEEK,
                         self.sensor.bad_run == 0)
        if not code:
            code = mon.check_time_at_pressure(now_ms, seq.active())
        if not code:
            code = mon.check_reading(p, self.sensor.zeroed, self.sensor.bad_run == 0)
        if code == safety.NO_RISE:
            self._no_rise(now_ms)
        elif code:
            sup.trip(code, now_ms)
        if seq.peeked:
            self._hold_loss(now_ms, seq.peeked)
            seq.peeked = 0
        dc = seq.dump_check
        if dc is not None:
            self._dumps_judged(now_ms, dc, dc.take())

    def _maint_control(self, now_ms, p, m):
        """A control tick in maintenance mode: maint.py decides the command; the interlock
        (valves.py), the supervisor (tick) and the monitor's sensor and pump-off checks judge it
        as in a session (no fill rules: the computer times the fills itself)."""
        mon = self.monitor
        written = self.outputs.apply(m.step(now_ms, p))
        if m.bulb_on:
            # the gauge's bulb in the shut manifold: its rise is the person's (the pump is
            # refused meanwhile); past what a person is asked for, a pump running on its own
            code = safety.PUMP_STUCK_ON if p >= L.MAINT_BULB_MAX_MMHG * 10 else 0
        else:
            code = mon.check(now_ms, p, self.sensor.uv, written, False, 0, False, -1, 0, False,
                             self.sensor.bad_run == 0)
        if not code:
            code = mon.check_reading(p, self.sensor.zeroed, self.sensor.bad_run == 0)
        if code:
            self.sup.trip(code, now_ms)

    def maint_enter(self, now_ms):
        """Enter maintenance mode: only from idle (no session, no fault, no menu open).
        Returns maint.OK or a refusal code."""
        if self.maint is None:
            import maint
            self.maint = maint.Maint(self.cfg["chambers"])
        # idle: no session, no fault, no menu, the last vent verified and no stop within
        # gate.PANIC_MS (a person's press is not overridden by a computer)
        idle = self.seq.phase == sq.IDLE and not self.sup.tripped() and not self.ui.menu \
            and not self.sup.venting and not self.gate.quiet
        code = self.maint.enter(now_ms, idle)
        if code == 0:                   # maint.OK
            self.event(now_ms, "maint", {"on": True})
        return code

    def settled(self):
        """Nothing in flight: every output released, no vent unverified, no fault record or
        flash job waiting, every console line written (maintlink.py resets the board only
        then: a record or the last words cut off by the reset would be lost)."""
        return self.outputs.cmd == SAFE and not self.sup.venting and not self._log_queue \
            and not self._flash_jobs and not self._mark and not self.console.busy()

    def _dumps_judged(self, now_ms, dc, stuck):
        """The dump check after a vent found these dumps shut (bit k-1: dump k; -1: no check
        ended). A dump still opens: a warning naming each shut one, once a session, and the
        session goes on (it vents as a one-dump boot does, that dump proven after every vent).
        None opens: VENT_FAILED, as with one dump."""
        if stuck <= 0:
            return
        if stuck == dc.all_stuck:
            self.monitor.chamber = 0
            self.event(now_ms, "warning", {"text": NO_DUMP_TEXT})
            self.sup.trip(safety.VENT_FAILED, now_ms)
            return
        if self._dump_session != self.session_start_ms:
            self._dump_session = self.session_start_ms
            self._dumps_told = 0
        for k in range(1, dc.dumps + 1):
            bit = 1 << (k - 1)
            if stuck & bit and not self._dumps_told & bit:
                self._dumps_told |= bit
                self.event(now_ms, "warning", {"text": DUMP_STUCK_TEXT % (k, k), "dump": k})

    def _hold_loss(self, now_ms, k):
        """The peek read chamber k at the end of the hold (holdwatch.py): a chamber that bleeds
        is announced once a session, naming it and its loss; one read more than
        HOLD_LOSS_FAULT_MMHG below its target is announced, and a second wave in a row trips
        HOLD_LOSS; one read more than HOLD_OVER_MMHG above what it was left at is pressed from
        outside: announced once a session."""
        seq = self.seq
        kept = seq.kept_dmmhg[k - 1]
        if kept < 0:
            return                      # no settled reading to compare with (a pulse release)
        held = seq.held_dmmhg[k - 1]
        sealed_ms = ticks_diff(now_ms, seq.kept_ms[k - 1])
        hw = self.holdwatch
        keep_to = seq.keep_to_dmmhg[k - 1]
        verdict = hw.judge(k, keep_to, kept, held, sealed_ms)
        if verdict == holdwatch.OK:
            return
        if verdict == holdwatch.OVER:
            self.event(now_ms, "warning", {
                "text": HOLD_OVER_TEXT % (k, held / 10, keep_to / 10, kept / 10),
                "chamber": k, "read_mmhg": _mmhg(held), "target_mmhg": _mmhg(keep_to)})
            return
        text = HOLD_DROP_TEXT if verdict == holdwatch.DROP else HOLD_LOSS_TEXT
        if verdict == holdwatch.DROP:
            said = text % (k, hw.lost_dmmhg / 10, sealed_ms / 1000, hw.rate_dmmhg_per_min / 10,
                           kept / 10, held / 10, L.HOLD_LOSS_FAULT_MMHG)
        else:
            said = text % (k, hw.lost_dmmhg / 10, sealed_ms / 1000, hw.rate_dmmhg_per_min / 10,
                           kept / 10, held / 10)
        if held < L.SAFE_MMHG * 10:
            said += HOLD_NONE_NOTE          # (or it was not read at all)
        self.event(now_ms, "warning", {
            "text": said,
            "chamber": k, "loss_mmhg_per_min": _mmhg(hw.rate_dmmhg_per_min),
            "lost_mmhg": _mmhg(hw.lost_dmmhg)})
        if verdict == holdwatch.FAULT:
            self.monitor.chamber = k
            self.sup.trip(safety.HOLD_LOSS, now_ms)

    def _no_rise(self, now_ms):
        sup = self.sup
        mon = self.monitor
        sup.trip(safety.NO_RISE, now_ms)
        # The valve check after the trip proves each chamber open with a puff of the pump. A
        # dead pump cannot puff; then a chamber that holds air behind a stuck valve stays
        # unseen. Two signs of that: the fill read nothing while a chamber was full, or the
        # filling chamber's air went out of sight mid-fill.
        unseen = mon.fill_lost(self.sensor.p_dmmhg)
        if not unseen and mon.pump_silent():
            for d in self.chamber_dmmhg:
                if d >= L.SAFE_MMHG * 10:
                    unseen = True
        if unseen:
            self.event(now_ms, "warning", {"text": NO_AIR_TEXT})
            for i in range(self.seq.chambers):      # each that showed air: unknown now
                if self.chamber_dmmhg[i] >= L.SAFE_MMHG * 10:
                    self.chamber_dmmhg[i] = UNKNOWN_DMMHG
            sup.trip(safety.VENT_FAILED, now_ms)

    # --- what people ask for (commands.py) -------------------------------------------------
    def on_input(self, now_ms, ev, detents, stop, contact=False):
        commands.on_input(self, now_ms, ev, detents, stop, contact)

    def queue_settings(self, new):
        """The menu's settings, to check and use in the service task's next rest window (a
        start waits for them: commands.command). Merged with the stored ones now, while the
        heap is as usual: a heap too full for the checkers then stores them as they are,
        with nothing more to make (commands.apply_settings)."""
        merged = dict(self.settings)
        merged.update(new)
        housekeeping.job(self, ("apply", merged))

    def settings_waiting(self):
        for work in self._flash_jobs:
            if work[0] == "apply":
                return True
        return False

    def apply_settings(self, now_ms, new):
        commands.apply_settings(self, now_ms, new)

    def _use_program(self, values):
        commands.use_program(self, values)

    def command(self, now_ms, name, value=None, source=0):
        """The one way anything asks the boot to do something (the button, the knob, MQTT).
        source: gate.LOCAL or gate.REMOTE. Returns None when done, else why not (a short
        text). Stopping is never refused."""
        m = self.maint
        if m is not None and m.on:
            if name != "stop":
                return "in maintenance mode (a computer is commissioning the boot)"
            m.leave(now_ms, m.END_INPUT)
            return None
        return commands.command(self, now_ms, name, value, source)

    def _indicators(self, now_ms):
        if self.sup.tripped():
            state = alarm.ALARM_HIGH if self.sup.fault in safety.HIGH_PRIORITY \
                else alarm.ALARM_MEDIUM
        elif self.seq.phase == sq.PAUSED:
            state = alarm.PAUSED
        elif self.seq.active():
            state = alarm.RUNNING
        else:
            state = alarm.IDLE
        if state != self._alarm_state:
            self._alarm_state = state
            self._alarm_since_ms = now_ms
        led = alarm.led(now_ms, self._alarm_since_ms, state)
        buzz = alarm.buzzer(now_ms, self._alarm_since_ms, state)
        if self._selftest != 2:
            # power-on self-test at the first tick: the light on, a chirp (alarm.SELFTEST_*)
            if self._selftest == 0:
                self._selftest = 1
                self._selftest_ms = now_ms
            shown = ticks_diff(now_ms, self._selftest_ms)
            if shown < alarm.SELFTEST_LED_MS:
                led = 1
                if shown < alarm.SELFTEST_BUZZ_MS:
                    buzz = 1
            else:
                self._selftest = 2      # once: a stale start could not wrap back into it
        if led != self._led:
            self._led = led
            self.hw.set_led(led)
        if buzz != self._buzz:
            self._buzz = buzz
            self.hw.set_buzzer(buzz)

    def _report_changes(self, now_ms):
        seq = self.seq
        sup = self.sup
        m = self.maint
        end = m.take_end() if m is not None else 0
        if m is not None and end:
            sup.begin_vent(now_ms)      # every path is open again: the vent is verified
            self.gate.calm_down(now_ms)     # as a stop: nothing inflates within 3 s (gate.py)
            self.event(now_ms, "maint", {"on": False, "end": m.END_NAMES[end]})
        if sup.fault != self._fault:
            if sup.fault:
                self.gate.calm_down(now_ms)
                if self._fault == safety.NONE and sup.first_fault != sup.fault:
                    self._fault_event(now_ms, sup.first_fault)   # what was found first
                self._fault_event(now_ms, sup.fault)
                if sup.fault == safety.VENT_FAILED:
                    self.display_unknown(self.monitor.chamber)
            elif self._fault:
                self._display_vented()      # acknowledged: the check proved every chamber empty
            self._fault = sup.fault
        if seq.end_reason != self._end and seq.end_reason:
            reason = sq.END_NAMES[seq.end_reason]
            self.event(now_ms, "stop" if reason == "stopped" else "end", {"reason": reason})
        self._end = seq.end_reason
        if seq.phase != self._phase or seq.chamber != self._chamber:
            if seq.phase == sq.VENT:
                sup.begin_vent(now_ms)      # every vent is verified, not only the last
            if seq.phase == sq.IDLE and self._phase != sq.IDLE:
                sup.begin_vent(now_ms)
                self._mark = -1
                reason = sq.END_NAMES[seq.end_reason] if seq.end_reason else \
                    "fault " + safety.CODES[sup.fault]
                self._usage = {"uptime_ms": self.uptime_ms(now_ms),
                               "minutes_set": self.settings["minutes"],
                               "ran_s": ticks_diff(now_ms, self.session_start_ms) // 1000,
                               "mode": self.settings["mode"],
                               "target_mmhg": seq.next_target_dmmhg // 10, "waves": seq.cycle,
                               "enabled": self.settings["enabled"], "end": reason}
                if not seq.end_reason:
                    self.event(now_ms, "end", {"reason": "fault"})
            self.event(now_ms, "phase", {"phase": sq.PHASES[seq.phase], "chamber": seq.chamber,
                                         "cycle": seq.cycle, "target_dmmhg": seq.target_dmmhg})
            self._phase = seq.phase
            self._chamber = seq.chamber
        if sup.isolated != self._was_isolated:
            self._was_isolated = sup.isolated
            self.event(now_ms, "isolate", {"on": sup.isolated,
                                           "p_mmhg": _mmhg(self.sensor.p_dmmhg),
                                           "text": ISOLATE_TEXT if sup.isolated else ""})
        if sup.venting != self._was_venting:
            if not sup.venting:
                self.event(now_ms, "vented", {"p_mmhg": _mmhg(self.sensor.p_dmmhg)})
                self._display_vented()
            self._was_venting = sup.venting

    def _display_vented(self):
        """A vent was verified: every chamber's bar on the display is empty again (until then
        it shows what the chamber last held: a stop or a fault does not empty a chamber). Not
        while VENT_FAILED is latched: a chamber it could not prove empty stays unknown."""
        keep = self.sup.fault == safety.VENT_FAILED
        for i in range(self.seq.chambers):
            if not (keep and self.chamber_dmmhg[i] == UNKNOWN_DMMHG):
                self.chamber_dmmhg[i] = 0

    def display_unknown(self, chamber):
        """VENT_FAILED: the chamber it names (0: none named, every chamber) is not known to be
        empty; its bar shows a cross until an acknowledgement's check proves it empty."""
        for i in range(self.seq.chambers):
            if chamber == 0 or chamber == i + 1:
                self.chamber_dmmhg[i] = UNKNOWN_DMMHG

    def _fault_event(self, now_ms, fault):
        code = safety.CODES[fault]
        fields = {"code": code, "advice": safety.ADVICE[fault],
                  "p_mmhg": _mmhg(self.sensor.p_dmmhg)}
        if fault in (safety.NO_RISE, safety.BLOCKED, safety.VENT_FAILED,
                     safety.FIT_FAILED, safety.HOLD_LOSS) and \
                self.monitor.chamber:
            fields["chamber"] = self.monitor.chamber
        self.event(now_ms, "fault", fields)
        self._log_queue.append({"code": code, "uptime_ms": self.uptime_ms(now_ms)})

    # --- supervision and service ----------------------------------------------------------
    def supervise(self, now_ms):
        """The independent check, and the only place that feeds the watchdog: only while every
        task's heartbeat is fresh (control: L.HEARTBEAT_MS, service: L.SERVICE_HEARTBEAT_MS,
        each watched service: its heartbeat_max_ms) and the session keeps its limits. A stale
        heartbeat: every output safe, a latched fault (LOOP_STALL for the control task, else
        TASK_CRASH), the task named on flash for the next boot, and no more feeding: the
        watchdog resets the board within L.WDT_TIMEOUT_MS."""
        # the supervisor itself held up too: the whole loop was (a blocking call), not one task
        held = ticks_diff(now_ms, self._supervised_ms) > L.LOOP_HELD_MS
        self._supervised_ms = now_ms
        alive = ticks_diff(now_ms, self.heartbeat_ms) <= L.HEARTBEAT_MS
        dead = "" if alive else "control"
        if not dead and ticks_diff(now_ms, self.service_beat_ms) > L.SERVICE_HEARTBEAT_MS:
            dead = "service"
        for svc in self._watched:
            if not dead and ticks_diff(now_ms, svc.heartbeat_ms) > svc.heartbeat_max_ms:
                dead = svc.name
        if dead and self._held_sup and (self.outputs.cmd == SAFE or self._maint_resting()):
            # the service task's rest window (a flash sector, a USB console write) held the
            # whole loop, every output released throughout (or maintenance holding air with
            # the pump off): every heartbeat aged by it, none is a stall. The next run (50 ms
            # on) judges every task afresh.
            dead = ""
        self._held_sup = False
        if dead == "control" and held and not self.seq.active() and not self.sup.tripped():
            # idle (every output safe) and the whole loop was held up: if the network's own
            # guarded step (a name lookup, a TLS handshake) did it, it is the network's, not a
            # stalled loop: a warning, no fault. Longer than the watchdog allows, the board
            # resets with netguard's marker there, and the next boot says the same. Nothing is
            # written back: the next run (50 ms on, not held) judges the control task afresh.
            for svc in self._watched:
                step = svc.holding_step(now_ms, L.HEARTBEAT_MS) \
                    if hasattr(svc, "holding_step") else ""
                if step:
                    dead = ""
                    self.event(now_ms, "warning", {
                        "text": "the network's %s step held the board up (idle, every output "
                                "safe): no fault" % step, "step": step})
                    break
        if dead:
            self.outputs.safe()
            if not self.sup.tripped():
                self.sup.trip(safety.LOOP_STALL if not alive else safety.TASK_CRASH, now_ms)
                self._report_changes(now_ms)
            if not self._dead:
                # once, and for good: the marker must match the reset that follows
                self._dead = True
                if not held:
                    rtcnote.write(self.hw.rtc, rtcnote.TASK, dead)
                    self.event(now_ms, "warning", {"text": "the %s task has stopped: every "
                                                           "output is safe and the watchdog "
                                                           "restarts the board" % dead,
                                                   "task": dead})
        seq = self.seq
        before = self.sup.fault
        if self.sup.check_session(now_ms, seq.active(), self.session_start_ms,
                                  self.session_limit_ms) and before == safety.NONE:
            # it tripped here: act at once. From then on the control task drives the tripped
            # state every tick (safe, or the valve check's puffs, the retry pulses, isolation);
            # re-driving "safe" here too would cut those short.
            self.outputs.safe()
        if not self._dead:
            self.hw.feed_watchdog()

    def service(self, now_ms):
        """Slow work: the status line and flash writes (housekeeping.py); then the service
        task's heartbeat, as the run ends (a rest window may have held it up to a second)."""
        try:
            housekeeping.service(self, now_ms)
            if self.service_short_runs and not self._short_told:
                self.event(now_ms, "warning", {"text": SHORT_HEAP_TEXT,
                                               "runs": self.service_short_runs})
                self._short_told = True     # once a boot (told): the heap is what it is
        except MemoryError:
            # the slow work only (status line, display, console, flash jobs: a job in hand is
            # kept for the next window, housekeeping.rest_work): a heap too broken up for it
            # this run. The control task and the supervisor are untouched; the heartbeat is not
            # given, so a heap that stays too full trips the supervisor (vented) instead of a
            # crash at the first short run (issue 14)
            self.service_short_runs += 1
            gc.collect()
            return
        self.service_beat_ms = ticks_ms()

    def at_rest(self, fault_record=False):
        """Every output released (pump off, every path open): the chip may stall here (a flash
        sector erase stops both cores) and nothing is driven meanwhile. Not while a vent is
        being verified or a valve or dump check puffs (their timing is judged), and only with
        the manifold REST_MARGIN_MMHG under the ceiling (a pump stuck on with the dump stuck
        shut cannot take the chambers over it, where isolation acts, within a window). A
        sensor out of its window judges nothing: then at once (the fault on flash first). So:
        idle, the zero at a session's start, its rests, a tripped boot once vented and checked,
        a vent that cannot be proven (VENT_FAILED: the user opens the hoses by hand); and
        maintenance holding air with the pump off (maint.py: a computer's leak-down).
        fault_record: a trip's fault record waits for flash (housekeeping.py): also while the
        trip's vent is being verified. The trip has already driven every output safe, so a
        stall then only delays the vent's verification (the air goes on leaving meanwhile); a
        brownout soon after the trip must not lose the latched fault (SAFETY.md defence 9)."""
        if self._dead or self.outputs.cmd != SAFE and not self._maint_resting():
            return False
        if self.sensor.bad_run > 0:
            return True
        sup = self.sup
        if sup.venting and sup.fault != safety.VENT_FAILED and not fault_record or \
                self.seq.checking or self.trip.busy():
            return False
        return self.sensor.p_dmmhg < (self.cfg["limits"]["ceiling_mmhg"] - L.REST_MARGIN_MMHG) * 10

    def _maint_resting(self):
        """Maintenance holding air with the pump off and no pump request: a stall changes
        nothing there (and an S3's USB console writes its replies only in a rest window)."""
        m = self.maint
        return m is not None and m.on and not m.pumping and not self.outputs.cmd & PUMP_ON

    def rest_window(self, now_ms, work, fault_record=False):
        """Run work(self, now_ms), which may block the chip for up to 1.2 s (flash or the console,
        never both: a fault record's log written and renamed, 3 sectors at the datasheet's
        worst; or CONSOLE_REST_MS of USB console writes and one that times out: limits.py,
        REST_WDT_MS), while at_rest() (fault_record: at_rest's). A sector erase stops both cores: nothing runs, not the control task nor the
        supervisor, and the 250 ms watchdog would reset the chip. So: the supervisor's full
        check first (it feeds the watchdog only if every task is alive), then the watchdog
        widened to REST_WDT_MS (MicroPython's esp32 machine.WDT(timeout=) reconfigures the
        task watchdog) for the work, and back to WDT_TIMEOUT_MS after. The next tick and the
        supervisor's next look then know that the loop was held with every output released."""
        self.supervise(now_ms)
        if self._dead or not self.at_rest(fault_record):
            return
        self.hw.watchdog_timeout(L.REST_WDT_MS)
        try:
            work(self, now_ms)
        finally:
            self.hw.watchdog_timeout(L.WDT_TIMEOUT_MS)
            self._held_tick = True
            self._held_sup = True

    # --- tasks ----------------------------------------------------------------------------
    async def control_task(self):
        while True:
            self.tick(ticks_ms())
            await asyncio.sleep_ms(L.TICK_MS)

    async def supervisor_task(self):
        self.hw.start_watchdog(L.WDT_TIMEOUT_MS)
        while True:
            self.supervise(ticks_ms())
            await asyncio.sleep_ms(50)

    async def service_task(self):
        while True:
            self.service(ticks_ms())
            await asyncio.sleep_ms(100)

    def on_exception(self, loop, context):
        # Any task that raises: safe first, then say what happened.
        self.outputs.safe()
        now = ticks_ms()
        self.sup.trip(safety.TASK_CRASH, now)
        self.event(now, "crash", {"error": repr(context.get("exception"))})
        self._report_changes(now)

    async def main(self):
        asyncio.get_event_loop().set_exception_handler(self.on_exception)
        now = ticks_ms()
        self.event(now, "boot", {"board": self.cfg["name"], "chambers": self.cfg["chambers"],
                                 "settings": self.settings})
        self.restore(now)
        if self.hw.display_note:
            self.event(now, "warning", {"text": self.hw.display_note})
        now = ticks_ms()            # every heartbeat from here: restore's flash reads do not count
        self.heartbeat_ms = now
        self.service_beat_ms = now
        self._supervised_ms = now
        asyncio.create_task(self.control_task())
        asyncio.create_task(self.service_task())
        for svc in self.services:
            if getattr(svc, "heartbeat_max_ms", 0):
                svc.heartbeat_ms = now
                self._watched.append(svc)
            asyncio.create_task(self._run_service(svc))
        await self.supervisor_task()

    async def _run_service(self, svc):
        await svc.run(self)
        # it returned: it ended on purpose (MQTT without umqtt), so it is no longer watched; an
        # exception instead goes to on_exception, and its heartbeat stops
        if svc in self._watched:
            self._watched.remove(svc)


def run(cfg, hw, settings, warning=None, services=(), notice=""):
    app = App(cfg, hw, settings, services=services)
    if notice and not app.notice:
        app.notice = notice         # (the display, while idle)
    if warning:
        app.event(ticks_ms(), "warning", {"text": warning})
    try:
        asyncio.run(app.main())
    except KeyboardInterrupt:
        # the watchdog cannot be stopped and will reset the chip: say this one is maintenance
        try:
            flashfs.touch(MAINTENANCE)
        except OSError:
            pass
        raise
    finally:
        hw.outputs.safe()
        asyncio.new_event_loop()
