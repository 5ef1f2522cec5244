"""Who may see whose presence (online, last seen).

Only the two sides of a conversation that has messages see each other's presence, never while
either has blocked the other, and nobody sees a user who chose to hide it (`User.hide_presence`).
A store cannot write first (conversations.py), so a customer's presence reaches only stores she
wrote to. Pages, the API and the event streams show presence only through `shown_presence`;
changes are announced only to `presence_audience`.
"""

from flask import current_app

from .. import realtime
from ..models import Conversation, User
from . import presence


def _shows_presence(row):
    return row["last_seq"] > 0 and not (row["blocked_by_me"] or row["blocked_by_other"])


def shown_presence(rows, *, pages=False):
    """{user id: presence} of the other parties of `rows` (conversation payloads, as their viewer
    sees them) whose presence that viewer may see; the others are left out. `pages`: for a page,
    which also shows activity without a live stream (presence.status)."""
    candidates = {row["other"]["id"] for row in rows if _shows_presence(row)}
    if not candidates:
        return {}
    hiding = realtime.session_cache().presence_hidden(sorted(candidates), _hiding)
    return presence.status(sorted(candidates - hiding), pages=pages)


def _hiding(user_ids):
    return {str(user.id) for user in User.objects(id__in=user_ids, hide_presence=True).only("id")}


def presence_audience(user, *, limit):
    """Ids of the people who may hear of `user`'s presence changes: the counterparts they talked
    with most recently, none while they hide it."""
    if user.hide_presence:
        return []
    return _counterparts(user, limit)


def _counterparts(user, limit):
    conversations = Conversation.objects(participants=user.id, last_seq__gt=0).order_by(
        "-last_activity_at").only("customer_id", "store_id", "blocked_by").limit(limit)
    return [c.other_party(user.id) for c in conversations if not c.blocked_by]


def set_hidden(user, hidden):
    """Hide or show `user`'s presence, and tell the counterparts who are online now: hidden reads
    as offline with no last seen; shown again, as the user's state now."""
    if user.hide_presence == hidden:
        return
    user.modify(hide_presence=hidden)
    realtime.broadcast("user_changed", user.id)  # first, so no worker shows a dot it cached
    candidates = _counterparts(user, current_app.config["PRESENCE_FANOUT_LIMIT"])
    watching = [uid for uid, state in presence.status(candidates).items() if state["online"]]
    state = ({"online": False, "last_seen_at": None} if hidden
             else presence.status([user.id])[str(user.id)])
    realtime.signal("presence", watching, {"user_id": str(user.id), **state})
