"""Browser security headers for every response.

The Content-Security-Policy allows no inline script, inline handler, inline style or eval: the only
scripts are our files in /static (htmx, its SSE extension and elako.js). Message text is escaped by
Jinja's autoescape and `formatting.linkify`; the policy is the second line of defence.

The session cookie is HttpOnly and SameSite=Lax always, and Secure whenever the request came over
HTTPS; HTTPS answers also carry Strict-Transport-Security. docs/security.md has the whole picture.
"""

from urllib.parse import urlsplit

from flask import g, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",  # blob: the preview of a photo chosen to send
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


# Browsers that saw the site over HTTPS keep to HTTPS for a year.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the request came over HTTPS (directly, or
    through a trusted proxy, see PROXY_FIX_HOPS), not only when SESSION_COOKIE_SECURE says so."""

    def get_cookie_secure(self, app):
        secure = super().get_cookie_secure(app)
        return secure or (has_request_context() and request.is_secure)

    def open_session(self, app, request):
        # The API answers bearer tokens only: reading and verifying a cookie it never uses would
        # cost every API request (every stream of a reconnect storm among them) a signature check.
        if request.path.startswith("/api/"):
            return self.null_session_class()
        return super().open_session(app, request)


# What browser code on CORS_ORIGINS may do with /api/*: bearer tokens in a header, never cookies
# (so no credentials), and resuming the event stream where it left off.
CORS_METHODS = ["GET", "POST", "PATCH", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type", "Last-Event-ID"]
CORS_EXPOSED = ["Retry-After", "WWW-Authenticate"]


def allow_cross_origin_api(app):
    """CORS for /api/* from CORS_ORIGINS only; pages, forms and cookie routes never answer it."""
    if app.config["CORS_ORIGINS"]:
        CORS(app, resources={r"/api/*": {"origins": app.config["CORS_ORIGINS"]}},
             methods=CORS_METHODS, allow_headers=CORS_HEADERS, expose_headers=CORS_EXPOSED,
             supports_credentials=False, max_age=600, vary_header=True)


def is_own_navigation():
    """Whether the user came here from one of our pages, or typed the address or opened a
    bookmark, rather than following a link on another site (SameSite=Lax cookies come along on
    those too). Browsers say which in Sec-Fetch-Site; older ones send our own pages' address as
    the Referer (Referrer-Policy: same-origin). With neither, assume another site."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    referrer = urlsplit(request.referrer or "")
    return referrer.scheme in ("http", "https") and referrer.netloc == request.host


def init_app(app):
    allow_cross_origin_api(app)
    if app.config["PROXY_FIX_HOPS"]:
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.session_interface = SessionInterface()

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.endpoint == "assets.static" or response.status_code == 204:
            # Our own scripts, styles and icon, or no body at all: the rest only governs
            # documents, and on a phone every byte of every response counts.
            return response
        if g.get("user") is not None:
            headers.setdefault("Cache-Control", "no-store")  # someone's messages: keep no copy
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        return response
