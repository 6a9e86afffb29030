"""bot.render and templates/: every template, with every field and with none."""

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from bot.fields import POSTMORTEM_FIELDS, VERB_FIELDS, validate_fields
from bot.render import TEMPLATE_FOR_VERB, Renderer, incident_context
from bot.state import IncidentState, Role

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
NP = "_not provided_"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# Headings, bold field labels and ### sections of the ten framework templates, in order, as in the
# seed (support-incident-response-framework, the English template code blocks).
SEED = {
    "declare": ["## Incident #42 - Runners stuck", "**Status:**", "**Severity:**", "**Time Detected:**",
                "### Issue Summary", "### Customer Impact", "### Current Actions", "### Next Update"],
    "update": ["## Incident #42 - Runners stuck - UPDATE #3", "**Status:**", "**Severity:**",
               "**Time Detected:**", "**Last Updated:**", "### Current Status", "### Progress Since Last Update",
               "### Ongoing Customer Impact", "### Next Steps", "### Next Update"],
    "resolve": ["## Incident #42 - Runners stuck - RESOLVED", "**Status:**", "**Severity:**", "**Time Detected:**",
                "**Time Resolved:**", "**Duration:**", "### Resolution Summary", "### Final Impact Assessment",
                "### Follow-up Actions", "### Additional Information"],
    "handoff": ["## Incident #42 - Runners stuck - HANDOFF", "**Status:**", "**Current Region:**",
                "**Handoff To:**", "**Handoff Time:**", "### Current Situation", "### Customer Impact Status",
                "### Communication Status", "### Priority Actions for Next Shift", "### Key Stakeholders",
                "### Handoff Acknowledgement"],
    "resources": ["## Incident #42 - Runners stuck - SUPPORT RESOURCES", "**Status:**", "**Time:**",
                  "**Resource Request Type:**", "### Current Support Load", "### Resource Allocation",
                  "### Priority Guidelines", "### Special Handling Instructions", "### Actions Needed",
                  "### Duration Estimate"],
    "impact": ["## Incident #42 - Runners stuck - CUSTOMER IMPACT REPORT", "**Status:**", "**Time:**",
               "### Impact Summary", "### Impact Metrics", "### Common Issues Reported", "### Customer Sentiment",
               "### Recommended Actions", "### Additional Information"],
    "activate-cmoc": ["## Incident #42 - Runners stuck - CMOC ACTIVATION", "**Status:**", "**Activation Time:**",
                      "**Requested By:**", "### Activation Criteria Met", "### Current Support Status",
                      "### Initial CMOC Actions", "### Resource Requirements", "### Actions Needed",
                      "### Communication Plan"],
    "postmortem": ["## Incident #42 - Runners stuck - SUPPORT SUMMARY", "**Status:**", "**Incident Duration:**",
                   "**Report Time:**", "### Support Response Summary", "### Key Metrics",
                   "### Customer Impact Analysis", "### Effectiveness Assessment", "### Follow-up Actions",
                   "### Lessons Learned"],
    "tech-handoff": ["## Incident #42 - Runners stuck - TECHNICAL TO SUPPORT HANDOFF", "**Status:**", "**Time:**",
                     "### Technical Summary", "### Customer-Facing Impact", "### Workaround Instructions",
                     "### Customer Communication Guidance", "### Expected Resolution", "### Actions Needed"],
    "exec": ["## Incident #42 - Runners stuck - EXECUTIVE SUMMARY", "**Status:**", "**Time:**",
             "### Situation Overview", "### Business Impact", "### Response Status", "### Key Metrics",
             "### Critical Decisions Needed", "### Next Update"],
}


def schema(verb):
    return POSTMORTEM_FIELDS if verb == "postmortem" else VERB_FIELDS[verb]


def full_fields(verb):
    given = {}
    for f in schema(verb):
        if f.kind == "list":
            given[f.name] = [f"{f.name}-one", f"{f.name}-two"]
        elif f.kind == "int":
            given[f.name] = 900 + len(given)
        elif f.kind == "choice":
            given[f.name] = f.choices[-1]
        elif f.kind == "next":
            given[f.name] = "30m"
        else:
            given[f.name] = f"{f.name}-value"
    return validate_fields(verb, given)


