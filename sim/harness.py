"""The firmware's App on a virtual board, stepped in-process under CPython, tick by tick.

The asyncio tasks in firmware/app.py are thin loops around App.tick (every 10 ms),
App.supervise (every 50 ms) and App.service (every 100 ms); this harness calls the same three
methods on the same schedule, without the event loop, so a property-based test can run
thousands of sessions. Crashes are modelled as the event loop would see them: an exception in
tick kills the control task (the loop's handler runs), an exception in the loop stops
everything; the watchdog then resets the board, which boots a fresh App.

A Watcher checks the safety invariants on the plant's true state after every tick.
"""
import tempfile

from sim import paths

paths.import_device_modules()
import app as fw_app  # noqa: E402
import board as fw_board  # noqa: E402
import boardcfg  # noqa: E402
import chipclock  # noqa: E402
import cpython_rt  # noqa: E402
import flashmodel  # noqa: E402
import limits as L  # noqa: E402
import safety  # noqa: E402
import settings as fw_settings  # noqa: E402
import simctx  # noqa: E402
import vboard  # noqa: E402

TICK_MS = L.TICK_MS
flashmodel.install_flash()      # the firmware's flash writes take the chip's time


def _sensor_wrong(plant):
    """The transducer does not read the manifold's pressure: broken, offset, span or drift
    (the firmware cannot then see what it regulates; invariants (f) and (i) are excused)."""
    return plant.sensor_mode != 0 or plant.sensor_offset_mmhg != 0 or \
        getattr(plant, "sensor_gain", 1.0) != 1.0 or \
        getattr(plant, "sensor_drift_mmhg_per_min", 0.0) != 0.0


