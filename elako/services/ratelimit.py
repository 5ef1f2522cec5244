"""Abuse limits shared by every worker and host, kept in Redis by the `limits` library.

Each limit is a sliding window named in configuration ("30 per minute"). A refused action raises
RateLimited with the seconds until it may be retried, which becomes 429 + Retry-After.
"""

import ipaddress
import math
import time
from urllib.parse import urlsplit

from flask import current_app
from limits import parse
from limits.storage import RedisClusterStorage, RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from .. import metrics
from ..errors import RateLimited
from ..extensions import get_redis

MESSAGES = {
    "send": "You are sending messages too quickly. Wait a moment and try again.",
    "typing": "Too many typing signals.",
    "upload": "You are sending photos and files too quickly. Wait a few minutes and try again.",
    "sign_in": "Too many sign-in attempts. Wait a few minutes and try again.",
    "sign_in_email": "Too many sign-in attempts. Wait a few minutes and try again.",
    "sign_up": "Too many new accounts from here. Try again later.",
    "password_reset": "Too many password reset requests from here. Try again later.",
    "account_email": "Too many emails to this address. Try again later.",
    "changes": "Too many changes to your conversations. Wait a moment and try again.",
    "stream_open": "This account reconnects too often. Wait a moment and try again.",
    "open_conversation": "You are opening conversations too quickly. Wait a while and try again.",
    "export": "You have downloaded your data several times already. Try again later.",
}


def init_app(app):
    prefix = f"{app.config['REDIS_KEY_PREFIX']}:limits"
    if app.config["REDIS_CLUSTER"]:
        # limits builds its own cluster client from a URL of its own scheme.
        url = urlsplit(app.config["REDIS_URL"])
        storage = RedisClusterStorage(
            url._replace(scheme="redis+cluster").geturl(), key_prefix=prefix,
            ssl=url.scheme == "rediss", max_connections=app.config["REDIS_MAX_CONNECTIONS"])
    else:
        storage = RedisStorage("redis://", connection_pool=get_redis(app).connection_pool,
                               key_prefix=prefix)
    app.extensions["rate_limiter"] = SlidingWindowCounterRateLimiter(storage)


def client_network(address):
    """What limits count a client by: its IPv4 address, or its IPv6 /64 (one subscriber's network:
    each of its addresses would otherwise get a fresh count)."""
    try:
        ip = ipaddress.ip_address(address)
    except (TypeError, ValueError):
        return "unknown"
    if ip.version == 6 and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _limit(action):
    return parse(current_app.config[f"RATE_LIMIT_{action.upper()}"])


def _refuse(action, identifiers):
    limiter = current_app.extensions["rate_limiter"]
    reset_at = limiter.get_window_stats(_limit(action), action, *identifiers).reset_time
    metrics.RATE_LIMITED.labels(action).inc()
    raise RateLimited(MESSAGES[action], retry_after=max(1, math.ceil(reset_at - time.time())))


def hit(action, *identifiers):
    """Count one `action` by `identifiers` (a user id, an IP); raise RateLimited past the limit."""
    identifiers = [str(i) for i in identifiers]
    if not current_app.extensions["rate_limiter"].hit(_limit(action), action, *identifiers):
        _refuse(action, identifiers)


def check(action, *identifiers):
    """Raise RateLimited if `action` by `identifiers` is at its limit, without counting this one
    (for limits that count only failures, see `count`)."""
    identifiers = [str(i) for i in identifiers]
    if not current_app.extensions["rate_limiter"].test(_limit(action), action, *identifiers):
        _refuse(action, identifiers)


def count(action, *identifiers):
    """Count one `action` by `identifiers` against its limit, without refusing anything now."""
    current_app.extensions["rate_limiter"].hit(_limit(action), action, *map(str, identifiers))
