# The wave plan (issue 13, part 1): a program or a mode is checked as a whole before it runs.
# The monitor trips TIME_AT_PRESSURE when the boot has not read let down for
# limits.MAX_AT_PRESSURE_MS (170 s), and the first chamber of a wave stays squeezed from its fill
# until the wave's vent: through its own dwell, every fill above it, their dwells and the hold.
# Each field may be within its own limit and the whole still break it (six chambers holding
# 30 s each). So the wave is figured here, every fill at limits.FILL_PLAN_MS, and refused over
# limits.WAVE_PLAN_MS; at run time the sequencer keeps the same plan with the fills it timed.
import limits as L
import sequencer as sq
import program

# the fields that lengthen a wave, per mode (what to tell the user to shorten)
_FIELDS = {"boost": "boost_hold_s or hold_s", "custom": "hold_s or the chambers' hold_s"}


def squeeze_ms(prog, enabled, hold_ms):
    """How long a wave keeps its first chamber squeezed, in ms: from its fill to the vent.
    prog: program.Program or None (the plain wave); enabled: the chambers in use (1-based);
    hold_ms: the hold setting (a custom program brings its own). Returns (total_ms, fills_ms,
    dwells_ms, hold_ms, releases_ms)."""
    n = len(enabled)
    fills = n * (L.FILL_PLAN_MS + sq.FILL_AFTER_MS)
    dwells = 0
    releases = 0
    if prog is not None:
        for k in enabled:
            dwells += prog.dwell_ms(k)
        hold_ms = prog.hold_rest_ms(hold_ms, 0)[0]
        if prog.release_pct:
            releases = (n - 1) * sq.RELEASE_MAX_MS
    total = fills + dwells + releases + hold_ms + n * sq.PEEK_EACH_MS
    return total, fills, dwells, hold_ms, releases


def check(values, cfg, custom=None, source="settings"):
    """The settings values (settings.validate's) and, for mode custom, the checked program
    file (custom, program.validate's), against limits.WAVE_PLAN_MS. Returns "" when the wave
    fits, else a text naming the source, the chamber, the figure and the fields to shorten."""
    mode = values["mode"]
    prog = None
    if mode != "wave":
        prog = program.Program(mode, cfg["chambers"], cfg["limits"]["max_target_mmhg"] * 10,
                               values, custom)
    enabled = values.get("enabled") or list(range(1, cfg["chambers"] + 1))
    total, fills, dwells, hold, releases = squeeze_ms(prog, enabled, values["hold_s"] * 1000)
    if total <= L.WAVE_PLAN_MS:
        return ""
    parts = ["%d fills at about %d s with their checks, %d s" %
             (len(enabled), L.FILL_PLAN_MS // 1000, fills // 1000)]
    if dwells:
        parts.append("the chambers' holds %d s" % (dwells // 1000))
    if releases:
        parts.append("the releases up to %d s" % (releases // 1000))
    parts.append("the hold %d s" % (hold // 1000))
    return ("%s: chamber %d would stay at pressure %d s per wave (%s); at most %d s "
            "(limits.WAVE_PLAN_MS, so the boot lets down before the 170 s time-at-pressure "
            "limit): shorten %s, or use fewer chambers"
            % (source, enabled[0], (total + 999) // 1000, ", ".join(parts),
               L.WAVE_PLAN_MS // 1000, _FIELDS.get(mode, "hold_s")))


def run_note(cycle, cut, trimmed_ms, chambers):
    """The warning for a wave the run-time plan changed (sequencer.plan_note_cycle)."""
    what = []
    if trimmed_ms:
        what.append("its holds cut by %d s" % ((trimmed_ms + 999) // 1000))
    if cut:
        what.append("chamber %d%s not filled" %
                    (cut, "" if cut == chambers else " and above"))
    return ("wave %d ran long (the fills are slower than planned): %s, so the boot lets down "
            "within %d s of a wave's first fill (limits.WAVE_PLAN_MS; 170 s trips "
            "TIME_AT_PRESSURE); lower the pressure, shorten the holds or use fewer chambers "
            "(said once a session)" % (cycle, " and ".join(what), L.WAVE_PLAN_MS // 1000))