def make_state(**kw):
    base = dict(status="active", severity=2, detected_at=NOW - timedelta(hours=2, minutes=5),
                roles={"cmoc": Role("alice", 1)}, region="emea", last_update_at=NOW,
                next_update_due=NOW + timedelta(minutes=15), update_count=3)
    base.update(kw)
    return IncidentState(**base)


def incident(title="Runners stuck", **kw):
    return incident_context(make_state(**kw), iid=42, title=title, now=NOW)


SUMMARY = {"detected": "2026-11-27 09:55 UTC", "resolved": "2026-11-27 12:00 UTC", "duration": "2 hours 5 minutes",
           "time_to_first_update": "6 minutes", "updates_total": 9, "updates_on_time": 8, "peak_tickets": 57,
           "handoffs": ["AMER -> EMEA at 2026-11-27 11:00 UTC"], "resources": ["CMOC: @alice", "SMOC: @bob"]}


def render_verb(renderer, verb, f, inc=None, **extra):
    ctx = dict(incident=inc or incident(), f=f, now=NOW)
    if verb == "handoff":
        ctx.update(handoff_from="EMEA", handoff_to="apac")
    if verb == "postmortem":
        ctx["summary"] = SUMMARY
    ctx.update(extra)
    return renderer.render(TEMPLATE_FOR_VERB[verb], **ctx)


def structure(text):
    return [re.sub(r"^(\*\*[^*]+\*\*).*", r"\1", line) for line in text.split("\n")
            if line.startswith(("## ", "### ", "**")) and not line.startswith("**Incident state")]


@pytest.fixture(scope="module")
def renderer():
    return Renderer()


# -- the ten framework templates -------------------------------------------------------------------
def test_template_for_verb_files_exist():
    assert set(TEMPLATE_FOR_VERB) == set(SEED)
    for name in TEMPLATE_FOR_VERB.values():
        assert (TEMPLATES / name).is_file(), name
    assert (TEMPLATES / "__init__.py").is_file()


@pytest.mark.parametrize("verb", sorted(SEED))
def test_structure_matches_the_seed_with_no_fields(renderer, verb):
    out = render_verb(renderer, verb, validate_fields(verb, {}))
    assert structure(out) == SEED[verb]
    assert out.split("\n")[0] == SEED[verb][0]


@pytest.mark.parametrize("verb", sorted(SEED))
def test_structure_matches_the_seed_with_full_fields(renderer, verb):
    out = render_verb(renderer, verb, full_fields(verb))
    assert structure(out) == SEED[verb]


@pytest.mark.parametrize("verb", sorted(SEED))
def test_every_given_field_appears(renderer, verb):
    f = full_fields(verb)
    out = render_verb(renderer, verb, f)
    for name, value in f.items():
        if name in ("next", "detected", "drill"):
            continue  # the caller turns them into incident.next_update, incident.detected and the DRILL heading
        values = value if isinstance(value, list) else [value]
        for v in values:
            if name == "next_exec":
                v = "2026-11-27 12:30 UTC"
            assert str(v) in out, f"{verb}: field {name} ({v}) is not rendered"


@pytest.mark.parametrize("verb", sorted(SEED))
def test_no_fields_shows_not_provided_and_invents_nothing(renderer, verb):
    out = render_verb(renderer, verb, validate_fields(verb, {}), inc=incident(roles={}))
    assert NP in out
    assert "[" not in out.replace("- [ ]", "").replace("[ ]", ""), "a seed placeholder was left in"
    assert "None" not in out
    for sentinel in ("-value", "-one", "900"):
        assert sentinel not in out
    # Every "- Label: value" line either holds something the bot knows or says it is missing.
    known = {"2026-11-27", "EMEA", "APAC", "SEV2", "In Progress", "none", "Acknowledge activation", "_to be filled in",
             "2 hours 5 minutes"}
    known |= {str(v) for k, v in SUMMARY.items() if verb == "postmortem" and not isinstance(v, list)}
    for line in out.split("\n"):
        m = re.match(r"^- [^:]+: (.*)$", line)
        if m and "<!--" not in line:
            assert NP in m.group(1) or any(k in m.group(1) for k in known), line


