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
import json
from limits import GRADIENT_SLACK_MMHG, LETDOWN_MIN_S

MIN_DMMHG = 200
WARMUP_START_PCT = 60


class ProgramError(Exception):
    pass


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


def validate(data, chambers, max_mmhg, source="program"):
    """Check a custom program (parsed JSON); return it or raise ProgramError naming the field."""
    def fail(field, text):
        raise ProgramError("%s: field '%s': %s" % (source, field, text))

    def whole(v, field, lo, hi):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            fail(field, "must be a whole number from %d to %d, got %r" % (lo, hi, v))

    if not isinstance(data, dict):
        raise ProgramError("%s: must be a JSON object" % source)
    for key in data:
        if key not in ("name", "description", "chambers", "hold_s", "rest_s"):
            fail(key, "unknown; allowed: name, description, chambers, hold_s, rest_s")
    for key in ("name", "chambers", "hold_s", "rest_s"):
        if key not in data:
            fail(key, "missing")
    if not isinstance(data["name"], str) or not data["name"]:
        fail("name", "must be a non-empty text")
    whole(data["hold_s"], "hold_s", 0, 30)
    if isinstance(data["rest_s"], int) and not isinstance(data["rest_s"], bool) and \
            0 <= data["rest_s"] < LETDOWN_MIN_S:
        fail("rest_s", "must be at least %d s, got %d: every chamber must be let down (below "
             "15 mmHg) at least %d s between two squeezes (limits.LETDOWN_MIN_S)"
             % (LETDOWN_MIN_S, data["rest_s"], LETDOWN_MIN_S))
    whole(data["rest_s"], "rest_s", LETDOWN_MIN_S, 60)
    ch = data["chambers"]
    if not isinstance(ch, list) or len(ch) != chambers:
        fail("chambers", "must list one entry per chamber (%d)" % chambers)
    for i, c in enumerate(ch):
        where = "chambers[%d]" % i
        if not isinstance(c, dict):
            fail(where, "must be an object with mmhg and hold_s")
        for key in c:
            if key not in ("mmhg", "hold_s", "boost"):
                fail(where + "." + key, "unknown; allowed: mmhg, hold_s, boost")
        if not isinstance(c.get("boost", False), bool):
            fail(where + ".boost", "must be true or false (true: this chamber is filled above "
                                   "the one below on purpose)")
        if "mmhg" not in c or "hold_s" not in c:
            fail(where, "needs mmhg and hold_s")
        whole(c["mmhg"], where + ".mmhg", 20, max_mmhg)
        whole(c["hold_s"], where + ".hold_s", 0, 30)
    return data


def gradient_note(data):
    """What the gradient order does to a checked program: "" when every chamber asks at most
    GRADIENT_SLACK_MMHG above the one below it, else a text naming the chambers."""
    notes = []
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
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ProgramError("program file %s: cannot be read (%s)" % (path, e))
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ProgramError("program file %s: is not valid JSON (%s)" % (path, e))
    return validate(data, chambers, max_mmhg, "program file %s" % path)
