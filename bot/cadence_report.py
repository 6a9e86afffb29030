"""The result of one `incident-bot cadence` pass: a row per incident checked, and its text output.

Pure. A confidential issue is shown as its number only (CI job logs are often readable by the whole
project).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from .timeutil import human, iso


# -- results ---------------------------------------------------------------------------------------
@dataclass
class Due:
    kind: str
    key: str
    mentions: list[str]


@dataclass
class Row:
    project: str
    iid: int
    title: str
    open: bool
    web_url: str | None = None
    severity: str | None = None
    status: str | None = None
    due: list[Due] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)  # kinds actually posted this run
    skipped: list[dict] = field(default_factory=list)  # {"kind", "reason"}
    note: str | None = None  # the note text posted (or, in a dry run, that would be posted)
    rebuilt: str | None = None  # why the block's state was not used (rebuilt from the bot's notes)
    error: str | None = None
    confidential: bool = False

    def skip(self, kind: str, reason: str) -> None:
        self.skipped.append({"kind": kind, "reason": reason})

    def shown(self) -> dict:
        """What the output may say. CI job logs are often readable by the whole project, so a confidential
        issue is its number only: no title, severity, status, mentions or note text."""
        if not self.confidential:
            return asdict(self)
        return {"project": self.project, "iid": self.iid, "confidential": True} | (
            {"error": self.error} if self.error else {})


@dataclass
class Report:
    now: datetime
    dry_run: bool
    projects: list[str]
    rows: list[Row] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # {"project", "error"}: the run could not check it
    calls: dict[str, int] = field(default_factory=lambda: {"listing": 0, "reads": 0, "writes": 0})
    fatal: str | None = None
    bot_username: str | None = None  # whose notes a rebuild trusts
    keyless: bool = False  # no INCIDENT_BOT_STATE_KEY: every state rebuilt from notes, no block written

    def summary(self) -> dict:
        rows = self.rows
        return {
            "incidents_checked": len(rows),
            "open": sum(1 for r in rows if r.open),
            "closed": sum(1 for r in rows if not r.open),
            "reminders_due": sum(len(r.due) for r in rows),
            "incidents_due": sum(1 for r in rows if r.due),
            "reminders_posted": sum(len(r.reminded) for r in rows),
            "notes_posted": sum(1 for r in rows if r.reminded),
            "skipped_checks": sum(len(r.skipped) for r in rows),
            "rebuilt": sum(1 for r in rows if r.rebuilt),
            "errors": sum(1 for r in rows if r.error) + len(self.errors),
        }

    def to_json(self) -> dict:
        return {
            "now": iso(self.now),
            "dry_run": self.dry_run,
            "projects": self.projects,
            "summary": self.summary(),
            "api_calls": dict(self.calls),
            "incidents": [r.shown() for r in self.rows],
            "errors": self.errors + ([{"project": None, "error": self.fatal}] if self.fatal else []),
        }


# -- output -----------------------------------------------------------------------------------------
def _grouped(skipped: list[dict]) -> list[tuple[str, str]]:
    """(kinds, reason), kinds sharing one reason joined: 'overdue, escalation: issue is closed'."""
    order: dict[str, list[str]] = {}
    for s in skipped:
        order.setdefault(s["reason"], []).append(s["kind"])
    return [(", ".join(kinds), reason) for reason, kinds in order.items()]


def render_text(report: Report) -> str:
    dry = report.dry_run
    lines = [f"incident-bot cadence at {human(report.now)}"
             + (" (dry run: nothing was changed)" if dry else "")]
    if report.keyless:
        lines.append("No INCIDENT_BOT_STATE_KEY: no block is trusted; each incident's state was rebuilt from "
                     "the bot's notes, and reminders are posted as notes only.")
    head = f"{'PROJECT':24} {'ISSUE':>6}  {'SEV':4}  {'STATUS':16}  {'DUE':34}  {'REMINDED' if not dry else 'WOULD POST'}"
    lines += ["", head, "-" * max(len(head), 100)]
    for r in report.rows:
        if r.confidential:
            lines.append(f"{r.project[:24]:24} {'#' + str(r.iid):>6}  (confidential)")
            lines += [f"    ERROR    {r.error}"] if r.error else []
            continue
        due = ", ".join(d.kind for d in r.due) or "-"
        posted = due if dry else ", ".join(r.reminded)
        status = (r.status or "-") + ("" if r.open else " (closed)")
        lines.append(f"{r.project[:24]:24} {'#' + str(r.iid):>6}  {(r.severity or '-'):4}  {status:16}  "
                     f"{due[:34]:34}  {posted or '-'}")
        for d in r.due:
            lines.append(f"    due      {d.kind}: to {' '.join('@' + m for m in d.mentions) or 'no one'}")
        if r.rebuilt and not report.keyless:
            lines.append(f"    rebuilt  {r.rebuilt}")
        for kinds, reason in _grouped(r.skipped):
            lines.append(f"    skipped  {kinds}: {reason}")
        if r.error:
            lines.append(f"    ERROR    {r.error}")
        if dry and r.note:
            lines.append("    would post:")
            lines += [("      | " + line).rstrip() for line in r.note.splitlines()]
    if not report.rows:
        lines.append("(no incidents)")
    s = report.summary()
    calls = report.calls
    lines += [
        "",
        f"Checked {s['incidents_checked']} incidents in {len(report.projects)} project(s): {s['open']} open, "
        f"{s['closed']} recently closed (listing calls: {calls['listing']}, open and closed listings).",
        f"Due: {s['reminders_due']} reminders on {s['incidents_due']} incidents. "
        + (f"Dry run: {s['incidents_due']} notes would be posted; nothing was written."
           if dry else f"Posted: {s['notes_posted']} notes holding {s['reminders_posted']} reminders "
                       f"(re-reads: {calls['reads']}, writes: {calls['writes']} = block + note per incident)."),
        f"Skipped: {s['skipped_checks']} checks (reasons above). Errors: {s['errors']}.",
    ]
    for e in report.errors:
        lines.append(f"ERROR {e['project']}: {e['error']}")
    if report.fatal:
        lines.append(f"STOPPED: {report.fatal}")
    return "\n".join(lines)
