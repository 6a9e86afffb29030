"""Small typed readers for a parsed webhook payload: each returns the value as the bot needs it, or raises
BadDelivery (a 400) naming the field (`where`) that is missing or of the wrong type. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .payload import BadDelivery
from .timeutil import parse_time


def read_obj(value: Any, where: str, required: bool = True) -> dict:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise BadDelivery(f"'{where}' must be an object")
    return value


def read_int(value: Any, where: str, required: bool = True) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise BadDelivery(f"'{where}' must be an integer")
    return value


def read_str(value: Any, where: str, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise BadDelivery(f"'{where}' is missing")
        return None
    if not isinstance(value, str):
        raise BadDelivery(f"'{where}' must be a string")
    return value


def read_time(value: Any, where: str) -> datetime | None:
    try:
        return parse_time(value)
    except (ValueError, TypeError) as exc:
        raise BadDelivery(f"'{where}' is not a timestamp") from exc


def read_label_titles(value: Any, where: str) -> tuple[str, ...] | None:
    """Labels come as objects ({"title": ...}); very old payloads may send plain strings."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadDelivery(f"'{where}' must be a list")
    titles = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("title"), str):
            titles.append(item["title"])
        elif isinstance(item, str):
            titles.append(item)
        else:
            raise BadDelivery(f"'{where}' holds a label without a title")
    return tuple(titles)
