"""The run's summary as `boot-sim run` prints it: how the session ended, how close every fill
came to the target in force for it, and everything the boot said: every fault with its advice,
every warning (a bad program, settings.json or secrets.json, a chamber that did not hold...),
what the network was refused, and the commands it turned down. The trace has the same events
(README "Reading a trace"); this puts them in front of the person who ran it."""

SAID_MAX = 6    # acknowledgements and refused commands listed; the trace has them all
# network states that mean the boot could not do what secrets.json asks (telemetry.py _note)
NET_TROUBLE = ("down", "degraded", "off", "wifi_down")


def _at(t_ms):
    return f"at {t_ms / 1000:.1f} s"


def _times(first_ms, count):
    return _at(first_ms) + (f" ({count} times)" if count > 1 else "")


def _once(events, name, key):
    """[(first t_ms, count, record)] of the events called name, one per distinct key(record),
    in order of first appearance: a warning repeated at every wave is listed once."""
    seen = {}
    for t, ev, rec in events:
        if ev != name:
            continue
        k = key(rec)
        if k is None:
            continue
        if k in seen:
            seen[k][1] += 1
        else:
            seen[k] = [t, 1, rec]
    return [tuple(v) for v in seen.values()]


def _faults(events):
    """[(t_ms, line)]: every fault the firmware raised, with its advice (safety.ADVICE, in the
    fault event)."""
    out = []
    for t, name, rec in events:
        if name != "fault":
            continue
        k = f" (chamber {rec['chamber']})" if rec.get("chamber") else ""
        again = " (restored after a reset: not yet acknowledged)" if rec.get("restored") else ""
        advice = rec.get("advice", "")
        out.append((t, f"fault {rec.get('code')} {_at(t)}{k}{again}" +
                    (f": {advice}" if advice else "")))
    return out


def _warnings(events):
    """[(t_ms, line)]: every distinct warning the boot gave, once, with when it first came and
    how often."""
    out = []
    for t, n, rec in _once(events, "warning", lambda r: r.get("text") or None):
        out.append((t, f"warning {_times(t, n)}: {rec['text']}"))
    return out


def _network(events):
    """[(t_ms, line)]: what stopped the network (a refused MQTT password, a broker that is not
    there, Wi-Fi that does not join), each reason once."""
    out = []
    for t, n, rec in _once(events, "network", lambda r: (r.get("status"), r.get("why"))
                           if r.get("status") in NET_TROUBLE and r.get("why") else None):
        out.append((t, f"network {rec['status']} {_times(t, n)}: {rec['why']}"))
    return out


def _lines(found):
    return [line for _, line in found]


def faults(events):
    return _lines(_faults(events))


def warnings(events):
    return _lines(_warnings(events))


def network(events):
    return _lines(_network(events))


def answers(events):
    return _lines(_answers(events))


def _answers(events):
    """[(t_ms, line)]: what the boot answered a person or a dashboard: acknowledgements
    (cleared or refused, and why), commands it turned down, isolation."""
    out, acks, refused = [], 0, 0
    for t, name, rec in events:
        when = _at(t)
        if name == "clear" and acks < SAID_MAX:
            acks += 1
            out.append((t, f"acknowledged {when}: the check proved every chamber empty"))
        elif name == "clear_refused" and acks < SAID_MAX:
            acks += 1
            k = f", chamber {rec['chamber']}" if rec.get("chamber") else ""
            out.append((t, f"acknowledgement refused {when} ({rec.get('why')}{k}): "
                        f"{rec.get('advice', '')}".rstrip(": ")))
        elif name == "isolate" and rec.get("on"):
            out.append((t, f"isolation {when}: every chamber valve closed against an air "
                        f"source that cannot be stopped"))
        elif name in ("refused", "error") and refused < SAID_MAX:
            refused += 1
            what = rec.get("cmd") or rec.get("payload", "")
            src = "button/knob" if name == "refused" else "MQTT"
            out.append((t, f"{src} command '{what}' refused {when}: {rec.get('why')}"))
    return out


