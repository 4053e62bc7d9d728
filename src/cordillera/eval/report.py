"""The evaluation report: one static HTML page with the headline table, per-family bars, the failure list with
reasons and videos, a few successes, and plots (matplotlib PNGs under plots/).

    >>> from cordillera.eval.report import write_report
    >>> write_report(Path("runs/eval/rb"), summary, records, videos)      # -> runs/eval/rb/report.html

Everything is referenced by relative path (plots/*.png, videos/*.mp4 + *.jpg posters), so the directory can
be copied or served as it is. Text from results (reasons, tracebacks, reasoning) is HTML-escaped.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np

from cordillera.eval.aggregate import RATE_KEYS

__all__ = ["write_report", "failure_kinds", "plot_families", "plot_categories", "plot_scores", "plot_failures",
           "HEADLINE_ROWS"]

PLOT_DIR = "plots"
# (summary key, label, how it reads) in the order of the headline table
HEADLINE_ROWS = (
    ("epdms", "EPDMS (NAVSIM v2)", "mean, 0-1"),
    ("success_rate", "success rate", "criteria met, no at-fault collision, on road, rules kept"),
    ("collision_free_rate", "collision-free rate", "no contact at all"),
    ("at_fault_collision_rate", "at-fault collision rate", "nuPlan / NAVSIM rules"),
    ("offroad_rate", "off-road rate", "an ego corner off the drivable area"),
    ("close_encounter_rate", "close-encounter rate", "AlpaSim: any overlap before the first incident"),
    ("route_completion", "route completion (CARLA)", "mean, %"),
    ("driving_score", "driving score (CARLA)", "mean, %"),
    ("alpasim_scene_score", "AlpaSim scene score", "mean, 0-1"),
    ("km_per_incident", "km per incident (AlpaSim)", "km to first incident / max(1, incidents)"),
    ("reasoning_action_consistency", "reasoning-action consistency", "mean over plans with reasoning"),
    ("min_ade", "minADE", "open-loop only"),
)
KIND_LABELS = ("at-fault collision", "off-road", "rule broken", "goal not reached", "crash")


def _fmt(key: str, value) -> str:
    if value is None:
        return "&ndash;"
    if key in RATE_KEYS:
        return f"{100.0 * value:.1f}%"
    if key in ("route_completion", "driving_score"):
        return f"{value:.1f}"
    if key == "km_per_incident":
        return f"{value:.2f}"
    return f"{value:.3f}"


def _ci(key: str, group: dict) -> str:
    ci = group.get("ci95", {}).get(key)
    if ci is None or group.get(key) is None:
        return ""
    return f"[{_fmt(key, ci[0])}, {_fmt(key, ci[1])}]"


def failure_kinds(record: dict) -> list[str]:
    """Which of KIND_LABELS a failed record shows (several can apply; [] for a success)."""
    if record["status"] != "ok":
        return ["crash"]
    m = record["metrics"]
    kinds = []
    if m["scenario.at_fault_collision"]:
        kinds.append("at-fault collision")
    if m["scenario.offroad"]:
        kinds.append("off-road")
    if not m["scenario.rules_passed"]:
        kinds.append("rule broken")
    if not m["scenario.criteria_met"]:
        kinds.append("goal not reached")
    return kinds


def _figure(height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, plt.figure(figsize=(10, height), dpi=100)


def _save(plt, fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return f"{PLOT_DIR}/{path.name}"


def _errors(groups: list[dict], key: str) -> np.ndarray:
    """(2, n) asymmetric error bars from each group's ci95 (zero where there is none)."""
    err = np.zeros((2, len(groups)))
    for k, g in enumerate(groups):
        ci, v = g["ci95"].get(key), g.get(key)
        if ci is not None and v is not None:
            err[:, k] = [max(0.0, v - ci[0]), max(0.0, ci[1] - v)]
    return err


