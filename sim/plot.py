"""A PNG of a simulated session from its trace: every chamber's true pressure against time, the
manifold and what the sensor reported, the target and the ceiling, and below it the pump, dump
and valves, with injected faults and firmware faults marked."""
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_trace(path):
    header, samples, events, summary = None, [], [], None
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            kind = rec["kind"]
            if kind == "header":
                header = rec
            elif kind == "sample":
                samples.append(rec)
            elif kind == "event":
                events.append(rec)
            elif kind == "summary":
                summary = rec
    return header, samples, events, summary


ZOOM_SECONDS_BELOW_S = 600     # a run or window shorter than this is drawn in seconds, else
                               # in minutes
CLUSTER_FRACTION = 0.012       # marks closer than this share of the window share one label


def _window(samples, events, t_from_s, t_to_s):
    """The samples and events inside [t_from_s, t_to_s] (None: the trace's own start or end)."""
    lo = -1 if t_from_s is None else t_from_s * 1000
    hi = float("inf") if t_to_s is None else t_to_s * 1000
    return ([s for s in samples if lo <= s["t_ms"] <= hi],
            [e for e in events if lo <= e["t_ms"] <= hi])


def _clusters(marks, gap_ms):
    """[(t_ms, [label, ...])]: marks (t_ms, label) closer than gap_ms to the one before share a
    line, so two faults at the same moment read as one "A + B", never printed over each other."""
    out = []
    for t, label in sorted(marks, key=lambda m: m[0]):
        if out and t - out[-1][0] <= gap_ms:
            if label not in out[-1][1]:
                out[-1][1].append(label)
        else:
            out.append((t, [label]))
    return out


def _action_label(a):
    """A person's action or a remote command, as the plot names it."""
    do = a["do"]
    if do == "turn":
        return f"turn {a['detents']:+d}"
    if do == "remote":
        try:
            msg = json.loads(a["payload"])
        except ValueError:
            msg = None
        if isinstance(msg, dict) and "cmd" in msg:
            return "MQTT " + " ".join(str(msg[k]) for k in ("cmd", "value") if k in msg)
        return f"MQTT {a['payload'][:20]}"
    if do == "idle":
        return f"idle {a['s']} s"
    return do.replace("_", " ")


def _targets(events, start_target, t_end_ms):
    """The target in force as steps [(t_ms, mmHg)]: each fill's own target (the firmware's
    phase event, target_dmmhg), from the fill's start; the starting target before any fill."""
    steps = [(0, start_target)]
    for e in events:
        if e["event"] == "phase" and e.get("phase") == "fill" and "target_dmmhg" in e:
            steps.append((e["t_ms"], e["target_dmmhg"] / 10))
    steps.append((t_end_ms, steps[-1][1]))
    return steps