def said(events):
    """Everything the boot said that a person must read, in one list, in time order."""
    found = _faults(events) + _warnings(events) + _network(events) + _answers(events)
    return _lines(sorted(found, key=lambda f: f[0]))        # stable: a moment's order kept


def fills_line(fills, start_target_mmhg):
    """How close each fill came to the target in force for it: the fill's own target where the
    trace has it (a knob turn, MQTT set_target, a program, a mode), else the starting one."""
    held = [f["p_mmhg"] for f in fills]
    targets = [f.get("target_mmhg", start_target_mmhg) for f in fills]
    off = [abs(h - t) for h, t in zip(held, targets)]
    worst = max(range(len(fills)), key=lambda i: off[i])
    w = fills[worst]
    cycles = max(f["cycle"] for f in fills)
    per_wave = {}
    for f in fills:
        per_wave[f["cycle"]] = per_wave.get(f["cycle"], 0) + 1
    cut = per_wave[cycles] < max(per_wave.values())
    lo, hi = min(targets), max(targets)
    against = (f"target {lo:g}" if lo == hi else
               f"targets in force {lo:g} to {hi:g}, started at {start_target_mmhg}")
    last = (f" (the last cut short after {per_wave[cycles]} of its "
            f"{max(per_wave.values())} fills: the session ended or stopped)" if cut else "")
    return (f"waves: {cycles}{last}; chamber fills: {len(held)}, held {min(held):.1f} to "
            f"{max(held):.1f} mmHg ({against}; worst {off[worst]:.1f} off: chamber "
            f"{w['chamber']}, wave {w['cycle']}, held {w['p_mmhg']:.1f} for "
            f"{targets[worst]:g})")


def text(s, config, events=()):
    """The summary's lines (s: the trace's summary record; events: (t_ms, name, record))."""
    events = list(events)
    if s["end_reason"] == "fault" and s.get("faults"):
        first = s["faults"][0]
        acks = [t for t, name, _ in events if name == "clear" and t >= first["t_ms"]]
        ack = f", acknowledged at {acks[-1] / 1000:.1f} s" if acks else ""
        lines = [f"end: fault {first['code']} at {first['t_ms'] / 1000:.1f} s{ack} (the run "
                 f"went on to {s['duration_ms'] / 1000:.1f} s simulated)"]
    else:
        lines = [f"end: {s['end_reason']} after {s['duration_ms'] / 1000:.1f} s simulated"]
    words = said(events)
    if words:
        lines.append(f"the boot said (faults: {len(faults(events))}, warnings: "
                     f"{len(warnings(events))}, network problems: {len(network(events))}):")
        lines += ["  " + w for w in words]
    if s["fills"]:
        lines.append(fills_line(s["fills"], config["settings"]["pressure_mmhg"]))
    lines.append("highest chamber pressures: " +
                 ", ".join(f"{p:.1f}" for p in s["max_p_chambers_mmhg"]) + " mmHg")
    lines.append(f"time above the ceiling: {s['time_above_ceiling_ms']} ms")
    for f in s.get("shelves", ()):
        lines.append(f"on the shelf from {f['t_ms'] / 1000:.1f} s for {f['s']} s" +
                     (f": {f['not_at_rest']} (stop the session before an idle action)"
                      if f.get("not_at_rest") else ""))
    if s.get("firmware_exit"):
        lines.append(s["firmware_exit"])        # "the firmware stopped with MemoryError: ..."
    injected = [(f["t_ms"], f"fault injected at {f['t_ms'] / 1000:.1f} s: {f['fault']}")
                for f in s["faults_injected"]]
    injected += [(f["t_ms"], f"injected fault ended at {f['t_ms'] / 1000:.1f} s: {f['fault']}")
                 for f in s.get("faults_injected_ended", ())]
    lines += _lines(sorted(injected, key=lambda f: f[0]))
    vent = "vented" if s["vented_at_end"] else "NOT VENTED"
    lines.append("at the end: " + ", ".join(f"{p:.1f}" for p in s["final_p_chambers_mmhg"]) +
                 f" mmHg ({vent})")
    lines.append(f"wall time {s['wall_s']:.1f} s: {s['speedup']}x faster than real time")
    return "\n".join(lines)
