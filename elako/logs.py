"""Request ids, and one log line per request.

Every response carries `X-Request-ID`: the caller's own (a proxy's, an integration's) when it is a
plain token, else a new one; error bodies carry it too, so a user's report leads to its log lines.
A request's line says who (user id), what (method, route, status) and how long. Never a message
body, password, token or email address: bodies and headers are not logged, and the route is the
URL rule (`/api/conversations/<conversation_id>`), never the query string, where a search is a name.
"""

import logging
import re
import time
import uuid

from flask import g, has_app_context, has_request_context, request

from config import JsonLogFormatter

from . import metrics

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

log = logging.getLogger("elako.requests")


def request_id():
    """This request's id (made on first use: an error can come before any other hook ran)."""
    if "request_id" not in g:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    return g.request_id


def _route():
    return request.url_rule.rule if request.url_rule else "unmatched"


def request_fields():
    """What a log line says of the request it comes from. A JSON event stream runs in an app
    context of its own, not the request's (blueprints/events.py): it keeps them in `g.log_fields`."""
    if has_request_context():
        user = g.get("user")
        return {"request_id": request_id(), "user_id": str(user.id) if user else None,
                "route": _route()}
    return (g.get("log_fields") or {}) if has_app_context() else {}


def init_app(app):
    JsonLogFormatter.request_fields = staticmethod(request_fields)

    @app.before_request
    def start_clock():
        g.request_started = time.perf_counter()
        request_id()

    @app.after_request
    def log_request(response):
        response.headers["X-Request-ID"] = request_id()
        seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
        status = response.status_code
        metrics.REQUEST_SECONDS.labels(request.method, _route(), str(status)).observe(seconds)
        log.info("%s %s %s", request.method, _route(), status,
                 extra={"fields": {"method": request.method, "status": status,
                                   "duration_ms": round(seconds * 1000, 1)}})
        return response
