"""Who is making this request: a signed-in browser (cookie) or an integration (bearer token).

Both carry the id of an AuthSession, checked on every request, so a sign-out takes effect at once.
Views read the result from `g.user` and `g.auth_session`.
"""

from functools import wraps

from flask import g, make_response, redirect, request, session, url_for

from .errors import Unauthorized
from .services import accounts, sessions


def load_from_cookie(*, remember=True):
    """`remember`: whether this worker caches the session (not for an event stream's one read)."""
    g.user = g.auth_session = None
    session_id = session.get("sid")
    if session_id:
        found = accounts.session_user(session_id, remember=remember)
        if found:
            g.auth_session, g.user = found
            sessions.touch(g.auth_session)
        else:
            session.clear()  # signed out elsewhere, or expired


def load_from_bearer(*, remember=True):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send your access token as 'Authorization: Bearer <token>'.",
                           code="missing_token")
    g.auth_session, g.user = accounts.token_user(token.strip(), remember=remember)
    sessions.touch(g.auth_session)


def sign_in(user):
    previous = session.get("sid")
    session.clear()  # a fresh cookie on sign-in: no session fixation
    if previous:  # and the sign-in this browser had before ends: a copy of its cookie is useless
        accounts.end_session(previous)
    auth_session = accounts.start_session(user, "web", user_agent=request.user_agent.string)
    session["sid"] = str(auth_session.id)
    session.permanent = True


def sign_out():
    session_id = session.get("sid")
    session.clear()
    if session_id:
        accounts.end_session(session_id)


def login_required(view):
    """Pages: send anonymous visitors to the sign-in page, and back here afterwards."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            target = url_for("auth.sign_in", next=request.full_path.rstrip("?"))
            if request.headers.get("HX-Request"):
                response = make_response("", 204)
                response.headers["HX-Redirect"] = url_for("auth.sign_in")
                return response
            return redirect(target)
        return view(*args, **kwargs)

    return wrapped
