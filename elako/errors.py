"""Errors the service layer raises, and the one place that turns any error into a response.

The API answers `{"error": {"code", "message", "request_id"}}`, with `field` and `details` (one
`{"field", "message"}` per invalid field) for invalid input; pages get a readable page; an htmx request gets a
small fragment that htmx swaps into the page's error slot (the request's `X-Error-Target` header, or
`#flash`). Nothing leaks a stack trace, and bad input is never a 500.
"""

import logging

import pymongo.errors
import redis.exceptions
from flask import jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .logs import request_id

log = logging.getLogger(__name__)


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message, *, code=None, field=None, details=None, retry_after=None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.field = field
        # Every error about a field lists it in `details`, as schema validation does.
        self.details = details or ([{"field": field, "message": message}] if field else None)
        self.retry_after = retry_after


class InvalidInput(ServiceError):
    status, code = 422, "invalid_input"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class TooLarge(ServiceError):
    status, code = 413, "too_large"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class RateLimited(ServiceError):
    status, code = 429, "rate_limited"


class Unavailable(ServiceError):
    status, code = 503, "unavailable"


def wants_json():
    if request.path.startswith("/api/") or request.path in ("/healthz", "/metrics"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.headers.get("HX-Request")


def error_response(status, code, message, *, field=None, details=None, retry_after=None):
    """The response for an error, in the form this client reads."""
    if wants_json():
        error = {"code": code, "message": message, "request_id": request_id()}
        if field:
            error["field"] = field
        if details:
            error["details"] = details
        response = jsonify(error=error)
    elif request.headers.get("HX-Request"):
        # htmx swaps this into the page's error slot (htmx-config in base.html swaps 4xx answers).
        response = make_response(render_template("_error.html", message=message, status=status))
        response.headers["HX-Retarget"] = request.headers.get("X-Error-Target", "#flash")
        response.headers["HX-Reswap"] = "innerHTML"
    else:
        response = make_response(render_template("error.html", message=message, status=status,
                                                 request_id=request_id()))
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(int(retry_after))
    if status == 401 and request.path.startswith("/api/"):
        response.headers["WWW-Authenticate"] = f'Bearer realm="elako", error="{code}"'
    return response


HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid_input", 429: "rate_limited", 503: "unavailable",
}

FRIENDLY = {
    404: "We could not find that page.",
    405: "That action is not available here.",
    413: "That request is too large.",
}


def init_app(app):
    @app.errorhandler(ServiceError)
    def handle_service_error(exc):
        return error_response(exc.status, exc.code, exc.message, field=exc.field,
                              details=exc.details, retry_after=exc.retry_after)

    @app.errorhandler(CSRFError)
    def handle_csrf_error(exc):
        return error_response(400, "csrf_failed",
                              "This form has expired or did not come from this site. "
                              "Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def handle_http_error(exc):
        status = exc.code or 500
        message = FRIENDLY.get(status) or exc.description or exc.name
        response = error_response(status, HTTP_CODES.get(status, "error"), message)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # RFC 9110 requires it
        return response

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    @app.errorhandler(pymongo.errors.ConnectionFailure)
    def handle_backend_down(exc):
        log.error("backend unavailable on %s %s: %s", request.method, request.path, exc)
        return error_response(503, "unavailable",
                              "The service is busy or restarting. Please try again in a moment.",
                              retry_after=5)

    @app.errorhandler(Exception)
    def handle_unexpected(exc):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "Something went wrong on our side. Please try again.")