def test_missing_fields_are_visibly_missing(renderer):
    out = render_verb(renderer, "declare", validate_fields("declare", {}))
    assert "### Issue Summary\n_not provided_" in out
    assert "- Systems/services affected: _not provided_" in out
    assert "- Impact type: _not provided_" in out
    assert "### Current Actions\n- _not provided_" in out


def test_initial_update_filled(renderer):
    f = validate_fields("declare", {"summary": "CI jobs are not picked up.", "services": ["CI", "Runners"],
                                    "impact_type": "Degraded performance", "customers": "~30%",
                                    "actions": ["Scaling runners", "Paging IMOC"], "next": "30m"})
    out = render_verb(renderer, "declare", f)
    assert out.startswith("## Incident #42 - Runners stuck\n**Status:** In Progress\n**Severity:** SEV2\n"
                          "**Time Detected:** 2026-11-27 09:55 UTC\n")
    assert "### Issue Summary\nCI jobs are not picked up.\n" in out
    assert "- Systems/services affected: CI, Runners" in out
    assert "- Impact type: degraded performance" in out
    assert "### Current Actions\n- Scaling runners\n- Paging IMOC\n" in out
    assert out.endswith("### Next Update\nNext status update expected by 2026-11-27 12:15 UTC")


def test_update_number_and_ticket_fallback(renderer):
    out = render_verb(renderer, "update", validate_fields("update", {}), inc=incident(tickets=17, peak_tickets=20))
    assert out.split("\n")[0] == "## Incident #42 - Runners stuck - UPDATE #3"
    assert "- Current ticket volume: 17 (last reported)" in out
    out = render_verb(renderer, "update", validate_fields("update", {"tickets": 25}), inc=incident(tickets=25))
    assert "- Current ticket volume: 25\n" in out
    out = render_verb(renderer, "update", validate_fields("update", {}))
    assert "- Current ticket volume: _not provided_" in out
    assert "**Last Updated:** 2026-11-27 12:00 UTC" in out


def test_status_text_follows_the_incident(renderer):
    out = render_verb(renderer, "update", validate_fields("update", {}), inc=incident(status="mitigated"))
    assert "**Status:** Mitigated" in out


@pytest.mark.parametrize("verb", ["impact", "tech-handoff", "exec"])
def test_status_field_overrides_where_the_seed_offers_a_choice(renderer, verb):
    assert "**Status:** In Progress" in render_verb(renderer, verb, validate_fields(verb, {}))
    out = render_verb(renderer, verb, validate_fields(verb, {"status": "resolved"}))
    assert "**Status:** Resolved" in out


def test_resolution(renderer):
    state_kw = dict(status="resolved", resolved_at=NOW, next_update_due=None)
    out = render_verb(renderer, "resolve", validate_fields("resolve", {"tickets": 80}), inc=incident(**state_kw))
    assert "**Status:** Resolved\n**Severity:** SEV2\n**Time Detected:** 2026-11-27 09:55 UTC\n" \
           "**Time Resolved:** 2026-11-27 12:00 UTC\n**Duration:** 2 hours 5 minutes" in out
    assert "- Total tickets received: 80" in out
    assert out.endswith("please contact support referencing Incident #42.")


def test_handoff(renderer):
    f = validate_fields("handoff", {"priorities": ["Answer ACME", "Watch queue"], "active_tickets": 12})
    out = render_verb(renderer, "handoff", f, inc=incident(roles={"cmoc": Role("alice"), "imoc": Role("ivan")}))
    assert "**Current Region:** EMEA\n**Handoff To:** APAC\n**Handoff Time:** 2026-11-27 12:00 UTC" in out
    assert "### Priority Actions for Next Shift\n1. Answer ACME\n2. Watch queue\n" in out
    assert "### Key Stakeholders\n- CMOC: @alice\n- IMOC: @ivan\n" in out
    assert "- Active tickets: 12" in out
    assert "- Next scheduled update: 2026-11-27 12:15 UTC" in out


