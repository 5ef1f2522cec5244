"""For load balancers and operators: GET /healthz (are MongoDB and Redis answering?) and
GET /metrics (Prometheus)."""

import mongoengine
from flask import Blueprint, Response, current_app, jsonify, request

from .. import metrics
from ..errors import NotFound, Unauthorized
from ..extensions import get_redis

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks = {}
    try:
        mongoengine.get_db().command("ping")
        checks["mongodb"] = "ok"
    except Exception as exc:  # any failure means "not healthy", whatever the driver raised
        checks["mongodb"] = f"error: {exc.__class__.__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if healthy else "unavailable", checks=checks), 200 if healthy else 503


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus metrics of every worker; only for a scraper holding METRICS_TOKEN."""
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        raise NotFound("We could not find that page.")
    if not metrics.authorised(request.headers.get("Authorization"), token):
        raise Unauthorized("Send the metrics token as a bearer token.")
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