class Watcher:
    """The issue's invariants, on the plant's true pressures, checked every tick:
    (a) no chamber above the ceiling + 5 mmHg for more than 50 ms while it has a vent path (and
        the sensor does not read low by its span);
    (b) after a trip every chamber is below 15 mmHg within the vent budget, or VENT_FAILED;
    (c) a session never outlives its limit;
    (d) no chamber above 15 mmHg for more than 180 s, unless VENT_FAILED says it cannot vent;
    (e) the pump never runs with every path closed for more than 200 ms (unless the pump is
        stuck on and the dump stuck shut: closing every chamber then keeps the air off the leg);
    (f) no chamber above the ceiling + 10 mmHg for more than 500 ms, vent path or not (unless
        its own valve is stuck open or the sensor is broken: nothing can then hold it back);
    (g) the boot never shows idle with no fault latched while any chamber is at 15 mmHg or more
        for longer than 5 s (a chamber shut in behind a quiet, "ready" boot); in maintenance
        mode (a computer holding air on purpose) for longer than MAINT_HELD_MAX_MS and a vent;
    (h) within a wave no chamber's fill target is more than GRADIENT_SLACK_MMHG above the
        chamber filled below it, except a chamber a program boosts on purpose;
    (i) a chamber squeezed (above 15 mmHg for over 1 s) was let down (below 15 mmHg) at least
        LETDOWN_MIN_S - 0.5 s since its last squeeze, and in a session it has spent at most
        MAX_PRESSED_PCT + 2 % of the time so far squeezed (unless the sensor is broken: the
        firmware then cannot see the let-down it times; or the chamber's own valve is stuck
        open: it then follows every fill)."""

    IDLE_FULL_MS = 5000
    SQUEEZE_MS = 1000           # (i): above 15 mmHg this long is a squeeze, not a puff's blip

    def __init__(self, n, ceiling_mmhg, session_limit_ms):
        self.n = n
        self.ceiling = ceiling_mmhg
        self.session_limit_ms = session_limit_ms
        self.violations = []
        self.above_ceiling_since = [None] * n
        self.f_failed = [False] * n
        self.above_safe_since = [None] * n
        self.deadhead_since = None
        self.idle_full_since = None
        self.maint_seen_ms = None           # maintenance mode last seen on (maint.py)
        self.fill_seen = (0, 0)             # (cycle, chamber) of the fill last looked at
        self.wave_targets = {}              # chamber -> fill target (dmmhg) in this wave
        self.trip_ms = None
        self.session_start = None
        self.letdown_from = [None] * n      # (i) below 15 mmHg since, after a squeeze
        self._app = None                    # the firmware instance last seen (a reset: new)
        self.squeezed = [False] * n         # (i) the current time above 15 counts as a squeeze
        self.squeeze_since = [0] * n        # (i) when it crossed 15 mmHg
        self.below_since = [None] * n       # (i) a squeezed chamber below 15 mmHg since
        self.pressed_ms = [0] * n           # (i) this session's squeezes, ended ones
        self.worst = {"above_ceiling_ms": 0, "above_safe_ms": 0, "deadhead_ms": 0,
                      "vent_after_trip_ms": 0, "idle_full_ms": 0}

    def _fail(self, t, text):
        if len(self.violations) < 20:
            self.violations.append(f"t={t} ms: {text}")

    def _squeeze_began(self, t, i, since, plant):
        # (i) judged once a squeeze has lasted SQUEEZE_MS, from when it crossed 15 mmHg
        if _sensor_wrong(plant) or plant.valve_forced[i] is False:
            return      # (a valve stuck open: the chamber follows the manifold, not the plan)
        if self.letdown_from[i] is not None:
            gap = since - self.letdown_from[i]
            if gap < L.LETDOWN_MIN_S * 1000 - 500:
                self._fail(t, f"(i) chamber {i + 1} squeezed again after {gap} ms let down")
        if self.session_start is not None and since > self.session_start:
            share = 100 * self.pressed_ms[i] / (since - self.session_start)
            self.worst["pressed_pct"] = max(self.worst.get("pressed_pct", 0), share)
            if share > L.MAX_PRESSED_PCT + 2:
                self._fail(t, f"(i) chamber {i + 1} squeezed {share:.1f} % of the session")

    def check(self, t, plant, app):
        if app is not self._app:
            # a reset: the firmware keeps no clock across it (no RTC). A reset that cut a
            # session short is on flash (it then counts the let-down from the boot: judged);
            # one in idle is not, so (i) starts afresh (docs/SAFETY.md, what this does not cover)
            if self._app is not None and getattr(app, "_mark", 0) != -1:
                self.letdown_from = [None] * self.n
            if self._app is not None and self.trip_ms is not None:
                # a fault restored at boot verifies its vent anew, from the boot (the reset
                # takes about 0.75 s: docs/SAFETY.md row 13)
                self.trip_ms = t
            self._app = app
        pc = plant.p_chambers
        vent_failed = app.sup.fault == safety.VENT_FAILED
        dump_works = plant.dump_forced is None
        for i in range(self.n):
            # (a sensor reading low by its span, from the start, fills past the ceiling unseen:
            # no rule can know; only the reference gauge finds it, docs/SAFETY.md)
            vent_path = dump_works and plant.valve_forced[i] is not True
            span_low = getattr(plant, "sensor_gain", 1.0) < 1.0
            if pc[i] > self.ceiling + 5:
                if self.above_ceiling_since[i] is None:
                    self.above_ceiling_since[i] = t
                d = t - self.above_ceiling_since[i]
                if span_low:
                    # excused: the 50 ms (and (f)'s 500 ms) start when the span is right again
                    self.above_ceiling_since[i] = t
                    d = 0
                if vent_path and not span_low:
                    self.worst["above_ceiling_ms"] = max(self.worst["above_ceiling_ms"], d)
                    if d > 50:
                        self._fail(t, f"(a) chamber {i + 1} at {pc[i]:.1f} mmHg, above the "
                                      f"ceiling + 5 for {d} ms")
                blind = _sensor_wrong(plant)
                if pc[i] > self.ceiling + 10 and d > 500 and not blind and \
                        plant.valve_forced[i] is not False and not self.f_failed[i]:
                    self.f_failed[i] = True
                    self._fail(t, f"(f) chamber {i + 1} at {pc[i]:.1f} mmHg for {d} ms")
            else:
                self.above_ceiling_since[i] = None
            if pc[i] > L.SAFE_MMHG:
                if self.above_safe_since[i] is None:
                    self.above_safe_since[i] = t
                d = t - self.above_safe_since[i]
                self.below_since[i] = None
                if d > self.SQUEEZE_MS and not self.squeezed[i]:
                    self.squeezed[i] = True
                    self.squeeze_since[i] = self.above_safe_since[i]
                    if not app.sup.tripped() and dump_works:
                        # ((b) and (g) judge a tripped boot; with the dump stuck the chambers'
                        # air only moves between them, and the vent rules judge that)
                        self._squeeze_began(t, i, self.above_safe_since[i], plant)
                if not vent_failed:
                    self.worst["above_safe_ms"] = max(self.worst["above_safe_ms"], d)
                    if d > 180000:
                        self._fail(t, f"(d) chamber {i + 1} above 15 mmHg for {d} ms")
            else:
                if self.squeezed[i] and self.below_since[i] is None:
                    self.below_since[i] = t
                if self.squeezed[i] and t - self.below_since[i] >= self.SQUEEZE_MS:
                    # let down for a second: the squeeze has ended (a leaking chamber dipping
                    # below 15 mmHg for a few ticks mid-squeeze has not been let go)
                    self.squeezed[i] = False
                    ended = self.below_since[i]
                    self.letdown_from[i] = ended
                    if self.session_start is not None:
                        self.pressed_ms[i] += ended - max(self.squeeze_since[i],
                                                          self.session_start)
                if not self.squeezed[i]:
                    self.above_safe_since[i] = None
        # (b)
        if app.sup.tripped():
            if self.trip_ms is None:
                self.trip_ms = t
                self.trip_done = False
            if not self.trip_done:
                if max(pc) < L.SAFE_MMHG or vent_failed:
                    self.trip_done = True
                    self.worst["vent_after_trip_ms"] = max(self.worst["vent_after_trip_ms"],
                                                           t - self.trip_ms)
                elif t - self.trip_ms > L.VENT_BUDGET_MS:
                    self.trip_done = True
                    self._fail(t, f"(b) {t - self.trip_ms} ms after "
                                  f"{safety.CODES[app.sup.fault]} chambers at "
                                  f"{[round(x, 1) for x in pc]} without VENT_FAILED")
        else:
            self.trip_ms = None
        # (c)
        if app.seq.active():
            if self.session_start is None:
                self.session_start = t
                self.pressed_ms = [0] * self.n
                self.fill_seen = (0, 0)     # (h) a new session's waves count from 1 again
                self.wave_targets = {}
            if t - self.session_start > self.session_limit_ms:
                self._fail(t, f"(c) session running {t - self.session_start} ms")
        else:
            self.session_start = None
        # (g); in maintenance mode a computer holds air on purpose, for at most
        # limits.MAINT_HELD_MAX_MS (and the vent that follows)
        if app.maint is not None and app.maint.on:
            self.maint_seen_ms = t
        maint = self.maint_seen_ms is not None and t - self.maint_seen_ms <= L.VENT_BUDGET_MS
        if not app.seq.active() and not app.sup.tripped() and max(pc) >= L.SAFE_MMHG:
            if self.idle_full_since is None:
                self.idle_full_since = t
            d = t - self.idle_full_since
            self.worst["idle_full_ms"] = max(self.worst["idle_full_ms"], d)
            allowed_ms = L.MAINT_HELD_MAX_MS + L.VENT_BUDGET_MS if maint else self.IDLE_FULL_MS
            if d > allowed_ms:
                self.idle_full_since = t            # report again only after another 5 s
                self._fail(t, f"(g) idle with no fault for {d} ms while the chambers are at "
                              f"{[round(x, 1) for x in pc]}")
        else:
            self.idle_full_since = None
        # (h)
        seq = app.seq
        if seq.phase == 2 and (seq.cycle, seq.chamber) != self.fill_seen:     # FILL
            if seq.cycle != self.fill_seen[0]:
                self.wave_targets = {}
            self.fill_seen = (seq.cycle, seq.chamber)
            k = seq.chamber
            below = [j for j in self.wave_targets if j < k]
            boosted = seq.program is not None and seq.program.raises(k)
            if below and not boosted and \
                    seq.target_dmmhg > self.wave_targets[max(below)] + L.GRADIENT_SLACK_MMHG * 10:
                self._fail(t, f"(h) wave {seq.cycle}: chamber {k} fills to "
                              f"{seq.target_dmmhg / 10} mmHg, chamber {max(below)} to "
                              f"{self.wave_targets[max(below)] / 10}")
            self.wave_targets[k] = seq.target_dmmhg
        # (e)
        isolating = plant.pump_forced is True and plant.dump_forced is True
        closed = plant.pump_running() and not plant.dump_open() and not isolating and \
            not any(plant.valve_open(i) for i in range(self.n))
        if closed:
            if self.deadhead_since is None:
                self.deadhead_since = t
            d = t - self.deadhead_since
            self.worst["deadhead_ms"] = max(self.worst["deadhead_ms"], d)
            if d > 200:
                self._fail(t, f"(e) pump dead-headed for {d} ms")
        else:
            self.deadhead_since = None