def test_handoff_without_stakeholders_is_visibly_missing(renderer):
    out = render_verb(renderer, "handoff", validate_fields("handoff", {}), inc=incident(roles={}))
    assert "### Key Stakeholders\n- _not provided_\n" in out


def test_cmoc_activation_requester_defaults_to_the_commenter(renderer):
    out = render_verb(renderer, "activate-cmoc", validate_fields("activate-cmoc", {}), actor="sam")
    assert "**Requested By:** @sam" in out
    out = render_verb(renderer, "activate-cmoc", validate_fields("activate-cmoc", {"requested_by": "Sam (SMOC)"}),
                      actor="sam")
    assert "**Requested By:** Sam (SMOC)" in out


def test_exec_ratings_and_next(renderer):
    f = validate_fields("exec", {"customer_impact": "high", "customer_impact_detail": "CI down for all",
                                 "next_exec": "14:30"})
    out = render_verb(renderer, "exec", f, inc=incident(tickets=5))
    assert "- Customer impact: High - CI down for all" in out
    assert "- Revenue impact: _not provided_" in out
    assert "- Duration so far: 2 hours 5 minutes" in out
    assert "- Support tickets: 5 (last reported)" in out
    assert "Next executive update scheduled for: 2026-11-27 14:30 UTC" in out


# -- the postmortem -----------------------------------------------------------------------------------
def test_support_summary_from_the_record(renderer):
    inc = incident(status="resolved", resolved_at=NOW)
    out = renderer.render("support_summary.md.j2", incident=inc, summary=SUMMARY, now=NOW,
                          f=validate_fields("postmortem", {}))
    assert "**Status:** Resolved" in out
    assert "**Incident Duration:** 2026-11-27 09:55 UTC to 2026-11-27 12:00 UTC (2 hours 5 minutes)" in out
    assert "- Time to first status update: 6 minutes" in out
    assert "- Status updates posted: 9 (8 on time)" in out
    assert "- Regional handoffs: AMER -> EMEA at 2026-11-27 11:00 UTC" in out
    assert "CMOC: @alice, SMOC: @bob" in out
    assert "highest ticket count reported during the incident: 57" in out
    # people's sections stay as visible prompts
    for label in ("What worked well", "Improvement areas", "Tool/process gaps identified"):
        assert f"- {label}: _to be filled in_" in out
    assert "### Lessons Learned\n_to be filled in" in out
    # the follow-up hint, commented out, and no action invented
    assert "<!-- - [ ] Add a runbook for X @owner due:2026-12-15 -->" in out
    assert "- [ ] <action> @owner due:YYYY-MM-DD" in out
    assert not [line for line in out.split("\n") if line.startswith("- [ ]")]


def test_support_summary_actions_are_checklist_lines(renderer):
    f = validate_fields("postmortem", {"actions": ["Add a runbook for runners @bob due:2026-12-15",
                                                   "- [ ] Alert on queue depth @carol due:2026-12-20",
                                                   "/close"]})
    out = renderer.render("support_summary.md.j2", incident=incident(), summary=SUMMARY, now=NOW, f=f)
    section = out.split("### Follow-up Actions\n")[1].split("\n\n###")[0]
    lines = [line for line in section.split("\n") if line.startswith("- [ ]")]
    assert lines == ["- [ ] Add a runbook for runners @bob due:2026-12-15",
                     "- [ ] Alert on queue depth @carol due:2026-12-20",
                     "- [ ] \\/close"]


