"""Shared test helpers: GitLab's documented payloads, loaded as they are."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_configure(config):
    config.addinivalue_line("markers", "deliveries_may_fail(reason): this test leaves a delivery dead, failed"
                            " or retrying on purpose (say why)")


@pytest.fixture(autouse=True)
def no_troubled_deliveries(request):
    """Every test that used a World ends with no dead, failed or retrying delivery in it: a handler that
    raises cannot pass a "nothing happens" test. Opt out with @pytest.mark.deliveries_may_fail(reason)."""
    yield
    import world

    marker = request.node.get_closest_marker("deliveries_may_fail")
    if marker is not None and not (marker.args or marker.kwargs.get("reason")):
        pytest.fail("deliveries_may_fail needs a reason")
    troubles = []
    for w in list(world.MADE):
        for row in w.troubled_deliveries():
            if row["id"] not in w.reported:  # a module-scoped World reports each delivery once
                w.reported.add(row["id"])
                troubles.append(row)
        if w.closed:
            world.MADE.remove(w)
    if troubles and marker is None:
        pytest.fail("deliveries went wrong: " + "; ".join(
            f"{r['event']} {r['status']} after {r['attempts']} attempts: {r['last_error']}" for r in troubles))


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def issue_payload() -> dict:
    return copy.deepcopy(load_fixture("issue_hook.json"))


@pytest.fixture
def note_payload() -> dict:
    return copy.deepcopy(load_fixture("note_hook_issue.json"))


@pytest.fixture
def world(tmp_path):
    from world import World

    w = World(str(tmp_path))
    yield w
    w.close()


GENERATIONS = ("regex", "commonmark")  # GitLab's quick-action extractors: up to 16.6, and from 16.7


@pytest.fixture
def make_world(tmp_path):
    """make_world(generation) -> a World whose sandbox runs quick actions as that GitLab generation does;
    each one is closed after the test."""
    from world import World

    made = []

    def make(generation: str = "commonmark"):
        where = tmp_path / f"world{len(made)}"
        where.mkdir()
        w = World(str(where))
        w.sb.store.quick_action_generation = generation
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture(params=GENERATIONS)
def gworld(request, make_world):
    return make_world(request.param)


@pytest.fixture
def captured_logs():
    """Every log record written during the test, formatted as the bot writes them (JSON and plain)."""
    import logging

    from bot.logs import JsonFormatter

    class Records(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(JsonFormatter().format(record))
            self.lines.append(self.format(record))

    records = Records()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    try:
        yield records.lines
    finally:
        root.removeHandler(records)
        root.setLevel(previous)
