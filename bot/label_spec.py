"""The labels the bot uses, each with a colour and a description, for `check` and `setup`. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from .config import Config

SEVERITY_COLORS = {1: "#dc143c", 2: "#ed9121", 3: "#f0c808"}  # red, orange, yellow
STATUS_COLORS = {"active": "#dc143c", "mitigated": "#ed9121", "resolved": "#009966"}


@dataclass(frozen=True)
class LabelSpec:
    name: str
    color: str
    description: str


def bot_labels(cfg: Config) -> list[LabelSpec]:
    """Every label the bot reads or writes, in a stable order."""
    labels = cfg.labels
    specs = [LabelSpec(labels["incident"], "#8b0000", "An incident run by incident-bot (adding it declares one)")]
    specs += [LabelSpec(name, SEVERITY_COLORS.get(sev, "#6699cc"), f"Incident severity {sev} (1 is the worst)")
              for sev, name in sorted(labels["severity"].items())]
    specs += [LabelSpec(name, STATUS_COLORS.get(status, "#6699cc"), f"Incident status: {status} (set by the bot)")
              for status, name in labels["status"].items()]
    specs += [LabelSpec(name, "#9400d3", f"Someone holds the {role.upper()} role (set by the bot)")
              for role, name in labels["role"].items()]
    specs += [LabelSpec(name, "#36454f", f"The incident is in the {region} shift (set by the bot)")
              for region, name in labels["region"].items()]
    specs += [LabelSpec(labels["postmortem"], "#6699cc", "A postmortem opened by incident-bot"),
              LabelSpec(labels["postmortem_action"], "#8fbc8f", "An action item of a postmortem")]
    return specs
