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


def plot(trace_path, png_path, title=None):
    header, samples, events, summary = load_trace(trace_path)
    if not samples:
        raise ValueError(f"{trace_path}: no samples to plot")
    n = len(samples[0]["p_chambers_mmhg"])
    t = [s["t_ms"] / 60000 for s in samples]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(12, 7), sharex=True,
                                  gridspec_kw={"height_ratios": [4, 1.3]})
    colors = plt.get_cmap("viridis")
    for i in range(n):
        label = f"chamber {i + 1}" + (" (foot)" if i == 0 else " (thigh)" if i == n - 1 else "")
        ax.plot(t, [s["p_chambers_mmhg"][i] for s in samples], lw=1.1,
                color=colors(i / max(1, n - 1) * 0.85), label=label)
    ax.plot(t, [s["p_manifold_mmhg"] for s in samples], lw=0.6, color="0.6", alpha=0.7,
            label="manifold (true)")
    target = header["settings"]["pressure_mmhg"]
    ceiling = header["board"]["limits"]["ceiling_mmhg"]
    ax.axhline(target, color="tab:green", ls="--", lw=1, label=f"target {target} mmHg")
    ax.axhline(ceiling, color="tab:red", ls="-", lw=1.2, label=f"ceiling {ceiling} mmHg")
    ax.axhline(15, color="tab:blue", ls=":", lw=1, label="vented (15 mmHg)")
    for e in events:
        if e["event"] == "fault_injected":
            ax.axvline(e["t_ms"] / 60000, color="tab:orange", lw=1)
            ax.text(e["t_ms"] / 60000, ceiling * 0.97, " " + e["fault"], color="tab:orange",
                    fontsize=8, va="top", rotation=90)
        elif e["event"] == "fault_end":
            ax.axvline(e["t_ms"] / 60000, color="tab:orange", lw=1, ls=":")
        elif e["event"] == "fault" and e.get("source") != "sim":
            ax.axvline(e["t_ms"] / 60000, color="tab:red", lw=1, ls="--")
            ax.text(e["t_ms"] / 60000, ceiling * 0.6, " " + str(e.get("code")), color="tab:red",
                    fontsize=8, va="top", rotation=90)
    top = max(ceiling, max(max(s["p_chambers_mmhg"]) for s in samples)) * 1.08
    ax.set_ylim(-2, top)
    ax.set_ylabel("pressure (mmHg)")
    ax.legend(loc="upper right", fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    end = summary["end_reason"] if summary else "?"
    ax.set_title(title or f"{header['board']['name']}: {target} mmHg, "
                          f"{header['settings']['minutes']} min, {header['runtime']} "
                          f"(end: {end})")
    # actuators: pump, dump open, each valve open, as stacked on/off bands
    rows = [("pump on", [s["pump"] for s in samples]), ("dump open", [s["dump"] for s in samples])]
    rows += [(f"valve {i + 1} open", [s["valves"][i] for s in samples]) for i in range(n)]
    for k, (name, vals) in enumerate(rows):
        base = len(rows) - 1 - k
        ax2.fill_between(t, base, [base + 0.8 * v for v in vals], step="post", lw=0,
                         color="tab:red" if k == 0 else "tab:blue" if k == 1 else "0.45")
    ax2.set_yticks([len(rows) - 1 - k + 0.4 for k in range(len(rows))])
    ax2.set_yticklabels([r[0] for r in rows], fontsize=7)
    ax2.set_xlabel("time (min)")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


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
