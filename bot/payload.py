"""Read a webhook body as GitLab sends it: a JSON object in UTF-8 without a byte order mark (RFC 8259),
nesting at most MAX_JSON_DEPTH levels. Anything else is a BadDelivery (a 400) at the door: json.loads
alone would guess UTF-16/32, skip a BOM, and raise RecursionError on deep nesting."""

from __future__ import annotations

import codecs
import json
from typing import Any

MAX_JSON_DEPTH = 64  # GitLab's payloads nest about 5 levels


class BadDelivery(ValueError):
    """The delivery cannot be parsed; the message says why (it is sent back with a 400)."""


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def _nests_deeper(value: Any, limit: int) -> bool:
    """Whether containers nest more than `limit` levels (the top object is level 1); no recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _json_text(body: bytes | str) -> str:
    if isinstance(body, (bytes, bytearray, memoryview)):
        body = bytes(body)
        if body.startswith(codecs.BOM_UTF8):
            raise BadDelivery("the body is not JSON: it starts with a byte order mark (send UTF-8 without one)")
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadDelivery(f"the body is not JSON in UTF-8: {exc.reason} at byte {exc.start}") from None
    if body.startswith("\ufeff"):
        raise BadDelivery("the body is not JSON: it starts with a byte order mark (send UTF-8 without one)")
    if "\x00" in body:  # raw NULs are never JSON; UTF-16/32 without a BOM decodes to them
        raise BadDelivery("the body is not JSON in UTF-8: it holds NUL bytes (UTF-16 or UTF-32?)")
    return body


def load_object(body: bytes | str) -> dict:
    """The body as a JSON object. Raises BadDelivery."""
    text = _json_text(body)
    too_deep = f"the body nests more than {MAX_JSON_DEPTH} levels deep"
    try:
        payload = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise BadDelivery(too_deep) from None
    except ValueError as exc:
        raise BadDelivery(f"the body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadDelivery("the body must be a JSON object")
    if _nests_deeper(payload, MAX_JSON_DEPTH):
        raise BadDelivery(too_deep)
    return payload
