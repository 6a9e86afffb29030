"""What operators rely on: the Redis scale-out end to end, the deliveries CLI, metrics, JSON logs,
and GitLab's recursion detection header on the bot's own calls."""

import json
import os
import uuid

import pytest
import redis

from bot.cli import main

REDIS_URL = os.environ.get("INCIDENT_BOT_TEST_REDIS", "redis://127.0.0.1:6379/14")


def redis_or_skip():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:  # pragma: no cover - CI starts a Redis
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")


@pytest.fixture
def redis_world(tmp_path):
    from world import World

    redis_or_skip()
    name = f"ib-test-{uuid.uuid4().hex[:8]}"
    w = World(str(tmp_path), config_yaml=f"queue:\n  name: {name}\n", env={"INCIDENT_BOT_QUEUE": REDIS_URL})
    yield w
    w.close()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)


def test_a_whole_incident_on_the_redis_queue(redis_world):
    w = redis_world
    assert w.bot.queue.backend == "redis"
    iid = w.declare()
    w.comment(iid, "/incident cmoc me\n/incident update\nsummary: on redis\n")
    w.comment(iid, "/incident resolve")
    assert w.state(iid).status == "resolved" and w.kinds(iid)[:4] == ["initial", "guidance", "role", "update"]


def test_bot_calls_start_their_own_event_chain(world):
    # A call carrying X-Gitlab-Event-UUID continues that chain, and GitLab fires no hook twice in a chain
    # (lib/gitlab/web_hooks/recursion_detection.rb): the project's other hooks (a chat relay, an audit
    # sink) would miss every change the bot makes. The bot does not forward it (issue 14, item 6).
    iid = world.declare()
    world.comment(iid, "/incident update\nsummary: x\n")
    person = [d for d in world.sb.deliveries if d["event"] == "Note Hook"
              and d["payload"]["user"]["username"] == "alice"][-1]
    chain = person["headers"]["X-Gitlab-Event-UUID"]
    caused = [d for d in world.sb.deliveries if d["headers"]["X-Gitlab-Event-UUID"] == chain]
    assert {d["payload"]["user"]["username"] for d in caused} == {"alice"}
    bots = [d for d in world.sb.deliveries if d["payload"]["user"]["username"] == "incident-bot"]
    assert len(bots) >= 3 and all(d["headers"]["X-Gitlab-Event-UUID"] != chain for d in bots)
    assert "update" in world.kinds(iid)  # the bot still ignores its own events


def test_metrics_count_deliveries_and_gitlab_calls(world):
    import requests

    world.declare()
    text = requests.get(world.bot.url + "/metrics", timeout=5).text
    assert "deliveries_accepted_total" in text and "deliveries_processed_total" in text
    assert 'gitlab_api_calls_total{method="POST",status="201"}' in text
    assert "delivery_processing_seconds_bucket" in text and "queue_depth" in text


def test_deliveries_cli_lists_and_replays(world, tmp_path, monkeypatch, capsys):
    iid = world.declare()
    config = tmp_path / "cli.yml"
    config.write_text(f"queue:\n  sqlite_path: {world.cfg.queue['sqlite_path']}\n")
    assert main(["deliveries", "list", "--config", str(config), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    note = [r for r in rows if r["event"] == "Note Hook"][0]
    assert note["status"] == "done" and note["issue_key"] == f"{world.pid}:{iid}"
    assert main(["deliveries", "list", "--config", str(config), "--dead"]) == 0
    assert "STATUS" in capsys.readouterr().out
    assert main(["deliveries", "replay", note["id"], "--config", str(config)]) == 0
    world.settle()
    assert world.kinds(iid) == ["initial", "guidance"]  # replayed, and still posted once
    assert main(["deliveries", "replay", "no-such-id", "--config", str(config)]) == 1
    assert main(["deliveries", "replay", "--config", str(config)]) == 2


def test_log_lines_are_json_with_delivery_context(world, capsys):
    import logging

    from bot.logs import setup_logging

    handler = setup_logging("INFO")
    try:
        iid = world.declare()
        world.comment(iid, "/incident status")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    handled = [x for x in lines if x.get("command") == "status"]
    assert handled and all({"delivery_id", "project", "issue"} <= set(x) for x in handled)
