"""bot.fields: the per-verb schema and validate_fields."""

import pytest

from bot.fields import (
    KINDS,
    POSTMORTEM_FIELDS,
    VERB_FIELDS,
    Field,
    FieldError,
    normalise_name,
    validate_fields,
)

ALL_VERBS = {"declare", "update", "resolve", "handoff", "resources", "impact", "activate-cmoc", "tech-handoff",
             "exec", "mitigate", "severity", "cmoc", "smoc", "imoc", "status", "help", "detected", "csat", "reopen"}
NO_FIELDS = {"severity", "cmoc", "smoc", "imoc", "status", "help", "detected", "reopen"}


def test_verbs_are_exactly_the_commands():
    assert set(VERB_FIELDS) == ALL_VERBS


@pytest.mark.parametrize("verb", sorted(ALL_VERBS))
def test_every_verb_returns_every_field_as_none(verb):
    result = validate_fields(verb, {})
    assert result == {f.name: None for f in VERB_FIELDS[verb]}
    assert validate_fields(verb, None) == result


@pytest.mark.parametrize("verb", sorted(ALL_VERBS))
def test_schema_is_well_formed(verb):
    names = [f.name for f in VERB_FIELDS[verb]]
    assert len(names) == len(set(names)), "duplicate field"
    for f in VERB_FIELDS[verb]:
        assert isinstance(f, Field)
        assert f.kind in KINDS
        assert f.name == normalise_name(f.name), "names are snake_case"
        assert f.help
        if f.kind == "choice":
            assert f.choices
        if f.name in ("tickets", "active_tickets"):
            assert f.kind == "int"


@pytest.mark.parametrize("verb", sorted(NO_FIELDS))
def test_verbs_without_fields_refuse_any(verb):
    assert VERB_FIELDS[verb] == ()
    with pytest.raises(FieldError) as exc:
        validate_fields(verb, {"summary": "x"})
    assert "takes no fields" in exc.value.message


def test_documented_fields():
    names = lambda verb: [f.name for f in VERB_FIELDS[verb]]  # noqa: E731
    assert names("update") == ["summary", "progress", "impact", "tickets", "patterns", "next_steps", "next"]
    assert names("declare") == ["summary", "services", "impact_type", "customers", "actions", "next", "detected", "drill"]
    for name in ("summary", "active_tickets", "pending_responses", "escalated", "last_status_update",
                 "draft_update", "priorities", "next"):
        assert name in names("handoff")
    assert "region" not in names("handoff")  # the region is the command's argument
    kinds = {f.name: f.kind for f in VERB_FIELDS["update"]}
    assert kinds == {"summary": "text", "progress": "list", "impact": "list", "tickets": "int",
                     "patterns": "text", "next_steps": "list", "next": "next"}
    declare = {f.name: f for f in VERB_FIELDS["declare"]}
    assert declare["impact_type"].choices == ("complete outage", "degraded performance", "feature unavailability")
    assert declare["actions"].kind == "list"
    handoff = {f.name: f.kind for f in VERB_FIELDS["handoff"]}
    assert handoff["active_tickets"] == handoff["pending_responses"] == handoff["escalated"] == "int"
    assert handoff["priorities"] == "list"


def test_full_update():
    result = validate_fields("update", {
        "summary": "Pipelines are slow",
        "progress": ["Scaled runners", "Paused a migration"],
        "impact": "Jobs queue for 10 minutes",
        "tickets": 42,
        "patterns": "Mostly EU customers",
        "next-steps": ["Watch queue depth"],
        "next": "45m",
    })
    assert result == {
        "summary": "Pipelines are slow",
        "progress": ["Scaled runners", "Paused a migration"],
        "impact": ["Jobs queue for 10 minutes"],
        "tickets": 42,
        "patterns": "Mostly EU customers",
        "next_steps": ["Watch queue depth"],
        "next": "45m",
    }


