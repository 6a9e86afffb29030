"""The report's charts, drawn by matplotlib (no display: the Agg backend), as SVG for the HTML file and
PNG for the Markdown report GitLab shows. Pure apart from matplotlib's rendering to bytes."""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .figures import IncidentRow  # noqa: E402
from .summary import Summary  # noqa: E402

matplotlib.rcParams.update({"svg.fonttype": "path", "svg.hashsalt": "incident-bot", "font.size": 9,
                            "axes.spines.top": False, "axes.spines.right": False})
SEV_COLOURS = {1: "#c0392b", 2: "#e67e22", 3: "#2980b9"}
TIMELINE_MAX = 30  # incidents in the per-incident charts (the latest ones; the tables list them all)


@dataclass
class Chart:
    name: str  # file stem: ttfc, ttr, cadence, trend, timeline
    title: str
    figure: "plt.Figure"

    def svg(self) -> str:
        buf = io.StringIO()
        self.figure.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
        text = buf.getvalue()
        return text[text.index("<svg"):]  # inline: no XML declaration or doctype

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
        return buf.getvalue()

    def close(self) -> None:
        plt.close(self.figure)


def _empty(ax, text: str = "no incident in this period") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777")
    ax.set_xticks([])
    ax.set_yticks([])


def _distribution(rows: list[IncidentRow], key: str, title: str, name: str, targets: dict[int, int] | None) -> Chart:
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    sevs = sorted({r.severity for r in rows if getattr(r, key) is not None})
    if not sevs:
        _empty(ax)
    for i, sev in enumerate(sevs):
        values = [getattr(r, key) for r in rows if r.severity == sev and getattr(r, key) is not None]
        ax.boxplot(values, positions=[i], widths=0.5, orientation="horizontal", showfliers=False,
                   medianprops={"color": "black"})
        ax.scatter(values, [i] * len(values), color=SEV_COLOURS[sev], zorder=3, s=28, label=f"SEV{sev}")
        if targets and sev in targets:
            ax.plot([targets[sev]] * 2, [i - 0.35, i + 0.35], color="#333", linestyle="--", linewidth=1)
    if sevs:
        ax.set_yticks(range(len(sevs)), [f"SEV{s}" for s in sevs])
        ax.set_xlabel("minutes" + ("  (dashed: response target)" if targets else ""))
        ax.set_xlim(left=0)
    ax.set_title(title)
    return Chart(name, title, fig)


def _cadence(rows: list[IncidentRow]) -> Chart:
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    timed = [r for r in rows if r.updates_timed][-TIMELINE_MAX:]
    if not timed:
        _empty(ax, "no timed status update in this period")
    else:
        kept = [100 * r.updates_on_time / r.updates_timed for r in timed]
        colours = ["#27ae60" if k == 100 else "#e67e22" if k >= 50 else "#c0392b" for k in kept]
        ax.bar([f"#{r.iid}" for r in timed], kept, color=colours)
        ax.set_ylim(0, 105)
        ax.set_ylabel("% of updates on time")
        ax.tick_params(axis="x", rotation=90 if len(timed) > 12 else 0)
    ax.set_title("Cadence kept per incident")
    return Chart("cadence", "Cadence kept per incident", fig)


def _trend(summary: Summary) -> Chart:
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    weeks = summary.weekly
    if not weeks:
        _empty(ax)
    else:
        x = [w["week"] for w in weeks]
        ax.bar(x, [w["count"] for w in weeks], color="#bdc3c7", label="incidents")
        ax.set_ylabel("incidents")
        ax2 = ax.twinx()
        ax2.plot(x, [w["ttr_min"] for w in weeks], marker="o", color="#c0392b", label="median time to resolve")
        ax2.plot(x, [w["ttfc_min"] for w in weeks], marker="s", color="#2980b9",
                 label="median time to first communication")
        ax2.set_ylabel("minutes")
        ax2.set_ylim(bottom=0)
        ax2.legend(loc="upper left", fontsize=7, frameon=False)
    ax.set_title("Weekly trend")
    return Chart("trend", "Weekly trend", fig)


def _timeline(rows: list[IncidentRow]) -> Chart:
    """One line per incident, in minutes since its detection, so that gaps compare across incidents."""
    shown = [r for r in rows if r.detected is not None][-TIMELINE_MAX:]
    fig, ax = plt.subplots(figsize=(7.2, 1.2 + 0.45 * max(1, len(shown))))
    if not shown:
        _empty(ax)

    def since(r, at):
        return (at - r.detected).total_seconds() / 60

    for y, r in enumerate(shown):
        t = r.timeline
        ax.plot([0, since(r, t["end"])], [y, y], color="#95a5a6", linewidth=5, solid_capstyle="butt")
        for gap in t["gaps"]:  # a gap longer than the cadence is drawn red over the bar
            if gap.late:
                ax.plot([since(r, gap.start), since(r, gap.end)], [y, y], color="#c0392b", linewidth=5,
                        solid_capstyle="butt")
        for key, marker, colour in (("detected", "o", "#2c3e50"), ("first", "D", "#2980b9")):
            if t.get(key):
                ax.plot([since(r, t[key])], [y], marker=marker, color=colour, markersize=6, linestyle="none")
        # Lists: a reopened incident may have been mitigated and resolved more than once.
        for key, marker, colour in (("mitigated", "^", "#e67e22"), ("resolved", "s", "#27ae60"),
                                    ("reopened", "v", "#c0392b")):
            if t.get(key):
                ax.plot([since(r, at) for at in t[key]], [y] * len(t[key]), marker=marker, color=colour,
                        markersize=6, linestyle="none")
        for key, marker, colour, size in (("updates", "|", "black", 12), ("handoffs", "x", "#8e44ad", 8)):
            if t[key]:
                ax.plot([since(r, at) for at in t[key]], [y] * len(t[key]), marker=marker, color=colour,
                        markersize=size, linestyle="none")
    if shown:
        ax.set_yticks(range(len(shown)), [f"#{r.iid} SEV{r.severity}{' DRILL' if r.drill else ''}" for r in shown])
        ax.set_xlabel("minutes since detection")
        ax.set_xlim(left=-2)
        ax.set_ylim(-0.7, len(shown) - 0.3)
    ax.set_title("o detected, \u25c6 first communication, | update, x handoff, \u25b2 mitigated, \u25a0 resolved, "
                 "\u25bc reopened; red: a gap longer than the cadence", fontsize=8)
    return Chart("timeline", "Timeline per incident", fig)


def draw(rows: list[IncidentRow], summary: Summary, targets: dict[int, int]) -> list[Chart]:
    real = [r for r in rows if not r.drill]
    return [
        _distribution(real, "ttfc_min", "Time to first communication by severity", "ttfc", targets),
        _distribution(real, "ttr_min", "Time to resolve by severity", "ttr", None),
        _cadence(real),
        _trend(summary),
        _timeline(rows),
    ]
