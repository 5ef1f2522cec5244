"""Credentials a test makes itself: forged and expired bearer tokens, forged cookies."""

import time
from datetime import datetime, timedelta

import jwt
import redis as redis_py
from bson import ObjectId
from flask import Flask
from flask.sessions import SecureCookieSessionInterface


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


def expired_token(token, secret):
    """The same claims, correctly signed with the app's own secret, but past their `exp`."""
    now = int(time.time())
    return jwt.encode({**claims_of(token), "iat": now - 7200, "exp": now - 60}, secret,
                      algorithm="HS256")


def forged_token(token):
    """The same claims, signed with a key that is not the app's."""
    return jwt.encode(claims_of(token), "not-the-secret-" + "z" * 40, algorithm="HS256")


def unsigned_token(token):
    """The same claims with `alg: none` (the classic JWT forgery)."""
    return jwt.encode(claims_of(token), None, algorithm="none")


def session_cookie(secret, data, name="elako_session"):
    """A Flask session cookie holding `data`, signed with `secret` (the app's, or a forger's)."""
    signer = Flask("forger")
    signer.secret_key = secret
    value = SecureCookieSessionInterface().get_signing_serializer(signer).dumps(dict(data))
    return f"{name}={value}"


def session_data(secret, value):
    """What a session cookie signed with `secret` holds."""
    reader = Flask("reader")
    reader.secret_key = secret
    return SecureCookieSessionInterface().get_signing_serializer(reader).loads(value)


def cookie_header(session):
    """The Cookie header a requests.Session would send (for the threaded SSE client)."""
    return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in session.cookies)}


def expire_session(server, db, session_id):
    """Age a session of `server` past its expiry in its database, as time would. Its workers'
    session caches copied the old expiry, so they are told to forget the session, the way they
    hear a sign-out."""
    db.auth_sessions.update_one({"_id": ObjectId(session_id)},
                                {"$set": {"expires_at": datetime.utcnow() - timedelta(hours=1)}})
    with redis_py.Redis.from_url(server.env["REDIS_URL"]) as redis:
        redis.publish(f"{server.prefix}:hub", f"signed_out {session_id}")