def test_support_summary_works_without_f_and_with_a_partial_summary(renderer):
    out = renderer.render("support_summary.md.j2", incident=incident(), summary={"updates_total": 2}, now=NOW)
    assert "- Status updates posted: 2\n" in out
    assert "- Regional handoffs: _not provided_" in out
    out = renderer.render("support_summary.md.j2", incident=incident(), summary={"handoffs": []}, now=NOW)
    assert "- Regional handoffs: none" in out


# -- neutralization --------------------------------------------------------------------------------------
def test_field_value_cannot_run_a_quick_action(renderer):
    f = validate_fields("update", {"summary": "/close", "progress": ["ok\n/label ~hacked", "/assign @x"],
                                   "patterns": "fine\n/lock"})
    out = render_verb(renderer, "update", f)
    assert "\\/close" in out
    assert not [line for line in out.split("\n") if line.lstrip().startswith("/")]
    assert "- ok\n  \\/label ~hacked\n- \\/assign @x" in out


def test_title_cannot_run_a_quick_action(renderer):
    inc = incident(title="/assign @x")
    assert inc["title"] == "\\/assign @x"
    out = render_verb(renderer, "declare", validate_fields("declare", {}), inc=inc)
    assert out.split("\n")[0] == "## Incident #42 - \\/assign @x"
    inc = incident(title="Outage\n/close")
    out = render_verb(renderer, "declare", validate_fields("declare", {}), inc=inc)
    assert not [line for line in out.split("\n") if line.lstrip().startswith("/")]


def test_field_value_cannot_forge_a_marker(renderer):
    f = validate_fields("update", {"summary": "x <!-- incident-bot:note kind=update key=k --> y"})
    out = render_verb(renderer, "update", f)
    assert "<!--" not in out


def test_non_latin_text_is_kept(renderer):
    f = validate_fields("update", {"summary": "CI ジョブが遅延しています", "progress": ["Ünïcødé ✓"]})
    out = render_verb(renderer, "update", f, inc=incident(title="障害: ランナー停止"))
    assert "## Incident #42 - 障害: ランナー停止 - UPDATE #3" in out
    assert "CI ジョブが遅延しています" in out and "- Ünïcødé ✓" in out


# -- renderer mechanics -----------------------------------------------------------------------------------
def test_user_folder_overrides_one_file_only(tmp_path):
    (tmp_path / "refusal.md.j2").write_text("Nope: {{ reason }}\n", encoding="utf-8")
    r = Renderer(str(tmp_path))
    assert r.render("refusal.md.j2", reason="no access") == "Nope: no access"
    out = r.render("release_checklist.md.j2", role="cmoc", holder="alice")
    assert "- [ ] Customer communication is stable" in out
    assert Renderer().render("refusal.md.j2", reason="no access") != "Nope: no access"


def test_user_override_reaches_includes(tmp_path):
    (tmp_path / "release_checklist.md.j2").write_text("CHECK {{ role }} {{ holder }}", encoding="utf-8")
    out = Renderer(str(tmp_path)).render("reminder_role_release.md.j2", incident=incident(), mentions=["alice"],
                                         roles=["cmoc"], resolved="2026-11-27 12:00 UTC")
    assert "CHECK CMOC alice" in out


def test_strict_undefined_raises_on_a_typo(tmp_path):
    (tmp_path / "status.md.j2").write_text("{{ incident.titel }}", encoding="utf-8")
    with pytest.raises(UndefinedError):
        Renderer(str(tmp_path)).render("status.md.j2", incident=incident())
    (tmp_path / "status.md.j2").write_text("{{ f.sumary|given }}", encoding="utf-8")
    with pytest.raises(UndefinedError):
        Renderer(str(tmp_path)).render("status.md.j2", f=validate_fields("update", {}))
    with pytest.raises(UndefinedError):
        Renderer().render("role_assigned.md.j2", role="cmoc")  # username missing


def test_output_has_no_trailing_blank_lines(renderer):
    for verb in SEED:
        out = render_verb(renderer, verb, validate_fields(verb, {}) if verb != "postmortem" else {})
        assert out == out.strip() and "\n\n\n" not in out


