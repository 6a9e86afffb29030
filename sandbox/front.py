"""How GitLab looks from outside its own process: the http:// front of an https:// GitLab, refused tokens,
and the external URL its pagination links carry.

- An Omnibus GitLab with `external_url "https://..."` answers every http:// request with a 301 to the
  same path over https:// (nginx `return 301 https://$host$request_uri`). A GET follows it and works; a
  POST or PUT becomes a GET on the way (requests, like browsers), so every write fails.
- An expired or revoked token is refused with 401 and an OAuth2 error body (lib/api/api_guard.rb).
- A token's scopes limit it (Gitlab::Auth API scopes): `read_api` reads, only `api` writes; any token
  may read itself at `GET /personal_access_tokens/self`. A refused scope is 403 insufficient_scope.
- Link headers use the host and port of `external_url`, not the address the call came to
  (lib/gitlab/pagination/offset_header_builder.rb): behind a proxy they point somewhere else.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .wsgi_server import ThreadedServer

# Rack::OAuth2 Bearer::Unauthorized descriptions, per refusal.
TOKEN_REFUSALS = {
    "expired": "Token is expired. You can either do re-authorization or token refresh.",
    "revoked": "Token was revoked. You have to re-authorize from the user.",
}


def refusal(kind: str) -> tuple[dict, dict]:
    """The body and headers GitLab answers a refused token with."""
    description = TOKEN_REFUSALS[kind]
    header = f'Bearer realm="", error="invalid_token", error_description="{description}"'
    return {"error": "invalid_token", "error_description": description}, {"WWW-Authenticate": header}


INSUFFICIENT_SCOPE = "The request requires higher privileges than provided by the access token."


def scope_refusal(scopes: list[str], method: str, path: str) -> dict | None:
    """The 403 body for a call the token's scopes do not allow, else None."""
    if "api" in scopes or path.endswith("/personal_access_tokens/self"):
        return None
    if method in ("GET", "HEAD") and "read_api" in scopes:
        return None
    return {"error": "insufficient_scope", "error_description": INSUFFICIENT_SCOPE, "scope": "api"}


def redirecting_server(target: str) -> ThreadedServer:
    """A server that answers every request with a 301 to the same path and query at ``target``."""

    def app(environ, start_response):
        location = target.rstrip("/") + (environ.get("REQUEST_URI") or "/")  # path and query as sent
        start_response("301 Moved Permanently", [("Location", location), ("Content-Length", "0")])
        return [b""]

    server = ThreadedServer(app, threads=4, name="sandbox-front")
    server.start()
    return server


def external(url: str, external_url: str | None) -> str:
    """``url`` with the host and port of ``external_url`` (GitLab's pagination links)."""
    if not external_url:
        return url
    parts, ext = urlsplit(url), urlsplit(external_url)
    return urlunsplit((ext.scheme, ext.netloc, parts.path, parts.query, parts.fragment))
