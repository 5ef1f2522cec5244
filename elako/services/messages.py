"""Sending, listing, reading and unsending messages.

A message is validated, authorized, stored, and only then published to the event streams of both
participants. Messages are numbered per conversation (`seq`), which orders history, pages it by
cursor and lets receipts say "read up to N".
"""

import logging
from datetime import timedelta

from bson import ObjectId
from flask import current_app
from mongoengine.errors import NotUniqueError

from .. import metrics, realtime
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge
from ..models import Conversation, LastMessage, Message, utcnow
from ..schemas import parse
from ..schemas.requests import NewMessage
from . import attachments, catalogue, followups, inputs, orders, ratelimit
from .conversations import NOT_FOUND, conversation_for, reachable_by
from .gates import TurnGate, per_worker
from .payloads import conversation_payload, iso, message_payload

log = logging.getLogger(__name__)

BLOCKED = "You can't send messages in this conversation."


def check_length(body):
    """The configured limit, answered 413 (the schema has no fixed maximum)."""
    limit = current_app.config["MESSAGE_MAX_LENGTH"]
    if len(body) > limit:
        raise TooLarge(f"Messages can be at most {limit:,} characters (this one has {len(body):,}).",
                       code="message_too_long", field="body")


# How many client_ids a conversation remembers, so a retry is recognised in the same write that
# would otherwise count it again.
RECENT_SENDS = 50


def send_message(user, conversation_id, data):
    """Store a message from `user` and publish it. Returns (message, created).

    Three database round trips: one write to the conversation authorises the sender (a participant,
    not blocked), numbers the message and records it (unread count, inbox preview and order, back
    from any archive), then the insert, then the receiver's unread total for their badge. A retry
    with the same client_id returns the first message (created=False), never a second, and
    finishes whatever the first attempt could not (see `_retried`).
    """
    conversation_id = inputs.object_id(conversation_id, NOT_FOUND)
    form = parse(NewMessage, data)
    if form.type in orders.MESSAGE_TYPES:
        raise InvalidInput(orders.NOT_SENT_AS_MESSAGES, field="type")
    check_length(form.body)
    if form.type == "product":
        return catalogue.send_product(user, conversation_id, form)
    return deliver(user, conversation_id, body=form.body, message_type=form.type,
                   client_id=form.client_id)


def deliver(user, conversation_id, *, body, message_type, client_id, attachment=None, order=None,
            product=None, limit="send", conversation_update=None, auto=False):
    """Store and publish a validated message (services.attachments sends photos and files
    through here too, services.catalogue products, services.orders orders and their status
    lines, services.hours the away message, `auto`). Returns (message, created) as
    `send_message` does. `limit`: the rate limit it counts against (None: none; an away message
    counts against none); `conversation_update`: more changes for the write that records it
    (services.orders).

    A worker stores and publishes SEND_CONCURRENCY of these at a time, in order of arrival
    (`send_turns`)."""
    conversation_id = inputs.object_id(conversation_id, NOT_FOUND)
    message = Message(
        id=ObjectId(), conversation_id=conversation_id, sender_id=user.id, type=message_type,
        body=body, client_id=client_id, dedupe_key=f"{user.id}:{client_id}" if client_id else None,
        created_at=utcnow(), attachment=attachment, order_id=order and order.id, product=product)
    message.order = order
    message.auto = auto or None
    with send_turns().turn():
        return _store_and_publish(user, message, None if auto else limit, conversation_update or {})


def send_turns():
    """This worker's gate for sends (elako/services/gates.py says why)."""
    return per_worker("send_turns", lambda cfg: TurnGate(cfg["SEND_CONCURRENCY"],
                                                         cfg["SEND_WAIT_SECONDS"]))


def _store_and_publish(user, message, limit, conversation_update):
    conversation = _record(user, message, limit, conversation_update)
    if conversation is None:
        return _retried(user, message), False
    try:
        _store(message, conversation)
    except NotUniqueError:  # a client_id used elsewhere, or longer ago than the conversation recalls
        _uncount(message, conversation)
        existing = Message.objects.get(dedupe_key=message.dedupe_key)
        existing.order = message.order
        if existing.conversation_id != conversation.id:
            raise Conflict("This client_id was already used for another conversation.",
                           field="client_id") from None
        return existing, False
    except Exception:
        _uncount_if_possible(message, conversation)
        raise
    _announce(message, conversation)
    return message, True


def _record(user, message, limit, update):
    """Number and count `message` in its conversation in one write, if `user` may send there and
    it is not a retry of one already recorded; the conversation as it is now, or None."""
    receiver_unread = "store_unread" if user.role == "customer" else "customer_unread"
    condition = {"blocked_by__size": 0}
    update = dict(update)
    if message.dedupe_key:
        condition["recent_sends__key__ne"] = message.dedupe_key
        update["__raw__"] = {"$push": {"recent_sends": {
            "$each": [{"key": message.dedupe_key, "message_id": message.id}],
            "$slice": -RECENT_SENDS}}}
    if limit:
        ratelimit.hit(limit, user.id)
    if not message.auto:  # an away message leaves the preview to the message it answers
        # Numbered in the same write, so this message is the newest and the preview shows it.
        update["set__last_message"] = _snapshot(message, seq=None)
    # Without recent_sends: fifty embedded documents to parse on every send, and nothing here
    # reads them.
    return Conversation.objects(reachable_by(user), id=message.conversation_id, **condition).exclude(
        "recent_sends").modify(new=True, inc__last_seq=1, **{f"inc__{receiver_unread}": 1},
        max__last_activity_at=message.created_at, set__archived_by=[], **update)


