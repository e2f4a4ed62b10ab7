"""Property-based proof of the safety invariants: a hypothesis state machine drives the
firmware's App (in-process, on the virtual board; see sim/harness.py) with random user actions,
settings, plant variations and fault injections at random times, and after every 10 ms tick
checks the plant's true state against the invariants (a)-(g) listed in sim/harness.Watcher.
Remote commands (MQTT's command topic, with mqtt.allow_start on and off) are drawn interleaved
with presses, knob turns and the stop button.

Profiles (host_tests/conftest.py): "ci" (default, a few hundred examples) and "soak"
(10,000): ./run-tests.sh host_tests/test_safety_props.py --hypothesis-profile=soak
"""
from hypothesis import event, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition,
                                 rule)

from sim import paths
from sim.harness import Boot, boardcfg

CHAMBERS = 4
_BOARD = boardcfg.load(str(paths.DEFAULT_BOARD))    # (its chambers: CHAMBERS)

FAULT = st.one_of(
    st.sampled_from([{"fault": f} for f in (
        "pump_stuck_on", "pump_dead", "dump_stuck_closed", "sensor_open", "sensor_short",
        "sensor_frozen", "task_crash", "service_crash", "loop_crash", "brownout")]),
    st.builds(lambda f, c: {"fault": f, "chamber": c},
              st.sampled_from(["valve_stuck_closed", "valve_stuck_open", "hose_disconnect"]),
              st.integers(1, CHAMBERS)),
    st.builds(lambda m: {"fault": "sensor_offset", "mmhg": m}, st.integers(-40, 40)),
    st.builds(lambda c, q: {"fault": "leak", "chamber": c, "ml_per_min": q},
              st.integers(1, CHAMBERS), st.integers(0, 5000)),
    st.builds(lambda ms: {"fault": "loop_stall", "ms": ms}, st.integers(20, 2000)),
    # issue 17, part 7: what the field does
    st.builds(lambda g: {"fault": "sensor_gain", "factor": g}, st.floats(0.5, 1.5)),
    st.builds(lambda d: {"fault": "sensor_drift", "mmhg_per_min": d}, st.integers(-30, 30)),
    st.builds(lambda c, m: {"fault": "squeeze", "chamber": c, "mmhg": m},
              st.integers(1, CHAMBERS), st.integers(5, 60)),
    st.builds(lambda a, b: {"fault": "hoses_crossed", "chambers": [a, b]},
              st.integers(1, CHAMBERS), st.integers(1, CHAMBERS)).filter(
        lambda f: f["chambers"][0] != f["chambers"][1]),
    st.builds(lambda d: {"fault": "dump_stuck_closed", "dump": d}, st.integers(1, 1)),
)
# faults that can end (a connector pulled on and off, a kink that opens): "until_ms" drawn
ENDS = ("pump_stuck_on", "pump_dead", "dump_stuck_closed", "valve_stuck_closed",
        "valve_stuck_open", "hose_disconnect", "sensor_open", "sensor_short", "sensor_frozen",
        "sensor_offset", "leak", "sensor_gain", "sensor_drift", "squeeze")