def plot(trace_path, png_path, title=None, t_from_s=None, t_to_s=None):
    """Draw the trace; t_from_s/t_to_s: only that window (boot-sim plot --from/--to). Returns
    what it marked: the window (s), the target steps, and the labels of the injected faults, the
    detected faults and the actions, one per line drawn."""
    header, samples, events, summary = load_trace(trace_path)
    if not samples:
        raise ValueError(f"{trace_path}: no samples to plot")
    all_samples, all_events = samples, events
    samples, events = _window(samples, events, t_from_s, t_to_s)
    if not samples:
        span = (f"from {t_from_s if t_from_s is not None else 0:g} s to "
                f"{f'{t_to_s:g} s' if t_to_s is not None else 'the end'}")
        raise ValueError(f"{trace_path}: no samples {span} (the trace "
                         f"runs from {all_samples[0]['t_ms'] / 1000:.1f} to "
                         f"{all_samples[-1]['t_ms'] / 1000:.1f} s)")
    t0_ms, t1_ms = samples[0]["t_ms"], samples[-1]["t_ms"]
    zoomed = t_from_s is not None or t_to_s is not None
    unit_ms, unit = (1000, "s") if t1_ms - t0_ms < ZOOM_SECONDS_BELOW_S * 1000 \
        else (60000, "min")
    gap_ms = max(1, (t1_ms - t0_ms) * CLUSTER_FRACTION)
    n = len(samples[0]["p_chambers_mmhg"])
    t = [s["t_ms"] / unit_ms for s in samples]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(13.5, 7), sharex=True,
                                  gridspec_kw={"height_ratios": [4, 1.5]})
    colors = plt.get_cmap("viridis")
    for i in range(n):
        label = f"chamber {i + 1}" + (" (foot)" if i == 0 else " (thigh)" if i == n - 1 else "")
        ax.plot(t, [s["p_chambers_mmhg"][i] for s in samples], lw=1.1,
                color=colors(i / max(1, n - 1) * 0.85), label=label)
    ax.plot(t, [s["p_manifold_mmhg"] for s in samples], lw=0.6, color="0.6", alpha=0.7,
            label="manifold (true)")
    target = header["settings"]["pressure_mmhg"]
    ceiling = header["board"]["limits"]["ceiling_mmhg"]
    steps = _targets(all_events, target, all_samples[-1]["t_ms"])
    ax.step([x / unit_ms for x, _ in steps], [y for _, y in steps], where="post",
            color="tab:green", ls="--", lw=1,
            label=f"target in force (each fill's; {target} mmHg at the start)")
    ax.axhline(ceiling, color="tab:red", ls="-", lw=1.2, label=f"ceiling {ceiling} mmHg")
    ax.axhline(15, color="tab:blue", ls=":", lw=1, label="vented (15 mmHg)")
    injected = [(e["t_ms"], e["fault"]) for e in events if e["event"] == "fault_injected"]
    detected = [(e["t_ms"], str(e.get("code"))) for e in events
                if e["event"] == "fault" and e.get("source") != "sim"]
    ended = [(e["t_ms"], e["fault"] + " ends") for e in events if e["event"] == "fault_end"]
    marks = {"window_s": (t0_ms / 1000, t1_ms / 1000), "targets": steps,
             "injected": [], "faults": [], "fault_ends": [], "actions": []}
    labels_drawn = []
    top = max(ceiling, max(max(s["p_chambers_mmhg"]) for s in samples),
              max(s["p_manifold_mmhg"] for s in samples)) * 1.08
    # vertical labels read down from the top: an injected fault's (and its end's) to the left
    # of its line, the firmware's fault to the right of its own, so a fault the firmware
    # finds at the moment it is injected never prints over it
    for key, marks_in, color, ls, ha in (("injected", injected, "tab:orange", "-", "right"),
                                         ("fault_ends", ended, "tab:orange", ":", "right"),
                                         ("faults", detected, "tab:red", "--", "left")):
        for tm, labels in _clusters(marks_in, gap_ms):
            text = " + ".join(labels)
            marks[key].append(text)
            ax.axvline(tm / unit_ms, color=color, lw=1, ls=ls)
            labels_drawn.append(ax.text(tm / unit_ms, top * 0.985, text + " ", color=color,
                                        fontsize=8, va="top", ha=ha, rotation=90))
    ax.set_ylim(-2, top)
    ax.set_xlim(t0_ms / unit_ms, t1_ms / unit_ms)
    ax.set_ylabel("pressure (mmHg)")
    # the legend beside the plot: it never hides a line or a label
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, ncol=1,
                       borderaxespad=0)
    ax.grid(alpha=0.3)
    end = summary["end_reason"] if summary else "?"
    window = f", {t0_ms / 1000:.0f} to {t1_ms / 1000:.0f} s" if zoomed else ""
    ax.set_title(title or f"{header['board']['name']}: {target} mmHg, "
                          f"{header['settings']['minutes']} min, {header['runtime']} "
                          f"(end: {end}){window}")
    # actuators: pump, dump open, each valve open, as stacked on/off bands
    rows = [("pump on", [s["pump"] for s in samples]), ("dump open", [s["dump"] for s in samples])]
    rows += [(f"valve {i + 1} open", [s["valves"][i] for s in samples]) for i in range(n)]
    for k, (name, vals) in enumerate(rows):
        base = len(rows) - 1 - k
        ax2.fill_between(t, base, [base + 0.8 * v for v in vals], step="post", lw=0,
                         color="tab:red" if k == 0 else "tab:blue" if k == 1 else "0.45")
    # what a person (or a dashboard) did, on a row of its own above the actuators
    acts = [(a["t_ms"], _action_label(a)) for a in header.get("actions", ())
            if t0_ms <= a["t_ms"] <= t1_ms]
    y_act = len(rows) + 0.2
    act_texts = []
    for tm, labels in _clusters(acts, gap_ms):
        marks["actions"].append(" + ".join(labels))
        ax2.plot([tm / unit_ms], [y_act], marker="v", color="tab:purple", ms=6)
        act_texts.append(ax2.text(tm / unit_ms, y_act + 0.35, " " + " + ".join(labels),
                                  color="tab:purple", fontsize=7, va="bottom"))
        ax.axvline(tm / unit_ms, color="tab:purple", lw=0.6, ls=":", alpha=0.6)
    ax2.set_ylim(-0.2, len(rows) + 1.6)
    ax2.set_yticks([len(rows) - 1 - k + 0.4 for k in range(len(rows))] + [y_act])
    ax2.set_yticklabels([r[0] for r in rows] + ["you / MQTT"], fontsize=7)
    ax2.set_xlabel(f"time ({unit})")
    fig.tight_layout()
    marks["overlaps"] = _overlaps(fig, labels_drawn + act_texts, legend)
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return marks


