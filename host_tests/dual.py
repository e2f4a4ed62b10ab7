"""Run one snippet under CPython and under the MicroPython unix port and compare what it printed.

A snippet prints one JSON value as its last line (the `micropython` fixture's contract). Snippets
must be portable: no f-string format specs, no floats in the output (their repr differs), and no
reliance on dict order or on isinstance(True, int).
"""
import contextlib
import io
import json
import os

from hypothesis import HealthCheck, settings

# Hypothesis settings for the unit tests. By default (the "ci" profile) deterministic and
# quick: the same 100 examples every run, no deadline. Under HYPOTHESIS_PROFILE=soak (or any
# other profile) the loaded profile decides.
if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
    DET = settings(derandomize=True, deadline=None, max_examples=100, database=None,
                   suppress_health_check=[HealthCheck.too_slow])
else:
    DET = settings()


def run_cpython(code):
    """exec() code in a fresh namespace with the firmware importable; return its last JSON line."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {"__name__": "snippet"})
    return json.loads(out.getvalue().strip().splitlines()[-1])


def both(micropython, code):
    """Run code in both runtimes; assert they agree and return the (common) value."""
    cp = run_cpython(code)
    mp = micropython(code)
    assert mp == cp, "MicroPython and CPython disagree:\n  mp=%r\n  cp=%r" % (mp, cp)
    return cp
