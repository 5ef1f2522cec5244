"""Attachments over HTTP: how large an upload's body may be, and how a file is answered.

Every request body is limited to MAX_CONTENT_LENGTH (64 KB), except a multipart send, which may
carry a file of ATTACHMENT_MAX_BYTES plus the form's other fields. Werkzeug refuses a body whose
Content-Length is over the limit before reading any of it, and stops reading one that turns out
longer; either answers 413 `file_too_large`.

Files are answered for keeps (an attachment's bytes never change): ETag, a year of private
caching, 304, Range (206: a download on flaky mobile data resumes), never sniffed, never run as a
page (a sandbox CSP), images inline and everything else as a download under its own name.
"""

import unicodedata
from urllib.parse import quote

from flask import Request, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import FRIENDLY, error_response
from .services.attachments import too_large
from .services.filetypes import ACCEPT_ATTRIBUTE

# (The catalogue's photo uploads too: issue 10.)
UPLOAD_ENDPOINTS = {"api.send_message", "pages.send", "api.set_product_photo", "pages.products",
                    "pages.edit_product"}
FILE_CACHE_CONTROL = "private, max-age=31536000, immutable"
# Nothing in a file runs, ever; a browser's own viewer of an opened photo styles itself inline.
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def is_upload(req):
    return req.endpoint in UPLOAD_ENDPOINTS and req.mimetype == "multipart/form-data"


class AppRequest(Request):
    """Flask's request, with room for a file where one may be sent."""

    @property
    def max_content_length(self):
        limit = super().max_content_length
        if is_upload(self):
            return current_app.config["ATTACHMENT_MAX_BYTES"] + (limit or 0)
        return limit

    @max_content_length.setter
    def max_content_length(self, value):
        Request.max_content_length.fset(self, value)


def init_app(app):
    app.request_class = AppRequest
    app.jinja_env.globals["attachment_accept"] = ACCEPT_ATTRIBUTE

    @app.errorhandler(RequestEntityTooLarge)
    def handle_too_large(_exc):
        if is_upload(request):
            error = too_large()
            return error_response(error.status, error.code, error.message, field=error.field,
                                  details=error.details)
        return error_response(413, "too_large", FRIENDLY[413])


def file_response(opened):
    """The response for an attachment `opened` by services.attachments.open_attachment."""
    response = Response(opened.data, mimetype=opened.content_type)
    response.set_etag(opened.etag)
    headers = response.headers
    headers["Cache-Control"] = FILE_CACHE_CONTROL
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Content-Security-Policy"] = FILE_CSP
    headers["Content-Disposition"] = content_disposition(
        "inline" if opened.inline else "attachment", opened.name)
    return response.make_conditional(request, accept_ranges=True,
                                     complete_length=len(opened.data))


def content_disposition(disposition, name):
    """RFC 6266: an ASCII `filename` for old clients and the exact name as RFC 5987 `filename*`."""
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = "".join(c for c in fallback if c.isprintable() and c not in '"\\;') or "file"
    return (f'{disposition}; filename="{fallback}"; '
            f"filename*=UTF-8''{quote(name, safe='')}")
