"""What a form post leaves for the page it redirects to (Post/Redirect/Get): a send refused
without JavaScript redirects back to its conversation, whose page then shows the error with the
typed text still in the composer, so a reload never posts the form again and nothing typed is
lost. Kept in Redis for the browser's session (a cookie could not hold a long message), read once,
forgotten after a few minutes."""

import json

from flask import current_app

from ..extensions import get_redis

KEEP_SECONDS = 600  # the redirect is followed at once; this only bounds what is never read


def _key(session_id, place):
    return f"{current_app.config['REDIS_KEY_PREFIX']}:carryover:{session_id}:{place}"


def keep(session_id, place, **values):
    """Leave `values` for the next page of `session_id` at `place` (replacing any earlier)."""
    get_redis().set(_key(session_id, place), json.dumps(values), ex=KEEP_SECONDS)


def take(session_id, place):
    """What was left at `place` for `session_id` ({} if nothing), and forget it."""
    kept = get_redis().getdel(_key(session_id, place))
    return json.loads(kept) if kept else {}
