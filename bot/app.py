"""The web app: POST /webhook (bot/ack.py), and GET /healthz and GET /metrics for operators.

Nothing here calls GitLab. /healthz answers 503 when the queue store cannot be reached.
"""

from __future__ import annotations

import json

from flask import Flask, Response

from . import metrics
from .ack import Dispatcher, WebhookEndpoint
from .config import Config


def _json(code: int, **fields) -> Response:
    return Response(json.dumps(fields), code, mimetype="application/json")


def create_app(cfg: Config, dispatcher: Dispatcher, *, insecure: bool = False) -> Flask:
    if not cfg.webhook_secret and not insecure:
        raise ValueError("INCIDENT_BOT_WEBHOOK_SECRET is not set; refusing to run without it (use --insecure)")
    app = Flask("incident_bot")
    # The acknowledgement path is served in front of Flask: see bot/ack.py for why.
    app.wsgi_app = WebhookEndpoint(cfg, dispatcher).mount(app.wsgi_app)  # type: ignore[method-assign]

    @app.get("/healthz")
    def healthz():
        if dispatcher.healthy():
            return _json(200, status="ok")
        return _json(503, status="queue store unreachable")

    @app.get("/metrics")
    def metrics_endpoint():
        data, content_type = metrics.render()
        return Response(data, content_type=content_type)

    return app
