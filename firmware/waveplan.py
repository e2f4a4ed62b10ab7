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
_BELOW = {"boost": "shorten boost_hold_s", "custom": "shorten the hold_s of the chambers below it"}


def _s(ms):
    """ms as seconds for a message: whole, or to a tenth."""
    return "%d" % (ms // 1000) if ms % 1000 == 0 else "%.1f" % (ms / 1000)


def squeeze_ms(prog, enabled, hold_ms):
    """How long a wave keeps its first chamber squeezed, in ms: from its fill to the vent, every
    fill at limits.FILL_PLAN_MS. prog: program.Program or None (the plain wave); enabled: the
    chambers in use (1-based); hold_ms: the hold setting (a custom program brings its own).
    Returns (total_ms, fills_ms, dwells_ms, hold_ms, releases_ms, reads_ms, late), late being
    (chamber, start_ms, latest_ms) for the first fill that would start too late for its longest
    (sequencer: the gate), or None."""
    n = len(enabled)
    pulse = prog is not None and prog.release_pct
    if prog is not None:
        hold_ms = prog.hold_rest_ms(hold_ms, 0)[0]
    reads = n * sq.PEEK_EACH_MS
    longest = L.FILL_TIMEOUT_MS + sq.FILL_AFTER_MAX_MS + reads + (sq.RELEASE_MAX_MS if pulse else 0)
    latest = L.MAX_AT_PRESSURE_MS - L.WAVE_VENT_ALLOW_MS - longest
    fills = dwells = releases = start = 0
    late = None
    for i, k in enumerate(enabled):
        if late is None and start > latest:
            late = (k, start, latest)
        fill = L.FILL_PLAN_MS + sq.FILL_AFTER_MS
        dwell = prog.dwell_ms(k) if prog is not None else 0
        release = sq.RELEASE_MAX_MS if pulse and i else 0
        fills += fill
        dwells += dwell
        releases += release
        start += fill + dwell + release
    return fills + dwells + releases + hold_ms + reads, fills, dwells, hold_ms, releases, \
        reads, late


def check(values, cfg, custom=None, source="settings"):
    """The settings values (settings.validate's) and, for mode custom, the checked program
    file (custom, program.validate's), against limits.WAVE_PLAN_MS and the sequencer's gate (no
    fill may start too late to end, at its longest, in time). Returns "" when the wave fits,
    else a text naming the source, the chamber, the figure and the fields to shorten."""
    mode = values["mode"]
    prog = None
    if mode != "wave":
        prog = program.Program(mode, cfg["chambers"], cfg["limits"]["max_target_mmhg"] * 10,
                               values, custom)
    enabled = values.get("enabled") or list(range(1, cfg["chambers"] + 1))
    total, fills, dwells, hold, releases, reads, late = \
        squeeze_ms(prog, enabled, values["hold_s"] * 1000)
    shorten = _FIELDS.get(mode, "hold_s")
    if total > L.WAVE_PLAN_MS:
        parts = ["%d fills at about %d s with their checks, %s s" %
                 (len(enabled), L.FILL_PLAN_MS // 1000, _s(fills))]
        if dwells:
            parts.append("the chambers' holds %s s" % _s(dwells))
        if releases:
            parts.append("the releases up to %s s" % _s(releases))
        parts.append("the hold %s s" % _s(hold))
        parts.append("the end-of-hold reads %s s" % _s(reads))
        return ("%s: chamber %d would stay at pressure %s s per wave (%s), %s s over the most, "
                "%d s (limits.WAVE_PLAN_MS, so the boot lets down before the 170 s "
                "time-at-pressure limit): shorten %s, or use fewer chambers"
                % (source, enabled[0], _s(total), ", ".join(parts),
                   _s(total - L.WAVE_PLAN_MS), L.WAVE_PLAN_MS // 1000, shorten))
    if late is not None:
        k, start, latest = late
        return ("%s: chamber %d's fill would start %s s into the wave, %s s too late: a fill "
                "may take up to %d s before the boot gives up on it, and the leg must be let "
                "down within %d s of the wave's first fill (limits.WAVE_VENT_ALLOW_MS before "
                "the 170 s time-at-pressure limit): %s, or use fewer chambers"
                % (source, k, _s(start), _s(start - latest), L.FILL_TIMEOUT_MS // 1000,
                   (L.MAX_AT_PRESSURE_MS - L.WAVE_VENT_ALLOW_MS) // 1000,
                   _BELOW.get(mode, "use a shorter wave")))
    return ""

