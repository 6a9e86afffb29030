"""Who may steer the bot, as GitLab computes membership (issue 14, item 5), through the sandbox over HTTP.

- Before 17.0, `members/all/:user_id` leaves out members of a group the project is shared with
  (lib/api/helpers/members_helpers.rb: `:invited_groups` joined find_all_members_for_project in 17.0):
  the bot reads the project's `shared_with_groups` and the group's member, and caps the level at the
  share's `group_access_level`, as MembersFinder does.
- A blocked or deactivated user has no access, whatever their membership says.
"""

from __future__ import annotations

import gitlab
import pytest

from sandbox import DEVELOPER, MAINTAINER, REPORTER


def shared_member(world, name: str, level: int, group_access: int, version=(16, 11)) -> dict:
    world.sb.store.gitlab_version = version
    user = world.sb.add_user(name)
    world.sb.share_with_group(world.pid, "support/oncall", {user["id"]: level}, group_access)
    return user


def test_the_sandbox_lists_shared_group_members_in_members_all_only_from_17(world):
    sam = shared_member(world, "sam", MAINTAINER, DEVELOPER)
    gl = world.gl("alice")
    path = f"/projects/{world.pid}/members/all/{sam['id']}"
    with pytest.raises(gitlab.GitlabHttpError) as err:
        gl.http_get(path)
    assert err.value.response_code == 404
    (share,) = gl.http_get(f"/projects/{world.pid}")["shared_with_groups"]
    assert share["group_access_level"] == DEVELOPER
    member = gl.http_get(f"/groups/{share['group_id']}/members/all/{sam['id']}")
    assert member["access_level"] == MAINTAINER and member["state"] == "active"
    world.sb.store.gitlab_version = (17, 0)
    assert gl.http_get(path)["access_level"] == DEVELOPER  # capped at the share's level


@pytest.mark.parametrize("version", [(16, 11), (17, 0)])
def test_a_developer_of_a_shared_group_may_declare(world, version):
    shared_member(world, "sam", DEVELOPER, MAINTAINER, version)
    iid = world.create_issue(title="Checkout errors")
    world.comment(iid, "/incident declare sev2", who="sam")
    assert "incident" in world.issue(iid)["labels"] and world.state(iid).severity == 2


def test_a_shared_groups_level_is_capped_at_the_share(world):
    shared_member(world, "sam", MAINTAINER, REPORTER)
    iid = world.create_issue(title="Checkout errors")
    world.comment(iid, "/incident declare sev2", who="sam")
    assert "incident" not in world.issue(iid)["labels"]
    assert "Sorry, I can't do that" in world.last_reply(iid)


@pytest.mark.parametrize("state", ["blocked", "deactivated"])
def test_a_blocked_or_deactivated_developer_is_refused(world, state):
    iid = world.create_issue(title="Checkout errors")
    world.deliver_by_hand()  # the comment is made while bob is active and read after he is blocked
    start = len(world.sb.deliveries)
    world.comment(iid, "/incident declare sev1", who="bob")
    with world.sb.lock:
        world.sb.store.users[world.users["bob"]["id"]]["state"] = state
    world.process(start)
    assert "incident" not in world.issue(iid)["labels"]
    assert "Sorry, I can't do that" in world.last_reply(iid)
