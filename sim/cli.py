"""boot-sim: run the controller firmware on a simulated boot.

  boot-sim run [--board B] [--pressure MMHG] [--minutes M] [--seed N] [--scenario FILE]
               [--trace FILE] [--plot FILE] [--runtime micropython|cpython] [--flash DIR]
  boot-sim check-board FILE
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

from sim import paths
from sim.scenario import ScenarioError, load as load_scenario
from sim.session import RUNTIMES, RunError, build_config, run

paths.import_device_modules()
import boardcfg  # noqa: E402


def _summary_text(s, config):
    target = config["settings"]["pressure_mmhg"]
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
    for f in s["faults_injected"]:
        lines.append(f"fault injected at {f['t_ms'] / 1000:.1f} s: {f['fault']}")
    for f in s["faults"]:
        lines.append(f"firmware fault {f['code']} at {f['t_ms'] / 1000:.1f} s")
    vent = "vented" if s["vented_at_end"] else "NOT VENTED"
    lines.append("at the end: " + ", ".join(f"{p:.1f}" for p in s["final_p_chambers_mmhg"]) +
                 f" mmHg ({vent})")
    lines.append(f"wall time {s['wall_s']:.1f} s: {s['speedup']}x faster than real time")
    return "\n".join(lines)


def cmd_run(args):
    scenario = load_scenario(args.scenario) if args.scenario else {}
    config = build_config(scenario, args.board, args.pressure, args.minutes, args.seed)
    trace = args.trace
    tmp = None
    if args.plot and not trace:
        tmp = tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False)
        trace = tmp.name
    print(f"boot-sim: {config['board']['name']}, {config['settings']['pressure_mmhg']} mmHg, "
          f"{config['settings']['minutes']} min session, {config['duration_ms'] / 1000:.0f} s "
          f"simulated, firmware under {args.runtime}", file=sys.stderr)
    summary, follower = run(config, args.runtime, trace, args.flash, quiet=args.quiet,
                            firmware_dir=args.firmware)
    print(_summary_text(summary, config))
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


def cmd_check_board(args):
    from sim import boardcheck     # the chips' pin quirks (strapping, flash, input-only pins)
    cfg = boardcfg.load(args.file)
    errors, warnings = boardcheck.check(cfg)
    for text in warnings:
        print(f"{args.file}: warning: {text}", file=sys.stderr)
    for text in errors:
        print(f"boot-sim: board file {args.file}: error: {text}", file=sys.stderr)
    if errors:
        return 2
    print(f"{args.file}: ok: {cfg['name']} ({cfg['mcu']}), {cfg['chambers']} chambers, "
          f"ceiling {cfg['limits']['ceiling_mmhg']} mmHg")
    return 0


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
    r.add_argument("--runtime", choices=RUNTIMES, default="micropython")
    r.add_argument("--flash", help="directory to use as the device's flash (kept between runs)")
    r.add_argument("--firmware", help="directory to take the firmware from (default firmware/),"
                   " e.g. a flashed virtual board's flash directory")
    r.add_argument("--quiet", action="store_true", help="no progress line")
    c = sub.add_parser("check-board", help="check a board file")
    c.add_argument("file")
    args = ap.parse_args(argv)
    try:
        return {"run": cmd_run, "check-board": cmd_check_board}[args.command](args)
    except (ScenarioError, RunError, boardcfg.BoardError) as e:
        print(f"boot-sim: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
