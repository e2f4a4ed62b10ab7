"""boot-sim: run the controller firmware on a simulated boot.

  boot-sim run [--board B] [--pressure MMHG] [--minutes M] [--seed N] [--scenario FILE]
               [--trace FILE] [--plot FILE] [--flash DIR]
               [--runtime micropython|micropython32|micropython64|cpython]
               [--settings-file FILE]
  boot-sim check-board FILE
  boot-sim bench [--json FILE] [--quick]
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

from sim import paths, runtimes
from sim.scenario import ScenarioError, load as load_scenario
from sim.session import RUNTIMES, RunError, build_config, run

paths.import_device_modules()
import boardcfg  # noqa: E402
import settings as fw_settings  # noqa: E402

SESSION_MARK = "session.run"    # firmware/app.py: on flash while a session runs


SAID_MAX = 6    # lines of each kind below; the trace has them all


def _said(events):
    """What the boot answered a person or a dashboard: acknowledgements (cleared or refused,
    and why) and commands it turned down; the chambers the hold watch found bleeding; its
    warnings and isolation."""
    out, acks, refused, warned = [], 0, 0, 0
    for t, name, rec in events:
        when = f"at {t / 1000:.1f} s"
        if name == "clear" and acks < SAID_MAX:
            acks += 1
            out.append(f"acknowledged {when}: the check proved every chamber empty")
        elif name == "clear_refused" and acks < SAID_MAX:
            acks += 1
            k = f", chamber {rec['chamber']}" if rec.get("chamber") else ""
            out.append(f"acknowledgement refused {when} ({rec.get('why')}{k}): "
                       f"{rec.get('advice', '')}".rstrip(": "))
        elif name == "warning" and "loss_mmhg_per_min" in rec:
            # the hold watch: every fill may reach the target while a chamber bleeds after it
            out.append(f"chamber {rec['chamber']} did not hold {when}: lost "
                       f"{rec['lost_mmhg']} mmHg behind its closed valve "
                       f"({rec['loss_mmhg_per_min']} mmHg/min)")
        elif name == "warning" and warned < SAID_MAX:
            # every other warning (rest lengthened, hoses crossed?, a dump that stays shut, a
            # chamber pressed from outside, a program refused...): a newcomer sees it here
            warned += 1
            out.append(f"warning {when}: {rec.get('text', '')}")
        elif name == "isolate" and rec.get("on"):
            out.append(f"isolation {when}: every chamber valve closed against an air source "
                       f"that cannot be stopped")
        elif name in ("refused", "error") and refused < SAID_MAX:
            refused += 1
            what = rec.get("cmd") or rec.get("payload", "")
            src = "button/knob" if name == "refused" else "MQTT"
            out.append(f"{src} command '{what}' refused {when}: {rec.get('why')}")
    return out


def _summary_text(s, config, events=None):
    target = config["settings"]["pressure_mmhg"]
    if s["end_reason"] == "fault" and s.get("faults"):
        first = s["faults"][0]
        lines = [f"end: fault {first['code']} at {first['t_ms'] / 1000:.1f} s (the run went on "
                 f"to {s['duration_ms'] / 1000:.1f} s simulated)"]
    else:
        lines = [f"end: {s['end_reason']} after {s['duration_ms'] / 1000:.1f} s simulated"]
    if s["fills"]:
        held = [f["p_mmhg"] for f in s["fills"]]
        worst = max(abs(h - target) for h in held)
        cycles = max(f["cycle"] for f in s["fills"])
        lines.append(f"waves: {cycles}; chamber fills: {len(held)}, held "
                     f"{min(held):.1f} to {max(held):.1f} mmHg (target {target}, "
                     f"worst {worst:.1f} off)")
    lines.append("highest chamber pressures: " +
                 ", ".join(f"{p:.1f}" for p in s["max_p_chambers_mmhg"]) + " mmHg")
    lines.append(f"time above the ceiling: {s['time_above_ceiling_ms']} ms")
    for f in s.get("shelves", ()):
        lines.append(f"on the shelf from {f['t_ms'] / 1000:.1f} s for {f['s']} s" +
                     (f": {f['not_at_rest']} (stop the session before an idle action)"
                      if f.get("not_at_rest") else ""))
    if s.get("firmware_exit"):
        lines.append(s["firmware_exit"])        # "the firmware stopped with MemoryError: ..."
    for f in s["faults_injected"]:
        lines.append(f"fault injected at {f['t_ms'] / 1000:.1f} s: {f['fault']}")
    for f in s["faults"]:
        lines.append(f"firmware fault {f['code']} at {f['t_ms'] / 1000:.1f} s")
    for line in _said(events or ()):
        lines.append(line)
    vent = "vented" if s["vented_at_end"] else "NOT VENTED"
    lines.append("at the end: " + ", ".join(f"{p:.1f}" for p in s["final_p_chambers_mmhg"]) +
                 f" mmHg ({vent})")
    lines.append(f"wall time {s['wall_s']:.1f} s: {s['speedup']}x faster than real time")
    return "\n".join(lines)


def _board_rules(cfg, file):
    """The host's pin rules (sim/boardcheck.py), as `check-board` and `run` apply them: the
    warnings printed; the errors returned (a board that has any is not run)."""
    from sim import boardcheck     # the chips' pin quirks (strapping, flash, input-only pins)
    errors, warnings = boardcheck.check(cfg)
    for text in warnings:
        print(f"{file}: warning: {text}", file=sys.stderr)
    for text in errors:
        print(f"boot-sim: board file {file}: error: {text}", file=sys.stderr)
    return errors


def _settings_file(args, scenario):
    """--settings-file: (its bytes, the settings the firmware will start with). The file goes
    on the virtual flash as it is; the firmware reads and judges it at power-on, as on a boot."""
    if args.pressure is not None or args.minutes is not None or "settings" in scenario:
        raise ScenarioError("--settings-file: the file gives the settings; leave out "
                            "--pressure, --minutes and the scenario's settings (or put them "
                            "in the file)")
    try:
        raw = Path(args.settings_file).read_bytes()
    except OSError as e:
        raise RunError(f"--settings-file {args.settings_file}: cannot be read ({e.strerror})") \
            from None
    board = build_config(scenario, args.board)["board"]
    started, _ = fw_settings.load(args.settings_file, board)   # what the firmware will do
    return raw, started


def cmd_run(args):
    scenario = load_scenario(args.scenario) if args.scenario else {}
    flash_files = None
    if args.settings_file:
        raw, started = _settings_file(args, scenario)
        scenario = dict(scenario, settings=started)     # the run's length and the summary's
        flash_files = {"settings.json": raw}             # target: what the boot starts with
    config = build_config(scenario, args.board, args.pressure, args.minutes, args.seed)
    board_file = config["board_file"]
    if Path(board_file).resolve().is_relative_to(Path.cwd()):
        board_file = str(Path(board_file).resolve().relative_to(Path.cwd()))
    if _board_rules(config["board"], board_file):
        print(f"boot-sim: not run: fix the board file (boot-sim check-board {board_file} "
              f"checks it again)", file=sys.stderr)
        return 2
    trace = args.trace
    tmp = None
    if args.plot and not trace:
        tmp = tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False)
        trace = tmp.name
    print(f"boot-sim: {config['board']['name']}, {config['settings']['pressure_mmhg']} mmHg, "
          f"{config['settings']['minutes']} min session, {config['duration_ms'] / 1000:.0f} s "
          f"simulated, firmware under {runtimes.describe(args.runtime)}" +
          (f" in a {config['chip']['heap_kb']} KB heap" if config["chip"].get("heap_kb")
           else "") +
          (f"; settings.json: {args.settings_file}, as it is (the firmware judges it)"
           if args.settings_file else ""), file=sys.stderr)
    summary, follower = run(config, args.runtime, trace, args.flash, quiet=args.quiet,
                            firmware_dir=args.firmware, flash_files=flash_files)
    print(_summary_text(summary, config, follower.events))
    if args.flash and (Path(args.flash) / SESSION_MARK).exists():
        # as a boot switched off mid-session: its next power-on says the session was cut short
        print(f"note: the run ended while a session ran, as if the boot were switched off: "
              f"the next run with --flash {args.flash} warns that the last session was cut "
              f"short. Let it end first (duration_s at least the session plus 40 s, or a stop "
              f"action), or delete {Path(args.flash) / SESSION_MARK}")
    if args.trace:
        print(f"trace: {args.trace}")
    if args.plot:
        from sim.plot import plot
        plot(trace, args.plot)
        print(f"plot: {args.plot}")
    if args.screen:
        if follower.screen is None:
            print("screen: this board has no display, or the firmware did not drive it "
                  "(CPython has no framebuf: use --runtime micropython)", file=sys.stderr)
        else:
            from sim.plot import plot_screen
            plot_screen(follower.screen, args.screen)
            print(f"screen: {args.screen}")
    if tmp:
        Path(tmp.name).unlink()
    return 0


def cmd_accuracy(args):
    import json as _json
    from sim import accuracy
    print(f"held pressure against a {accuracy.TARGET_MMHG} mmHg target, per plant, firmware "
          f"under {args.runtime} ({args.minutes} min sessions)", file=sys.stderr)
    rows = accuracy.table(args.runtime, args.minutes,
                          progress=lambda r: print(f"  done: {r['variation']}", file=sys.stderr))
    print(accuracy.format_rows(rows))
    if args.json:
        Path(args.json).write_text(_json.dumps(rows, indent=1))
        print(f"json: {args.json}")
    worst = max(r["tuned"]["max_abs_mmhg"] for r in rows)
    return 0 if worst <= 3 else 1


def cmd_usage(args):
    """The usage log a (virtual) device keeps on its flash: one line per session."""
    # the firmware appends to usage.log and, at 100 lines, renames it usage.old (housekeeping.py)
    logs = [Path(args.flash) / name for name in ("usage.old", "usage.log")]
    if not any(log.exists() for log in logs):
        print(f"boot-sim: no usage log in {args.flash} (run sessions with --flash {args.flash})",
              file=sys.stderr)
        return 2
    import json as _json
    every = [_json.loads(x) for log in logs if log.exists()
             for x in log.read_text().splitlines() if x.strip()]
    rows = every[-100:]
    if len(every) > len(rows):
        print(f"the last {len(rows)} of {len(every)} sessions on flash (usage.old and usage.log)")
    print(f"{'#':>3} {'mode':9} {'target':>7} {'set':>5} {'ran':>7} {'waves':>6}  end")
    for i, r in enumerate(rows, 1):
        print(f"{i:>3} {r['mode']:9} {r['target_mmhg']:>4} mmHg {r['minutes_set']:>3} min "
              f"{r['ran_s'] / 60:>5.1f} min {r['waves']:>5}  {r['end']}")
    planned = sum(r["minutes_set"] * 60 for r in rows)
    ran = sum(min(r["ran_s"], r["minutes_set"] * 60) for r in rows)
    if planned:
        print(f"compliance: {ran / 60:.1f} of {planned / 60:.1f} planned minutes "
              f"({100 * ran / planned:.0f} %), {sum(r['end'] == 'complete' for r in rows)} of "
              f"{len(rows)} sessions complete")
    return 0


def cmd_check_board(args):
    cfg = boardcfg.load(args.file)
    if _board_rules(cfg, args.file):
        return 2
    print(f"{args.file}: ok: {cfg['name']} ({cfg['mcu']}), {cfg['chambers']} chambers, "
          f"ceiling {cfg['limits']['ceiling_mmhg']} mmHg")
    from limits import ADC_FLOOR_V
    sen, floor = cfg["sensor"], ADC_FLOOR_V[cfg["mcu"]]
    v_zero = sen["v_at_zero"] * sen["divider_ratio"]
    print(f"{args.file}: sensor: 0 mmHg at {v_zero:.3f} V on the ADC, {v_zero - floor:.3f} V "
          f"above the {cfg['mcu']}'s ADC floor ({floor:.3f} V: a broken wire reads it)")
    return 0


def cmd_bench(args):
    from sim.bench import run_bench
    results = run_bench(quick=args.quick, json_path=args.json)
    return 1 if results.get("error") else 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="boot-sim", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a simulated session")
    r.add_argument("--board", help="board name (boards/NAME.json) or board file")
    r.add_argument("--pressure", type=int, help="target pressure, mmHg")
    r.add_argument("--minutes", type=int, help="session length, minutes")
    r.add_argument("--seed", type=int, help="random seed for the plant's noise")
    r.add_argument("--scenario", help="scenario JSON file")
    r.add_argument("--trace", help="write the trace (JSON Lines) here")
    r.add_argument("--plot", help="write a PNG plot of the session here")
    r.add_argument("--screen", help="write a PNG of what the OLED shows at the end here")
    r.add_argument("--runtime", choices=RUNTIMES, default="micropython",
                   help="micropython: the 32-bit build when setup made one (as the ESP32: "
                   "micropython32), else the wheel's 64-bit one (micropython64); or cpython")
    r.add_argument("--flash", help="directory to use as the device's flash (kept between runs)")
    r.add_argument("--settings-file", metavar="FILE",
                   help="put FILE on the device's flash as settings.json, as it is: see what "
                        "the boot says about it (a damaged one starts low)")
    r.add_argument("--firmware", help="directory to take the firmware from (default firmware/),"
                   " e.g. a flashed virtual board's flash directory")
    r.add_argument("--quiet", action="store_true", help="no progress line")
    a = sub.add_parser("accuracy", help="held pressure vs target, self-tuning on and off")
    a.add_argument("--runtime", choices=RUNTIMES, default="micropython")
    a.add_argument("--minutes", type=int, default=5)
    a.add_argument("--json", help="also write the table as JSON here")
    u = sub.add_parser("usage", help="print the usage log a device keeps on its flash")
    u.add_argument("--flash", required=True, help="the device's flash directory")
    c = sub.add_parser("check-board", help="check a board file")
    c.add_argument("file")
    b = sub.add_parser("bench", help="measure memory, latency, accuracy and speed (a table)")
    b.add_argument("--json", default="out/bench.json",
                   help="write every figure here as JSON (default out/bench.json)")
    b.add_argument("--quick", action="store_true", help="small sizes (for the tests)")
    args = ap.parse_args(argv)
    try:
        return {"run": cmd_run, "check-board": cmd_check_board, "accuracy": cmd_accuracy,
                "usage": cmd_usage,
                "bench": cmd_bench}[args.command](args)
    except (ScenarioError, RunError, boardcfg.BoardError) as e:
        print(f"boot-sim: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