def test_now_defaults_and_accepts_datetimes(renderer):
    out = renderer.render("support_resources.md.j2", incident=incident(), f=validate_fields("resources", {}),
                          now=NOW)
    assert "**Time:** 2026-11-27 12:00 UTC" in out
    out = renderer.render("support_resources.md.j2", incident=incident(), f=validate_fields("resources", {}))
    assert re.search(r"\*\*Time:\*\* \d{4}-\d\d-\d\d \d\d:\d\d UTC", out)


def test_incident_context():
    state = make_state(roles={"cmoc": Role("alice"), "smoc": Role("bob")}, tickets=4, peak_tickets=9,
                       postmortem_iid=77, status="mitigated", mitigated_at=NOW, severity=1)
    inc = incident_context(state, iid=5, title="  Slow <!-- x -->  ", now=NOW)
    assert inc == {
        "iid": 5, "title": "Slow &lt;!-- x --&gt;", "status": "mitigated", "status_text": "Mitigated",
        "severity": 1, "sev": "SEV1", "detected": "2026-11-27 09:55 UTC", "last_updated": "2026-11-27 12:00 UTC",
        "mitigated": "2026-11-27 12:00 UTC", "resolved": None, "next_update": "2026-11-27 12:15 UTC",
        "duration": "2 hours 5 minutes", "update_number": 3, "region": "EMEA",
        "roles": {"cmoc": "alice", "smoc": "bob", "imoc": None}, "tickets": 4, "peak_tickets": 9,
        "internal_only": [], "postmortem_iid": 77,
    }
    empty = incident_context(IncidentState(), iid=1, title="t", now=NOW)
    assert empty["detected"] is None and empty["duration"] is None and empty["region"] is None
    assert empty["status_text"] == "In Progress" and empty["roles"] == {"cmoc": None, "smoc": None, "imoc": None}


def test_resolved_duration_stops_at_resolution():
    state = make_state(status="resolved", resolved_at=NOW - timedelta(hours=1))
    assert incident_context(state, iid=1, title="t", now=NOW)["duration"] == "1 hour 5 minutes"
    assert incident_context(state, iid=1, title="t", now=NOW)["status_text"] == "Resolved"


# -- the bot's own texts ------------------------------------------------------------------------------------
def test_state_table(renderer):
    out = renderer.render("state_table.md.j2", incident=incident(postmortem_iid=12))
    for row in ("| Status | In Progress |", "| Severity | SEV2 |", "| CMOC | @alice |", "| SMOC | _unassigned_ |",
                "| IMOC | _unassigned_ |", "| Current region | EMEA |", "| Time detected | 2026-11-27 09:55 UTC |",
                "| Last update | 2026-11-27 12:00 UTC |", "| Next update due | 2026-11-27 12:15 UTC |",
                "| Updates posted | 3 |", "| Postmortem | #12 |"):
        assert row in out
    out = renderer.render("state_table.md.j2", incident=incident_context(IncidentState(), iid=1, title="t", now=NOW))
    assert "| Last update | _none yet_ |" in out and "Postmortem" not in out


COMMANDS = [
    {"verb": "update", "usage": "update", "summary": "Post the Periodic Status Update.",
     "fields": [{"name": f.name, "help": f.help, "kind": f.kind} for f in VERB_FIELDS["update"]]},
    {"verb": "cmoc", "usage": "cmoc @username|me|release", "summary": "Assign or release the CMOC.", "fields": []},
    {"verb": "declare", "usage": "[sev1|sev2|sev3]", "summary": "Declare.",
     "fields": [{"name": f.name, "help": f.help, "kind": f.kind, "choices": list(f.choices)}
                for f in VERB_FIELDS["declare"]]},
]


def test_help(renderer):
    out = renderer.render("help.md.j2", commands=COMMANDS, prefix="/incident")
    assert "- `/incident update` — Post the Periodic Status Update. Fields: `summary`, `progress` (list)" in out
    assert "`tickets` (number)" in out
    assert "- `/incident cmoc @username|me|release` — Assign or release the CMOC." in out
    assert "- `/incident declare [sev1|sev2|sev3]`" in out
    assert "`/incident help <command>`" in out


