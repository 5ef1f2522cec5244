"""Sign-up, sign-in and sign-out pages, the forgotten-password pages and the email verification
link (plain forms; htmx only boosts them)."""

from urllib.parse import urlsplit

from flask import (
    Blueprint, current_app, g, make_response, redirect, render_template, request, session, url_for,
)

from ..errors import ServiceError
from ..identity import (
    load_from_cookie, login_required, sign_in as start_web_session, sign_out as end_web_session,
)
from ..services import accounts, password_reset, sign_in_throttle, verification

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
    """A new account, or an address that has one: the same answer (a 303 to "check your email"),
    so the page tells nobody which addresses have accounts; see docs/security.md."""
    error, status = None, 200
    if request.method == "POST":
        try:
            user, _created = accounts.register(request.form, client_ip=request.remote_addr)
        except ServiceError as exc:
            if exc.status == 429:
                raise
            error, status = exc, exc.status
        else:
            end_web_session()  # whoever this browser had signed in is out, as at a sign-in
            session["signed_up_as"] = user.email
            return redirect(url_for("auth.sign_up_sent"), code=303)
    return render_template("auth/signup.html", error=error, form=request.form), status


@bp.get("/signup/sent")
def sign_up_sent():
    return render_template("auth/signup_sent.html", email=session.get("signed_up_as", ""))


@bp.route("/password-reset", methods=["GET", "POST"])
def forgot_password():
    """Ask for a reset link: the same next page whether or not the address has an account."""
    error, status = None, 200
    if request.method == "POST":
        try:
            password_reset.request_reset(request.form, client_ip=request.remote_addr)
        except ServiceError as exc:
            if exc.status == 429:
                raise
            error, status = exc, exc.status
        else:
            return redirect(url_for("auth.reset_sent"), code=303)
    return render_template("auth/forgot_password.html", error=error,
                           email=request.form.get("email", "")), status


@bp.get("/password-reset/sent")
def reset_sent():
    return render_template("auth/reset_sent.html",
                           minutes=current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] // 60)


@bp.route("/password-reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    """The link of a reset email: choose a new password, then be signed in with it. The page
    keeps the token out of caches and out of other sites' Referer."""
    error, status, user = None, 200, None
    try:
        if request.method == "POST":
            user = password_reset.reset_password({"token": token,
                                                  "password": request.form.get("password")})
        else:
            password_reset.user_for(token)
    except ServiceError as exc:
        error, status = exc, exc.status
    if user is not None:
        return _signed_in(user, url_for("pages.inbox"))
    response = make_response(render_template("auth/reset_password.html", error=error,
                                             token=token), status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/verify-email/<token>", methods=["GET", "POST"])
def verify_email(token):
    """The link of a verification email. GET only asks (mail scanners fetch links); the button
    POSTs, which verifies. Works signed out."""
    if request.method == "POST":
        verification.verify(token)
    else:
        verification.user_to_verify(token)
    response = make_response(render_template("auth/verify_email.html", token=token,
                                             done=request.method == "POST"))
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.post("/settings/verify-email")
@login_required
def resend_verification():
    """The settings page's "send the link again"."""
    verification.resend(g.user)
    return redirect(url_for("pages.settings", verify="sent") + "#email", code=303)


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
