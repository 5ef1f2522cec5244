"""Quick replies: a store's saved replies, at most MAX_QUICK_REPLIES, each a text under a shortcut.

In a store's composer, "/" and a shortcut offer the matching replies for editing
(static/quick_replies.js); without JavaScript, a list whose buttons send a reply as a message
(templates/_quick_replies.html). The settings page and the API call the functions here.
"""

from mongoengine.errors import NotUniqueError

from ..errors import Conflict, Forbidden, InvalidInput
from ..models import QuickReply
from ..schemas import parse
from ..schemas.requests import NewQuickReply, QuickReplyChange
from . import inputs
from .payloads import iso

MAX_QUICK_REPLIES = 50  # per store: a list a person can still read through


def _store_only(user):
    """Quick replies are a store's tool: a customer is refused, whoever's reply it names."""
    if not user.is_store:
        raise Forbidden("Only stores keep quick replies.")


def quick_replies(user):
    """The store's replies, by shortcut."""
    _store_only(user)
    return list(QuickReply.objects(store_id=user.id).order_by("shortcut_key"))


def for_composer(user):
    """What a conversation's composer offers `user`: a store's replies; nothing (and no query)
    for anyone else."""
    return quick_replies(user) if user is not None and user.is_store else []


def reply_for(user, reply_id):
    """One of the store's own replies; another store's is as unknown as one that never existed."""
    _store_only(user)
    return inputs.owned(QuickReply, reply_id, "Quick reply", store_id=user.id)


def create(user, data):
    """A new reply from `data` ({shortcut, text}); 422 once the store has MAX_QUICK_REPLIES,
    409 for a shortcut it already uses (in any case)."""
    _store_only(user)
    wanted = parse(NewQuickReply, data)
    if QuickReply.objects(store_id=user.id).count() >= MAX_QUICK_REPLIES:
        raise _full()
    reply = QuickReply(store_id=user.id, shortcut=wanted.shortcut,
                       shortcut_key=wanted.shortcut.lower(), text=wanted.text)
    _save(reply, force_insert=True)
    _undo_beyond_limit(reply)
    return reply


def update(user, reply_id, data):
    """Change a reply's shortcut or text (what `data` leaves out stays)."""
    reply = reply_for(user, reply_id)
    change = parse(QuickReplyChange, data)
    if change.shortcut is not None:
        reply.shortcut, reply.shortcut_key = change.shortcut, change.shortcut.lower()
    if change.text is not None:
        reply.text = change.text
    _save(reply)
    return reply


def delete(user, reply_id):
    reply_for(user, reply_id).delete()


def payload(reply):
    return {"id": str(reply.id), "shortcut": reply.shortcut, "text": reply.text,
            "created_at": iso(reply.created_at)}


def _save(reply, **options):
    try:
        reply.save(**options)
    except NotUniqueError:
        raise Conflict(f"You already have a quick reply “/{reply.shortcut}”. Choose another "
                       "shortcut.", code="shortcut_taken", field="shortcut") from None


def _full():
    return InvalidInput(f"A store can keep at most {MAX_QUICK_REPLIES} quick replies. Delete one "
                        "to add another.", code="too_many_quick_replies")


def _undo_beyond_limit(reply):
    """Two replies added at once may both have passed the count: the one added later (by time,
    then id) beyond the limit is taken back, so a store never keeps more than the limit."""
    stored = QuickReply.objects(store_id=reply.store_id)
    if stored.count() <= MAX_QUICK_REPLIES:
        return
    beyond = [r.id for r in stored.order_by("created_at", "id").only("id").skip(MAX_QUICK_REPLIES)]
    if reply.id in beyond:
        reply.delete()
        raise _full()