def test_help_verb(renderer):
    out = renderer.render("help_verb.md.j2", command=COMMANDS[0], prefix="/incident")
    assert out.startswith("**`/incident update`** — Post the Periodic Status Update.")
    assert "- `progress` (list) — " in out
    # In a fence too: an invisible zero-width space, since GitLab may not read the fence as code.
    assert "```\n\u200b/incident update\nsummary: ...\nprogress:\n  - ...\n" in out
    out = renderer.render("help_verb.md.j2", command=COMMANDS[1], prefix="/incident")
    assert "takes no fields" in out
    out = renderer.render("help_verb.md.j2", command=COMMANDS[2], prefix="/incident")
    assert "impact_type: complete outage" in out


def test_error(renderer):
    out = renderer.render("error.md.j2", message="unknown field `eta` for `update`.", valid=["summary", "next"],
                          prefix="/incident")
    assert out == "I did not run this: unknown field `eta` for `update`. Valid: `summary`, `next`. " \
                  "See `/incident help`."
    out = renderer.render("error.md.j2", message="bad <!-- incident-bot:x -->", valid=None, prefix="/incident")
    assert out.startswith("I did not run this: bad ") and "<!--" not in out and "Valid" not in out


def test_refusal(renderer):
    assert renderer.render("refusal.md.j2", reason="incident commands need Developer access") == \
        "Sorry, I can't do that: incident commands need Developer access."


def test_release_checklist(renderer):
    out = renderer.render("release_checklist.md.j2", role="CMOC", holder="alice")
    assert "CMOC" in out and "@alice" in out
    boxes = [line for line in out.split("\n") if line.startswith("- [ ] ")]
    assert len(boxes) == 6
    text = " ".join(boxes).lower()
    for words in ("customer communication is stable", "support queue is back to normal", "no new impact patterns",
                  "normal ticket flow has resumed", "final status is documented", "normal support flow"):
        assert words in text
    assert "@" not in renderer.render("release_checklist.md.j2", role="smoc", holder=None)


def test_engagement_criteria(renderer):
    both = renderer.render("engagement_criteria.md.j2", roles=["cmoc", "smoc"])
    assert "CMOC" in both and "SMOC" in both
    for words in ("several customers", "bulk communication", "support resources", "complex", "resources conflict",
                  "SLA is at risk", "SIRT"):
        assert words in both
    smoc = renderer.render("engagement_criteria.md.j2", roles=["smoc"])
    assert "CMOC" not in smoc and "SIRT" in smoc


def test_role_and_severity_notes(renderer):
    assert renderer.render("role_assigned.md.j2", role="cmoc", username="alice", previous=None) == \
        "@alice is now the CMOC."
    assert "taking over from @bob" in renderer.render("role_assigned.md.j2", role="cmoc", username="alice",
                                                      previous="bob")
    assert renderer.render("role_released.md.j2", role="smoc", username="bob") == "@bob released the SMOC role."
    out = renderer.render("severity_changed.md.j2", previous="SEV1", current="SEV2", cadence_minutes=15,
                          next_update="2026-11-27 12:15 UTC")
    assert "SEV1" in out and "SEV2" in out and "15 minutes" in out and "2026-11-27 12:15 UTC" in out


def test_mitigated_and_status(renderer):
    inc = incident(status="mitigated", mitigated_at=NOW)
    out = renderer.render("mitigated.md.j2", incident=inc, f=validate_fields("mitigate", {"summary": "/close it"}),
                          next_update="2026-11-27 13:00 UTC")
    assert "mitigated" in out and "\\/close it" in out and "2026-11-27 13:00 UTC" in out
    out = renderer.render("mitigated.md.j2", incident=inc, f=validate_fields("mitigate", {}), next_update=None)
    assert NP not in out and "None" not in out
    out = renderer.render("status.md.j2", incident=incident(tickets=3, peak_tickets=8))
    assert "In Progress" in out and "SEV2" in out and "@alice" in out and "peak 8" in out


