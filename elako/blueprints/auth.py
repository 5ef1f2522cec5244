"""Sign-up, sign-in and sign-out pages (plain forms; htmx only boosts them)."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from ..errors import ServiceError
from ..identity import load_from_cookie, sign_in as start_web_session, sign_out as end_web_session
from ..services import accounts, sign_in_throttle

bp = Blueprint("auth", __name__)
bp.before_request(load_from_cookie)

# Marks a browser that signed in before: its owner is never refused for others' guessing.
DEVICE_COOKIE = "elako_device"


def _next_url():
    """Where to go after signing in: only a path on this site (no open redirect). Browsers drop
    tabs and newlines from URLs and read a backslash as a slash, so "/\t/evil.example" would be
    "//evil.example" to them: any such character disqualifies the target."""
    target = request.values.get("next", "")
    parts = urlsplit(target)
    if (target.startswith("/") and not target.startswith("//") and not parts.scheme
            and not parts.netloc and target.isprintable() and "\\" not in target):
        return target
    return url_for("pages.inbox")


@bp.route("/signin", methods=["GET", "POST"])
def sign_in():
    if g.user is not None and request.method == "GET":
        return redirect(_next_url())
    error, status, wait = None, 200, None
    if request.method == "POST":
        try:
            user = accounts.authenticate(request.form, client_ip=request.remote_addr,
                                         device_token=request.cookies.get(DEVICE_COOKIE))
        except ServiceError as exc:
            # Too many tries too: the form stays, with the email and how long to wait.
            error, status, wait = exc.message, exc.status, exc.retry_after
        else:
            return _signed_in(user, _next_url())
    page = render_template("auth/signin.html", error=error, wait=wait,
                           email=request.form.get("email", ""), next=request.values.get("next", ""))
    return page, status, {"Retry-After": str(int(wait))} if wait is not None else {}


@bp.route("/signup", methods=["GET", "POST"])
def sign_up():
    error, status = None, 200
    if request.method == "POST":
        try:
            user = accounts.register(request.form, client_ip=request.remote_addr)
        except ServiceError as exc:
            if exc.status == 429:
                raise
            error, status = exc, exc.status
        else:
            return _signed_in(user, url_for("pages.inbox"))
    return render_template("auth/signup.html", error=error, form=request.form), status


def _signed_in(user, target):
    """Start the browser's session and remember this device for the account."""
    start_web_session(user)
    response = redirect(target, code=303)
    device = sign_in_throttle.device_token(request.cookies.get(DEVICE_COOKIE), user.email)
    response.set_cookie(DEVICE_COOKIE, device, max_age=sign_in_throttle.DEVICE_TOKEN_MAX_AGE,
                        httponly=True, samesite="Lax",
                        secure=current_app.session_interface.get_cookie_secure(current_app))
    return response


@bp.post("/signout")
def sign_out():
    end_web_session()
    return redirect(url_for("auth.sign_in"), code=303)


@bp.get("/session-ended")
def session_ended():
    """Where an htmx page goes when its event stream says the session was signed out. htmx's own
    request must get the HX-Redirect itself: a 303 would be followed out of its sight."""
    if request.headers.get("HX-Request"):
        return "", 204, {"HX-Redirect": url_for("auth.sign_in")}
    return redirect(url_for("auth.sign_in"), code=303)
