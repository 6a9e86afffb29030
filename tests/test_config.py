"""Settings are checked at every level: a typo, a wrong type or a value out of range is an error that
names the key path, never a silent default (issue 15, item 6)."""

import pytest

from bot.config import DEFAULTS, ConfigError, load_config
from bot.config_schema import check


def load(tmp_path, text):
    path = tmp_path / "incident-bot.yml"
    path.write_text(text)
    return load_config(str(path), env={})


def test_the_defaults_pass_their_own_check():
    assert check(DEFAULTS) == DEFAULTS
    cfg = load_config(env={})
    assert cfg.queue["workers"] == 4 and cfg.projects == []


@pytest.mark.parametrize("text, error", [
    ("queue:\n  workerz: 4\n", "unknown setting 'queue.workerz'; valid: url, name,"),
    ("labels:\n  severty: {1: s1}\n", "unknown setting 'labels.severty'; valid: incident, severity,"),
    ("labels:\n  status: {activ: on}\n", "unknown setting 'labels.status.activ'"),
    ("labels:\n  role: {cmco: c}\n", "unknown setting 'labels.role.cmco'; valid: cmoc, smoc, imoc"),
    ("cadence:\n  resolved: {1: 5}\n", "unknown setting 'cadence.resolved'; valid: active, mitigated"),
    ("regions:\n  AMER: {start: '15:00', end: '23:00', stop: '22:00'}\n", "unknown setting 'regions.AMER.stop'"),
    ("colour: blue\n", "unknown setting 'colour'"),
])
def test_unknown_keys_at_any_level_are_named(tmp_path, text, error):
    with pytest.raises(ConfigError, match=error.replace(".", r"\.")):
        load(tmp_path, text)


@pytest.mark.parametrize("text, error", [
    ("queue:\n  workers: 0\n", "queue.workers: expected a whole number of 1 or more, got 0"),
    ("queue:\n  workers: four\n", "queue.workers: expected a whole number"),
    ("queue:\n  lease_seconds: -5\n", "queue.lease_seconds: expected a number more than 0"),
    ("queue:\n  retry_after_max_seconds: -1\n", "queue.retry_after_max_seconds: expected a number 0 or more"),
    ("queue:\n  max_retries: 2.5\n", "queue.max_retries: expected a whole number of 0 or more"),
    ("queue:\n  sqlite_synchronous: OFF\n", "queue.sqlite_synchronous: expected one of FULL, NORMAL"),
    ("gitlab_timeout_seconds: 0\n", "gitlab_timeout_seconds: expected a number more than 0"),
    ("handoff_lead_minutes: -30\n", "handoff_lead_minutes: expected a whole number of 0 or more"),
    ("stale_mitigation_hours: soon\n", "stale_mitigation_hours: expected a number"),
    ("default_severity: 4\n", "default_severity: expected one of 1, 2, 3, got 4"),
    ("min_access_level: 35\n", "min_access_level: expected one of 10, 15, 20, 30, 40, 50"),
    ("cadence:\n  active: {4: 10}\n", "cadence.active.4: unknown severity; valid: 1, 2, 3"),
    ("cadence:\n  active: {1: 0}\n", "cadence.active.1: expected a whole number of 1 or more"),
    ("response_target: {0: 15}\n", "response_target.0: unknown severity"),
    ("labels:\n  severity: {1: ''}\n", "labels.severity.1: expected a non-empty string"),
    ("regions:\n  AMER: {start: '25:00', end: '23:00'}\n", "regions.AMER.start: expected a time HH:MM, got '25:00'"),
    ("regions:\n  AMER: {start: '15:60', end: '23:00'}\n", "regions.AMER.start: expected a time HH:MM"),
    ("regions:\n  AMER: {start: 15:00, end: '23:00'}\n", "regions.AMER.start: .*quote it"),
    ("regions:\n  AMER: {start: '15:00'}\n", "regions.AMER.end: missing"),
    ("regions: {}\n", "regions: expected at least one region"),
    ("projects: support/incidents\n", "projects: expected a list of project ids or paths"),
    ("queue: 4\n", "queue: expected a mapping"),
    ("templates_dir: 3\n", "templates_dir: expected a non-empty string or null"),
])
def test_wrong_types_and_out_of_range_values_are_errors(tmp_path, text, error):
    with pytest.raises(ConfigError, match=error.replace(".", r"\.").replace(r"\.*", ".*")):
        load(tmp_path, text)


def test_region_names_are_case_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"regions\.amer: a region name is upper-case .*did you mean AMER\?"):
        load(tmp_path, "regions:\n  amer: {start: '15:00', end: '23:00'}\n")
    with pytest.raises(ConfigError, match=r"labels\.region\.emea: .*did you mean EMEA\?"):
        load(tmp_path, "labels:\n  region: {emea: region::emea}\n")
    with pytest.raises(ConfigError, match=r"labels\.region\.WEST: not a region in `regions`; valid: APAC, EMEA, AMER"):
        load(tmp_path, "labels:\n  region: {WEST: region::west}\n")


def test_regions_replace_the_defaults_and_bring_their_labels(tmp_path):
    cfg = load(tmp_path, "regions:\n  WEST: {start: '20:00', end: '08:00'}\n  EAST: {start: '08:00', end: '24:00'}\n"
                         "labels:\n  region: {EAST: shift::east}\n")
    assert cfg.regions == {"WEST": (20 * 60, 8 * 60), "EAST": (8 * 60, 0)}
    assert cfg.labels["region"] == {"EAST": "shift::east", "WEST": "region::west"}


def test_partial_maps_keep_the_other_defaults(tmp_path):
    cfg = load(tmp_path, "cadence:\n  active: {'1': 5}\nqueue:\n  workers: 2\nlabels:\n  severity: {2: sev::2}\n")
    assert cfg.cadence_minutes("active", 1) == 5 and cfg.cadence_minutes("active", 2) == 15
    assert cfg.queue["workers"] == 2 and cfg.queue["lease_seconds"] == 60.0
    assert cfg.labels["severity"] == {1: "severity::1", 2: "sev::2", 3: "severity::3"}


def test_the_error_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"config file .*incident-bot\.yml: unknown setting 'queue\.workerz'"):
        load(tmp_path, "queue:\n  workerz: 4\n")


def test_the_readme_example_is_the_defaults():
    import pathlib

    import yaml
    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    start = readme.index("```yaml", readme.index("## Configuration reference")) + len("```yaml")
    example = yaml.safe_load(readme[start:readme.index("```", start)])
    assert check(example) == DEFAULTS