def plot_families(summary: dict, path: Path) -> str:
    """Two horizontal bar panels per family: success rate and EPDMS, with their 95% intervals."""
    names = list(summary["families"])
    groups = [summary["families"][n] for n in names]
    plt, fig = _figure(max(3.0, 0.28 * len(names) + 1.2))
    y = np.arange(len(names))[::-1]
    for col, (key, label, colour) in enumerate((("success_rate", "success rate", "#4c9a5b"),
                                                ("epdms", "EPDMS", "#3d6fb6"))):
        ax = fig.add_subplot(1, 2, col + 1)
        values = [g[key] or 0.0 for g in groups]
        ax.barh(y, values, xerr=_errors(groups, key), color=colour, ecolor="#555", capsize=2)
        ax.set_xlim(0, 1.05)
        ax.set_yticks(y, names if col == 0 else [""] * len(names), fontsize=8)
        ax.set_title(f"{label} per family (95% CI)", fontsize=10)
        ax.axvline(summary[key] or 0.0, color="#222", lw=1, ls="--")
        ax.grid(axis="x", alpha=0.3)
    return _save(plt, fig, path)


def plot_categories(summary: dict, path: Path) -> str:
    """Grouped horizontal bars per scenario category: success, at-fault collision and off-road rates."""
    cats = summary["tags"].get("category", {})
    names = list(cats)
    plt, fig = _figure(max(2.6, 0.42 * len(names) + 1.0))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(names))[::-1]
    keys = (("success_rate", "success", "#4c9a5b"), ("at_fault_collision_rate", "at-fault collision", "#c0504d"),
            ("offroad_rate", "off-road", "#e0a030"))
    groups = [cats[n] for n in names]
    for k, (key, label, colour) in enumerate(keys):
        ax.barh(y + (1 - k) * 0.27, [g[key] or 0.0 for g in groups], 0.27, xerr=_errors(groups, key), label=label,
                color=colour, ecolor="#999", capsize=1.5, error_kw={"lw": 0.8})
    ax.set_yticks(y, [f"{n} (n={cats[n]['n_scenarios']})" for n in names], fontsize=8)
    ax.set_xlim(0, 1.05)
    ax.set_title("rates per scenario category (95% Wilson CI)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
    return _save(plt, fig, path)


def plot_scores(records: list[dict], path: Path) -> str:
    """Distribution of per-scenario EPDMS and CARLA driving score, successes and failures stacked."""
    plt, fig = _figure(3.2)
    bins = np.linspace(0, 1, 21)
    for col, (key, label, scale) in enumerate((("epdms", "EPDMS", 1.0),
                                               ("carla.driving_score", "driving score (CARLA) / 100", 100.0))):
        ax = fig.add_subplot(1, 2, col + 1)
        groups = []
        for success in (True, False):
            groups.append([(r["metrics"][key] / scale) if r["status"] == "ok" else 0.0
                           for r in records if r["success"] == success])
        ax.hist(groups, bins=bins, stacked=True, color=["#4c9a5b", "#c0504d"], label=["success", "failure"])
        ax.set_title(f"{label} per scenario", fontsize=10)
        ax.set_ylabel("scenarios")
        ax.legend(fontsize=8)
    return _save(plt, fig, path)


def plot_failures(records: list[dict], path: Path) -> str:
    """How many scenarios failed in each way (a scenario can count in several)."""
    counts = {k: 0 for k in KIND_LABELS}
    for r in records:
        for kind in failure_kinds(r):
            counts[kind] += 1
    plt, fig = _figure(2.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(list(counts)[::-1], list(counts.values())[::-1], color="#c0504d")
    for y, v in enumerate(list(counts.values())[::-1]):
        ax.text(v, y, f" {v}", va="center", fontsize=8)
    ax.set_title(f"failure kinds ({sum(not r['success'] for r in records)} of {len(records)} scenarios failed)",
                 fontsize=10)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="x", alpha=0.3)
    return _save(plt, fig, path)


def _headline(summary: dict) -> str:
    rows = []
    for key, label, note in HEADLINE_ROWS:
        value = _fmt(key, summary.get(key))
        if key == "km_per_incident" and summary.get(key) is not None:
            note = (f"{summary['km_driven']:.2f} km, {summary['incidents']} incidents "
                    f"({summary['incidents_at_fault']} at fault)")
        rows.append(f"<tr><td>{label}</td><td class=num>{value}</td><td class=ci>{_ci(key, summary)}</td>"
                    f"<td class=note>{html.escape(note)}</td></tr>")
    return ("<table class=headline><tr><th>metric</th><th>value</th><th>95% CI</th><th></th></tr>"
            + "".join(rows) + "</table>")


def _bar(value, colour: str) -> str:
    width = 0 if value is None else max(0.0, min(1.0, value)) * 100
    return f"<span class=bar><span style='width:{width:.0f}%;background:{colour}'></span></span>"


def _group_table(groups: dict, first: str) -> str:
    head = (f"<tr><th>{first}</th><th>n</th><th colspan=2>success</th><th colspan=2>EPDMS</th><th>at-fault coll.</th>"
            "<th>off-road</th><th>driving score</th><th>errors</th></tr>")
    rows = []
    for name, g in groups.items():
        rows.append(
            f"<tr><td>{html.escape(str(name))}</td><td class=num>{g['n_scenarios']}</td>"
            f"<td class=num>{_fmt('success_rate', g['success_rate'])}</td><td>{_bar(g['success_rate'], '#4c9a5b')}</td>"
            f"<td class=num>{_fmt('epdms', g['epdms'])}</td><td>{_bar(g['epdms'], '#3d6fb6')}</td>"
            f"<td class=num>{_fmt('at_fault_collision_rate', g['at_fault_collision_rate'])}</td>"
            f"<td class=num>{_fmt('offroad_rate', g['offroad_rate'])}</td>"
            f"<td class=num>{_fmt('driving_score', g['driving_score'])}</td><td class=num>{g['n_errors']}</td></tr>")
    return "<table class=groups>" + head + "".join(rows) + "</table>"


def _video(entry: dict | None) -> str:
    if not entry:
        return ""
    if "error" in entry:
        return f"<span class=note>no video: {html.escape(entry['error'])}</span>"
    return (f"<video src='{entry['video']}' poster='{entry['poster']}' controls muted loop preload=none "
            f"width=640></video>")


def _failures(records: list[dict], videos: dict) -> str:
    failed = [r for r in records if not r["success"]]
    if not failed:
        return "<p>No failures.</p>"
    rows = []
    for r in failed:
        category = (r.get("tags") or {}).get("category", "")
        detail = ""
        if r.get("error"):
            detail = (f"<details><summary>traceback ({html.escape(r['error']['stage'])})</summary>"
                      f"<pre>{html.escape(r['error']['traceback'])}</pre></details>")
        rows.append(f"<tr><td><b>{html.escape(r['scenario'])}</b><br><span class=note>{html.escape(category)}"
                    f"</span></td><td>{html.escape(r['failure'] or '')}{detail}</td>"
                    f"<td>{_video(videos.get(r['scenario']))}</td></tr>")
    return ("<table class=failures><tr><th>scenario</th><th>reason</th><th>video (BEV + cameras, reasoning as "
            "subtitle)</th></tr>" + "".join(rows) + "</table>")


def _successes(records: list[dict], videos: dict) -> str:
    shown = [r for r in records if r["success"] and r["scenario"] in videos]
    if not shown:
        return "<p>No success videos.</p>"
    return "".join(f"<figure>{_video(videos[r['scenario']])}<figcaption>{html.escape(r['scenario'])}</figcaption>"
                   f"</figure>" for r in shown)


def _key_moments(records: list[dict]) -> str:
    rows = [r for r in records if r.get("key_moment")]
    if not rows:
        return "<p>The policy wrote no reasoning.</p>"
    cells = "".join(
        f"<tr><td>{html.escape(r['scenario'])}</td><td class=num>{r['key_moment']['t']:.1f}</td>"
        f"<td>{html.escape(r['key_moment']['text'])}</td><td class=note>{html.escape(r['key_moment']['why'])}</td>"
        f"<td>{'ok' if r['success'] else 'failed'}</td></tr>" for r in rows)
    return ("<table><tr><th>scenario</th><th>t [s]</th><th>reasoning</th><th>the moment</th><th>outcome</th></tr>"
            + cells + "</table>")


STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1300px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.meta,.note{color:#666;font-size:12px} table{border-collapse:collapse;font-size:13px}
td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums} td.ci{color:#666;font-size:12px}
.bar{display:inline-block;width:90px;height:9px;background:#eee} .bar span{display:block;height:9px}
img.plot{max-width:100%;border:1px solid #eee;margin:6px 0} figure{display:inline-block;margin:6px}
pre{font-size:11px;max-width:520px;overflow-x:auto;background:#f6f6f6;padding:6px}
"""


def write_report(out: Path, summary: dict, records: list[dict], videos: dict | None = None) -> Path:
    """Write out/report.html and out/plots/*.png; returns the report's path."""
    out = Path(out)
    videos = videos or {}
    (out / PLOT_DIR).mkdir(parents=True, exist_ok=True)
    records = sorted(records, key=lambda r: r["index"])
    plots = {
        "families": plot_families(summary, out / PLOT_DIR / "families.png"),
        "categories": plot_categories(summary, out / PLOT_DIR / "categories.png"),
        "scores": plot_scores(records, out / PLOT_DIR / "scores.png"),
        "failures": plot_failures(records, out / PLOT_DIR / "failures.png"),
    }
    tags = summary["tags"]
    title = f"{summary['policy']} on {summary['suite']}"
    meta = " &middot; ".join(html.escape(part) for part in (
        f"{summary['n_scenarios']} scenarios ({summary['n_errors']} crashed)",
        f"suite hash {summary['suite_hash'][:12]}",
        f"reference policy {summary['reference_policy']}", f"code {', '.join(summary['code_versions'])}",
        f"{summary['ci_method']['rates']} for rates, {summary['ci_method']['means']} for means"))
    body = [
        f"<h1>Cordillera closed-loop evaluation: {html.escape(title)}</h1><div class=meta>{meta}</div>",
        "<h2>Headline</h2>", _headline(summary),
        "<h2>Per family</h2>", f"<img class=plot src='{plots['families']}' alt='per-family bars'>",
        _group_table(summary["families"], "family"),
        "<h2>By category and long tail</h2>", f"<img class=plot src='{plots['categories']}' alt='per-category bars'>",
        _group_table(tags.get("category", {}), "category"), "<p></p>",
        _group_table({f"long tail: {k}": v for k, v in tags.get("longtail", {}).items()}, "slice"),
        f"<h2>Failures ({sum(not r['success'] for r in records)})</h2>",
        f"<img class=plot src='{plots['failures']}' alt='failure kinds'>", _failures(records, videos),
        "<h2>Successes</h2>", _successes(records, videos),
        "<h2>Reasoning at each scenario's key moment</h2>", _key_moments(records),
        "<h2>Score distributions</h2>", f"<img class=plot src='{plots['scores']}' alt='score histograms'>",
    ]
    page = ("<!doctype html><html><head><meta charset=utf-8><title>" + html.escape(title) + "</title><style>" + STYLE
            + "</style></head><body>" + "\n".join(body) + "</body></html>\n")
    path = out / "report.html"
    tmp = out / ".report.html.tmp"
    tmp.write_text(page)
    os.replace(tmp, path)
    return path