def _snapshot(message, *, seq):
    """The inbox preview of `message` (`seq` None: numbered in the same write)."""
    return LastMessage(message_id=message.id, seq=seq, sender_id=message.sender_id,
                       type=message.type, body=message.body, created_at=message.created_at,
                       deleted=message.deleted_at is not None,
                       attachment_name=message.attachment.name if message.attachment else None,
                       product_name=message.product.name if message.product else None)


def _store(message, conversation, seq=None):
    message.seq = seq or conversation.last_seq
    message.receiver_id = conversation.other_party(message.sender_id)
    message.save(force_insert=True)


def _uncount(message, conversation):
    """Undo what `_record` did for a message that turned out not to be new (a rare path)."""
    receiver_unread = conversation.unread_field(conversation.other_party(message.sender_id))
    Conversation.objects(id=conversation.id).update_one(__raw__={
        "$inc": {receiver_unread: -1}, "$pull": {"recent_sends": {"key": message.dedupe_key}}})
    newest = Message.objects(conversation_id=conversation.id).order_by("-seq").first()
    snapshot = newest and _snapshot(newest, seq=newest.seq)
    Conversation.objects(id=conversation.id, last_message__message_id=message.id).update_one(
        set__last_message=snapshot)


def _uncount_if_possible(message, conversation):
    """Storing failed (MongoDB gone for a moment): take the count back if MongoDB answers again,
    so the conversation does not count a message it lacks. If it does not, a retry with the same
    client_id finds the message recorded and stores it (`_retried`)."""
    try:
        _uncount(message, conversation)
    except Exception as exc:
        log.warning("could not take back the count of unsaved message %s: %s", message.id, exc)


def _retried(user, message):
    """The send was refused by `_record`: not a participant (404), blocked (403), or a retry of a
    message already recorded. A retry gets the first message, stored and announced now if the
    first attempt failed before doing so."""
    conversation = conversation_for(user, message.conversation_id)
    recorded = message.dedupe_key and next(
        (s for s in conversation.recent_sends if s.key == message.dedupe_key), None)
    if not recorded:
        if conversation.blocked_by:
            raise Forbidden(BLOCKED, code="blocked")
        raise Conflict("The conversation changed while sending. Send again.")
    existing = Message.objects(dedupe_key=message.dedupe_key).first()
    if existing is not None:
        existing.order = message.order
    if existing is None:
        # Counted and previewed, but storing it failed: store it now, under the id the preview
        # shows, with a number of its own (numbers only need to grow).
        message.id = recorded.message_id
        before = Conversation.objects(id=conversation.id).modify(inc__last_seq=1)
        preview = before.last_message
        if preview and preview.seq is None and preview.message_id != message.id:
            # A preview without a number is the newest message's; it is no longer: number it.
            Conversation.objects(id=conversation.id,
                                 last_message__message_id=preview.message_id).update_one(
                set__last_message__seq=before.last_seq)
        try:
            _store(message, before, before.last_seq + 1)
        except NotUniqueError:  # a concurrent retry stored it first
            existing = Message.objects.get(dedupe_key=message.dedupe_key)
            existing.order = message.order
            return existing
        _announce(message, Conversation.objects.get(id=conversation.id))
        return message
    # While the first attempt's claim lasts, announcing again is safe (and finishes what the first
    # attempt may still be doing, or left half done); after that, only if the stream lacks it.
    claimed_until = existing.created_at + timedelta(seconds=ANNOUNCE_ONCE_SECONDS - CLOCK_SKEW)
    if utcnow() < claimed_until or not _announced(existing):
        _announce(existing, conversation)
    return existing


def _announced(message):
    """Whether `message` is already in its sender's event stream."""
    wanted = str(message.id)
    return any(event.type == "message" and event.data["message"]["id"] == wanted
               for event in realtime.get_bus().newest(str(message.sender_id), ANNOUNCED_LOOKBACK))


# A retry that finds its message unannounced among the sender's last this many events announces it.
ANNOUNCED_LOOKBACK = 200

# Each participant's stream takes a message's event once within this many seconds, however many
# attempts announce it: a retry that comes while the first attempt is still between storing and
# announcing (a client that gave up waiting) adds nothing. The claims cost Redis about 60 bytes
# per participant of a message with a client_id (only those are retried) for this long.
ANNOUNCE_ONCE_SECONDS = 600
CLOCK_SKEW = 60  # between the hosts that stamp created_at and the Redis that expires the claims