def test_unknown_field_names_it_and_lists_valid():
    with pytest.raises(FieldError) as exc:
        validate_fields("update", {"summary": "x", "eta": "soon"})
    assert "`eta`" in exc.value.message and "update" in exc.value.message
    assert exc.value.valid == [f.name for f in VERB_FIELDS["update"]]
    assert str(exc.value) == exc.value.message
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize("value", ["many", "12.5", "1e3", True, ["1"], -3, "-3"])
def test_bad_int(value):
    with pytest.raises(FieldError) as exc:
        validate_fields("update", {"tickets": value})
    assert "`tickets`" in exc.value.message


def test_int_from_text_and_float():
    assert validate_fields("update", {"tickets": "12"})["tickets"] == 12
    assert validate_fields("update", {"tickets": " 1,200 "})["tickets"] == 1200
    assert validate_fields("update", {"tickets": 3.0})["tickets"] == 3
    assert validate_fields("handoff", {"active_tickets": "0"})["active_tickets"] == 0


def test_empty_value_is_not_given():
    # "tickets:" with nothing after it (YAML BaseLoader gives "", the default loader None)
    assert validate_fields("update", {"tickets": "", "next": "", "summary": None})["tickets"] is None
    assert validate_fields("update", {"next": None})["next"] is None


def test_bad_choice_lists_the_choices():
    with pytest.raises(FieldError) as exc:
        validate_fields("declare", {"impact_type": "total meltdown"})
    assert "`impact_type`" in exc.value.message and "total meltdown" in exc.value.message
    assert exc.value.valid == ["complete outage", "degraded performance", "feature unavailability"]


@pytest.mark.parametrize("given,expected", [
    ("Degraded Performance", "degraded performance"),
    ("degraded-performance", "degraded performance"),
    ("  COMPLETE   outage ", "complete outage"),
    ("feature_unavailability", "feature unavailability"),
])
def test_choice_is_normalised(given, expected):
    assert validate_fields("declare", {"impact_type": given})["impact_type"] == expected


def test_choice_keeps_the_seed_spelling():
    assert validate_fields("resources", {"queue_health": "strained"})["queue_health"] == "Strained"
    assert validate_fields("exec", {"status": "on hold"})["status"] == "On Hold"
    assert validate_fields("exec", {"technical_response": "ON TRACK"})["technical_response"] == "On track"
    # YAML 1.1 turns a bare yes into True; it is still the choice "Yes".
    assert validate_fields("exec", {"revenue_impact": True})["revenue_impact"] == "Yes"
    assert validate_fields("exec", {"revenue_impact": "unknown"})["revenue_impact"] == "Unknown"


def test_status_choice_per_template():
    with pytest.raises(FieldError) as exc:
        validate_fields("impact", {"status": "on hold"})  # the impact report offers In Progress/Resolved only
    assert exc.value.valid == ["In Progress", "Resolved"]
    assert validate_fields("tech-handoff", {"status": "resolved"})["status"] == "Resolved"


def test_scalar_for_list_is_one_item():
    assert validate_fields("declare", {"actions": "Rolling back"})["actions"] == ["Rolling back"]
    assert validate_fields("update", {"progress": 5})["progress"] == ["5"]


def test_list_items_are_cleaned():
    result = validate_fields("update", {"progress": ["  a ", "", None, "b"]})
    assert result["progress"] == ["a", "b"]
    assert validate_fields("update", {"progress": []})["progress"] is None


def test_yaml_mapping_items_become_lines():
    # "- Team leads: check the queue" is a one-key mapping to YAML.
    result = validate_fields("resources", {"priorities": [{"Team leads": "check the queue"}, "Other"]})
    assert result["priorities"] == ["Team leads: check the queue", "Other"]


