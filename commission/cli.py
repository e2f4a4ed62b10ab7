"""boot-commission: the guided first hour with a real boot (or the virtual one).

    boot-commission --port /dev/ttyUSB0 [--board FILE] [--report DIR]
    boot-commission --virtual SCENARIO.json [--answers FILE] [--yes] [--report DIR]

Steps (--steps picks some): outputs (each valve and the dump click, the pump runs), zero (the
sensor vented against the board file, its noise), calibration (against the reference gauge on
the manifold: a line fitted, written into the board file, the old one kept, flashed, checked
within 3 mmHg), chambers (each: fill to 40 mmHg and its time, a hold and its leak-down, the
valve's seal, the vent's time). Writes report.md, report.json and a PNG per chamber; exits 1
when any item fails, 2 when the steps could not run (the text says why).
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from sim import paths
from commission import flow as F, report, steps as S
from commission.link import LinkError, MaintLink

paths.import_device_modules()
import boardcfg  # noqa: E402

STEPS = ("outputs", "zero", "calibration", "chambers")


class TerminalAsker:
    """The person at the terminal."""

    def __init__(self, yes=False):
        self.yes = yes

    def confirm(self, key, question):
        if self.yes:
            print(f"  {question} yes (--yes)")
            return True
        while True:
            a = input(f"  {question} [y/n] ").strip().lower()
            if a in ("y", "yes", "n", "no"):
                return a.startswith("y")

    def number(self, key, question):
        while True:
            a = input(f"  {question} ").strip()
            try:
                return float(a)
            except ValueError:
                print("  a number, please (mmHg)")

    def chamber(self, key, question, expected):
        while True:
            a = input(f"  {question} ").strip()
            if a.isdigit():
                return int(a)

    def bulb(self, mmhg):
        pass                            # the question says what to do


def _backup(path):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    old = path.with_name(f"{path.stem}.before-calibration-{stamp}{path.suffix}")
    shutil.copyfile(path, old)
    return old


def calibration(link, fl, board_file, pressures, say):
    """Fit, write, flash, check. Returns the item (and fl.board is the new board)."""
    board = fl.board
    plan, checks = S.gauge_plan(board)
    if pressures:
        if max(pressures) > plan[-1] or min(pressures) <= 0:
            raise ValueError(f"--pressures: 1 to {plan[-1]} mmHg on this board (the bulb may "
                             f"take the shut manifold to {S.L.MAINT_BULB_MAX_MMHG} at most)")
        plan = pressures
    points = fl.gauge_points(plan)
    cal = S.calibrate([(uv, g) for uv, g, _ in points], board["sensor"])
    say("  fitted: v_at_zero %.4f V, v_at_full_scale %.4f V; residuals %s mmHg" % (
        cal["v_at_zero"], cal["v_at_full_scale"], cal["residuals_mmhg"]))
    data = json.loads(board_file.read_text())
    data["sensor"]["v_at_zero"] = cal["v_at_zero"]
    data["sensor"]["v_at_full_scale"] = cal["v_at_full_scale"]
    text = json.dumps(data, indent=2) + "\n"
    trial = board_file.with_name(board_file.name + ".new")
    trial.write_text(text)
    try:
        new_board = boardcfg.load(str(trial))       # a file the boot accepts, or an error
    finally:
        trial.unlink()
    old = _backup(board_file)
    board_file.write_text(text)
    say(f"  wrote {board_file} (the old one: {old.name}); flashing it")
    link.close()
    link.put_file("board.json", text.encode())
    link.open()
    fl.board = new_board
    pairs = []
    for target in checks:
        _, gauge, reading = fl.gauge_point(target, f"check_{target}")
        pairs.append((reading, gauge))
    check = S.check_against_gauge(pairs)
    item = {"name": "calibration", "pass": check["pass"], "fix": check["fix"],
            "v_at_zero": cal["v_at_zero"], "v_at_full_scale": cal["v_at_full_scale"],
            "residuals_mmhg": cal["residuals_mmhg"], "before_mmhg": cal["old_error_mmhg"],
            "errors_mmhg": check["errors_mmhg"], "board_file": str(board_file),
            "old_board_file": str(old), "points": [[round(u), g] for u, g, _ in points]}
    return item


class _NoAnswers(Exception):
    """(a real boot: the person answers at the terminal; nothing to be missing)"""


def _tell(item, say):
    say(f"  {item['name']}: {'pass' if item['pass'] else 'FAIL'}")
    for f in item["fix"]:
        say(f"    fix: {f}")
    if item.get("note"):
        say(f"    note: {item['note']}")


def _chambers(fl, items, say):
    t0 = time.monotonic()
    for k in range(1, fl.n + 1):
        say(f"  chamber {k}: fill to {S.FILL_TO_MMHG} mmHg, hold {fl.hold_ms / 1000:.0f} s, "
            "seal, vent")
        items.append(fl.chamber(k))
        _tell(items[-1], say)
        left = (time.monotonic() - t0) / k * (fl.n - k)
        if k < fl.n:
            say(f"  ({k} of {fl.n} chambers done; about {left:.0f} s left)")


def run(args, say=print):
    """The steps, the report; returns the exit code (0 pass, 1 an item failed, 2 could not
    finish)."""
    virtual = None
    AnswerError = _NoAnswers
    items, steps = [], args.steps.split(",") if args.steps else list(STEPS)
    board_file = board = None
    folder = Path(args.report) if args.report else None
    link = None
    try:
        if args.virtual:
            from commission.virtual import AnswerError, VirtualAsker, VirtualBoard
            answers = json.loads(Path(args.answers).read_text()) if args.answers else {}
            virtual = VirtualBoard(args.virtual, args.flash, args.speed, args.serial_log)
            asker = VirtualAsker(answers, args.yes, virtual.bench, say)
            port = virtual.port
            say(f"virtual ESP32 on {port}, scenario {args.virtual}")
        else:
            asker, port = TerminalAsker(args.yes), args.port
        link = MaintLink(port)
        board_file = Path(args.board) if args.board else \
            (virtual.board_file if virtual else None)
        if board_file is None:
            raise LinkError("give the board file you flashed: --board FILE (it is updated by "
                            "the calibration, the old one kept)")
        board = boardcfg.load(str(board_file))
        if folder is None:
            folder = Path.cwd() / "commissioning" if virtual and not args.board \
                else board_file.parent / "commissioning"
        say(f"board {board['name']} ({board['chambers']} chambers); steps: {', '.join(steps)}")
        first = link.open()
        say(f"maintenance mode on (the boot's uptime {first['t_ms'] / 1000:.1f} s)")
        fl = F.Flow(link, board, asker, args.hold_s, say)
        for n, s in enumerate(steps, 1):
            say(f"step {n} of {len(steps)}: {s}")
            if s == "outputs":
                items.append(fl.outputs())
            elif s == "zero":
                items.append(fl.zero())
            elif s == "calibration":
                if not hasattr(fl, "zero_uv"):
                    fl.zero()
                items.append(calibration(
                    link, fl, board_file,
                    [int(x) for x in args.pressures.split(",")] if args.pressures else None,
                    say))
            else:
                _chambers(fl, items, say)
                continue
            _tell(items[-1], say)
        rc = 0 if all(i["pass"] for i in items) else 1
    except (LinkError, F.FlowError, AnswerError, ValueError, OSError, EOFError,
            boardcfg.BoardError) as e:
        say(f"boot-commission: {e}")
        items.append({"name": "could not finish", "pass": False, "fix": [str(e)]})
        rc = 2
    except KeyboardInterrupt:
        say("boot-commission: stopped (Ctrl-C): leaving maintenance, the boot vents every "
            "chamber; run it again to finish (--steps picks up where you were)")
        items.append({"name": "stopped", "pass": False, "fix": ["stopped with Ctrl-C"]})
        rc = 2
    finally:
        if link is not None:
            try:
                link.close()
            except (LinkError, OSError):
                pass                    # (it vents by itself: limits.MAINT_IDLE_MS)
        if virtual:
            try:
                if board_file == virtual.board_file and folder is not None:
                    folder.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(virtual.board_file, folder / "board.json")
                    say(f"the virtual board's board file, as it ended: {folder / 'board.json'}")
            finally:
                virtual.close()
    folder = folder or Path.cwd() / "commissioning"
    label = "?" if board_file is None else (
        f"{board['name']} ({board_file})" if board else str(board_file))
    written = report.write(folder, label, items, {
        "steps": steps, "not_run": [s for s in STEPS if s not in steps], "hold_s": args.hold_s})
    say(f"report: {written[0]} ({'PASS' if rc == 0 else 'FAIL'})")
    return rc


def parse(argv=None):
    ap = argparse.ArgumentParser(prog="boot-commission", description=__doc__.split("\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="the board's serial port (e.g. /dev/ttyUSB0)")
    where.add_argument("--virtual", metavar="SCENARIO",
                       help="a scenario file: the virtual ESP32 with its board, plant, faults")
    ap.add_argument("--board", help="the board file you flashed (updated by the calibration, "
                    "the old one kept); default: the virtual flash's")
    ap.add_argument("--report", help="the report's folder (default: commissioning/ beside "
                    "the board file)")
    ap.add_argument("--steps", help="some of: " + ",".join(STEPS) + " (default: all)")
    ap.add_argument("--hold-s", type=float, default=30, help="each chamber's hold (default 30)")
    ap.add_argument("--pressures", help="the calibration's gauge pressures, mmHg (default: "
                    "three up to 90, on the shipped boards 30,60,90; limits.MAINT_BULB_MAX_MMHG "
                    "caps them)")
    ap.add_argument("--yes", action="store_true", help="answer yes to every click question")
    ap.add_argument("--answers", help="--virtual: what the person would answer (JSON)")
    ap.add_argument("--flash", help="--virtual: a flashed virtual board's folder (default: "
                    "the firmware's sources in a new one)")
    ap.add_argument("--speed", type=float, default=4.0,
                    help="--virtual: simulated seconds a wall second (default 4)")
    ap.add_argument("--serial-log", help="--virtual: the serial traffic to this file")
    args = ap.parse_args(argv)
    for step in (args.steps.split(",") if args.steps else ()):
        if step not in STEPS:
            ap.error(f"no step {step!r}: the steps are {','.join(STEPS)}")
    for name, path in (("scenario", args.virtual), ("answers file", args.answers),
                       ("board file", args.board)):
        if path and not Path(path).is_file():
            ap.error(f"no {name} {path}")
    if args.answers and not args.virtual:
        ap.error("--answers is for --virtual (at a real boot you answer yourself)")
    return args


def main(argv=None):
    return run(parse(argv))


if __name__ == "__main__":
    sys.exit(main())
