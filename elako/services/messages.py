"""Sending, listing, reading and unsending messages.

A message is validated, authorized, stored, and only then published to the event streams of both
participants. Messages are numbered per conversation (`seq`), which orders history, pages it by
cursor and lets receipts say "read up to N".
"""

from datetime import timedelta

from bson import ObjectId
from flask import current_app
from mongoengine.errors import NotUniqueError
from mongoengine.queryset.visitor import Q

from .. import realtime
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge
from ..models import MESSAGE_TYPES, Conversation, LastMessage, Message, utcnow
from . import inputs, ratelimit
from .conversations import conversation_for
from .payloads import conversation_payload, iso, message_payload

BLOCKED = "You can't send messages in this conversation."


def _body(data):
    body = data.get("body")
    if not isinstance(body, str):
        raise InvalidInput("Message must be text." if body is not None else "Write a message first.",
                           field="body")
    body = inputs.clean_text(body, multiline=True)
    if not body:
        raise InvalidInput("Write a message first.", field="body")
    limit = current_app.config["MESSAGE_MAX_LENGTH"]
    if len(body) > limit:
        raise TooLarge(f"Messages can be at most {limit:,} characters (this one has {len(body):,}).",
                       code="message_too_long", field="body")
    return body


def _client_id(data):
    client_id = data.get("client_id")
    if client_id in (None, ""):
        return None
    if not isinstance(client_id, str) or not inputs.CLIENT_ID.match(client_id):
        raise InvalidInput("client_id must be 1 to 64 letters, digits or . _ : -", field="client_id")
    return client_id


def _existing(user, conversation, client_id):
    message = Message.objects(dedupe_key=f"{user.id}:{client_id}").first()
    if message is not None and message.conversation_id != conversation.id:
        raise Conflict("This client_id was already used for another conversation.",
                       field="client_id")
    return message


def send_message(user, conversation_id, data):
    """Store a message from `user` and publish it. Returns (message, created).

    A retry with the same client_id returns the first message (created=False), never a second,
    and finishes whatever the first attempt could not (see `_finish`).
    """
    conversation = conversation_for(user, conversation_id)
    body = _body(data)
    message_type = data.get("type") or "text"
    if message_type not in MESSAGE_TYPES:
        raise InvalidInput(f"type must be one of: {', '.join(MESSAGE_TYPES)}.", field="type")
    client_id = _client_id(data)
    if client_id and (existing := _existing(user, conversation, client_id)):
        return _finish(existing), False
    if conversation.blocked_by:
        raise Forbidden(BLOCKED, code="blocked")
    ratelimit.hit("send", user.id)

    seq = Conversation.objects(id=conversation.id).modify(inc__last_seq=1, new=True).last_seq
    message = Message(
        id=ObjectId(), conversation_id=conversation.id, seq=seq, sender_id=user.id,
        receiver_id=conversation.other_party(user.id), type=message_type, body=body,
        client_id=client_id, dedupe_key=f"{user.id}:{client_id}" if client_id else None,
        created_at=utcnow(), pending=list(STEPS))
    try:
        message.save(force_insert=True)
    except NotUniqueError:  # a concurrent retry with the same client_id stored it first
        return _finish(_existing(user, conversation, client_id)), False
    return _finish(message, conversation), True


# What a stored message still owes, in order: counting it in its conversation (unread count,
# preview, inbox order), then announcing it to both participants' streams.
STEPS = ("record", "announce")


def _finish(message, conversation=None):
    """Run the steps `message` (of `conversation`, if at hand) still owes. This request claims them all in one write, so however
    many retries race, each step runs once; a step that fails (Redis or MongoDB gone for a
    moment) is owed again with those after it, and the sender's retry with the same client_id
    finishes them. (On a replica set pymongo retries a failed write once by itself, so one that
    still fails was, as far as anyone can tell, not applied.)"""
    if not message.pending:
        return message
    claimed = Message.objects(id=message.id, pending__ne=[]).modify(set__pending=[])
    owed = [step for step in STEPS if claimed and step in claimed.pending]
    recorded = None  # the conversation as the record step left it
    for done, step in enumerate(owed):
        try:
            if step == "record":
                recorded = _record_in_conversation(
                    conversation or Conversation.objects.get(id=message.conversation_id), message)
            else:
                _announce(message, recorded or Conversation.objects.get(id=message.conversation_id))
        except Exception:
            Message.objects(id=message.id).update_one(push_all__pending=owed[done:])
            raise
    return message


