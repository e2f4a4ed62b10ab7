# Modules the boot needs only now and then: the checkers that read the board, settings,
# program and secrets files (boardcfg, settings, program, waveplan, netconf, filecheck).
# Loaded from .mpy they hold their code, constants and globals on the heap, 3-10 KB each and
# about 28 KB together (boot-sim bench, footprint), which a stock ESP32 without PSRAM cannot
# spare all session (issue 14). So they are imported where used and forgotten after: a module
# nothing else refers to is then freed by the next collection, but for its names and short
# strings (qstrs, about a third of a .mpy module's heap), which MicroPython never frees; a second
# load reuses them. Frozen into the image they cost little either way.
import gc
import sys

CHECKERS = ("waveplan", "settings", "netconf", "boardcfg", "filecheck")


def drop(names):
    """Forget the named modules (a name not loaded is skipped) and collect. Only for modules
    that no live object refers to: a class or function of one kept elsewhere keeps its code
    (and a later import would load a second copy)."""
    for name in names:
        if name in sys.modules:
            del sys.modules[name]
    gc.collect()
