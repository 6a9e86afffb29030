"""Every handler module is composed in bot/wiring.py, the one place that wires the bot together."""

import importlib
import pkgutil

import bot.handlers
from bot import wiring
from bot.fields import VERB_FIELDS
from bot.routing import CommandRegistry, Router


def handler_modules():
    for info in pkgutil.iter_modules(bot.handlers.__path__):
        if info.name != "common":
            yield importlib.import_module(f"bot.handlers.{info.name}")


def test_every_handler_module_is_wired():
    modules = list(handler_modules())
    assert modules, "no handler modules found"
    assert set(modules) == set(wiring.HANDLER_MODULES)
    for module in modules:
        commands = getattr(module, "commands", None)
        router = getattr(module, "router", None)
        assert commands is not None or router is not None, f"{module.__name__} registers nothing"
        if isinstance(commands, CommandRegistry):
            for spec in commands.specs():
                assert wiring.COMMANDS.get(spec.verb) is spec, f"{spec.verb} from {module.__name__} is not wired"
        if isinstance(router, Router):
            for trigger in router.triggers():
                for handler in router.handlers(trigger):
                    assert handler in wiring.ROUTER.handlers(trigger), f"{handler.__name__} is not wired"


def test_triggers_are_declared_where_their_handlers_are():
    import pytest

    assert wiring.ROUTER.triggers() == ["incident_labeled", "severity_labeled", "closed", "reopened",
                                        "status_labeled", "incident_unlabeled", "postmortem_edited",
                                        "action_state"]
    for trigger in wiring.ROUTER.triggers():
        assert wiring.ROUTER.handlers(trigger) and wiring.ROUTER.stands_for(trigger)
    orphan = Router()
    orphan.register("renamed")(lambda ctx, event: None)
    with pytest.raises(ValueError, match="undeclared"):
        Router(orphan)


def test_every_command_has_a_field_schema_and_help():
    for spec in wiring.COMMANDS.specs():
        assert spec.verb in VERB_FIELDS, f"{spec.verb} has no field schema"
        assert spec.summary and spec.usage.startswith(spec.verb)


def test_design_verbs_are_all_there():
    expected = {"declare", "severity", "cmoc", "smoc", "imoc", "update", "handoff", "resources", "impact",
                "activate-cmoc", "tech-handoff", "exec", "mitigate", "resolve", "status", "help"}
    assert expected <= set(wiring.COMMANDS.verbs())


def test_readme_documents_every_command_and_field():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert readme.splitlines()[2:6] == ["```sh",
                                        readme.splitlines()[3], readme.splitlines()[4], "```"]
    assert "make demo" in readme.splitlines()[3] and "make test" in readme.splitlines()[4]
    for spec in wiring.COMMANDS.specs():
        assert f"/incident {spec.usage}" in readme, spec.verb
        for field in VERB_FIELDS.get(spec.verb, ()):
            assert f"`{field.name}`" in readme, (spec.verb, field.name)