def _overlaps(fig, texts, legend):
    """[(label, label)]: pairs of the drawn labels (and the legend) whose boxes overlap on the
    rendered figure, or a label outside the figure: what a reader could not read. Kept in the
    marks for the tests; a plot that has any is a plot to fix."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    fig_box = fig.bbox
    boxes = [(t.get_text().strip(), t.get_window_extent(renderer).padded(-1)) for t in texts]
    boxes.append(("legend", legend.get_window_extent(renderer)))
    out = []
    for i, (a, box_a) in enumerate(boxes):
        if box_a.x0 < fig_box.x0 - 1 or box_a.x1 > fig_box.x1 + 1 or \
                box_a.y0 < fig_box.y0 - 1 or box_a.y1 > fig_box.y1 + 1:
            out.append((a, "the figure's edge"))
        for b, box_b in boxes[i + 1:]:
            if box_a.overlaps(box_b):
                out.append((a, b))
    return out


def screen_pixels(ram):
    """An SSD1306's 1024 bytes (8 pages of 128 columns, LSB at the top) as 64 rows of 128."""
    return [[(ram[(y // 8) * 128 + x] >> (y % 8)) & 1 for x in range(128)] for y in range(64)]


def plot_screen(ram, png_path):
    """What the OLED shows, as a PNG, 4 pixels a dot."""
    fig = plt.figure(figsize=(128 * 4 / 100, 64 * 4 / 100), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(screen_pixels(ram), cmap="Blues_r", interpolation="nearest", vmin=0, vmax=1)
    ax.set_axis_off()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


GIF_STEP_MS = 1000      # one picture a simulated second ...
GIF_FRAME_MS = 100      # ... shown 0.1 s: the animation runs 10 times faster than the session


def screen_gif(frames, gif_path, step_ms=GIF_STEP_MS, frame_ms=GIF_FRAME_MS, scale=2):
    """Every frame the display showed, as an animated GIF: at each step of simulated time the
    picture on the panel then (frames: [(t_ms, memory)] in time order). Returns the count."""
    from PIL import Image
    if not frames:
        raise ValueError("no frames: the firmware never drew the display")
    pictures, k, drawn = [], 0, {}
    t = frames[0][0]
    end = frames[-1][0]
    while t <= end:
        while k + 1 < len(frames) and frames[k + 1][0] <= t:
            k += 1
        ram = frames[k][1]
        if ram not in drawn:
            img = Image.new("L", (128, 64))
            img.putdata([255 * v for row in screen_pixels(ram) for v in row])
            drawn[ram] = img.resize((128 * scale, 64 * scale), Image.NEAREST).convert("P")
        pictures.append(drawn[ram])
        t += step_ms
    pictures[0].save(gif_path, save_all=True, append_images=pictures[1:], duration=frame_ms,
                     loop=0)
    return len(pictures)
