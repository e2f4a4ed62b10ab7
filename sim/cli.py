"""boot-sim: run the controller firmware on a simulated boot.

  boot-sim run [--board B] [--pressure MMHG] [--minutes M] [--seed N] [--scenario FILE]
               [--trace FILE] [--plot FILE] [--flash DIR]
               [--runtime micropython|micropython32|micropython64|cpython]
               [--settings-file FILE] [--pace X]
  boot-sim check-board FILE
  boot-sim scenarios | faults
  boot-sim plot TRACE [--from S] [--to S] [--out FILE]
  boot-sim check-program FILE [--board B]
  boot-sim bench [--json FILE] [--quick]
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

from sim import explain, library, paths, runtimes, summary as run_summary
from sim.scenario import ScenarioError, load as load_scenario
from sim.session import RUNTIMES, RunError, build_config, run

paths.import_device_modules()
import boardcfg  # noqa: E402
import settings as fw_settings  # noqa: E402

SESSION_MARK = "session.run"    # firmware/app.py: on flash while a session runs


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


def _on_flash(args, scenario):
    """--flash DIR keeps what is on the flash: a board.json there is the board unless --board
    or the scenario names one (so is a flashed --firmware DIR's); a settings.json there is what
    the boot starts with, unless --settings-file replaces it, and --pressure, --minutes or the
    scenario's settings change only their fields. Returns (scenario, board, names of the files
    the run leaves as they are)."""
    board = args.board or scenario.get("board")
    flash = Path(args.flash) if args.flash else None
    keep = []
    if board is None:
        for d in (flash, Path(args.firmware) if args.firmware else None):
            if d is not None and (d / "board.json").is_file():
                board = str(d / "board.json")
                break
    if flash is not None and board == str(flash / "board.json"):
        keep.append("board.json")
    if flash is not None and (flash / "settings.json").is_file() and not args.settings_file:
        cfg = build_config({}, board)["board"]
        started, _ = fw_settings.load(str(flash / "settings.json"), cfg)  # the firmware's read
        asked = scenario.get("settings")
        if asked is None and args.pressure is None and args.minutes is None:
            keep.append("settings.json")
        scenario = dict(scenario, settings=dict(started, **(asked or {})))
    return scenario, board, keep


def cmd_run(args):
    cannot = explain.screen_refusal(args.screen, args.runtime)
    if cannot:
        print(f"boot-sim: {cannot}", file=sys.stderr)
        return 2
    scenario = load_scenario(str(library.find(args.scenario))) if args.scenario else {}
    scenario, board, keep = _on_flash(args, scenario)
    flash_files = None
    if args.settings_file:
        raw, started = _settings_file(args, dict(scenario, board=board) if board else scenario)
        scenario = dict(scenario, settings=started)     # the run's length and the summary's
        flash_files = {"settings.json": raw}             # target: what the boot starts with
    try:
        config = build_config(scenario, board, args.pressure, args.minutes, args.seed)
    except ScenarioError as e:
        if args.scenario and not str(e).startswith(("scenario ", "--")):
            raise ScenarioError(f"scenario {library.find(args.scenario)}: {e}") from None
        raise
    if args.pace is not None:
        if not args.pace > 0:
            raise ScenarioError(f"--pace: a speed above 0 (1 real time, 10 ten times faster), "
                                f"got {args.pace}")
        config["pace"] = args.pace      # sim/device/simopts.py
    board_file = config["board_file"]
    if Path(board_file).resolve().is_relative_to(Path.cwd()):
        board_file = str(Path(board_file).resolve().relative_to(Path.cwd()))
    if _board_rules(config["board"], board_file):
        print(f"boot-sim: not run: fix the board file (boot-sim check-board {board_file} "
              f"checks it again)", file=sys.stderr)
        return 2
    config["screen_frames"] = explain.every_frame(args.screen)
    trace = args.trace
    tmp = None
    if args.plot and not trace:
        tmp = tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False)
        trace = tmp.name
    st = config["settings"]
    what = (f"program {st.get('program')} (its own pressures; {st['pressure_mmhg']} mmHg if it "
            f"is refused)" if st.get("mode") == "custom" else
            f"{st.get('mode', 'wave')}, {st['pressure_mmhg']} mmHg")
    print(f"boot-sim: {config['board']['name']}, {what}, "
          f"{config['settings']['minutes']} min session, {config['duration_ms'] / 1000:.0f} s "
          f"simulated, firmware under {runtimes.describe(args.runtime)}" +
          (f" in a {config['chip']['heap_kb']} KB heap" if config["chip"].get("heap_kb")
           else "") +
          (f"; settings.json: {args.settings_file}, as it is (the firmware judges it)"
           if args.settings_file else ""), file=sys.stderr)
    if keep:
        print(f"boot-sim: kept on {args.flash}: {' and '.join(keep)}, as "
              f"{'they are' if len(keep) > 1 else 'it is'}",
              file=sys.stderr)
    summary, follower = run(config, args.runtime, trace, args.flash, quiet=args.quiet,
                            firmware_dir=args.firmware, flash_files=flash_files, keep=keep)
    print(run_summary.text(summary, config, follower.events))
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
        said, nothing = explain.write_screen(args.screen, follower)
        print(said, file=sys.stderr if nothing else sys.stdout)
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
    from sim import boarderrors     # every error of the file, not only the first
    errors, rule_errors, warnings = boarderrors.collect(args.file)
    for text in warnings:
        print(f"{args.file}: warning: {text}", file=sys.stderr)
    for text in errors:
        print(f"boot-sim: {text}", file=sys.stderr)
    for text in rule_errors:
        print(f"boot-sim: board file {args.file}: error: {text}", file=sys.stderr)
    if errors or rule_errors:
        return 2
    cfg = boardcfg.load(args.file)
    print(f"{args.file}: ok: {cfg['name']} ({cfg['mcu']}), {cfg['chambers']} chambers, "
          f"ceiling {cfg['limits']['ceiling_mmhg']} mmHg")
    from limits import ADC_FLOOR_V
    sen, floor = cfg["sensor"], ADC_FLOOR_V[cfg["mcu"]]
    v_zero = sen["v_at_zero"] * sen["divider_ratio"]
    print(f"{args.file}: sensor: 0 mmHg at {v_zero:.3f} V on the ADC, {v_zero - floor:.3f} V "
          f"above the {cfg['mcu']}'s ADC floor ({floor:.3f} V: a broken wire reads it)")
    return 0


def cmd_check_program(args):
    """A program file checked as the firmware checks it at load (firmware/program.py, then the
    whole wave: waveplan.py), on a board: the firmware's own words for a refusal."""
    import program
    import waveplan
    from sim.scenario import resolve_board
    board_file = str(resolve_board(args.board or str(paths.DEFAULT_BOARD)))
    cfg = boardcfg.load(board_file)
    on = f"on {cfg['name']} ({cfg['chambers']} chambers, {board_file})"
    source = f"program file {args.file}"
    if not Path(args.file).is_file():
        print(f"boot-sim: {source}: there is no such file (the shipped programs: "
              f"{', '.join(sorted(p.name for p in (paths.ROOT / 'programs').glob('*.json')))})",
              file=sys.stderr)
        return 2
    try:
        custom = program.load(args.file, cfg["chambers"], cfg["limits"]["max_target_mmhg"])
        values = fw_settings.defaults(cfg)
        values.update(mode="custom", program=Path(args.file).stem)
        why = waveplan.check(values, cfg, custom, source)
    except program.ProgramError as e:
        why = str(e)
    if why:
        print(f"boot-sim: {why}", file=sys.stderr)
        print(f"boot-sim: {args.file}: refused {on}: the boot would say so and run the plain "
              f"wave", file=sys.stderr)
        return 2
    note = program.gradient_note(custom)
    if note:            # as the boot says it when the program loads
        print(f"{args.file}: warning: program {Path(args.file).stem}: {note}")
    ch = custom["chambers"]
    print(f"{args.file}: ok {on}: " + ", ".join(
        f"{c['mmhg']}" + (f" +{c['hold_s']} s" if c["hold_s"] else "") for c in ch) +
        f" mmHg foot first, hold {custom['hold_s']} s, rest {custom['rest_s']} s; on the boot: "
        f"programs/{Path(args.file).stem}.json, setting \"program\": \"{Path(args.file).stem}\"")
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
    r.add_argument("--minutes", type=int, help="session length, whole minutes (1 to 60)")
    r.add_argument("--seed", type=int, help="random seed for the plant's noise")
    r.add_argument("--scenario", help="scenario JSON file, or a library scenario's name "
                   "(boot-sim scenarios lists them)")
    r.add_argument("--trace", help="write the trace (JSON Lines) here")
    r.add_argument("--plot", help="write a PNG plot of the session here")
    r.add_argument("--screen", help="what the OLED shows: FILE.png the last frame, FILE.gif "
                   "every frame (animated, one a simulated second)")
    r.add_argument("--runtime", choices=RUNTIMES, default="micropython",
                   help="micropython: the 32-bit build when setup made one (as the ESP32: "
                   "micropython32), else the wheel's 64-bit one (micropython64); or cpython")
    r.add_argument("--flash", help="directory to use as the device's flash (kept between runs)")
    r.add_argument("--settings-file", metavar="FILE",
                   help="put FILE on the device's flash as settings.json, as it is: see what "
                        "the boot says about it (a damaged one starts low)")
    r.add_argument("--firmware", help="directory to take the firmware from (default firmware/),"
                   " e.g. a flashed virtual board's flash directory")
    r.add_argument("--pace", type=float, metavar="X",
                   help="simulated time at most X times real time (1: real time, 10: ten "
                        "times faster), to watch the boot live, e.g. over MQTT")
    r.add_argument("--quiet", action="store_true", help="no progress line")
    a = sub.add_parser("accuracy", help="held pressure vs target, self-tuning on and off")
    a.add_argument("--runtime", choices=RUNTIMES, default="micropython")
    a.add_argument("--minutes", type=int, default=5)
    a.add_argument("--json", help="also write the table as JSON here")
    u = sub.add_parser("usage", help="print the usage log a device keeps on its flash")
    u.add_argument("--flash", required=True, help="the device's flash directory")
    c = sub.add_parser("check-board", help="check a board file")
    c.add_argument("file")
    cp = sub.add_parser("check-program", help="check a program file as the boot does")
    cp.add_argument("file")
    cp.add_argument("--board", help="board name (boards/NAME.json) or board file (default: "
                    f"{paths.DEFAULT_BOARD.stem})")
    sub.add_parser("scenarios", help="list the scenario library with descriptions")
    sub.add_parser("faults", help="list the fault kinds a scenario may inject, with their fields")
    pl = sub.add_parser("plot", help="plot a saved trace, or a window of it (a zoom)")
    pl.add_argument("trace", help="a trace written by run --trace")
    pl.add_argument("--from", dest="t_from", type=float, metavar="S",
                    help="from S seconds into the run")
    pl.add_argument("--to", dest="t_to", type=float, metavar="S", help="to S seconds")
    pl.add_argument("--out", help="the PNG to write (default: beside the trace)")
    b = sub.add_parser("bench", help="measure memory, latency, accuracy and speed (a table)")
    b.add_argument("--json", default="out/bench.json",
                   help="write every figure here as JSON (default out/bench.json)")
    b.add_argument("--quick", action="store_true", help="small sizes (for the tests)")
    args = ap.parse_args(argv)
    try:
        return {"run": cmd_run, "check-board": cmd_check_board, "accuracy": cmd_accuracy,
                "check-program": cmd_check_program,
                "usage": cmd_usage, "scenarios": explain.cmd_scenarios,
                "faults": explain.cmd_faults, "plot": explain.cmd_plot,
                "bench": cmd_bench}[args.command](args)
    except (ScenarioError, RunError, boardcfg.BoardError) as e:
        print(f"boot-sim: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
