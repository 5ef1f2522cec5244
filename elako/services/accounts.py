"""Accounts, sign-in sessions and API tokens.

A sign-in creates an AuthSession document. The web cookie and the JWT both carry its id (`sid`), and
every request checks that it still exists, so signing out (deleting it) ends that session at once
everywhere, including an event stream that is already open (see `end_session`).
"""

from datetime import timedelta
from zoneinfo import available_timezones

import jwt
from flask import current_app
from mongoengine.errors import NotUniqueError

from .. import realtime
from ..passwords import DUMMY_HASH, hash_password, verify_password
from ..errors import Conflict, InvalidInput, NotFound, Unauthorized
from ..models import AuthSession, Conversation, User, utcnow
from ..schemas import parse
from ..schemas.requests import Credentials, ProfileChange, Registration
from . import inputs, ratelimit

TIMEZONES = frozenset(available_timezones())


def register(data, *, client_ip):
    """Create a customer or store account from `data` (role, name, email, password, description)."""
    ratelimit.hit("sign_up", client_ip)
    form = parse(Registration, data)
    user = User(role=form.role, name=form.name, email=form.email,
                password_hash=hash_password(form.password),
                description=form.description if form.role == "store" else "",
                timezone=current_app.config["DEFAULT_TIMEZONE"])
    try:
        user.save(force_insert=True)
    except NotUniqueError:
        raise Conflict("An account with this email already exists.", code="email_taken", field="email") from None
    return user


def authenticate(data, *, client_ip):
    """The user whose email and password these are. Every attempt counts against its address;
    only failures count against the account, so signing in often never locks anyone out, while
    guessing one password from many addresses still does (the right password included, or the
    guessing would go on)."""
    ratelimit.hit("sign_in", "ip", client_ip)
    credentials = parse(Credentials, data)
    email, password = credentials.email, credentials.password
    ratelimit.check("sign_in", "email", email)
    user = User.objects(email=email).first()
    if not verify_password(user.password_hash if user else DUMMY_HASH, password) or not user:
        ratelimit.count("sign_in", "email", email)
        raise Unauthorized("Email or password is incorrect.", code="invalid_credentials")
    return user


def start_session(user, kind):
    lifetime = (timedelta(seconds=current_app.config["JWT_EXPIRES_SECONDS"]) if kind == "api"
                else timedelta(days=current_app.config["WEB_SESSION_DAYS"]))
    session = AuthSession(user_id=user.id, kind=kind, expires_at=utcnow() + lifetime)
    session.save(force_insert=True)
    return session


def end_session(session_id):
    """Sign a session out everywhere, including its open event streams."""
    session = AuthSession.objects(id=session_id).first()
    if session is None:
        return
    session.delete()
    realtime.broadcast("signed_out", session.id)
    realtime.signal("session_revoked", [session.user_id], {"session_id": str(session.id)})


def session_user(session_id):
    """The (session, user) for a live session id, or None. Served from this worker's session cache
    when it can be (no database read), else read and cached."""
    try:
        session_id = str(inputs.object_id(session_id))
    except NotFound:
        return None
    realtime.start_listening()
    cache = realtime.session_cache()
    found = cache.get(session_id)
    if found is None:
        generation = cache.generation
        session = AuthSession.objects(id=session_id).first()
        user = session and User.objects(id=session.user_id).first()
        if not user:
            return None
        found = session, user
        cache.put(session_id, session, user, generation)
    return found if found[0].expires_at > utcnow() else None


def session_alive(session_id):
    """Whether a session still exists: what an open event stream checks now and then."""
    session_id = str(session_id)
    if realtime.session_cache().signed_out(session_id):
        return False
    return session_user(session_id) is not None


def _jwt_key():
    return current_app.config.get("JWT_SECRET_KEY") or current_app.config["SECRET_KEY"]


def issue_token(user):
    session = start_session(user, "api")
    claims = {"sub": str(user.id), "sid": str(session.id), "iat": session.created_at,
              "exp": session.expires_at}
    return {"access_token": jwt.encode(claims, _jwt_key(), algorithm="HS256"),
            "token_type": "Bearer", "expires_in": current_app.config["JWT_EXPIRES_SECONDS"]}


def token_user(token):
    """The (session, user) a bearer token stands for; Unauthorized if it is bad, old or revoked."""
    try:
        claims = jwt.decode(token, _jwt_key(), algorithms=["HS256"],
                            options={"require": ["exp", "sub", "sid"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The access token has expired.", code="token_expired") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("The access token is not valid.", code="invalid_token") from None
    found = session_user(claims["sid"])
    if found is None or str(found[1].id) != claims["sub"]:
        raise Unauthorized("The access token has been revoked.", code="token_revoked")
    return found


def update_profile(user, data):
    """Change a user's display settings (name, store description, timezone)."""
    form = parse(ProfileChange, data)
    changes = {"name": form.name}
    if user.is_store:
        changes["description"] = form.description
    timezone = form.timezone or user.timezone
    if timezone not in TIMEZONES:
        raise InvalidInput("Choose a timezone from the list.", field="timezone")
    changes["timezone"] = timezone
    user.modify(**changes)
    realtime.broadcast("user_changed", user.id)
    # Conversations keep both names so inboxes list and search without reading users.
    name_field = "store_name" if user.is_store else "customer_name"
    Conversation.objects(participants=user.id, **{f"{user.role}_id": user.id}).update(
        **{f"set__{name_field}": user.name})
    return user


def list_stores(search="", *, limit=50):
    stores = User.objects(role="store")
    search = inputs.search_text(search)
    if search:
        stores = stores.filter(name__icontains=search)
    return list(stores.order_by("name").limit(limit))