def test_rebuilt_notice(renderer):
    out = renderer.render("rebuilt_notice.md.j2",
                          reason="the incident-bot block was missing; rebuilt from labels, assignees and my notes")
    assert "rebuilt from labels, assignees and my notes" in out


REMINDERS = {
    "reminder_overdue.md.j2": dict(due_at="2026-11-27 12:15 UTC"),
    "reminder_escalation.md.j2": dict(due_at="2026-11-27 12:15 UTC", escalate_to="bob"),
    "reminder_response_target.md.j2": dict(target_minutes=15, detected="2026-11-27 09:55 UTC"),
    "reminder_handoff.md.j2": dict(region="EMEA", next_region="AMER", shift_end="2026-11-27 16:00 UTC"),
    "reminder_role_release.md.j2": dict(roles=["cmoc"], resolved="2026-11-27 12:00 UTC"),
    "reminder_stale_mitigation.md.j2": dict(mitigated_at="2026-11-27 08:00 UTC"),
    "reminder_action_overdue.md.j2": dict(item="Add a runbook\n/close", due="2026-12-15", owner="carol",
                                         postmortem=42),
}


@pytest.mark.parametrize("name", sorted(REMINDERS))
def test_reminders(renderer, name):
    out = renderer.render(name, incident=incident(), mentions=["alice", "@bob"], **REMINDERS[name])
    assert out.startswith("@alice @bob ")
    assert "#42" in out
    for value in REMINDERS[name].values():
        if isinstance(value, str) and "\n" not in value and name != "reminder_handoff.md.j2":
            assert value in out or f"@{value}" in out
    assert not [line for line in out.split("\n") if line.lstrip().startswith("/")]
    quiet = renderer.render(name, incident=incident(), mentions=[], **REMINDERS[name])
    assert not quiet.startswith((" ", "@"))


def test_reminder_role_release_takes_cadence_dicts(renderer):
    out = renderer.render("reminder_role_release.md.j2", incident=incident(), mentions=["alice"],
                          roles=[{"role": "cmoc", "username": "alice"}, {"role": "smoc", "username": "bob"}],
                          resolved="2026-11-27 12:00 UTC")
    assert "CMOC and SMOC are still engaged" in out
    assert out.count("- [ ] Customer communication is stable") == 2
    assert "**Before releasing SMOC** (@bob)" in out


def test_every_template_file_is_exercised():
    names = {p.name for p in TEMPLATES.glob("*.md.j2")}
    expected = set(TEMPLATE_FOR_VERB.values()) | set(REMINDERS) | {
        "state_table.md.j2", "help.md.j2", "help_verb.md.j2", "error.md.j2", "refusal.md.j2",
        "release_checklist.md.j2", "engagement_criteria.md.j2", "role_assigned.md.j2", "role_released.md.j2",
        "severity_changed.md.j2", "mitigated.md.j2", "status.md.j2", "rebuilt_notice.md.j2"}
    # The postmortem's own texts, exercised in tests/test_postmortem_flow.py.
    expected |= {"postmortem_opened.md.j2", "postmortem_action.md.j2", "postmortem_actions.md.j2",
                 "postmortem_owners.md.j2", "postmortem_status.md.j2"}
    expected |= {"postmortem_actions_capped.md.j2"}  # the action-item cap, in tests/test_stall.py
    expected |= {"description_too_long.md.j2"}  # no room for the block, in tests/test_attacks.py
    # Reopening and labels set by hand, in tests/test_one_source.py.
    expected |= {"reopened.md.j2", "untracked.md.j2", "tracked_again.md.j2", "label_refused.md.j2"}
    expected |= {"csat_recorded.md.j2", "report.md.j2"}  # `/incident csat` and the report, in tests/test_report*.py
    expected |= {"not_carried_out.md.j2"}  # a delivery given up on, in tests/test_outage.py
    assert names == expected
