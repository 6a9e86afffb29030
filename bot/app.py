"""The web app: POST /webhook, and GET /healthz and GET /metrics for operators. Nothing here calls GitLab.

/webhook answers 401 (token or signature), 413 (over max_body_bytes: Flask's MAX_CONTENT_LENGTH), 400
(malformed), 200 (triggers nothing, or a duplicate), 202 (stored for a worker) or 503 (the store cannot
be reached: nothing stored, nothing acknowledged, GitLab may resend). The token is checked before the
body is read.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from . import metrics
from .config import Config
from .events import BadDelivery, parse_delivery
from .health import default_checks, report
from .hooks import HEALTH
from .queue import DeliveryQueue, QueueUnavailable
from .webhook import ignored_key, stored_delivery, token_matches, triggers_nothing, verify_signature

log = logging.getLogger("incident_bot.webhook")


def _json(code: int, **fields) -> Response:
    return Response(json.dumps(fields), code, mimetype="application/json")


def _reject(reason: str, code: int, message: str) -> Response:
    metrics.delivery_rejected(reason)
    # Logged, not only counted: a wrong secret or a proxy's body limit is found from the log line.
    log.warning("webhook rejected (%s): %s", reason, message,
                extra={"reason": reason, "status": code, "remote": request.remote_addr,
                       "gitlab_event": request.headers.get("X-Gitlab-Event")})
    return _json(code, error=message)


def create_app(cfg: Config, queue: DeliveryQueue, *, insecure: bool = False) -> Flask:
    if not cfg.webhook_secret and not insecure:
        raise ValueError("INCIDENT_BOT_WEBHOOK_SECRET is not set; refusing to run without it (use --insecure)")
    app = Flask("incident_bot")
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_body_bytes

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 413:
            return _reject("too_large", 413, f"body over {cfg.max_body_bytes} bytes")
        return _json(exc.code or 500, error=exc.description)

    @app.post("/webhook")
    def webhook():
        metrics.delivery_received()
        if cfg.webhook_secret and not token_matches(cfg.webhook_secret, request.headers.get("X-Gitlab-Token")):
            return _reject("token", 401, "missing or wrong X-Gitlab-Token")
        HEALTH.webhook_arrived()  # GitLab reaches us: /healthz says how long ago, for a silence alert
        body = request.get_data(cache=False)  # 413 past MAX_CONTENT_LENGTH, read or not
        if cfg.signing_token and (reason := verify_signature(cfg.signing_token, request.headers, body)):
            return _reject("signature", 401, reason)
        try:
            event = parse_delivery(request.headers, body)
        except BadDelivery as exc:
            return _reject("malformed", 400, str(exc))
        try:
            reason = triggers_nothing(event, cfg)
            if reason:
                queue.remember(ignored_key(request.headers, body, event))
                return _json(200, status="ignored", reason=reason)
            delivery = stored_delivery(request.headers, body, event)
            if not queue.submit(delivery):
                return _json(200, status="duplicate")
        except QueueUnavailable:
            return _reject("queue_unavailable", 503, "the delivery store cannot be reached")
        return _json(202, status="accepted", id=delivery["id"])

    health_checks = default_checks(cfg, queue)

    @app.get("/healthz")
    def healthz():
        code, body = report(health_checks)
        return _json(code, **body, **HEALTH.snapshot())

    @app.get("/metrics")
    def metrics_endpoint():
        data, content_type = metrics.render()
        return Response(data, content_type=content_type)

    return app
