"""An API error carries GitLab's status and JSON body shape."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found(what: str | None = None) -> ApiError:
    # GitLab says "404 Not found" for members and "404 Issue Not Found" for models.
    return ApiError(404, {"message": f"404 {what} Not Found" if what else "404 Not found"})


def forbidden() -> ApiError:
    return ApiError(403, {"message": "403 Forbidden"})


def bad_request(error: str) -> ApiError:
    return ApiError(400, {"error": error})


def invalid(field: str, problem: str) -> ApiError:
    return ApiError(400, {"message": {field: [problem]}})