def _announce(message, conversation):
    sender, receiver = message.sender_id, message.receiver_id
    realtime.notify("message", {
        sender: {"message": message_payload(message),
                 "conversation": conversation_payload(conversation, sender)},
        receiver: {"message": message_payload(message),
                   "conversation": conversation_payload(conversation, receiver),
                   "unread_total": unread_total(receiver)},
    })


def _record_in_conversation(conversation, message):
    """Count the message as unread, bring the conversation back from any archive, and make it the
    inbox preview unless a later message got there first (sends may finish out of order)."""
    changes = {
        f"inc__{conversation.unread_field(message.receiver_id)}": 1,
        "max__last_activity_at": message.created_at,
        "set__archived_by": [],
    }
    snapshot = LastMessage(message_id=message.id, seq=message.seq, sender_id=message.sender_id,
                           type=message.type, body=message.body, created_at=message.created_at)
    newer = Conversation.objects(Q(id=conversation.id) & (
        Q(last_message__exists=False) | Q(last_message__seq__lt=message.seq)))
    updated = newer.modify(new=True, set__last_message=snapshot, **changes)
    return updated or Conversation.objects(id=conversation.id).modify(new=True, **changes)


def list_messages(user, conversation_id, *, before=None, limit=None):
    """A page of history, oldest to newest, ending just before message `before` (or the newest).

    Returns (messages, next_before): the id to ask for the page before this one, or None at the
    start of the conversation.
    """
    conversation = conversation_for(user, conversation_id)
    limit = inputs.integer(limit, "limit", label="limit", minimum=1, maximum=100,
                           default=current_app.config["HISTORY_PAGE_SIZE"])
    query = Message.objects(conversation_id=conversation.id)
    if before:
        problem = "`before` must be a message id from this conversation."
        anchor = Message.objects(id=inputs.cursor(before, problem),
                                 conversation_id=conversation.id).only("seq").first()
        if anchor is None:
            raise InvalidInput(problem, field="before")
        query = query.filter(seq__lt=anchor.seq)
    page = list(query.order_by("-seq").limit(limit + 1))
    has_more = len(page) > limit
    page = page[:limit][::-1]
    return page, (str(page[0].id) if has_more else None)


def unread_total(user_id):
    return Message.objects(receiver_id=user_id, read_at=None, deleted_at=None).count()


def mark_read(user, conversation_id, *, up_to_seq=None):
    """Mark what `user` received in the conversation, up to `up_to_seq` (default: all), as read.

    One write for the whole batch. Returns (count, read_at).
    """
    conversation = conversation_for(user, conversation_id)
    up_to = inputs.integer(up_to_seq, "up_to_seq", label="up_to_seq", minimum=1,
                           maximum=max(1, conversation.last_seq), default=conversation.last_seq)
    unread = Message.objects(conversation_id=conversation.id, receiver_id=user.id, read_at=None,
                             deleted_at=None, seq__lte=up_to)
    ids = [m.id for m in unread.only("id")]
    if not ids:
        return 0, None
    read_at = utcnow()
    # Only what is still unread and not unsent: another tab, or the sender unsending, may have
    # got there first, and each message must leave the unread count exactly once.
    count = Message.objects(id__in=ids, read_at=None, deleted_at=None).update(set__read_at=read_at)
    if not count:
        return 0, None
    ids = _changed_by_us(ids, count, read_at=read_at)
    field = conversation.unread_field(user.id)
    conversation = Conversation.objects(id=conversation.id).modify(new=True, **{f"dec__{field}": count})
    receipt = {"conversation_id": str(conversation.id), "reader_id": str(user.id),
               "up_to_seq": up_to, "message_ids": [str(i) for i in ids], "read_at": iso(read_at)}
    realtime.notify("read", {
        conversation.other_party(user.id): receipt,
        user.id: {**receipt, "conversation": conversation_payload(conversation, user.id),
                  "unread_total": unread_total(user.id)},
    })
    return count, read_at


