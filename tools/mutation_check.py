#!/usr/bin/env python3
"""Prove that every hazard row of docs/SAFETY.md has a test that fails when its detection or
response is removed: for each row, break the firmware in one place, run that row's tests, and
expect them to fail; then put the code back. Prints a table; exits 1 if any mutant survives.

    .venv/bin/python tools/mutation_check.py            (about 5 minutes)
    .venv/bin/python tools/mutation_check.py hold       (only the rows whose name has "hold")
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FW = ROOT / "firmware"

# hazard row, file, code to break, broken code, tests that must now fail
MUTANTS = [
    ("over-pressure", "safety.py",
     "if p_dmmhg > self.ceiling_dmmhg:\n            self.trip(OVER_PRESSURE",
     "if False:\n            self.trip(OVER_PRESSURE",
     "test_scenarios.py -k over_pressure"),
    ("failure to deflate: dump stuck closed", "safety.py",
     "                self.trip(VENT_FAILED, now_ms)", "                pass",
     "test_scenarios.py -k dump_stuck_closed"),
    ("failure to deflate: full chamber, valve stuck", "monitor.py",
     "elif checking and p - self._probe_p0", "elif False and p - self._probe_p0",
     "test_scenarios.py -k valve_stuck_closed_full"),
    ("too long at pressure", "monitor.py",
     "            return safety.TIME_AT_PRESSURE", "            return safety.NONE",
     "test_hazards.py -k time_at_pressure"),
    ("session overrun", "safety.py", "            self.trip(SESSION_OVERRUN, now_ms)",
     "            pass", "test_hazards.py -k overrun"),
    ("pump stuck on", "monitor.py",
     "            if p - self._probe_p0 > L.PUMP_OFF_RISE_DMMHG:\n                if not holding:",
     "            if False:\n                if not holding:",
     "test_scenarios.py -k pump_stuck_on_hold"),
    ("pump stuck on, told from a valve letting air back", "monitor.py",
     "        if step >= L.PUMP_CLIMB_DMMHG_PER_TICK and 2 * step >= first:",
     "        if False:", "test_scenarios.py -k pump_and_dump_stuck_hold"),
    ("valve stuck open: the seal check after each fill", "sequencer.py",
     "                self.sealing = True\n                return self._all_closed | DUMP_CLOSED",
     "                return self._all_closed", "test_hazards.py -k first_seal_check"),
    ("valve stuck open: found, and the valve check distrusted", "monitor.py",
     "        return safety.VALVE_LEAK\n", "        return safety.NONE\n",
     "test_hazards.py -k stuck_open"),
    ("valve letting go in the hold (the hold's watch)", "monitor.py",
     "        if p - self._hold_base > L.HOLD_BUMP_DMMHG:", "        if False:",
     "test_hazards.py -k told_apart"),
    ("a vent verified only by a steady safe reading", "safety.py",
     "                elif ticks_diff(now_ms, self._safe_since_ms) >= VENT_CONFIRM_MS:",
     "                else:", "test_safety.py -k steady"),
    ("pump stuck on and dump stuck shut: isolation", "safety.py",
     "            elif ticks_diff(now_ms, self._above_since_ms) >= ISOLATE_AFTER_MS:\n"
     "                self.isolated = True",
     "            elif ticks_diff(now_ms, self._above_since_ms) >= ISOLATE_AFTER_MS:\n"
     "                pass", "test_hazards.py -k kept_off_the_leg"),
    ("a dead pump cannot check the valves (no air)", "app.py",
     "        if unseen:\n", "        if False:\n",
     "test_hazards.py -k dead_pump_cannot_check"),
    ("a chamber cut off mid-fill (out of sight)", "app.py",
     "        unseen = mon.fill_lost(self.sensor.p_dmmhg)",
     "        unseen = False", "test_hazards.py -k hose_coming_off_mid_fill"),
    ("a frozen sensor cannot verify a vent", "safety.py",
     "(live or self.first_fault != SENSOR_FROZEN)", "(True)",
     "test_hazards.py -k frozen_sensor_cannot"),
    ("a zero taken on air held in the boot", "pressure.py",
     "        if self.zeroed and (offset", "        if False and (offset",
     "test_hazards.py -k trapped_air"),
    ("pump dead, leak, hose off (no rise)", "monitor.py",
     "        if ticks_diff(now_ms, self._win_ms) >= L.FILL_STALL_MS:",
     "        if False:", "test_scenarios.py -k pump_dead"),
    ("no rise within twice the learned fill time", "monitor.py",
     "        if self._fill_ms > self.fill_budget_ms(chamber):", "        if False:",
     "test_scenarios.py -k leak_large"),
    ("kinked hose, valve stuck closed (too fast)", "monitor.py",
     "        if p - self._last_p > L.FAST_RISE_DMMHG_PER_TICK:", "        if False:",
     "test_scenarios.py -k valve_stuck_closed_empty"),
    ("sensor open, short, out of range", "safety.py",
     "if bad_run >= self.bad_samples:", "if False:", "test_scenarios.py -k sensor_open"),
    ("sensor frozen", "monitor.py", "if self._same_uv >= L.FROZEN_SAMPLES:", "if False:",
     "test_scenarios.py -k sensor_frozen"),
    ("sensor offset or drift", "monitor.py",
     "            return safety.SENSOR_DRIFT", "            return safety.NONE",
     "test_scenarios.py -k sensor_drift_high"),
    ("zero offset at start", "pressure.py",
     "        if offset > MAX_ZERO_OFFSET_MMHG * 10 or offset < -MAX_ZERO_OFFSET_MMHG * 10:",
     "        if False:", "test_pressure.py"),
    ("loop stalled by a blocking call (watchdog)", "board.py",
     "        self._wdt = machine.WDT(timeout=timeout_ms)", "        pass",
     "test_scenarios.py -k loop_stall"),
    ("a task dies silently (heartbeat)", "app.py",
     "        alive = ticks_diff(now_ms, self.heartbeat_ms) <= L.HEARTBEAT_MS",
     "        alive = True", "test_hazards.py -k dead_control_task"),
    ("a task raises (exception handler)", "app.py",
     "        self.outputs.safe()\n        now = ticks_ms()\n        self.sup.trip(safety.TASK_CRASH",
     "        now = ticks_ms()\n        self.sup.trip(safety.TASK_CRASH",
     "test_scenarios.py -k task_crash"),
    ("the loop itself raises (finally)", "app.py",
     "    finally:\n        hw.outputs.safe()", "    finally:\n        pass",
     "test_scenarios.py -k loop_crash"),
    ("reset or brown-out mid-session", "app.py",
     "            open(self.mark_path).close()", "            raise OSError()",
     "test_scenarios.py -k brownout"),
    ("a fault survives reboot (fault log)", "app.py",
     "        last = faultlog.unacknowledged(self.log_path)", "        last = None",
     "test_hazards.py -k fault_log_survives"),
    ("acknowledging: a chamber shut in keeps the fault", "tripped.py",
     "            if t > 0 and t < PUFF_MS and rise > L.VALVE_CHECK_RISE_DMMHG:",
     "            if False:", "test_scenarios.py -k ack_refused"),
    ("acknowledging: no air seen proves nothing", "tripped.py",
     "        if self._ack_peak < L.ACK_AIR_DMMHG:", "        if False:",
     "test_hazards.py -k dies_during"),
    ("acknowledging: the closed manifold must build pressure", "tripped.py",
     "                return self._ack_end(ACK_NO_SEAL)",
     "                self._ack_peak = 1\n                return SAFE",
     "test_hazards.py -k cannot_hide_a_chamber"),
    ("acknowledging: the pump must be off", "tripped.py",
     "            if t > 0 and rise > L.PUMP_OFF_RISE_DMMHG:",
     "            if False:", "test_hazards.py -k still_runs"),
    ("the control puff's dead-head exception is bounded", "valves.py",
     "self._control_writes > CONTROL_PUFF_MAX_WRITES:",
     "False and self._control_writes > CONTROL_PUFF_MAX_WRITES:",
     "test_valves.py -k control_puff"),
    ("acknowledging: the fault clears only after the check", "commands.py",
     "    app.trip.begin_ack(now_ms, app.sensor.p_dmmhg, mask)",
     "    ack_done(app, now_ms, ACK_PASSED)", "test_scenarios.py -k ack_refused"),
    ("one gate: nothing inflates within 3 s of a stop", "gate.py",
     "        if self.quiet or (pressed and self._contact_quiet):\n            return QUIET_TEXT",
     "        if False:\n            return QUIET_TEXT",
     "test_commands.py -k right_after"),
    ("one gate: remote resume needs allow_start", "gate.py",
     "if source == REMOTE and name != \"set_target\" and not self.remote_inflate:",
     "if source == REMOTE and name == \"start\" and not self.remote_inflate:",
     "test_commands.py -k need_allow_start"),
    ("one target in force (the knob moves it)", "commands.py",
     "    target = seq.next_target_dmmhg // 10\n    action = u.handle(",
     "    target = app.settings[\"pressure_mmhg\"]\n    action = u.handle(",
     "test_commands.py -k target_in_force"),
    ("the menu closes by itself (every tick)", "app.py",
     "        if self.ui.expire(now_ms):", "        if False and self.ui.expire(now_ms):",
     "test_commands.py -k menu_left_open"),
    ("the first contact makes it safe", "ui.py",
     "                if self._contact_paused:\n                    return PAUSE",
     "                if False:\n                    return PAUSE",
     "test_commands.py -k first_contact"),
    ("a loop held by the network's own step, idle: no fault", "netguard.py",
     "        if self.step:\n            return self.step",
     "        if False:\n            return self.step", "test_hazards.py -k held_briefly"),
    ("a stall in a session is never the network's", "app.py",
     "        if hung and housekeeping.exists(self.mark_path):",
     "        if False:", "test_hazards.py -k during_a_session_is_still"),
    ("one gate: a press is judged at its contact", "gate.py",
     "        if self.quiet or (pressed and self._contact_quiet):",
     "        if self.quiet:", "test_commands.py -k begun_in_the_quiet"),
    ("impossible reading: far below zero", "monitor.py",
     "            if self._low_run >= L.IMPOSSIBLE_LOW_TICKS:",
     "            if False:",
     "test_scenarios.py -k sensor_drift_low"),
    ("impossible reading: a sharp fall while filling", "monitor.py",
     "            if p - fall_p > L.FILL_FALL_NEXT_DMMHG and in_window:",
     "            if False:", "test_scenarios.py -k sensor_step_mid_fill"),
    ("gradient order: a higher target waits for the next wave", "sequencer.py",
     "        self._wave_dmmhg = self.next_target_dmmhg\n        self._begin_fill",
     "        self._begin_fill", "test_programs.py -k never_reverses"),
    ("gradient order: no chamber above the one below + 3", "sequencer.py",
     "            if t > cap:\n                t = cap", "            if False:\n                t = cap",
     "test_programs.py -k climbs_the_leg"),
    ("corrupt board file", "boardcfg.py",
     "        c.integer(lim, \"limits\", key, lo, hi)", "        pass", "test_boardcfg.py"),
    ("corrupt settings file", "settings.py",
     "    except ValueError as e:  # json error: the file is corrupt", "    except KeyError as e:",
     "test_hazards.py -k damaged_settings"),
    ("pump dead-headed (interlock)", "valves.py",
     "            cmd &= ~PUMP_ON\n", "            pass\n", "test_valves.py"),
    ("every output safe at boot", "board.py",
     "        off = 0 if out[\"active_high\"] else 1", "        off = 1 if out[\"active_high\"] else 0",
     "test_hazards.py -k first_level"),
    ("a service task dies (every heartbeat)", "app.py",
     "        if not dead and ticks_diff(now_ms, self.service_beat_ms) > L.SERVICE_HEARTBEAT_MS:",
     "        if False:", "test_hazards.py -k dead_service_task"),
    ("a network task stops beating (every heartbeat)", "app.py",
     "            if not dead and ticks_diff(now_ms, svc.heartbeat_ms) > svc.heartbeat_max_ms:",
     "            if False:", "test_hazards.py -k stops_beating"),
    ("a network task beats while it waits", "telemetry.py",
     "                await self._sleep(3600000)", "                await asyncio.sleep_ms(3600000)",
     "test_netguard_reset.py -k stays_skipped"),
    ("a network task beats while Wi-Fi joins", "wifi.py",
     "< JOIN_TIMEOUT_MS:\n            if beat is not None:", "< JOIN_TIMEOUT_MS:\n            if False:",
     "test_netguard_reset.py -k stays_skipped"),
    ("the boot after a dead task names the task", "app.py",
     "        elif wdt and dead:", "        elif False:", "test_scenarios.py -k service_crash"),
    ("a hung network step's reset: a warning, no fault", "app.py",
     "        elif wdt and hung:", "        elif False:",
     "test_hazards.py -k network_step_is_a_warning"),
    ("a hung network step stays skipped (same secrets)", "netguard.py",
     "        if parts[0] in ADVICE and len(parts) == 2 and parts[1] == fingerprint(",
     "        if False and (", "test_hazards.py -k network_step_is_a_warning"),
    ("a hung network step runs again (secrets changed)", "netguard.py",
     "len(parts) == 2 and parts[1] == fingerprint(self.flash_dir)", "len(parts) == 2",
     "test_hazards.py -k network_step_is_a_warning"),
    ("the power-on chirp and blink", "app.py",
     "        if self._selftest != 2:", "        if False:",
     "test_field_faults.py -k chirps"),
    ("crossed hoses: fit times against the garment's stated sizes", "fitorder.py",
     "            if fit_ms[j] * 100 >= fit_ms[i] * L.FIT_ORDER_TIME_PCT and \\",
     "            if False and \\",
     "test_scenarios.py -k hoses_crossed"),
    ("a chamber that cannot hold: HOLD_LOSS", "holdwatch.py",
     "        if held < floor - L.HOLD_LOSS_FAULT_MMHG * 10:\n            return FAULT",
     "        if False:\n            return FAULT",
     "test_scenarios.py -k leak_torn_tube_hold"),
    ("a chamber that bleeds is announced", "holdwatch.py",
     "            self.warned |= bit\n            return WARN",
     "            self.warned |= bit\n            return OK",
     "test_scenarios.py -k leak_hold_warning"),
    ("the hold watch reads what a chamber held", "holdwatch.py",
     "    return m1 + (r1 - m1) * num // den", "    return r1",
     "test_holdwatch.py -k two_peeks"),
    ("the hold watch peeks at the end of every hold", "sequencer.py",
     "                return self._begin_peek(self._next_enabled(0), now_ms)",
     "                return self._begin_peek(0, now_ms)",
     "test_scenarios.py -k leak_torn_tube_hold"),
    ("a second vent path: each dump checked after a vent", "dumpcheck.py",
     "            if t > 0 and p - self._p0 > L.VALVE_CHECK_RISE_DMMHG:", "            if False:",
     "test_scenarios.py -k second_dump"),
    ("a second vent path: no dump that opens is VENT_FAILED", "dumpcheck.py",
     "        self.all_stuck = (1 << dumps) - 1", "        self.all_stuck = -2",
     "test_dumps.py -k no_dump_that_opens"),
    ("a second vent path: the pump puffs through one kept dump", "valves.py",
     "                and not cmd & self._keep:", "                and True:",
     "test_dumps.py -k one_stuck_dump"),
]


def run_tests(selection):
    args = selection.split()
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           str(ROOT / "host_tests" / args[0]), *args[1:]]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True).returncode


def main():
    survived = 0
    print(f"{'hazard row':48} {'mutant':8} tests")
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    mutants = [m for m in MUTANTS if only in m[0]]
    for row, name, old, new, tests in mutants:
        path = FW / name
        src = path.read_text()
        if src.count(old) != 1:
            print(f"{row:48} {'MISSING':8} (the code to break was not found once in {name})")
            survived += 1
            continue
        path.write_text(src.replace(old, new))
        try:
            rc = run_tests(tests)
        finally:
            path.write_text(src)
        verdict = "killed" if rc != 0 else "SURVIVED"
        survived += rc == 0
        print(f"{row:48} {verdict:8} {tests}", flush=True)
    print(f"{len(mutants) - survived} of {len(mutants)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
