"""The commissioning's judging, pure: readings in, figures and verdicts out (no I/O).

Every threshold is the firmware's own (firmware/limits.py, sequencer.py), so a boot that passes
here is one the firmware's fit check and monitors accept:
- a chamber's fill: sequencer.FIT_BLOCKED_DMMHG within sequencer.FIT_FAST_MS of pumping,
  nothing behind the valve takes the air (a kinked or blocked hose, the valve stuck shut, no
  chamber on it); 10 mmHg not within sequencer.FIT_TIMEOUT_MS, no garment or a hose off;
- the fill to 40 mmHg: the pump time with the dump shut must raise the reading 1 mmHg every
  limits.FILL_STALL_MS (maint.py refuses more pumping otherwise: a hose off, a missing chamber);
  it must reach 40 mmHg within limits.FILL_TIMEOUT_MS of pump time (a leak the pump barely
  outruns);
- the leak-down while held: limits.HOLD_LOSS_WARN_MMHG_PER_MIN, what the hold watch announces;
- the seal: a full chamber shut off by its valve, the dump open for 5 s, keeps under
  SEAL_KEPT_MIN of its air (what it holds when the valve opens again; the emptied manifold's own
  share costs about 3 %): it leaks through the valve; under STUCK_OPEN_SHARE: the valve does
  not shut (stuck open, or wired to another output);
- the vent: every chamber below limits.SAFE_MMHG within limits.VENT_BUDGET_MS;
- the zero: within limits.MAX_ZERO_OFFSET_MMHG of the board file (the firmware refuses to start
  further off), the noise under NOISE_MAX_MMHG;
- the calibration: the board file's line within CAL_TOLERANCE_MMHG of the gauge (issue 15).
"""
from sim import paths

paths.import_device_modules()           # the firmware's modules, with the ticks they use
import limits as L  # noqa: E402
import sequencer as SQ  # noqa: E402

FILL_TO_MMHG = 40           # the per-chamber fill (issue 15)
FIT_MMHG = SQ.FIT_DMMHG / 10
BLOCKED_MMHG = SQ.FIT_BLOCKED_DMMHG / 10      # ... reached within FIT_FAST_MS: a shut path
HOLD_MIN_MS = 10000         # a hold shorter than this measures no leak-down (a slow fill's)
GAUGE_TOP_MARGIN_MMHG = 10  # the highest gauge point this far under limits.MAINT_BULB_MAX_MMHG
NOISE_MAX_MMHG = 1.0        # 1 sigma of one reading: the hold watch reads within 0.5 (limits.py)
CAL_TOLERANCE_MMHG = 3.0    # the board file's line against the reference gauge (issue 15)
SEAL_KEPT_MIN = 0.85        # a chamber shut off for 5 s with the dump open keeps at least this
STUCK_OPEN_SHARE = 0.5      # ... and under this its valve does not shut at all


def mmhg_from_uv(uv, sensor):
    """The board file's line: the pin's microvolts -> mmHg (pressure.py's, in floats)."""
    uv0 = sensor["v_at_zero"] * sensor["divider_ratio"] * 1e6
    span = (sensor["v_at_full_scale"] - sensor["v_at_zero"]) * sensor["divider_ratio"] * 1e6
    return (uv - uv0) * sensor["full_scale_mmhg"] / span


