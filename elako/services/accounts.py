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
from ..errors import InvalidInput, NotFound, Unauthorized
from ..models import AuthSession, Conversation, User, utcnow
from ..schemas import parse
from ..schemas.requests import Credentials, PasswordChange, ProfileChange, Registration
from . import inputs, privacy, ratelimit, sessions, sign_in_throttle, verification

TIMEZONES = frozenset(available_timezones())


def register(data, *, client_ip):
    """Create a customer or store account from `data` (role, name, email, password, description);
    returns (user, created). The account is usable at once; its address gets a verification link.

    An address that already has an account is not told apart: the same work is done (the password
    hashed, an email queued) and the caller gets an unsaved stand-in `user` with a random id, to
    answer exactly as for a new account, while the address's owner is told by email instead
    (services.verification). Never sign anyone in as the stand-in: `created` is False."""
    ratelimit.hit("sign_up", ratelimit.client_network(client_ip))
    form = parse(Registration, data)
    user = User(role=form.role, name=form.name, email=form.email,
                password_hash=hash_password(form.password),
                description=form.description if form.role == "store" else "",
                timezone=current_app.config["DEFAULT_TIMEZONE"])
    try:
        user.save(force_insert=True)
        created = True
    except NotUniqueError:
        created = False
    verification.after_sign_up(user, created=created)
    return user, created


def authenticate(data, *, client_ip, device_token=None):
    """The user whose email and password these are. Guessing is slowed per device or network
    without locking the owner out: see sign_in_throttle."""
    credentials = parse(Credentials, data)
    email, password = credentials.email, credentials.password
    device_id = sign_in_throttle.known_device(device_token, email)
    sign_in_throttle.begin_attempt(email, client_ip=client_ip, device_id=device_id)
    user = User.objects(email=email).first()
    if not verify_password(user.password_hash if user else DUMMY_HASH, password) or not user:
        sign_in_throttle.failed(email, device_id=device_id)
        raise Unauthorized("Email or password is incorrect.", code="invalid_credentials")
    sign_in_throttle.succeeded(email, client_ip=client_ip, device_id=device_id)
    return user


def start_session(user, kind, *, lifetime=None, user_agent="", refresh_hash=None):
    """A new sign-in of `user`: "web" (a cookie) or "api" (tokens, see sessions.issue_tokens)."""
    lifetime = lifetime or timedelta(days=current_app.config["WEB_SESSION_DAYS"])
    now = utcnow()
    session = AuthSession(user_id=user.id, kind=kind, user_agent=user_agent[:512], created_at=now,
                          last_seen_at=now, expires_at=now + lifetime, refresh_hash=refresh_hash)
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


def session_user(session_id, *, remember=True):
    """The (session, user) for a live session id, or None. Served from this worker's session cache
    when it can be (no database read), else read, and cached if `remember`: an event stream reads
    its session once and then hears of a sign-out, so caching it would only hold its documents
    (thousands of them, after a reconnect storm) for nothing."""
    try:
        session_id = str(inputs.object_id(session_id))
    except NotFound:
        return None
    realtime.start_listening()
    cache = realtime.session_cache()
    found = cache.get(session_id)
    if found is None:
        generation = cache.generation
        found = _read_session(session_id)
        if found is None:
            return None
        if remember:
            cache.put(session_id, *found, generation)
    return found if found[0].expires_at > utcnow() else None


def _read_session(session_id):
    """The session and its user in one round trip (a reconnect storm authenticates each stream of
    a cold worker this way), or None if either is gone."""
    found = next(AuthSession.objects(id=session_id).aggregate([
        {"$limit": 1},
        {"$lookup": {"from": User._get_collection_name(), "localField": "user_id",
                     "foreignField": "_id", "as": "users"}}]), None)
    if found is None or not found["users"]:
        return None
    user = User._from_son(found.pop("users")[0])
    return AuthSession._from_son(found), user


def session_alive(session_id):
    """Whether a session still exists: what an open event stream checks now and then."""
    session_id = str(session_id)
    if realtime.session_cache().signed_out(session_id):
        return False
    return session_user(session_id, remember=False) is not None


def _token_claims(token):
    """The claims of a token signed with JWT_SECRET_KEY, or with a fallback key during rotation."""
    cfg = current_app.config
    *keys, last = [cfg["JWT_SECRET_KEY"], *cfg["JWT_SECRET_KEY_FALLBACKS"]]
    for key in keys:
        try:
            return _decode(token, key)
        except jwt.InvalidSignatureError:
            continue
    return _decode(token, last)


def _decode(token, key):
    return jwt.decode(token, key, algorithms=["HS256"], options={"require": ["exp", "sub", "sid"]})


def token_user(token, *, remember=True):
    """The (session, user) a bearer token stands for; Unauthorized if it is bad, old or revoked.
    `remember`: as for `session_user`."""
    try:
        claims = _token_claims(token)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The access token has expired.", code="token_expired") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("The access token is not valid.", code="invalid_token") from None
    found = session_user(claims["sid"], remember=remember)
    if found is None or str(found[1].id) != claims["sub"]:
        raise Unauthorized("The access token has been revoked.", code="token_revoked")
    return found


def change_password(user, data, *, session):
    """Set a new password for `user` (who gives the current one) and end every other session and
    token: whoever else was signed in, perhaps with the old password, is out. Wrong current
    passwords are slowed like sign-in guesses, counted for `session` alone."""
    form = parse(PasswordChange, data)
    if not confirm_password(user, form.current_password, session=session):
        raise InvalidInput("Your current password is not right.", field="current_password")
    return set_password(user, form.new_password, keep_session_id=session.id)


def confirm_password(user, password, *, session):
    """Whether `password` is `user`'s, asked from signed-in `session` before something grave
    (a new password, deleting the account). Wrong ones are slowed like sign-in guesses, counted
    for `session` alone (RateLimited while it must wait)."""
    source = f"session {session.id}"
    sign_in_throttle.begin_attempt(user.email, client_ip=None, device_id=source)
    if not verify_password(user.password_hash, password):
        return False
    sign_in_throttle.succeeded(user.email, client_ip=None, device_id=source)
    return True


def set_password(user, password, *, keep_session_id=None, replacing=None):
    """Store `password` for `user` and end every session but `keep_session_id` (all of them when
    None, as a password reset by email does); returns how many ended. With `replacing` (a password
    hash), only if that is still the stored one: None, and nothing changed, if not. Callers check
    who asks."""
    query = {"password_hash": replacing} if replacing is not None else {}
    if not user.modify(query, password_hash=hash_password(password)):
        return None
    realtime.broadcast("user_changed", user.id)
    return sessions.end_others(user, keep_session_id)


def update_profile(user, data):
    """Change the settings `data` names: name, store description, timezone, email alerts, and
    whether the user's presence is hidden. What it leaves out stays as it is."""
    form = parse(ProfileChange, data)
    changes = {}
    if form.name is not None:
        changes["name"] = form.name
    if user.is_store and form.description is not None:
        changes["description"] = form.description
    if form.timezone:
        if form.timezone not in TIMEZONES:
            raise InvalidInput("Choose a timezone from the list.", field="timezone")
        changes["timezone"] = form.timezone
    if form.email_alerts is not None:
        changes["email_alerts"] = form.email_alerts
    if changes:
        user.modify(**changes)
    if form.hide_presence is not None:
        privacy.set_hidden(user, form.hide_presence)
    realtime.broadcast("user_changed", user.id)
    if "name" in changes:
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