def mark_delivered(user, message_ids=None):
    """Record that messages to `user` reached one of their live connections, and tell the senders.

    With `message_ids` only those; without, everything still undelivered (the user just came
    online). Each message is marked once however many tabs race to do it.
    """
    query = Message.objects(receiver_id=user.id, delivered_at=None, read_at=None)
    if message_ids is not None:
        query = query.filter(id__in=list(message_ids))
    pending = list(query.only("id", "conversation_id", "sender_id", "seq"))
    if not pending:
        return 0
    delivered_at = utcnow()
    # Not once read: a `delivered` after the `read` would turn the sender's ticks back.
    count = Message.objects(id__in=[m.id for m in pending], delivered_at=None, read_at=None).update(
        set__delivered_at=delivered_at)
    if count:
        changed = set(_changed_by_us([m.id for m in pending], count, delivered_at=delivered_at))
        pending = [m for m in pending if m.id in changed]
        by_conversation = {}
        for message in pending:
            by_conversation.setdefault((message.conversation_id, message.sender_id), []).append(message)
        realtime.get_bus().publish([
            (str(sender_id), "delivered", {
                "conversation_id": str(conversation_id),
                "up_to_seq": max(m.seq for m in messages),
                "message_ids": [str(m.id) for m in messages],
                "delivered_at": iso(delivered_at)})
            for (conversation_id, sender_id), messages in by_conversation.items()])
    return count


def _changed_by_us(ids, count, **stamp):
    """Which of `ids` an update that changed `count` of them stamped (another request may have
    changed some first): receipts name only those, so none is announced twice."""
    if count == len(ids):
        return ids
    return [m.id for m in Message.objects(id__in=ids, **stamp).only("id")]


def delete_message(user, message_id):
    """Unsend one of `user`'s own messages within the allowed window.

    The text is erased from storage (and from the inbox preview), not just hidden; both sides see
    "message deleted" in its place.
    """
    message = Message.objects(id=inputs.object_id(message_id, "Message"),
                              sender_id=user.id).first()
    if message is None:
        raise NotFound("Message was not found.")
    conversation = conversation_for(user, message.conversation_id)
    if message.deleted_at is not None:
        return message
    window = timedelta(seconds=current_app.config["MESSAGE_DELETE_WINDOW_SECONDS"])
    if utcnow() - message.created_at > window:
        raise Forbidden("This message is too old to delete.", code="delete_window_passed")
    # Atomic on the message: if it was unread at this moment it leaves the unread count exactly
    # once, even when the receiver marks it read at the same time (mark_read skips deleted ones).
    before = Message.objects(id=message.id, deleted_at=None).modify(
        set__deleted_at=utcnow(), set__body="")
    if before is None:
        return message.reload()
    if before.read_at is None:
        Conversation.objects(id=conversation.id).update_one(
            **{f"dec__{conversation.unread_field(message.receiver_id)}": 1})
    # Blank the inbox preview only if it still is this message: a reply may have taken its place.
    Conversation.objects(id=conversation.id, last_message__message_id=message.id).update_one(
        set__last_message__body="", set__last_message__deleted=True)
    conversation.reload()
    message.reload()
    # The text also lives in the participants' stored events (the message itself, and previews
    # in conversation snapshots): erase those too. The event below carries the conversation's
    # current state and unread total, which supersedes anything erased.
    realtime.scrub(conversation.participants,
                   lambda _type, data: _carries_text_of(data, str(message.id)))
    payload = message_payload(message)
    realtime.notify("message_deleted", {
        user_id: {"message": payload,
                  "conversation": conversation_payload(conversation, user_id),
                  "unread_total": unread_total(user_id)}
        for user_id in conversation.participants})
    return message


def _carries_text_of(data, message_id):
    """Whether an event's data holds the text (or preview) of message `message_id`."""
    message = data.get("message") or {}
    last = (data.get("conversation") or {}).get("last_message") or {}
    return bool((message.get("id") == message_id and message.get("body"))
                or (last.get("id") == message_id and last.get("preview")))
