"""The Flask app around the REST blueprint: auth, latency, injected faults, call log, GitLab error bodies."""

from __future__ import annotations

import logging
import re
import time
import uuid
from urllib.parse import unquote

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from . import front
from .api import bp
from .errors import ApiError
from .hooks_api import bp as hooks_bp

log = logging.getLogger(__name__)


class KeepEncodedSlash:
    """Keep `%2F` in project paths (support%2Fincidents) as one path segment.

    WSGI servers decode PATH_INFO, which would split the project path; the raw URI still has it.
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw and re.search("%2f", raw, re.IGNORECASE):
            path = raw.split("?", 1)[0]
            path = re.sub(r"^https?://[^/]+", "", path)
            environ["PATH_INFO"] = unquote(re.sub("%2f", "%252F", path, flags=re.IGNORECASE))
        return self.app(environ, start_response)


class CountInFlight:
    """Counts the API calls being answered: a slow one (an injected delay) may still change GitLab and
    queue webhooks after its client gave up, so a test waits for none to be in flight."""

    def __init__(self, app, sandbox):
        self.app, self.sandbox = app, sandbox

    def __call__(self, environ, start_response):
        with self.sandbox.lock:
            self.sandbox.in_flight += 1
        try:
            return self.app(environ, start_response)
        finally:
            with self.sandbox.lock:
                self.sandbox.in_flight -= 1


def _error(status: int, body, headers=None):
    resp = jsonify(body)
    resp.status_code = status
    resp.headers.update(headers or {})
    return resp


RATE_LIMITED = "This endpoint has been requested too many times. Try again later."
MESSAGES = {401: "401 Unauthorized", 429: "Retry later", 502: "502 Bad Gateway", 503: "503 Service Unavailable", 504: "504 Gateway Timeout"}


def _fault_error(fault):
    headers = {"Retry-After": str(fault["retry_after"])} if fault["retry_after"] is not None else {}
    if fault["status"] == 202:  # lib/api/notes.rb: a note of quick actions only is not kept
        return _error(202, {"commands_changes": {}, "summary": []}, headers)
    message = MESSAGES.get(fault["status"], f"{fault['status']} Internal Server Error")
    return _error(fault["status"], {"message": message}, headers)


def create_app(sandbox) -> Flask:
    app = Flask("bot.sandbox")
    app.json.sort_keys = False
    app.extensions["sandbox"] = sandbox
    app.register_blueprint(bp)
    app.register_blueprint(hooks_bp)
    app.wsgi_app = CountInFlight(KeepEncodedSlash(app.wsgi_app), sandbox)

    @app.before_request
    def gate():
        g.started = time.monotonic()
        g.arrived = time.time()  # the call log's "started": calls that overlap were made in one round trip
        g.user = None
        # A call carrying the header was made by a webhook's receiver: recursion detection follows it.
        g.chained = bool(request.headers.get("X-Gitlab-Event-UUID"))
        g.event_uuid = request.headers.get("X-Gitlab-Event-UUID") or str(uuid.uuid4())
        if sandbox.latency:
            time.sleep(sandbox.latency)
        token = request.headers.get("PRIVATE-TOKEN") or request.args.get("private_token")
        auth = request.headers.get("Authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        with sandbox.lock:
            caller = sandbox.store.user_by_token(token)
            refused = sandbox.refused_tokens.get(token or "")
        if refused:
            return _error(401, *front.refusal(refused))
        scoped = front.scope_refusal(sandbox.token_scopes.get(token or "", ["api"]), request.method, request.path)
        if caller is not None and scoped:
            return _error(403, scoped)
        g.user = caller  # the call log names the caller of a faulted call too
        fault = sandbox.take_fault(request.method, request.path, caller["username"] if caller else None)
        g.fault_after = fault if fault is not None and fault["applied"] else None
        if fault is not None and g.fault_after is None:
            if fault["delay"]:
                time.sleep(fault["delay"])
            if fault["status"]:
                return _fault_error(fault)
        if request.routing_exception is not None:
            return None  # unknown route: 404 before authentication, as GitLab does
        g.user = caller
        if g.user is None:
            return _error(401, {"message": "401 Unauthorized"})
        limited = sandbox.take_rate(request.method, request.path, caller["id"])
        if limited is not None:  # Gitlab::ApplicationRateLimiter via check_rate_limit! in the API
            headers = {"Retry-After": str(limited["retry_after"])} if limited["retry_after"] is not None else {}
            return _error(429, {"message": {"error": RATE_LIMITED}}, headers)
        return None

    @app.after_request
    def record(resp):
        fault = getattr(g, "fault_after", None)
        if fault is not None:  # the call was carried out; its answer is lost (late, or replaced)
            if fault["delay"]:
                time.sleep(fault["delay"])
            if fault["status"]:
                resp = _fault_error(fault)
        user = getattr(g, "user", None)
        sandbox.record_call({"method": request.method, "path": request.path, "query": request.query_string.decode(),
                             "status": resp.status_code, "user": user["username"] if user else None,
                             "started": getattr(g, "arrived", None), "ts": time.time()})
        return resp

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return _error(exc.status, exc.body, exc.headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 405:
            return _error(405, {"error": "405 Not Allowed"})
        if exc.code == 404:
            return _error(404, {"error": "404 Not Found"})
        return _error(exc.code or 500, {"error": f"{exc.code} {exc.name}"})

    @app.errorhandler(Exception)
    def crash(exc: Exception):
        log.exception("sandbox handler failed")
        return _error(500, {"message": "500 Internal Server Error"})

    return app
