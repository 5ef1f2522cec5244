"""When each user last did something, for deciding who is away (email alerts).

An open event stream does not count: a tab forgotten on an idle desktop would otherwise swallow
every alert (Zulip's "idle desktop problem"), and streams and long polls reconnect by themselves,
so their requests do not count either. What counts is a request the person made — a page, a
form, an API call — and the page's own signal on focus or input (static/elako.js, POST /activity). A message merely sent down a stream is never "seen" either: a
laptop closed right after a message arrived still gets its email (the "hard disconnect problem");
reading the message is what settles it.
"""

import logging
import time

import redis
from flask import current_app, g, request

from ..extensions import get_redis
from . import presence

log = logging.getLogger(__name__)

KEEP_SECONDS = 30 * 24 * 3600  # someone away for longer is simply "away since forever"
# Blueprints whose requests clients make on their own: event streams and long polls.
BY_THEMSELVES = {"events"}
# Requests a person makes in a browser: they count for presence too (services/presence.py), for
# people without a live stream.
PAGES = {"pages", "auth", "alerts"}


def _key(user_id):
    return f"{current_app.config['REDIS_KEY_PREFIX']}:{{{user_id}}}:active"


def record(user_id, *, page=False):
    """Note that `user_id` is here now; `page`: a page request, which counts for presence too.
    One round trip (both keys carry the user's hash tag)."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.set(_key(user_id), repr(time.time()), ex=KEEP_SECONDS)
    if page:
        presence.note_page_seen(user_id, pipe)
    pipe.execute()


def last_active(user_id):
    """Unix time of the user's last activity; 0 if none is known."""
    return float(get_redis().get(_key(user_id)) or 0)


def forget(user_id):
    get_redis().delete(_key(user_id))


def init_app(app):
    @app.after_request
    def record_signed_in_request(response):
        user = g.get("user")
        if user is not None and request.blueprint not in BY_THEMSELVES:
            try:
                record(user.id, page=request.blueprint in PAGES)
            except redis.RedisError as exc:
                # A hint for email alerts and presence, never a reason for a request to fail:
                # with Redis away, the 503 that says so must reach the client, not become a 500.
                log.warning("could not record activity of %s: %s", user.id, exc)
        return response
