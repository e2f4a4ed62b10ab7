# The application: thin asyncio tasks around the pure logic. One control task reads the sensor,
# lets the supervisor check the sample, reads the button, asks the sequencer what to do and
# drives the outputs, every TICK_MS. A separate supervisor task checks that the control task is
# alive and that the session keeps to its limit. Any exception ends with every output safe.
#
# Events go to the console as JSON lines: {"event": name, "t_ms": ms since boot, ...}.
import asyncio
import json
from time import ticks_ms, ticks_diff, ticks_add
import limits
import safety
import sequencer as sq
import button as btn
from pressure import Sensor


def _mmhg(dmmhg):
    return round(dmmhg / 10, 1)


class App:
    def __init__(self, cfg, hw, settings, emit=print):
        self.cfg = cfg
        self.hw = hw
        self.settings = settings
        self._emit = emit
        s = cfg["sensor"]
        self.sensor = Sensor(hw.read_uv, s["v_at_zero"], s["v_at_full_scale"],
                             s["full_scale_mmhg"], s["divider_ratio"])
        self.outputs = hw.outputs
        self.seq = sq.WaveSequencer(
            cfg["chambers"], settings["pressure_mmhg"] * 10, settings["hold_s"] * 1000,
            settings["rest_s"] * 1000, settings["minutes"] * 60000, limits.FILL_TIMEOUT_MS)
        self.sup = safety.Supervisor(
            cfg["limits"]["ceiling_mmhg"] * 10, limits.SAFE_MMHG * 10, limits.VENT_BUDGET_MS,
            limits.SENSOR_BAD_SAMPLES, limits.SESSION_GRACE_MS)
        self.button = btn.Button()
        self.boot_ms = ticks_ms()
        self.heartbeat_ms = self.boot_ms
        self._phase = sq.IDLE
        self._chamber = 0
        self._fault = safety.NONE
        self._was_venting = False

    # --- reporting ------------------------------------------------------------------------
    def event(self, now_ms, name, fields=None):
        rec = {"event": name, "t_ms": ticks_diff(now_ms, self.boot_ms)}
        if fields:
            rec.update(fields)
        self._emit(json.dumps(rec))

    def status(self, now_ms):
        seq = self.seq
        self.event(now_ms, "status", {
            "phase": sq.PHASES[seq.phase], "chamber": seq.chamber, "cycle": seq.cycle,
            "p_mmhg": _mmhg(self.sensor.p_dmmhg), "target_mmhg": seq.target_dmmhg // 10,
            "remaining_s": seq.remaining_ms(now_ms) // 1000,
            "fault": safety.CODES[self.sup.fault]})

    # --- the control tick -----------------------------------------------------------------
    def tick(self, now_ms):
        seq = self.seq
        sup = self.sup
        sensor = self.sensor
        p = sensor.read()
        sup.check_sample(now_ms, p, sensor.bad_run)
        sup.check_session(now_ms, seq.active(), seq.session_start_ms, seq.session_ms)
        pressed = self.hw.button_pressed()
        ev = self.button.update(now_ms, pressed)
        if ev != btn.NONE:
            self.on_button(now_ms, ev)
        if seq.want_zero:
            sensor.zero_add()
        if not sup.tripped():
            was_zero = seq.phase == sq.ZERO
            cmd = seq.step(now_ms, p)
            if seq.fill_timed_out:
                seq.fill_timed_out = False
                seq.end_reason = sq.END_NONE
                sup.trip(safety.NO_RISE, now_ms)
            elif was_zero and seq.phase != sq.ZERO:
                if sensor.zero_commit():
                    self.event(now_ms, "zero", {"offset_mmhg": _mmhg(sensor.zero_dmmhg)})
                else:
                    sup.trip(safety.ZERO_OFFSET, now_ms)
            if not sup.tripped():
                self.outputs.apply(cmd)
        if sup.tripped():
            # every tick, every pin: a latched fault keeps re-driving the safe state
            self.outputs.safe()
            if seq.active():
                seq.stop(now_ms)
                seq.end_reason = sq.END_NONE
        self._report_changes(now_ms)
        self.heartbeat_ms = now_ms

    def on_button(self, now_ms, ev):
        seq = self.seq
        if self.sup.tripped():
            if ev == btn.LONG:
                if self.sup.clear(now_ms, self.sensor.p_dmmhg, self.sensor.bad_run):
                    self.event(now_ms, "clear")
                else:
                    self.event(now_ms, "clear_refused", {"why": "not vented yet"})
            return
        if not seq.active():
            if ev == btn.PRESS:
                seq.start(now_ms)
                self.sensor.zero_begin()
                self.event(now_ms, "start", {
                    "target_mmhg": seq.target_dmmhg // 10, "minutes": self.settings["minutes"],
                    "mode": self.settings["mode"], "chambers": seq.chambers})
            return
        if ev == btn.LONG:
            seq.stop(now_ms)
        elif ev == btn.PRESS:
            if seq.phase == sq.PAUSED:
                seq.resume(now_ms)
                self.event(now_ms, "resume")
            else:
                seq.pause(now_ms)
                self.sup.begin_vent(now_ms)
                self.event(now_ms, "pause")

    def _report_changes(self, now_ms):
        seq = self.seq
        sup = self.sup
        if sup.fault != self._fault:
            if sup.fault:
                self.event(now_ms, "fault", {"code": safety.CODES[sup.fault],
                                             "advice": safety.ADVICE[sup.fault]})
            self._fault = sup.fault
        if seq.phase != self._phase or seq.chamber != self._chamber:
            if seq.phase == sq.VENT:
                sup.begin_vent(now_ms)      # every wave's vent is verified, not only the last
            if seq.phase == sq.IDLE and self._phase != sq.IDLE:
                # the session is over: every path is open, now verify the vent
                sup.begin_vent(now_ms)
                reason = sq.END_NAMES[seq.end_reason] if seq.end_reason else "fault"
                self.event(now_ms, "stop" if reason == "stopped" else "end", {"reason": reason})
            self.event(now_ms, "phase", {"phase": sq.PHASES[seq.phase], "chamber": seq.chamber,
                                         "cycle": seq.cycle})
            self._phase = seq.phase
            self._chamber = seq.chamber
        if sup.venting != self._was_venting:
            if not sup.venting:
                self.event(now_ms, "vented", {"p_mmhg": _mmhg(self.sensor.p_dmmhg)})
            self._was_venting = sup.venting

    # --- tasks ----------------------------------------------------------------------------
    async def control_task(self):
        next_ms = ticks_ms()
        while True:
            self.tick(ticks_ms())
            next_ms = ticks_add(next_ms, limits.TICK_MS)
            delay = ticks_diff(next_ms, ticks_ms())
            if delay < 0:       # overran: do not try to catch up with a burst of ticks
                next_ms = ticks_ms()
                delay = 0
            await asyncio.sleep_ms(delay)

    async def supervisor_task(self):
        while True:
            now = ticks_ms()
            if ticks_diff(now, self.heartbeat_ms) > limits.HEARTBEAT_MS:
                self.outputs.safe()
                if not self.sup.tripped():
                    self.sup.trip(safety.LOOP_STALL, now)
                    self.event(now, "fault", {"code": "LOOP_STALL",
                                              "advice": safety.ADVICE[safety.LOOP_STALL]})
                    self._fault = self.sup.fault
            seq = self.seq
            if self.sup.check_session(now, seq.active(), seq.session_start_ms, seq.session_ms):
                self.outputs.safe()
            await asyncio.sleep_ms(50)

    async def status_task(self):
        while True:
            self.status(ticks_ms())
            await asyncio.sleep_ms(limits.STATUS_MS)

    def on_exception(self, loop, context):
        # Any task that raises: safe first, then say what happened.
        self.outputs.safe()
        now = ticks_ms()
        self.sup.trip(safety.TASK_CRASH, now)
        exc = context.get("exception")
        self.event(now, "fault", {"code": safety.CODES[self.sup.fault],
                                  "advice": safety.ADVICE[safety.TASK_CRASH], "error": repr(exc)})
        self._fault = self.sup.fault

    async def main(self):
        asyncio.get_event_loop().set_exception_handler(self.on_exception)
        now = ticks_ms()
        self.event(now, "boot", {"board": self.cfg["name"], "chambers": self.cfg["chambers"],
                                 "settings": self.settings})
        asyncio.create_task(self.control_task())
        asyncio.create_task(self.status_task())
        await self.supervisor_task()


def run(cfg, hw, settings, warning=None):
    app = App(cfg, hw, settings)
    if warning:
        app.event(ticks_ms(), "warning", {"text": warning})
    try:
        asyncio.run(app.main())
    finally:
        hw.outputs.safe()
        asyncio.new_event_loop()
