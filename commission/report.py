"""The commissioning report: report.md (pass or fail and what to fix, per item), report.json (the
figures) and one PNG per chamber (its fill and leak-down), in one folder."""
import json
import time
from pathlib import Path


def write(folder, board_name, items, extra=None):
    """Returns the paths written. items: flow.py's, in order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _keep_earlier(folder)
    ok = all(i["pass"] for i in items)
    data = {"board": board_name, "when": time.strftime("%Y-%m-%d %H:%M:%S"), "pass": ok,
            "items": items}
    data.update(extra or {})
    (folder / "report.json").write_text(json.dumps(data, indent=1) + "\n")
    pngs = [_plot(folder, i) for i in items if i.get("fill_series")]
    overview = _overview(folder, board_name, items, ok)
    lines = [f"# Commissioning report: {board_name}", "",
             f"{data['when']}: **{'PASS' if ok else 'FAIL'}**"
             + ("" if ok else f" ({sum(not i['pass'] for i in items)} of {len(items)} items "
                              "to fix)"), "",
             ]
    if data.get("not_run"):
        lines += [f"Steps not run this time: {', '.join(data['not_run'])} (their last results: "
                  "the earlier reports in this folder).", ""]
    if data.get("hold_s") is not None:
        lines += [f"Each chamber held {data['hold_s']:g} s (a slow fill shortens it: "
                  "hold_ms per chamber in report.json); times marked 'pump' are pump-on time.",
                  ""]
    lines += ["| item | result | figures |", "|---|---|---|"]
    for i in items:
        lines.append(f"| {i['name']} | {'pass' if i['pass'] else '**FAIL**'} | "
                     f"{_figures(i)} |")
    for i in items:
        if i["fix"] or i.get("note"):
            lines += ["", f"## {i['name']}: " + ("what to fix" if i["fix"] else "note"), ""]
            lines += [f"- {f}" for f in i["fix"]]
            if i.get("note"):
                lines.append(f"- {i['note']}")
    if overview:
        lines += ["", f"![the report at a glance]({overview.name})"]
    if pngs:
        lines += ["", "## Fill and leak-down per chamber", ""]
        lines += [f"![{p.stem}]({p.name})" for p in pngs if p]
    (folder / "report.md").write_text("\n".join(lines) + "\n")
    return [folder / "report.md", folder / "report.json"] + [p for p in pngs + [overview] if p]


def _figures(i):
    keys = (("zero_mmhg", "zero %s mmHg"), ("noise_mmhg", "noise %s mmHg"),
            ("v_at_zero", "v_at_zero %s V"), ("v_at_full_scale", "v_at_full_scale %s V"),
            ("residuals_mmhg", "residuals %s mmHg"), ("errors_mmhg", "off the gauge %s mmHg"),
            ("fit_ms", "pump %s ms to 10 mmHg"), ("fill_ms", "pump %s ms to 40 mmHg"),
            ("leak_mmhg_per_min", "loses %s mmHg/min held"),
            ("kept_share", "seal: kept %s of its air"), ("vent_ms", "vent %s ms"))
    return "; ".join(fmt % (i[k],) for k, fmt in keys if i.get(k) is not None) or "-"


def _plot(folder, item):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    fs = item["fill_series"]
    ax.plot([t / 1000 for t, _, _ in fs], [p for _, p, _ in fs], label="fill", color="C0")
    hs = item.get("hold_series") or []
    if hs:
        ax.plot([t / 1000 for t, _ in hs], [p for _, p in hs], label="held (loses %s "
                "mmHg/min)" % item.get("leak_mmhg_per_min"), color="C1")
    ax.set_xlabel("s (the boot's clock)")
    ax.set_ylabel("mmHg")
    ax.set_title(f"{item['name']}: {'pass' if item['pass'] else 'FAIL'}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(folder) / (item["name"].replace(" ", "-") + ".png")
    fig.savefig(path)
    plt.close(fig)
    return path


def _overview(folder, board_name, items, ok):
    """One picture: each item's verdict and figures, and every chamber's fill and hold."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    chambers = [i for i in items if i.get("fill_series")]
    fig = plt.figure(figsize=(10, 3.6 + 0.3 * len(items)), dpi=100)
    fig.text(0.02, 0.97, f"boot-commission: {board_name.split(' (')[0]}: "
             f"{'PASS' if ok else 'FAIL'}", fontsize=11, va="top",
             color="green" if ok else "firebrick", weight="bold")
    top = fig.add_axes([0.02, 0.5 if chambers else 0.02, 0.96, 0.42 if chambers else 0.9])
    top.axis("off")
    for row, i in enumerate(items):
        y = 1 - (row + 1) / (len(items) + 1)
        top.text(0.0, y, i["name"], fontsize=9, va="center")
        top.text(0.13, y, "pass" if i["pass"] else "FAIL", fontsize=9, va="center",
                 color="green" if i["pass"] else "firebrick", weight="bold")
        text = (i["fix"][0] if i["fix"] else _figures(i))
        top.text(0.2, y, text[:150] + ("..." if len(text) > 150 else ""), fontsize=7.5,
                 va="center")
    if chambers:
        ax = fig.add_axes([0.07, 0.12, 0.9, 0.32])
        for n, i in enumerate(chambers):
            fs, hs = i["fill_series"], i.get("hold_series") or []
            pts = [(t, p) for t, p, _ in fs] + [(t, p) for t, p in hs]
            ax.plot([t / 1000 for t, _ in pts], [p for _, p in pts], color=f"C{n}",
                    label=i["name"] + ("" if i["pass"] else " (FAIL)"))
        ax.set_xlabel("s since the chamber's fill began (the boot's clock)")
        ax.set_ylabel("mmHg")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=min(4, len(chambers)), loc="lower right")
    path = Path(folder) / "overview.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _keep_earlier(folder):
    """A report already there (an earlier run, e.g. before --steps chambers again) moves into
    earlier-WHEN/ rather than being overwritten."""
    old = folder / "report.json"
    if not old.exists():
        return
    try:
        when = json.loads(old.read_text()).get("when", "")
    except ValueError:
        when = ""
    dest = folder / ("earlier-" + (when.replace(" ", "-").replace(":", "") or
                                   time.strftime("%Y%m%d-%H%M%S")))
    dest.mkdir(exist_ok=True)
    for p in list(folder.glob("report.*")) + list(folder.glob("*.png")):
        p.replace(dest / p.name)
