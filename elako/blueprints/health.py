"""GET /healthz for load balancers and operators: are MongoDB and Redis answering?"""

import mongoengine
from flask import Blueprint, jsonify

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
