"""Offset pagination with GitLab's headers (X-Page ... and a Link header)."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

DEFAULT_PER_PAGE, MAX_PER_PAGE = 20, 100


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def paginate(items: list[Any], args: Any, base_url: str) -> tuple[list[Any], dict[str, str]]:
    """`args` is the request's MultiDict; `base_url` the request URL without its query string."""
    per_page = min(max(_int(args.get("per_page"), DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(_int(args.get("page"), 1), 1)
    total = len(items)
    pages = max(math.ceil(total / per_page), 1)
    keep = [(k, v) for k, vs in args.lists() if k not in ("page", "per_page") for v in vs]

    def link(n: int) -> str:
        return f"{base_url}?{urlencode(keep + [('page', n), ('per_page', per_page)])}"

    rels = []
    if page > 1:
        rels.append(f'<{link(min(page - 1, pages))}>; rel="prev"')
    if page < pages:
        rels.append(f'<{link(page + 1)}>; rel="next"')
    rels += [f'<{link(1)}>; rel="first"', f'<{link(pages)}>; rel="last"']
    headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(total),
               "X-Total-Pages": str(pages), "X-Next-Page": str(page + 1) if page < pages else "",
               "X-Prev-Page": str(page - 1) if page > 1 else "", "Link": ", ".join(rels)}
    start = (page - 1) * per_page
    return items[start:start + per_page], headers
