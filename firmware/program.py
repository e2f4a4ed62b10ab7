# Therapy programs: pure logic. A Program says, for each wave (cycle) and chamber, what
# pressure to fill to and how long to dwell after the fill, and whether each chamber partly
# releases once the next one is full (pulse). The sequencer asks it at the start of every fill.
#
#   wave      every chamber to the target
#   gradient  each chamber up the leg gradient_step_mmhg lower (Kamm et al.: 5-10 mmHg)
#   boost     one chamber gets boost_mmhg more and boost_hold_s of extra hold (ZoneBoost)
#   pulse     as wave, and each chamber partly releases (to pulse_release_pct) once the next
#             one above it is full: distal release
#   warmup    the first warmup_cycles waves start low and ramp up to the target
#   custom    a program file: per-chamber pressures and holds, its own hold and rest times
# Pressures are in tenths of a mmHg, never below MIN_DMMHG nor above the board's maximum.
# (filecheck is imported where a file is checked, not here: a running Program must not keep
# the checker in the heap, lazy.py)
from filecheck import INT, BOOL, TEXT, LIST, CHOICE, REQUIRED
from limits import GRADIENT_SLACK_MMHG, SETTING_LIMITS
from ranges import LETDOWN_WHY

MIN_DMMHG = SETTING_LIMITS["pressure_mmhg"][0] * 10
WARMUP_START_PCT = 60


FITS = ("exact", "stretch")


class ProgramError(Exception):
    pass


