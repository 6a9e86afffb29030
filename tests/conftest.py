"""Shared test helpers: GitLab's documented payloads, loaded as they are."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


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