def _announce(message, conversation):
    sender, receiver = message.sender_id, message.receiver_id
    payload = message_payload(message)
    seen_by = {user_id: conversation_payload(conversation, user_id) for user_id in (sender, receiver)}
    ids = realtime.notify("message", {
        sender: {"message": payload, "conversation": seen_by[sender]},
        receiver: {"message": payload, "conversation": seen_by[receiver],
                   "unread_total": unread_total(receiver)},
    }, once=message.dedupe_key and f"message:{message.id}", once_seconds=ANNOUNCE_ONCE_SECONDS)
    if ids[receiver]:  # not when another attempt reached the receiver first
        # Email alert check, webhooks (issue 12), with what the store's event said.
        followups.message_sent(message, conversation, {
            "message": payload, "conversation": seen_by[conversation.store_id]})
        metrics.MESSAGES_SENT.inc()


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
    orders.load_for(page)
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
    followups.message_read(conversation, receipt)
    return count, read_at


def mark_delivered(user_id, sent=None):
    """Record that messages to `user_id` reached one of their live connections; tell the senders.

    `sent` holds the payloads of messages a stream just sent the user (one write for the lot);
    without it, everything still undelivered (the user just came online). Each message is marked
    once however many tabs race to do it.
    """
    if sent is None:
        pending = [(m.id, m.conversation_id, m.sender_id, m.seq) for m in Message.objects(
            receiver_id=user_id, delivered_at=None, read_at=None).only(
                "id", "conversation_id", "sender_id", "seq")]
    else:
        pending = [(ObjectId(m["id"]), ObjectId(m["conversation_id"]), ObjectId(m["sender_id"]),
                    m["seq"]) for m in sent]
    if not pending:
        return 0
    delivered_at = utcnow()
    ids = [message_id for message_id, *_ in pending]
    # Not once read: a `delivered` after the `read` would turn the sender's ticks back.
    count = Message.objects(id__in=ids, receiver_id=user_id, delivered_at=None, read_at=None).update(
        set__delivered_at=delivered_at)
    if count:
        changed = set(_changed_by_us(ids, count, delivered_at=delivered_at))
        by_conversation = {}
        for message_id, conversation_id, sender_id, seq in pending:
            if message_id in changed:
                by_conversation.setdefault((conversation_id, sender_id), []).append((message_id, seq))
        realtime.get_bus().publish([
            (str(sender_id), "delivered", {
                "conversation_id": str(conversation_id),
                "up_to_seq": max(seq for _, seq in delivered),
                "message_ids": [str(message_id) for message_id, _ in delivered],
                "delivered_at": iso(delivered_at)})
            for (conversation_id, sender_id), delivered in by_conversation.items()])
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
    if message.type in orders.MESSAGE_TYPES:
        raise Forbidden("An order can't be unsent; cancel it instead.", code="order_not_unsendable")
    conversation = conversation_for(user, message.conversation_id)
    if message.deleted_at is not None:
        return message
    window = timedelta(seconds=current_app.config["MESSAGE_DELETE_WINDOW_SECONDS"])
    if utcnow() - message.created_at > window:
        raise Forbidden("This message is too old to delete.", code="delete_window_passed")
    # Atomic on the message: if it was unread at this moment it leaves the unread count exactly
    # once, even when the receiver marks it read at the same time (mark_read skips deleted ones).
    before = Message.objects(id=message.id, deleted_at=None).modify(
        set__deleted_at=utcnow(), set__body="", unset__attachment=True)
    if before is None:
        return message.reload()
    if before.attachment:
        attachments.remove_stored(before.attachment)
    if before.read_at is None:
        Conversation.objects(id=conversation.id).update_one(
            **{f"dec__{conversation.unread_field(message.receiver_id)}": 1})
    # Blank the inbox preview only if it still is this message: a reply may have taken its place.
    Conversation.objects(id=conversation.id, last_message__message_id=message.id).update_one(
        set__last_message__body="", set__last_message__deleted=True,
        unset__last_message__attachment_name=True)
    conversation.reload()
    message.reload()
    # The text also lives in the participants' stored events (the message itself, and previews
    # in conversation snapshots): erase those too. The event below carries the conversation's
    # current state and unread total, which supersedes anything erased.
    realtime.scrub(conversation.participants,
                   lambda _type, data: carries_text(data, "id", str(message.id)))
    payload = message_payload(message)
    realtime.notify("message_deleted", {
        user_id: {"message": payload,
                  "conversation": conversation_payload(conversation, user_id),
                  "unread_total": unread_total(user_id)}
        for user_id in conversation.participants})
    followups.message_deleted(message, conversation)
    return message


def carries_text(data, field, value):
    """Whether an event's (or a webhook delivery's) data holds the text, the attachment or the
    inbox preview of a message whose `field` ("id", "sender_id") is `value`."""
    message = data.get("message") or {}
    last = (data.get("conversation") or {}).get("last_message") or {}
    return bool((message.get(field) == value
                 and (message.get("body") or message.get("attachment")))
                or (last.get(field) == value and last.get("preview")))