def fit_map(n, chambers):
    """Stretch: for each of the board's chambers, foot first, the entry (0-based) of a list of
    n that sits at the same place along the leg (the middle of its share). 4 entries on 6
    chambers: 0, 1, 1, 2, 3, 3; on 3: 0, 2, 3 (entry 1 left out)."""
    return [(2 * j + 1) * n // (2 * chambers) for j in range(chambers)]


class Program:
    def __init__(self, mode, chambers, max_dmmhg, settings, custom=None):
        self.mode = mode
        self.chambers = chambers
        self.max_dmmhg = max_dmmhg
        self.step_dmmhg = settings.get("gradient_step_mmhg", 8) * 10
        self.boost_chamber = settings.get("boost_chamber", 0)
        self.boost_dmmhg = settings.get("boost_mmhg", 0) * 10
        self.boost_hold_ms = settings.get("boost_hold_s", 0) * 1000
        self.warmup_cycles = settings.get("warmup_cycles", 1)
        self.release_pct = settings.get("pulse_release_pct", 50) if mode == "pulse" else 0
        self.custom = custom            # a checked program file (see load()), for "custom"

    def target_dmmhg(self, cycle, chamber, base_dmmhg):
        """What chamber (1-based) fills to in wave `cycle` (1-based)."""
        mode = self.mode
        t = base_dmmhg
        if mode == "gradient":
            t = base_dmmhg - (chamber - 1) * self.step_dmmhg
        elif mode == "boost" and chamber == self.boost_chamber:
            t = base_dmmhg + self.boost_dmmhg
        elif mode == "warmup" and cycle < self.warmup_cycles:
            pct = WARMUP_START_PCT + (100 - WARMUP_START_PCT) * (cycle - 1) // self.warmup_cycles
            t = base_dmmhg * pct // 100
        elif mode == "custom" and self.custom:
            t = self.custom["chambers"][chamber - 1]["mmhg"] * 10
        return min(max(t, MIN_DMMHG), self.max_dmmhg)

    def raises(self, chamber):
        """True where this program fills a chamber above the one below on purpose (the zone
        boost's chamber); elsewhere the sequencer keeps the gradient order."""
        if self.mode == "boost":
            return chamber == self.boost_chamber
        if self.mode == "custom" and self.custom:
            return bool(self.custom["chambers"][chamber - 1].get("boost"))
        return False

    def dwell_ms(self, chamber):
        """Extra hold after chamber's fill, before the next chamber."""
        if self.mode == "boost" and chamber == self.boost_chamber:
            return self.boost_hold_ms
        if self.mode == "custom" and self.custom:
            return self.custom["chambers"][chamber - 1]["hold_s"] * 1000
        return 0

    def hold_rest_ms(self, hold_ms, rest_ms):
        """The hold and rest times this program uses (a custom program brings its own)."""
        if self.mode == "custom" and self.custom:
            return self.custom["hold_s"] * 1000, self.custom["rest_s"] * 1000
        return hold_ms, rest_ms


def _chamber_table(max_mmhg):
    """A program's chamber entry: (field, kind, lo, hi, default, why), filecheck.py's columns.
    Its pressure's ceiling is the board's max_target_mmhg."""
    return (("mmhg", INT, SETTING_LIMITS["pressure_mmhg"][0], max_mmhg, REQUIRED,
             "what this chamber fills to; the board's max_target_mmhg caps it"),
            ("hold_s", INT, 0, SETTING_LIMITS["hold_s"][1], REQUIRED,
             "a dwell after its fill, before the next chamber's; at most the hold's limit"),
            ("boost", BOOL, None, None, False, "true: filled above the chamber below on "
                                               "purpose (else held to the gradient order)"))


TABLE = (
    ("name", TEXT, 1, 32, REQUIRED, "shown when the program runs"),
    ("description", TEXT, 0, 1000, None, "for people"),
    ("chambers", LIST, None, None, REQUIRED, "one entry per chamber, foot first"),
    ("fit", CHOICE, FITS, None, "exact", "a board with another number of chambers: exact "
     "refuses the program; stretch spreads the entries along the leg (fit_map)"),
    ("hold_s", INT, SETTING_LIMITS["hold_s"][0], SETTING_LIMITS["hold_s"][1], REQUIRED,
     "every chamber full, before the vent (limits.SETTING_LIMITS)"),
    ("rest_s", INT, SETTING_LIMITS["rest_s"][0], SETTING_LIMITS["rest_s"][1], REQUIRED,
     "let down before the next wave, at least limits.LETDOWN_MIN_S"),
)


def validate(data, chambers, max_mmhg, source="program"):
    """Check a custom program (parsed JSON); return it or raise ProgramError naming the field."""
    import filecheck
    c = filecheck.Checker(source, ProgramError, {"rest_s": LETDOWN_WHY})
    c.section(data, TABLE)
    ch = data["chambers"]
    if not isinstance(ch, list):
        c.fail("chambers", "must be a list, one entry per chamber, foot first")
    n = len(ch)
    stretch = data.get("fit") == "stretch"
    if n != chambers and not (stretch and n):
        c.fail("chambers", "has %d entr%s, the board %d chambers: %s %d, or copy it under a "
               "new name for this board and give the copy %d (foot first), or set \"fit\": "
               "\"stretch\" to spread the entries along the leg" % (
                   n, "y" if n == 1 else "ies", chambers, "add" if n < chambers else "remove",
                   abs(chambers - n), chambers))
    table = _chamber_table(max_mmhg)
    for i, entry in enumerate(ch):          # every entry, even one the stretch leaves out
        c.section(entry, table, "chambers[%d]" % i)
    if n != chambers:
        m = fit_map(n, chambers)
        data["chambers"] = [ch[i] for i in m]
        out = [str(i + 1) for i in range(n) if i not in m]
        data["fit_note"] = ("lists %d chambers, the board has %d: stretched along the leg, "
                            "chambers 1-%d take its entries %s%s" % (
                                n, chambers, chambers, ", ".join([str(i + 1) for i in m]),
                                " (entr%s %s left out)" % ("y" if len(out) == 1 else "ies",
                                                           ", ".join(out)) if out else ""))
    return data


def gradient_note(data):
    """What the board and the gradient order do to a checked program: "" when it lists the
    board's chambers and every chamber asks at most GRADIENT_SLACK_MMHG above the one below
    it, else a text saying how it was stretched and naming the chambers."""
    notes = [data["fit_note"]] if data.get("fit_note") else []
    ch = data["chambers"]
    for i in range(1, len(ch)):
        up = ch[i]["mmhg"] - ch[i - 1]["mmhg"]
        if up <= GRADIENT_SLACK_MMHG:
            continue
        if ch[i].get("boost"):
            notes.append("chamber %d is filled %d mmHg above chamber %d on purpose (boost)"
                         % (i + 1, up, i))
        else:
            notes.append("chamber %d asks %d mmHg above chamber %d: it is held to %d mmHg "
                         "above it (gradient order; set \"boost\": true on that chamber if "
                         "you mean it)" % (i + 1, up, i, GRADIENT_SLACK_MMHG))
    return "; ".join(notes)


def load(path, chambers, max_mmhg):
    import filecheck
    try:
        data = filecheck.read(path)
    except OSError as e:
        raise ProgramError("program file %s: cannot be read (%s)" % (path, e))
    except filecheck.NotText as e:
        raise ProgramError("program file %s: is not a text file (%s)" % (path, e))
    except ValueError as e:
        raise ProgramError("program file %s: is not valid JSON (%s)" % (path, e))
    return validate(data, chambers, max_mmhg, "program file %s" % path)