class BootMachine(RuleBasedStateMachine):
    @initialize(
        volumes=st.lists(st.integers(300, 1500), min_size=CHAMBERS, max_size=CHAMBERS),
        strength=st.floats(0.7, 1.3),
        leaks=st.lists(st.integers(0, 200), min_size=CHAMBERS, max_size=CHAMBERS),
        pressure=st.integers(20, 120), hold=st.integers(0, 30), rest=st.integers(15, 60),
        minutes=st.integers(1, 3), seed=st.integers(0, 1000),
        mode=st.sampled_from(["wave", "gradient", "boost", "pulse", "warmup", "custom"]),
        fit_check=st.booleans(), tuning=st.booleans(),
        # the chip's tick counter at power-on: 0 (as a chip), anywhere, or just before the
        # 2**30 ms wrap so a session crosses it (issue 12); None: the simulator's default
        uptime_s=st.one_of(st.none(), st.just(0), st.integers(0, 2 ** 30 // 1000),
                           st.integers(2 ** 30 // 1000 - 300, 2 ** 30 // 1000)),
        # the flash's sector time (None: the typical default; up to the worst datasheet's
        # and past it) and the console: a UART, a USB host that reads, one that does not
        flash_sector_ms=st.one_of(st.none(), st.integers(0, 500)),
        console=st.sampled_from(["uart", "usb", "usb_blocked"]))
    def boot(self, volumes, strength, leaks, pressure, hold, rest, minutes, seed, mode,
             fit_check, tuning, uptime_s, flash_sector_ms, console):
        # every mode and program holds the same invariants
        # a USB console is the S3's: the same 4-chamber board on an S3 (its ADC too)
        board = None if console == "uart" else dict(_BOARD, mcu="esp32s3")
        self.b = Boot(board=board,
                      settings={"pressure_mmhg": pressure, "hold_s": hold, "rest_s": rest,
                                "minutes": minutes, "mode": mode, "program": "calf-focus",
                                "fit_check": fit_check, "tuning": tuning},
                      plant={"chamber_volume_ml": volumes, "pump_strength": strength,
                             "leak_ml_per_min": leaks}, seed=seed, uptime_s=uptime_s,
                      chip={"console": console} if flash_sector_ms is None else
                      {"console": console, "flash_sector_ms": flash_sector_ms})
        self.faults = 0
        self.b.press("start")

    @rule(ms=st.integers(1000, 60000))
    def wait(self, ms):
        self.b.run(ms)

    @precondition(lambda self: self.b.app.seq.phase == 0)     # idle: no session, none paused
    @rule(s=st.one_of(st.integers(300, 3 * 86400), st.integers(6 * 86400, 13 * 86400)))
    def shelf(self, s):
        # idle on a shelf for up to 13 days (past the ticks' half and whole period), then on
        self.b.shelf(s)

    @rule(kind=st.sampled_from(["press", "long_press", "stop_press"]))
    def button(self, kind):
        self.b.press(kind)
        self.b.run(100)

    @rule(detents=st.integers(-8, 8).filter(bool))
    def knob(self, detents):
        self.b.turn(detents)
        self.b.run(400)

    @rule(payload=st.one_of(
        st.sampled_from(["start", "stop", "pause", "resume", '{"cmd": "resume"}', "{oops"]),
        st.builds(lambda v: '{"cmd": "set_target", "value": %d}' % v, st.integers(15, 130))),
        allow_start=st.booleans(), after_ms=st.integers(0, 4000))
    def remote(self, payload, allow_start, after_ms):
        self.b.remote(payload, allow_start)
        self.b.run(after_ms + 10)

    @precondition(lambda self: self.faults < 2)
    @rule(fault=FAULT, lasts_ms=st.one_of(st.none(), st.integers(200, 60000)))
    def inject(self, fault, lasts_ms):
        self.faults += 1
        if lasts_ms is not None and fault["fault"] in ENDS:
            fault = dict(fault, until_ms=self.b.vb.ms + lasts_ms)
        self.b.inject(fault)
        self.b.run(50)
        event(f"injected {fault['fault']}")

    @invariant()
    def invariants_hold(self):
        assert not self.b.watch.violations, "\n".join(self.b.watch.violations)

    def teardown(self):
        # run the session out (it ends by itself, or a fault ended it), then let the last
        # trip's vent budget pass before the final check
        limit = self.b.settings["minutes"] * 60000 + 60000
        while self.b.app.seq.active() and self.b.t_ms < limit:
            self.b.run(1000)
        self.b.run(6000)
        event(f"simulated {self.b.t_ms // 60000} min")
        for rec in self.b.events:
            if '"event": "fault"' in rec:
                event("detected " + rec.split('"code": "')[1].split('"')[0])
        assert not self.b.watch.violations, "\n".join(self.b.watch.violations)
        self.b.close()


TestSafetyInvariants = BootMachine.TestCase
