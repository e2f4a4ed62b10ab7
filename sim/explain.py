"""The commands with which the simulator explains itself (issue 18, part 6): `boot-sim scenarios`
(the library and its descriptions), `boot-sim faults` (the fault kinds and their fields),
`boot-sim plot TRACE --from S --to S` (a zoom from a saved trace), and what `run --screen`
writes: the last frame as a PNG, or every frame as an animated GIF."""
import sys
import textwrap
from pathlib import Path

from sim import library

WRAP = 96


def cmd_scenarios(args):
    rows = library.scenarios()
    print(f"{len(rows)} scenarios in {library.LIBRARY} (run one: boot-sim run --scenario NAME)")
    for name, text in rows:
        print(name)
        print(textwrap.fill(text, WRAP, initial_indent="    ", subsequent_indent="    "))
    return 0


def cmd_faults(args):
    print("fault kinds a scenario may inject (its \"faults\" list; chambers from 1 at the foot):")
    for line in library.fault_lines():
        print(line)
    return 0


def cmd_plot(args):
    from sim.plot import plot
    if args.t_from is not None and args.t_to is not None and args.t_to <= args.t_from:
        print(f"boot-sim: plot: --to ({args.t_to} s) must be later than --from "
              f"({args.t_from} s)", file=sys.stderr)
        return 2
    out = args.out
    if not out:             # beside the trace: session.png, or session-60s-120s.png for a zoom
        stem = str(Path(args.trace).with_suffix(""))
        if args.t_from is not None or args.t_to is not None:
            stem += f"-{_edge(args.t_from, 'start')}-{_edge(args.t_to, 'end')}"
        out = stem + ".png"
    try:
        plot(args.trace, out, t_from_s=args.t_from, t_to_s=args.t_to)
    except OSError as e:
        print(f"boot-sim: plot: {args.trace}: cannot be read ({e.strerror})", file=sys.stderr)
        return 2
    except ValueError as e:         # no samples in the window, or not a trace
        print(f"boot-sim: plot: {e}", file=sys.stderr)
        return 2
    print(f"plot: {out}")
    return 0


def _edge(t_s, word):
    return word if t_s is None else f"{t_s:g}s"


def every_frame(screen_path):
    """--screen FILE.gif: every frame (an animation); any other name: the last, as a PNG."""
    return bool(screen_path) and screen_path.lower().endswith(".gif")


def screen_refusal(screen_path, runtime):
    """Why --screen cannot be drawn in this run, or None."""
    if screen_path and runtime == "cpython":
        return ("--screen: the display cannot be drawn under --runtime cpython: the firmware "
                "draws it with MicroPython's framebuf, which CPython lacks (it runs as a board "
                "without a display); use --runtime micropython")
    return None


def write_screen(screen_path, follower):
    """What the display showed: the last frame (PNG) or every frame (GIF). Returns the line to
    print, and whether it went to stderr (nothing written)."""
    if follower.screen is None:
        return "screen: this board has no display: nothing to draw", True
    if not follower.screen_writes:
        return "screen: the firmware never drew the display in this run: nothing written", True
    from sim import plot
    if every_frame(screen_path):
        n = plot.screen_gif(follower.frames, screen_path)
        return (f"screen: {screen_path} ({n} s of the display, from its first drawing, one "
                f"picture a simulated second at 10 times real time; a picture that did not "
                f"change is held, not repeated)"), False
    plot.plot_screen(follower.screen, screen_path)
    return f"screen: {screen_path}", False
