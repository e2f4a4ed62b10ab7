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
CHECK_MMHG = (60, 100)          # the calibration's check, after the new board file is in


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
    points = fl.gauge_points(pressures)
    cal = S.calibrate([(uv, g) for uv, g, _ in points], board["sensor"])
    say("  fitted: v_at_zero %.4f V, v_at_full_scale %.4f V; residuals %s mmHg" % (
        cal["v_at_zero"], cal["v_at_full_scale"], cal["residuals_mmhg"]))
    data = json.loads(board_file.read_text())
    data["sensor"]["v_at_zero"] = cal["v_at_zero"]
    data["sensor"]["v_at_full_scale"] = cal["v_at_full_scale"]
    text = json.dumps(data, indent=2) + "\n"
    old = _backup(board_file)
    board_file.write_text(text)
    new_board = boardcfg.load(str(board_file))      # (a file the boot accepts, or an error)
    say(f"  wrote {board_file} (the old one: {old.name}); flashing it")
    link.close()
    link.put_file("board.json", text.encode())
    link.open()
    fl.board = new_board
    pairs = []
    for target in CHECK_MMHG:
        _, gauge, reading = fl.gauge_point(target, f"check_{target}")
        pairs.append((reading, gauge))
    check = S.check_against_gauge(pairs)
    item = {"name": "calibration", "pass": check["pass"], "fix": check["fix"],
            "v_at_zero": cal["v_at_zero"], "v_at_full_scale": cal["v_at_full_scale"],
            "residuals_mmhg": cal["residuals_mmhg"], "before_mmhg": cal["old_error_mmhg"],
            "errors_mmhg": check["errors_mmhg"], "board_file": str(board_file),
            "old_board_file": str(old), "points": [[round(u), g] for u, g, _ in points]}
    return item


def run(args, say=print):
    virtual = None
    if args.virtual:
        from commission.virtual import AnswerError, VirtualAsker, VirtualBoard
        answers = json.loads(Path(args.answers).read_text()) if args.answers else {}
        virtual = VirtualBoard(args.virtual, args.flash, args.speed, args.serial_log)
        asker = VirtualAsker(answers, args.yes, virtual.bench, say)
        port = virtual.port
        say(f"virtual ESP32 on {port}, scenario {args.virtual}")
    else:
        asker, port = TerminalAsker(args.yes), args.port
        AnswerError = ()
    link = MaintLink(port)
    items = []
    board_file = board = None
    try:
        board_file = Path(args.board) if args.board else \
            (virtual.board_file if virtual else None)
        if board_file is None:
            raise LinkError("give the board file you flashed: --board FILE (it is updated by "
                            "the calibration, the old one kept)")
        board = boardcfg.load(str(board_file))
        folder = Path(args.report) if args.report else \
            (Path.cwd() / "commissioning" if virtual and not args.board
             else board_file.parent / "commissioning")
        steps = args.steps.split(",") if args.steps else STEPS
        for s in steps:
            if s not in STEPS:
                raise LinkError(f"no step {s!r}: the steps are {', '.join(STEPS)}")
        say(f"board {board['name']} ({board['chambers']} chambers); steps: {', '.join(steps)}")
        first = link.open()
        say(f"maintenance mode on (the boot's uptime {first['t_ms'] / 1000:.1f} s)")
        fl = F.Flow(link, board, asker, args.hold_s, say)
        t0 = time.monotonic()
        for n, s in enumerate(steps, 1):
            say(f"step {n} of {len(steps)}: {s}")
            if s == "outputs":
                items.append(fl.outputs())
            elif s == "zero":
                items.append(fl.zero())
            elif s == "calibration":
                if not hasattr(fl, "zero_uv"):
                    fl.zero()
                items.append(calibration(link, fl, board_file,
                                         [int(x) for x in args.pressures.split(",")], say))
            else:
                for k in range(1, fl.n + 1):
                    items.append(fl.chamber(k))
                    done = k / fl.n
                    left = (time.monotonic() - t0) * (1 - done) / done if s == steps[0] \
                        else None
                    say(f"  chamber {k}: {'pass' if items[-1]['pass'] else 'FAIL'}"
                        + (f" (about {left:.0f} s left)" if left else ""))
                continue
            say(f"  {items[-1]['name']}: {'pass' if items[-1]['pass'] else 'FAIL'}")
        rc = 0 if all(i["pass"] for i in items) else 1
    except (LinkError, F.FlowError, AnswerError, ValueError, boardcfg.BoardError) as e:
        say(f"boot-commission: {e}")
        items.append({"name": "could not finish", "pass": False, "fix": [str(e)]})
        folder = Path(args.report) if args.report else Path.cwd() / "commissioning"
        rc = 2
    finally:
        try:
            link.close()
        except LinkError:
            pass
        if virtual:
            virtual.close()
    label = "?" if board_file is None else (
        f"{board['name']} ({board_file})" if board else str(board_file))
    written = report.write(folder, label, items)
    say(f"report: {written[0]} ({'PASS' if rc == 0 else 'FAIL'})")
    for i in items:
        for f in i["fix"]:
            say(f"  fix ({i['name']}): {f}")
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
    ap.add_argument("--pressures", default="40,80,120",
                    help="the calibration's gauge pressures, mmHg (default 40,80,120)")
    ap.add_argument("--yes", action="store_true", help="answer yes to every click question")
    ap.add_argument("--answers", help="--virtual: what the person would answer (JSON)")
    ap.add_argument("--flash", help="--virtual: a flashed virtual board's folder (default: "
                    "the firmware's sources in a new one)")
    ap.add_argument("--speed", type=float, default=4.0,
                    help="--virtual: simulated seconds a wall second (default 4)")
    ap.add_argument("--serial-log", help="--virtual: the serial traffic to this file")
    return ap.parse_args(argv)


def main(argv=None):
    return run(parse(argv))


if __name__ == "__main__":
    sys.exit(main())
