"""A stateful stand-in for the GitLab REST v4 API and its webhooks, served over real HTTP.

    sb = Sandbox(latency=0.0, assignee_limit=1, object_kind="issue").start()
    alice = sb.add_user("alice"); p = sb.add_project("support/incidents")
    sb.add_member(p["id"], alice["id"], access_level=30); sb.add_hook(p["id"], url, token="secret")
    gl = gitlab.Gitlab(sb.url, private_token=sb.token_for("alice"))

Behaviour chosen where GitLab offers a choice:
- A note made only of quick actions creates no note: 202 {"commands_changes", "summary"} (GitLab's answer).
- Permissions follow a public project: anyone may read non-confidential issues, create issues and notes;
  labels, assignees, due dates, confidentiality and quick actions for them need Reporter (access 20) or
  admin; title/description/state need Reporter or the issue's author. Others' label/assignee params are
  dropped silently, as GitLab does; other edits answer 403.
- Quick actions use existing labels only, and are run on note creation, not on note edits.
- assignee_limit=None (Premium) also makes scoped labels exclusive, unless scoped_labels says otherwise.

Modules: store (state), issues / notes / quick_actions (changes and their side effects), entities (REST
JSON), payloads (webhook JSON), hooks (delivery, auto-disabling, recursion detection), hooks_api (the
project hooks API), params / paging (HTTP details), api (routes),
wsgi (auth, faults, latency, call log), server (the Sandbox object).
"""

from .server import Sandbox
from .store import DEVELOPER, GUEST, MAINTAINER, OWNER, REPORTER

__all__ = ["Sandbox", "GUEST", "REPORTER", "DEVELOPER", "MAINTAINER", "OWNER"]
