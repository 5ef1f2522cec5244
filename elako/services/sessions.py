"""A user's open sessions: listing them by device, ending one or all the others, and the refresh
tokens that keep an integration's session alive without its password.

Every ending goes through `accounts.end_session`, so the cookie or token stops at once everywhere
and that session's open event streams close.

A refresh token is `<session id>.<secret>`; the session keeps only the secret's SHA-256. Each use
gives a new one and retires the old (rotation). The retired one coming back means someone kept a
copy: the whole session ends, for the thief and the integration alike, which must sign in again.
"""

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

import jwt
from flask import current_app

from ..errors import NotFound, Unauthorized
from ..models import AuthSession, utcnow
from . import accounts, inputs
from .payloads import iso

# Last seen is written at most this often per session and worker: not a write per request.
TOUCH_INTERVAL = timedelta(minutes=5)
USER_AGENT_MAX_LENGTH = 512

BROWSERS = [("Edg/", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser/", "Samsung Internet"),
            ("CriOS/", "Chrome"), ("FxiOS/", "Firefox"), ("Firefox/", "Firefox"),
            ("Chrome/", "Chrome"), ("Safari/", "Safari")]
SYSTEMS = [("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("CrOS", "ChromeOS"),
           ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Linux", "Linux")]
PRODUCT = re.compile(r"[A-Za-z][\w.-]*")


def device_name(user_agent):
    """A person's name for the device behind a User-Agent: "Chrome on Android", "curl"."""
    browser = next((name for token, name in BROWSERS if token in user_agent), None)
    system = next((name for token, name in SYSTEMS if token in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    product = PRODUCT.match(user_agent)
    return browser or system or (product.group(0) if product else "Unknown device")


def describe(session, current_id):
    """A session as its owner sees it, in the list of sessions (page and API alike)."""
    return {"id": str(session.id), "kind": session.kind,
            "device": device_name(session.user_agent or ""),
            "created_at": iso(session.created_at), "last_seen_at": iso(session.last_seen_at),
            "current": session.id == current_id}


def open_sessions(user):
    return list(AuthSession.objects(user_id=user.id, expires_at__gt=utcnow()).order_by(
        "-last_seen_at"))


def touch(session):
    """Record that `session` was used now, at most every TOUCH_INTERVAL."""
    now = utcnow()
    if session.last_seen_at and now - session.last_seen_at < TOUCH_INTERVAL:
        return
    # Another worker may have written it already; the condition makes that a no-op.
    AuthSession.objects(id=session.id, last_seen_at__lt=now - TOUCH_INTERVAL).update_one(
        set__last_seen_at=now)
    session.last_seen_at = now


def end_own(user, session_id):
    """Sign out one of `user`'s sessions; anyone else's is the same NotFound as no session."""
    found = AuthSession.objects(id=inputs.object_id(session_id, "Session"), user_id=user.id).first()
    if found is None:
        raise NotFound("Session was not found.")
    accounts.end_session(found.id)


def end_others(user, keep_id=None):
    """Sign out every session of `user` but `keep_id` (all when None); returns how many ended."""
    others = AuthSession.objects(user_id=user.id, id__ne=keep_id).only("id")
    ids = [s.id for s in others]
    for session_id in ids:
        accounts.end_session(session_id)
    return len(ids)


# -- API sessions: access and refresh tokens -------------------------------------------------------

def _hash(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def _api_lifetime():
    return timedelta(days=current_app.config["REFRESH_TOKEN_DAYS"])


def _tokens(session, secret):
    lifetime = current_app.config["JWT_EXPIRES_SECONDS"]
    now = utcnow()
    claims = {"sub": str(session.user_id), "sid": str(session.id), "iat": now,
              "exp": now + timedelta(seconds=lifetime)}
    return {"access_token": jwt.encode(claims, current_app.config["JWT_SECRET_KEY"],
                                       algorithm="HS256"),
            "token_type": "Bearer", "expires_in": lifetime,
            "refresh_token": f"{session.id}.{secret}"}


def issue_tokens(user, *, user_agent=""):
    """Sign an integration in: a new API session, its access token and refresh token."""
    secret = secrets.token_urlsafe(32)
    session = accounts.start_session(user, "api", lifetime=_api_lifetime(), user_agent=user_agent,
                                     refresh_hash=_hash(secret))
    return _tokens(session, secret)


def refresh(token):
    """New access and refresh tokens for a refresh token, which is retired."""
    invalid = Unauthorized("The refresh token is not valid.", code="invalid_refresh_token")
    session_id, _, secret = token.partition(".") if isinstance(token, str) else ("", "", "")
    try:
        session = AuthSession.objects(id=inputs.object_id(session_id), kind="api").first()
    except NotFound:
        raise invalid from None
    if session is None or session.expires_at <= utcnow() or not secret:
        raise invalid
    presented = _hash(secret)
    if session.replaced_refresh_hash and hmac.compare_digest(presented,
                                                            session.replaced_refresh_hash):
        accounts.end_session(session.id)
        raise Unauthorized("This refresh token was already used, so the session has ended. "
                           "Sign in again.", code="refresh_token_reused")
    new_secret = secrets.token_urlsafe(32)
    now = utcnow()
    # Compare-and-set: of two uses of one token, only the first rotates it.
    rotated = AuthSession.objects(id=session.id, refresh_hash=presented).update_one(
        set__refresh_hash=_hash(new_secret), set__replaced_refresh_hash=presented,
        set__expires_at=now + _api_lifetime(), set__last_seen_at=now)
    if not rotated:
        raise invalid
    return _tokens(session, new_secret)
