"""REST v4 endpoints (a Flask blueprint). Each handler runs under the sandbox lock."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from . import entities, fulltext, issues, notes, uploads
from .clock import iso
from .errors import ApiError, bad_request, not_found
from .front import external
from .paging import paginate
from .params import boolean, int_list, issue_params, merged, str_list, time_value
from .store import REPORTER

bp = Blueprint("gitlab_api", __name__, url_prefix="/api/v4")


def sandbox():
    return current_app.extensions["sandbox"]


def listing(items: list[Any]):
    page, headers = paginate(items, request.args, external(request.base_url, sandbox().external_url))
    resp = jsonify(page)
    resp.headers.update(headers)
    return resp


def created(data: Any, status: int = 201):
    return jsonify(data), status


# -- project uploads (lib/api/markdown_uploads.rb) --------------------------
@bp.post("/projects/<pid>/uploads")
def upload_file(pid: str):
    with sandbox().transaction() as st:
        return created(uploads.upload(st, st.project(pid), g.user, request.files.get("file")))


# -- users ----------------------------------------------------------------
@bp.get("/user")
def current_user():
    with sandbox().transaction() as st:
        return jsonify(entities.user_full(st, g.user, own=True))


@bp.get("/personal_access_tokens/self")
def token_self():  # API::PersonalAccessTokens::SelfInformation, Entities::PersonalAccessToken
    token = request.headers.get("PRIVATE-TOKEN", "")
    return jsonify({"id": g.user["id"], "name": "bot token", "revoked": False, "active": True,
                    "scopes": sandbox().token_scopes.get(token, ["api"]), "user_id": g.user["id"],
                    "created_at": iso(g.user["created_at"]), "last_used_at": None, "expires_at": None})


@bp.get("/users")
def list_users():
    username = request.args.get("username")
    search = (request.args.get("search") or "").lower()
    with sandbox().transaction() as st:
        users = [u for u in st.users.values()
                 if (username is None or u["username"].lower() == username.lower())
                 and (not search or search in u["username"].lower() or search in u["name"].lower())]
        return listing([entities.user_basic(st, u) for u in users])


@bp.get("/users/<int:uid>")
def get_user(uid: int):
    with sandbox().transaction() as st:
        return jsonify(entities.user_full(st, st.user(uid)))


# -- projects and members -------------------------------------------------
@bp.get("/projects/<pid>")
def get_project(pid: str):
    with sandbox().transaction() as st:
        return jsonify(entities.project(st, st.project(pid)))


@bp.get("/projects/<pid>/members/all")
@bp.get("/projects/<pid>/members")
def list_members(pid: str):
    query = (request.args.get("query") or "").lower()
    with sandbox().transaction() as st:
        p = st.project(pid)
        rows = [(st.users[uid], m) for uid, m in st.members[p["id"]].items()]
        rows = [r for r in rows if not query or query in r[0]["username"].lower() or query in r[0]["name"].lower()]
        return listing([entities.member(st, u, m) for u, m in rows])


@bp.get("/projects/<pid>/members/all/<int:uid>")
@bp.get("/projects/<pid>/members/<int:uid>")
def get_member(pid: str, uid: int):
    with sandbox().transaction() as st:
        p = st.project(pid)
        record = st.members[p["id"]].get(uid)
        level, shared = st.shared_level(p["id"], uid)
        if "/members/all/" in request.path and st.gitlab_version >= (17, 0) and shared is not None \
                and level > (record or {}).get("access_level", 0):
            record = dict(shared, access_level=level)
        if record is None:
            raise not_found()
        return jsonify(entities.member(st, st.users[uid], record))


@bp.get("/groups/<gid>/members/all/<int:uid>")
@bp.get("/groups/<gid>/members/<int:uid>")
def get_group_member(gid: str, uid: int):
    with sandbox().transaction() as st:
        record = st.group_members.get(int(gid) if gid.isdigit() else -1, {}).get(uid)
        if record is None:
            raise not_found()
        return jsonify(entities.member(st, st.users[uid], record))


@bp.get("/projects/<pid>/labels")
def list_labels(pid: str):
    with sandbox().transaction() as st:
        p = st.project(pid)
        labels = sorted(st.labels[p["id"]].values(), key=lambda lb: lb["title"].lower())
        return listing([entities.label(st, lb) for lb in labels])


@bp.post("/projects/<pid>/labels")
def create_label(pid: str):
    data = merged()
    name = str(data.get("name") or "").strip()
    if not name:
        raise bad_request("name is missing")
    with sandbox().transaction() as st:
        p = st.project(pid)
        st.require(st.level(p["id"], g.user) >= REPORTER)  # admin_label: Reporter and up
        if st.find_label(p["id"], name):
            raise ApiError(409, {"message": "Label already exists"})
        lb = st.ensure_label(p["id"], name)
        lb.update(color=data.get("color") or lb["color"], description=data.get("description"))
        return created(entities.label(st, lb))


# -- issues ----------------------------------------------------------------
def _issue_filter(st, args, viewer):
    labels = str_list(args.get("labels"))
    not_labels = {t.lower() for t in str_list(args.get("not[labels]")) or []}
    state = args.get("state") or "all"
    if state not in ("opened", "closed", "all"):
        raise bad_request("state does not have a valid value")
    confidential = boolean(args.get("confidential"), "confidential")
    iids = set(int_list(args.getlist("iids[]") or args.getlist("iids") or None, "iids") or [])
    assignee = args.get("assignee_id")
    assignee_name = args.get("assignee_username")
    author = args.get("author_id")
    search = (args.get("search") or "").strip()  # GitLab ignores a blank term (`search.presence`)
    search_in = str_list(args.get("in"))
    issue_type = args.get("issue_type")
    bounds = {k: time_value(args.get(k), k) for k in ("created_after", "created_before",
                                                      "updated_after", "updated_before")}

    def keep(i: dict[str, Any]) -> bool:
        lower = {t.lower() for t in i["labels"]}
        checks = [
            not labels or (labels == ["None"] and not lower) or (labels == ["Any"] and bool(lower))
            or (labels not in (["None"], ["Any"]) and all(t.lower() in lower for t in labels)),
            not (not_labels & lower),
            state == "all" or i["state"] == state,
            confidential is None or i["confidential"] == confidential,
            not iids or i["iid"] in iids,
            assignee is None or (assignee == "None" and not i["assignee_ids"])
            or (assignee == "Any" and bool(i["assignee_ids"]))
            or (assignee.isdigit() and int(assignee) in i["assignee_ids"]),
            assignee_name is None or any(st.users[u]["username"] == assignee_name for u in i["assignee_ids"]),
            author is None or str(i["author_id"]) == author,
            not search or fulltext.matches(search, i["title"], i["description"], search_in),
            issue_type is None or i["issue_type"] == issue_type,
            bounds["created_after"] is None or i["created_at"] >= bounds["created_after"],
            bounds["created_before"] is None or i["created_at"] <= bounds["created_before"],
            bounds["updated_after"] is None or i["updated_at"] >= bounds["updated_after"],
            bounds["updated_before"] is None or i["updated_at"] <= bounds["updated_before"],
        ]
        return all(checks) and st.can_read_issue(i, viewer)
    return keep


def _sorted(items: list[dict[str, Any]], args, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    order_by = args.get("order_by") or "created_at"
    if order_by not in fields:
        raise bad_request("order_by does not have a valid value")
    sort = args.get("sort") or "desc"
    if sort not in ("asc", "desc"):
        raise bad_request("sort does not have a valid value")
    return sorted(items, key=lambda x: (x[order_by] if x[order_by] is not None else "", x["id"]),
                  reverse=sort == "desc")


@bp.get("/projects/<pid>/issues")
def list_issues(pid: str):
    with sandbox().transaction() as st:
        p = st.project(pid)
        keep = _issue_filter(st, request.args, g.user)
        found = [i for i in st.issues.values() if i["project_id"] == p["id"] and keep(i)]
        found = _sorted(found, request.args, ("created_at", "updated_at", "title", "due_date"))
        return listing([entities.issue(st, i) for i in found])


@bp.post("/projects/<pid>/issues")
def create_issue(pid: str):
    params = issue_params(merged())
    with sandbox().transaction() as st:
        issue = issues.create_issue(st, st.project(pid), g.user, params)
        return created(entities.issue(st, issue))


@bp.get("/projects/<pid>/issues/<iid>")
def get_issue(pid: str, iid: str):
    with sandbox().transaction() as st:
        return jsonify(entities.issue(st, st.issue_by_iid(st.project(pid)["id"], iid, g.user)))


@bp.put("/projects/<pid>/issues/<iid>")
def update_issue(pid: str, iid: str):
    params = issue_params(merged())
    if not params:
        raise bad_request("title, description, assignee_ids, labels, add_labels, remove_labels, "
                          "state_event, confidential, due_date, issue_type are missing, at least one parameter must be provided")
    with sandbox().transaction() as st:
        issue = st.issue_by_iid(st.project(pid)["id"], iid, g.user)
        issues.update_issue(st, issue, g.user, params)
        return jsonify(entities.issue(st, issue))


# -- notes -----------------------------------------------------------------
@bp.get("/projects/<pid>/issues/<iid>/notes")
def list_notes(pid: str, iid: str):
    with sandbox().transaction() as st:
        issue = st.issue_by_iid(st.project(pid)["id"], iid, g.user)
        internal_ok = st.can_read_internal(issue["project_id"], g.user)
        found = [n for n in st.issue_notes(issue) if internal_ok or not n["internal"]]
        found = _sorted(found, request.args, ("created_at", "updated_at"))
        return listing([entities.note(st, n) for n in found])


@bp.post("/projects/<pid>/issues/<iid>/notes")
def create_note(pid: str, iid: str):
    data = merged()
    if data.get("body") is None:
        raise bad_request("body is missing")
    internal = bool(boolean(data.get("internal"), "internal") or boolean(data.get("confidential"), "confidential"))
    created_at = time_value(data.get("created_at"), "created_at")
    sb = sandbox()
    with sb.transaction() as st:
        issue = st.issue_by_iid(st.project(pid)["id"], iid, g.user)
        if created_at is not None and st.level(issue["project_id"], g.user) < 50:
            created_at = None  # GitLab allows back-dating to admins and owners only
        note, commands = notes.create_note(st, issue, g.user, str(data["body"]), internal,
                                           sb.quick_actions, created_at)
        if note is None:  # only quick actions: GitLab answers 202 with what they did
            return created(commands, 202)
        return created(entities.note(st, note) | {"commands_changes": commands["commands_changes"]})


@bp.get("/projects/<pid>/issues/<iid>/notes/<nid>")
def get_note(pid: str, iid: str, nid: str):
    with sandbox().transaction() as st:
        issue = st.issue_by_iid(st.project(pid)["id"], iid, g.user)
        return jsonify(entities.note(st, st.note(issue, nid, g.user)))


@bp.put("/projects/<pid>/issues/<iid>/notes/<nid>")
def update_note(pid: str, iid: str, nid: str):
    data = merged()
    if data.get("body") is None:
        raise bad_request("body is missing")
    with sandbox().transaction() as st:
        issue = st.issue_by_iid(st.project(pid)["id"], iid, g.user)
        note = notes.update_note(st, st.note(issue, nid, g.user), g.user, str(data["body"]))
        return jsonify(entities.note(st, note))


# -- resource events (lib/api/resource_label_events.rb, resource_state_events.rb) -----------------
# Paginated, ordered by id (offset pagination adds `ORDER BY id` to a relation without an order).
@bp.get("/projects/<pid>/issues/<iid>/resource_<kind>_events")
def list_resource_events(pid: str, iid: str, kind: str):
    if kind not in ("label", "state"):
        raise not_found()
    with sandbox().transaction() as st:
        issue = st.issue_by_iid(st.project(pid)["id"], iid, g.user)
        events = st.label_events if kind == "label" else st.state_events
        entity = entities.resource_label_event if kind == "label" else entities.resource_state_event
        found = sorted((e for e in events if e["issue_id"] == issue["id"]), key=lambda e: e["id"])
        return listing([entity(st, e) for e in found])


# -- links -----------------------------------------------------------------
@bp.get("/projects/<pid>/issues/<iid>/links")
def list_links(pid: str, iid: str):
    with sandbox().transaction() as st:
        issue = st.issue_by_iid(st.project(pid)["id"], iid, g.user)
        return jsonify(entities.linked_issues(st, issue, g.user))


@bp.post("/projects/<pid>/issues/<iid>/links")
def create_link(pid: str, iid: str):
    data = merged()
    for key in ("target_project_id", "target_issue_iid"):
        if data.get(key) in (None, ""):
            raise bad_request(f"{key} is missing")
    with sandbox().transaction() as st:
        source = st.issue_by_iid(st.project(pid)["id"], iid, g.user)
        try:
            target = st.issue_by_iid(st.project(data["target_project_id"])["id"], data["target_issue_iid"], g.user)
        except ApiError:
            raise ApiError(404, {"message": "No matching issue found. Make sure that you are adding a valid "
                                            "issue URL."}) from None
        link = issues.add_link(st, source, target, g.user, str(data.get("link_type") or "relates_to"))
        return created({"source_issue": entities.issue(st, source), "target_issue": entities.issue(st, target),
                        "link_type": link["link_type"]})