def mean_sd(values):
    n = len(values)
    m = sum(values) / n
    return m, (sum((v - m) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0


def fit_line(xs, ys):
    """Least squares y = a + b x. Returns (a, b). ValueError with fewer than two distinct xs."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if n < 2 or sxx == 0:
        raise ValueError("at least two different pressures are needed for a line")
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - b * mx, b


def slope_per_min(ts_ms, ps):
    """Least squares slope of ps (mmHg) against ts (ms), in mmHg per minute."""
    if len(ts_ms) < 2:
        return 0.0
    _, b = fit_line(ts_ms, ps)
    return b * 60000.0


def zero_check(uvs, sensor):
    """Vented readings (the pin's microvolts) against the board file's zero."""
    m, sd = mean_sd(uvs)
    per_uv = mmhg_from_uv(1.0, sensor) - mmhg_from_uv(0.0, sensor)
    zero = mmhg_from_uv(m, sensor)
    noise = sd * per_uv
    fix = []
    if abs(zero) > L.MAX_ZERO_OFFSET_MMHG:
        fix.append("the sensor reads %.1f mmHg vented, over the %d mmHg the firmware accepts: "
                   "check its supply and the divider, then calibrate (step 3)"
                   % (zero, L.MAX_ZERO_OFFSET_MMHG))
    if noise > NOISE_MAX_MMHG:
        fix.append("the reading is noisy (%.2f mmHg, 1 sigma): keep the sensor's wires short "
                   "and away from the pump and valve wires, add the 100 nF capacitor at the "
                   "ADC pin (docs/HARDWARE.md)" % noise)
    return {"volts_at_zero": round(m / sensor["divider_ratio"] / 1e6, 4),
            "board_v_at_zero": sensor["v_at_zero"], "zero_mmhg": round(zero, 2),
            "noise_mmhg": round(noise, 3), "readings": len(uvs), "pass": not fix, "fix": fix}


def calibrate(points, sensor):
    """points: [(mean pin microvolts, the gauge's mmHg)], two or more pressures. Returns the
    new line for the board file (v_at_zero, v_at_full_scale at its full_scale_mmhg and
    divider_ratio) and each point's residual against it (mmHg)."""
    uvs = [p[0] for p in points]
    gauge = [p[1] for p in points]
    a, b = fit_line(uvs, gauge)
    if b <= 0:
        raise ValueError("the sensor's reading does not rise with the gauge's: check that "
                         "the gauge and the sensor are on the same manifold")
    ratio = sensor["divider_ratio"]
    uv_zero = -a / b
    uv_fs = (sensor["full_scale_mmhg"] - a) / b
    new = dict(sensor, v_at_zero=round(uv_zero / ratio / 1e6, 4),
               v_at_full_scale=round(uv_fs / ratio / 1e6, 4))
    residuals = [round(g - mmhg_from_uv(u, new), 2) for u, g in zip(uvs, gauge)]
    old_err = [round(mmhg_from_uv(u, sensor) - g, 2) for u, g in zip(uvs, gauge)]
    return {"v_at_zero": new["v_at_zero"], "v_at_full_scale": new["v_at_full_scale"],
            "residuals_mmhg": residuals, "old_error_mmhg": old_err, "sensor": new}


def check_against_gauge(pairs):
    """pairs: [(the boot's reading, the gauge's)] after the new board file is in. Pass when
    every one is within CAL_TOLERANCE_MMHG."""
    errs = [round(r - g, 2) for r, g in pairs]
    ok = all(abs(e) <= CAL_TOLERANCE_MMHG for e in errs)
    fix = [] if ok else ["the boot reads up to %.1f mmHg off the gauge after calibration: "
                         "check that the gauge and sensor share the manifold and that no "
                         "path leaked while you read, then run the calibration again"
                         % max(abs(e) for e in errs)]
    return {"errors_mmhg": errs, "pass": ok, "fix": fix}


def gauge_plan(board):
    """(the calibration's gauge pressures, the check's), mmHg: three points up to the highest a
    bulb may take the shut manifold (limits.MAINT_BULB_MAX_MMHG, less a margin; under the
    board's ceiling less limits.REST_MARGIN_MMHG too, where an S3's console still answers)."""
    top = min(L.MAINT_BULB_MAX_MMHG,
              board["limits"]["ceiling_mmhg"] - L.REST_MARGIN_MMHG) - GAUGE_TOP_MARGIN_MMHG
    return [round(top / 3), round(2 * top / 3), top], [round(top / 2), round(5 * top / 6)]


def blocked(rec):
    """The firmware's fit check's BLOCKED: BLOCKED_MMHG within FIT_FAST_MS of pumping."""
    return rec.get("blocked_ms") is not None and rec["blocked_ms"] < SQ.FIT_FAST_MS


def judge_chamber(k, rec):
    """One chamber's figures (flow.py) -> its verdicts. rec holds: fit_ms (pump time to
    FIT_MMHG, None if never), fill_ms (to FILL_TO_MMHG, None if never), no_rise (the boot
    refused more pumping: nothing rose), leak_mmhg_per_min (the loss while held, positive; None
    if not held),
    kept_share (what the chamber still held when its valve opened again), vent_ms (to
    SAFE_MMHG), order_answer (the chamber the builder saw fill; None: not asked)."""
    fix = []
    fit = rec.get("fit_ms")
    fill = rec.get("fill_ms")
    measured = fill is not None and not blocked(rec)
    if blocked(rec):
        fix.append("chamber %d reached %d mmHg in %d ms of pumping: nothing behind its valve "
                   "takes the air. A kinked or blocked hose, the valve stuck shut, or no "
                   "chamber on it: check the hose from valve %d to its chamber, then the valve "
                   "(it should pass air when open)" % (k, BLOCKED_MMHG, rec["blocked_ms"], k))
    elif rec.get("no_rise"):
        fix.append("chamber %d: the reading did not rise while pumping: its hose is off, or no "
                   "chamber is on it, or a big leak; check the hose at both ends" % k)
    elif fit is None or fit > SQ.FIT_TIMEOUT_MS:
        fix.append("chamber %d did not reach %d mmHg within %d s of pumping: no garment, or a "
                   "hose off" % (k, FIT_MMHG, SQ.FIT_TIMEOUT_MS // 1000))
    elif fill is None or fill > L.FILL_TIMEOUT_MS:
        fix.append("chamber %d did not reach %d mmHg within %d s of pumping: a leak the pump "
                   "barely outruns, or a weak pump; check the chamber and its hose"
                   % (k, FILL_TO_MMHG, L.FILL_TIMEOUT_MS // 1000))
    leak = rec.get("leak_mmhg_per_min")
    if measured and (leak is None or (rec.get("hold_ms") or 0) < HOLD_MIN_MS or
                     rec.get("kept_share") is None):
        fix.append("chamber %d: its hold or seal was not measured (held %.0f s: the fill took "
                   "too long for the boot's held-air limit): run --steps chambers again"
                   % (k, (rec.get("hold_ms") or 0) / 1000))
    elif leak is not None and leak >= L.HOLD_LOSS_WARN_MMHG_PER_MIN:
        fix.append("chamber %d leaks %.1f mmHg/min while held (the firmware warns from %d): "
                   "find the leak (soapy water on the chamber, its hose and fittings)"
                   % (k, leak, L.HOLD_LOSS_WARN_MMHG_PER_MIN))
    kept = rec.get("kept_share")
    if kept is not None and kept < STUCK_OPEN_SHARE:
        fix.append("valve %d does not shut: chamber %d emptied through it while it was closed "
                   "(stuck open, or wired to another output)" % (k, k))
    elif kept is not None and kept < SEAL_KEPT_MIN:
        fix.append("valve %d leaks when shut: chamber %d kept %d %% of its air over 5 s with "
                   "the dump open; clean or replace the valve" % (k, k, round(kept * 100)))
    vent = rec.get("vent_ms")
    if vent is None:
        fix.append("chamber %d did not read below %d mmHg within 15 s of venting: a blocked "
                   "dump or hose; check before anything else" % (k, L.SAFE_MMHG))
    elif vent > L.VENT_BUDGET_MS:
        fix.append("chamber %d took %.1f s to vent below %d mmHg (the firmware allows %d s): "
                   "a small or blocked dump, or a long thin hose" % (
                       k, vent / 1000, L.SAFE_MMHG, L.VENT_BUDGET_MS // 1000))
    answer = rec.get("order_answer")
    if answer is not None and answer != k:
        fix.append("valve %d fills chamber %d: swap the hoses at the valves so that valve k "
                   "fills chamber k (1 = foot)" % (k, answer))
    return {"pass": not fix, "fix": fix}