def test_text_from_list_and_numbers():
    assert validate_fields("declare", {"services": ["CI", "Registry"]})["services"] == "CI, Registry"
    assert validate_fields("declare", {"customers": 40})["customers"] == "40"
    assert validate_fields("declare", {"summary": "   "})["summary"] is None


@pytest.mark.parametrize("name", ["next_steps", "next-steps", "Next-Steps", "NEXT_STEPS", " next steps "])
def test_dash_underscore_and_case_in_names(name):
    assert validate_fields("update", {name: ["x"]})["next_steps"] == ["x"]


def test_dash_names_in_other_verbs():
    result = validate_fields("handoff", {"Active-Tickets": "3", "pending_responses": 1, "DRAFT-update": "text"})
    assert result["active_tickets"] == 3 and result["pending_responses"] == 1 and result["draft_update"] == "text"


def test_same_field_twice():
    with pytest.raises(FieldError) as exc:
        validate_fields("update", {"next_steps": "a", "next-steps": "b"})
    assert "twice" in exc.value.message


@pytest.mark.parametrize("value", ["45m", "1h30m", "1h", "14:30", "2026-11-27T15:00:00Z", "2026-11-27 15:00 UTC"])
def test_next_is_checked_and_kept_raw(value):
    assert validate_fields("update", {"next": value})["next"] == value


@pytest.mark.parametrize("value", ["soon", "25:99", "tomorrow-ish", True])
def test_bad_next(value):
    with pytest.raises(FieldError) as exc:
        validate_fields("declare", {"next": value})
    assert "`next`" in exc.value.message


def test_next_from_yaml_sexagesimal():
    # YAML 1.1 reads an unquoted 14:30 as 870.
    assert validate_fields("update", {"next": 870})["next"] == "14:30"
    with pytest.raises(FieldError):
        validate_fields("update", {"next": 45})


def test_unknown_verb():
    with pytest.raises(FieldError) as exc:
        validate_fields("dance", {})
    assert "dance" in exc.value.message
    assert "update" in exc.value.valid


def test_fields_must_be_a_mapping():
    with pytest.raises(FieldError):
        validate_fields("update", ["summary"])


def test_postmortem_schema():
    result = validate_fields("postmortem", {"actions": "Add a runbook @bob due:2026-12-15", "tickets": "80"})
    assert result["actions"] == ["Add a runbook @bob due:2026-12-15"]
    assert result["tickets"] == 80
    assert set(result) == {f.name for f in POSTMORTEM_FIELDS}
    assert "postmortem" not in VERB_FIELDS


def test_non_latin_values_are_kept():
    assert validate_fields("update", {"summary": "パイプラインが遅延"})["summary"] == "パイプラインが遅延"


# -- values of any size give a value or a FieldError, never another exception (issue 12, item 5) ------
def test_huge_numbers_are_a_field_error():
    for value in ("9" * 5000, "1" * 11, 10**12, "1,000,000,000,000"):
        with pytest.raises(FieldError, match="at most 1,000,000,000"):
            validate_fields("update", {"tickets": value})
    assert validate_fields("update", {"tickets": "1,000,000,000"})["tickets"] == 10**9


@pytest.mark.parametrize("value", ["9" * 30 + "h", "9" * 5000 + "m", "1h" + " " * 100_000 + "x"])
def test_huge_next_is_a_field_error(value):
    with pytest.raises(FieldError, match="must be a duration"):
        validate_fields("update", {"next": value})


def test_long_names_and_values_are_read():
    assert validate_fields("update", {"next" + " -_" * 100_000 + "STEPS": "x"})["next_steps"] == ["x"]
    with pytest.raises(FieldError, match="unknown field"):
        validate_fields("update", {"next" + " -_" * 100_000 + "x": "x"})
    with pytest.raises(FieldError, match="cannot be"):
        validate_fields("exec", {"customer_impact": "high" + " " * 100_000 + "x"})
    assert validate_fields("exec", {"customer_impact": " HIGH "})["customer_impact"] == "High"