class Boot:
    def __init__(self, board=None, settings=None, plant=None, seed=1, flash_dir=None,
                 uptime_s=None, chip=None):
        """chip: the scenario's chip section (flash_sector_ms, console; uptime_s also as its
        own argument)."""
        self.cfg = board or boardcfg.load(str(paths.DEFAULT_BOARD))
        self.settings = fw_settings.validate(settings or {}, self.cfg)
        self._tmp = None
        if flash_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="boot-flash-")
            flash_dir = self._tmp.name
        self.flash = flash_dir.rstrip("/") + "/"
        import os
        import shutil
        if (paths.ROOT / "programs").is_dir():          # the ready programs, as flashed
            os.makedirs(self.flash + "programs", exist_ok=True)
            for p in (paths.ROOT / "programs").glob("*.json"):
                shutil.copyfile(p, self.flash + "programs/" + p.name)
        config = {"board": self.cfg, "plant": plant or {}, "seed": seed,
                  "duration_ms": 10 ** 12, "sample_ms": 10 ** 12, "faults": [], "actions": [],
                  "chip": dict(chip or {})}
        if uptime_s is not None:
            config["chip"]["uptime_s"] = uptime_s
        self.events = []            # every event line, at its instant (a probe on the chip)
        self.console_out = []       # the lines the console wrote and the host got
        self._part = ""
        self.sim_lines = []
        self.vb = vboard.VirtualBoard(config, self.sim_lines.append, 0, cpython_rt.ticks_add)
        self.vb.chipio.live = False     # flash time is charged inside run() (see there)
        simctx.board = self.vb
        session_ms = self.settings["minutes"] * 60000
        self.watch = Watcher(self.cfg["chambers"], self.cfg["limits"]["ceiling_mmhg"],
                             session_ms + L.SESSION_GRACE_MS + 1000)
        self.resets = 0
        self._boot()

    def _boot(self):
        self.hw = fw_board.Hardware(self.cfg)
        self.app = fw_app.App(self.cfg, self.hw, self.settings, emit=self._console,
                              flash_dir=self.flash)
        con = self.app.console
        self.events.extend(con.lines)       # (made before the probe: a bad program file)
        put, put_status = con.put, con.put_status

        def probe(line):
            self.events.append(line)
            put(line)

        def probe_status(line):
            self.events.append(line)
            put_status(line)
        con.put = probe
        con.put_status = probe_status
        now = self.vb.ticks_ms()
        self.app.restore(now)
        self.hw.start_watchdog(L.WDT_TIMEOUT_MS)
        self.control_alive = True
        self.service_alive = True
        self.loop_alive = True
        self._n = 0

    def _console(self, text):
        """The firmware's console writes text: it takes the chip's time (flashmodel.py)."""
        if self.vb.chipio.console_text(text):
            lines = (self._part + text).split("\n")
            self._part = lines.pop()
            self.console_out.extend(lines)
        else:
            self._part = ""

    def _reset(self):
        self.resets += 1
        self.vb.power_up()
        self._boot()

    @property
    def t_ms(self):
        return self.vb.ms

    def press(self, kind="press"):
        self.vb.schedule(self.vb.ms, kind)

    def turn(self, detents):
        self.vb.schedule(self.vb.ms, {"do": "turn", "detents": detents})

    def remote(self, payload, allow_start=False):
        """A message on the MQTT command topic, now, through the firmware's own handler."""
        import remote as fw_remote
        self.app.gate.remote_inflate = allow_start
        fw_remote.on_command(self.app, payload.encode(), False)

    def inject(self, fault):
        self.vb.inject(dict(fault, t_ms=self.vb.ms))

    def shelf(self, s):
        """s seconds on a shelf pass at once (the scenario's "idle" action: once the boot has
        settled, VirtualBoard._settled, at most 240 s on; the plant stands still), then a
        second of ordinary running. s: at least 300. False: it never settled (a session
        running), so no shelf."""
        t0 = self.vb.ms

        def ready():        # settled, and no session (its zero phase looks settled)
            return self.vb._settled(t0) and self.app.seq.phase == 0

        while not ready() and self.vb.ms - t0 < chipclock.IDLE_WAIT_MS:
            self.run(TICK_MS)
        if not ready():
            return False        # a session started meanwhile (a press just before): no shelf
        self.vb._idle({"s": s, "t_ms": t0})
        self.run(1000)
        return True

    def run(self, ms):
        """Let ms of simulated time pass: tick, supervise and service as the tasks would."""
        end = self.vb.ms + ms
        # the flash's time is charged while this board runs (another test's write through the
        # patched flashfs, with this board still simctx's, is free)
        self.vb.chipio.live = True
        try:
            self._run_to(end)
        finally:
            self.vb.chipio.live = False

    def _run_to(self, end):
        while self.vb.ms < end:
            try:
                self.vb.advance(TICK_MS)
                self._n += 1
                now = self.vb.ticks_ms()
                if self.loop_alive:
                    self.vb.check_loop()
                    if self.control_alive:
                        try:
                            self.app.tick(now)
                        except vboard.InjectedFault as e:
                            self.control_alive = False      # the task is dead...
                            self.app.on_exception(None, {"exception": e})   # ...its handler
                    if self._n % 5 == 0:
                        self.app.supervise(now)
                    if self._n % 10 == 0 and self.service_alive:
                        try:
                            self.app.service(now)
                        except vboard.InjectedFault as e:
                            self.service_alive = False      # the service task is dead
                            self.app.on_exception(None, {"exception": e})
            except vboard.InjectedFault:
                # the event loop itself died: app.run's finally drives everything safe
                self.hw.outputs.safe()
                self.loop_alive = False
            except vboard.BoardReset:
                self._reset()
            self.watch.check(self.vb.ms, self.vb.plant, self.app)

    def close(self):
        if self._tmp:
            self._tmp.cleanup()
