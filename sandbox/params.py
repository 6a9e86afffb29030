"""Request parameters as Grape reads them: query string, form and JSON body merged, loosely typed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import request

from .clock import parse
from .errors import bad_request


def merged() -> dict[str, Any]:
    data: dict[str, Any] = {}
    for source in (request.args, request.form):
        for key, values in source.lists():
            if key.endswith("[]"):
                data.setdefault(key[:-2], []).extend(values)
            else:
                data[key] = values[-1]
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        data.update(body)
    return data


def boolean(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "t"):
        return True
    if text in ("false", "0", "no", "f"):
        return False
    raise bad_request(f"{name} is invalid")


def str_list(value: Any) -> list[str] | None:
    """Labels: a comma-separated string or a JSON list."""
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def int_list(value: Any, name: str) -> list[int] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    try:
        ids = [int(v) for v in items if str(v).strip() != ""]
    except (TypeError, ValueError):
        raise bad_request(f"{name} is invalid") from None
    return [i for i in ids if i != 0]  # GitLab treats 0 as "nobody"


def time_value(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse(str(value))
    except ValueError:
        raise bad_request(f"{name} is invalid") from None


def date_value(value: Any, name: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%d").strftime("%Y-%m-%d")
    except ValueError:
        raise bad_request(f"{name} is invalid") from None


def issue_params(data: dict[str, Any]) -> dict[str, Any]:
    """Typed create/update fields; absent keys stay absent so PUT changes only what was sent."""
    out: dict[str, Any] = {}
    for key in ("title", "description", "state_event", "issue_type"):
        if key in data:
            out[key] = None if data[key] is None else str(data[key])
    for key in ("labels", "add_labels", "remove_labels"):
        if key in data:
            out[key] = str_list(data[key]) or []
    if "assignee_ids" in data:
        out["assignee_ids"] = int_list(data["assignee_ids"], "assignee_ids") or []
    elif "assignee_id" in data:
        out["assignee_ids"] = int_list(data["assignee_id"], "assignee_id") or []
    if "confidential" in data:
        out["confidential"] = boolean(data["confidential"], "confidential")
    if "due_date" in data:
        out["due_date"] = date_value(data["due_date"], "due_date")
    for key in ("created_at", "updated_at"):
        if key in data:
            out[key] = time_value(data[key], key)
    return out
