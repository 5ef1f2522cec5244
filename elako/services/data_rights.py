"""Users' data rights (the Philippines' Data Privacy Act of 2012): a copy of their data, and
deleting their account.

* Export (`archive_response`, `write_archive`): a zip of JSON files — the account (never its
  password hash), its sessions (never token hashes), a store's webhook endpoints (never their
  secrets), and every conversation the user can reach with all its messages as the user sees them
  (text decrypted when encryption at rest is on), and their orders. Written as it is read, a message at a time, so
  the archive is streamed with bounded memory however long the history.
* Deletion (`delete_account` with the password, `erase_account` for operators): the account can no
  longer sign in, every session, token and open stream ends, the text of every message the user
  sent is erased (MongoDB, inbox previews, the other parties' Redis streams, the webhook deliveries
  that carried it), their side of each conversation becomes "Deleted user" (in the other parties'
  stored events too) and blocked (nobody writes there again), their Redis keys go, and last the
  user document itself, which frees the email. The other party keeps their own messages, and a
  store its orders (a customer's notes on them are erased).

Files of messages (photos, documents) are in the export under files/<message id>/, and deletion
removes the deleted user's (elako/services/attachments.py).
"""

import io
import json
import logging
import zipfile

from flask import Response, g, stream_with_context

from .. import crypto, realtime
from ..errors import Forbidden
from ..models import (
    Conversation, Message, Order, Product, QuickReply, User, WebhookDelivery, WebhookEndpoint,
    utcnow,
)
from ..schemas import parse
from ..schemas.requests import AccountDeletion
from . import (
    accounts, activity, attachments, catalogue, presence, quick_replies, ratelimit, sessions,
    webhooks,
)
from .conversations import reachable_by
from .messages import carries_text
from .payloads import (
    conversation_payload, iso, message_payload, order_payload, product_payload, user_payload,
)

log = logging.getLogger(__name__)

DELETED_NAME = "Deleted user"
# Stored instead of the password hash at once: no hash ever matches it, so nobody signs in while
# the rest is erased.
NO_PASSWORD = "!account-deleted"
NOTIFY_BATCH = 500


# -- export ----------------------------------------------------------------------------------------

README = """\
Your data from ELako Chat, exported {exported_at}.

account.json        your account (without your password, which is kept only as a hash)
sessions.json       where you are signed in (browsers and integrations)
webhooks.json       your store's webhook endpoints (stores only; without their secrets)
quick_replies.json  your store's quick replies (stores only)
products.json       your store's catalogue, removed products too (stores only)
conversations.json  your conversations, as your inbox shows them
orders.json         the orders you placed (or, a store, received), newest first
messages/<id>.json  every message of conversation <id>, oldest first, as you saw them: yours
                    ("from_me": true) and those you received
files/<id>/...      the files of message <id>, if it had any

Times are UTC (ISO 8601). A message deleted (unsent) has an empty body; one whose text could not
be decrypted has "unreadable": true.
"""


def archive_response(user):
    """The user's export as a download, streamed (counted against RATE_LIMIT_EXPORT)."""
    ratelimit.hit("export", user.id)
    chunks = stream_with_context(_archive_chunks(user))
    response = Response(chunks, mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="elako-export-{utcnow():%Y-%m-%d}.zip"')
    response.headers["Cache-Control"] = "no-store"
    return response


def write_archive(user, target):
    """Write the user's export to the binary file `target` (the operators' command)."""
    for chunk in _archive_chunks(user):
        target.write(chunk)


class _Pipe(io.RawIOBase):
    """Where zipfile writes: bytes wait here until the generator hands them on. Not seekable,
    so zipfile streams (each member's sizes follow it in a data descriptor)."""

    def __init__(self):
        self.parts = []

    def writable(self):
        return True

    def write(self, data):
        self.parts.append(bytes(data))
        return len(data)

    def take(self):
        data, self.parts = b"".join(self.parts), []
        return data


def _archive_chunks(user):
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", README.format(exported_at=iso(utcnow())))
        archive.writestr("account.json", _json(_account(user)))
        archive.writestr("sessions.json", _json({"sessions": [
            _session(s) for s in sessions.open_sessions(user)]}))
        if user.is_store:
            archive.writestr("webhooks.json", _json({"webhooks": [
                webhooks.endpoint_payload(e) for e in WebhookEndpoint.objects(store_id=user.id)]}))
            archive.writestr("quick_replies.json", _json({"quick_replies": [
                quick_replies.payload(r) for r in quick_replies.quick_replies(user)]}))
            archive.writestr("products.json", _json({"products": [
                {**product_payload(p), "archived_at": iso(p.archived_at)}
                for p in Product.objects(store_id=user.id).order_by("name", "id")]}))
        yield pipe.take()
        conversations = Conversation.objects(reachable_by(user)).order_by(
            "-last_activity_at", "-id").exclude("recent_sends")
        yield from _json_list(archive, pipe, "conversations.json", "conversations", (
            conversation_payload(c, user.id) for c in conversations.clone().batch_size(500)))
        yield from _json_list(archive, pipe, "orders.json", "orders", (
            order_payload(o) for o in Order.objects(**{f"{user.role}_id": user.id}).order_by(
                "-created_at", "-id").batch_size(500)))
        # The ids first: a slow download must not keep a cursor idle until the server drops it.
        for conversation_id in [c.id for c in conversations.clone().only("id")]:
            files = []

            def messages():
                query = Message.objects(conversation_id=conversation_id).order_by("seq")
                for message in query.batch_size(500):
                    exported, found = _message(message, user.id)
                    files.extend(found)
                    yield exported

            yield from _json_list(archive, pipe, f"messages/{conversation_id}.json", "messages",
                                  messages(), conversation_id=str(conversation_id))
            for name, content in files:  # one member open at a time: the files come after
                with archive.open(name, "w") as out:
                    for chunk in content:
                        out.write(chunk)
                        yield pipe.take()
        yield pipe.take()
    yield pipe.take()  # the central directory


def _json_list(archive, pipe, name, key, items, **fields):
    """Write the member `name`, `{**fields, key: [items]}`, an item at a time: none of it is
    held in memory beyond the item at hand."""
    with archive.open(name, "w") as out:
        out.write(_json(fields)[:-1].rstrip().encode())  # the object, left open
        out.write(b'%s "%s": [' % (b"," if fields else b"", key.encode()))
        for number, item in enumerate(items):
            out.write(b",\n" if number else b"\n")
            out.write(_json(item).encode())
            yield pipe.take()
        out.write(b"\n]}\n")


def _json(data):
    return json.dumps(data, ensure_ascii=False, indent=1)


def _account(user):
    return {**user_payload(user), "email": user.email, "timezone": user.timezone,
            "hide_presence": user.hide_presence, "email_alerts": user.email_alerts,
            "created_at": iso(user.created_at), "exported_at": iso(utcnow())}


def _session(session):
    return {**sessions.describe(session, None), "user_agent": session.user_agent,
            "expires_at": iso(session.expires_at)}


def _message(message, viewer_id):
    """A message as its export shows it, and the (archive name, content) of its files."""
    exported = {**message_payload(message), "from_me": message.sender_id == viewer_id}
    if isinstance(message.body, crypto.UnreadableText):
        exported["unreadable"] = True
    files = [(f"files/{message.id}/{name}", content)
             for name, content in attachments.exported_files(message)]
    if files:
        exported["files"] = [name for name, _ in files]
    return exported, files


# -- deletion --------------------------------------------------------------------------------------

def delete_account(user, data, *, session):
    """Delete `user`'s account, asked from `session` with the password (wrong ones are slowed
    like sign-in guesses): Forbidden `wrong_password` and nothing changes, else `erase_account`."""
    form = parse(AccountDeletion, data)
    if not accounts.confirm_password(user, form.password, session=session):
        raise Forbidden("That is not your password. Your account was not deleted.",
                        code="wrong_password", field="password")
    erase_account(user)
    g.user = None  # nothing after this request (its activity record) may write them back


def erase_account(user):
    """Erase `user` (see the module's docstring). Safe to run again if it stopped half-way."""
    uid = user.id
    User.objects(id=uid).update_one(set__password_hash=NO_PASSWORD)
    realtime.broadcast("user_changed", uid)
    sessions.end_others(user)  # every cookie, token and open stream, on every worker
    conversations = Conversation.objects(participants=uid)
    conversation_ids = [c.id for c in conversations.only("id")]
    own = {f"{user.role}_id": uid}
    # Blocked by the deleted side: nobody sends or types there again, and no presence shows.
    Conversation.objects(id__in=conversation_ids, **own).update(
        **{f"set__{user.role}_name": DELETED_NAME}, add_to_set__blocked_by=uid,
        pull__archived_by=uid, set__customer_unread=0, set__store_unread=0)
    Conversation.objects(id__in=conversation_ids).update(
        __raw__={"$pull": {"recent_sends": {"key": {"$regex": f"^{uid}:"}}}})
    Conversation.objects(id__in=conversation_ids, last_message__sender_id=uid).update(
        set__last_message__body="", set__last_message__deleted=True,
        unset__last_message__attachment_name=True)
    sent = Message.objects(conversation_id__in=conversation_ids, sender_id=uid)
    attachments.erase_files(sent.clone())
    sent.clone().filter(deleted_at=None).update(set__deleted_at=utcnow())
    sent.clone().update(set__body="", unset__client_id=True, unset__dedupe_key=True,
                        unset__product=True)
    # Orders stay with the other party as records of a sale; the customer's own words go.
    Order.objects(customer_id=uid).update(set__note="", unset__dedupe_key=True)
    others = _tell_the_other_parties(uid, conversation_ids)
    realtime.revise(set(others), lambda _type, data: _as_kept_by_others(data, str(uid)))
    if user.is_store:
        catalogue.erase_store(uid)
        for endpoint in WebhookEndpoint.objects(store_id=uid):
            WebhookDelivery.objects(endpoint_id=endpoint.id).delete()
            endpoint.delete()
        QuickReply.objects(store_id=uid).delete()
    else:
        _erase_webhook_copies(uid, others)
    realtime.get_bus().forget(uid)
    presence.forget(uid)
    activity.forget(uid)
    User.objects(id=uid).delete()  # last: the email is free for a new account now
    log.info("account %s erased", uid)


def _tell_the_other_parties(uid, conversation_ids):
    """Send each other party their conversation as it is now (named "Deleted user", blocked,
    previews erased), so open pages update; returns their ids."""
    others = []
    batch = {}
    for conversation in Conversation.objects(id__in=conversation_ids):
        other = conversation.other_party(uid)
        others.append(other)
        if other == conversation.store_id and not conversation.last_seq:
            continue  # a store never hears of a conversation its customer did not write in
        batch[other] = {"conversation": conversation_payload(conversation, other)}
        if len(batch) >= NOTIFY_BATCH:
            realtime.notify("conversation", batch)
            batch = {}
    if batch:
        realtime.notify("conversation", batch)
    return others


def _erase_webhook_copies(uid, store_ids):
    """Delete the recorded webhook deliveries to the stores `store_ids` that carry the text of
    customer `uid` (a pending one is then never sent)."""
    endpoint_ids = [e.id for e in WebhookEndpoint.objects(store_id__in=store_ids).only("id")]
    for delivery in WebhookDelivery.objects(endpoint_id__in=endpoint_ids).only("id", "body"):
        try:
            data = json.loads(delivery.body).get("data") or {}
        except ValueError:  # unreadable with the configured keys: nobody can read it
            continue
        if _carries_words_of(data, str(uid)):
            delivery.delete()


def _as_kept_by_others(data, uid):
    """An event in another party's stream as it may stay once user `uid` is deleted: None (gone)
    if it holds their words, else with their name, in its conversation snapshot, replaced by
    DELETED_NAME. Only snapshots name the other party: the name is not anywhere else in a stored
    event (typing and presence, which carry it too, are never stored)."""
    if _carries_words_of(data, uid):
        return None
    other = (data.get("conversation") or {}).get("other") or {}
    if other.get("id") == uid:
        other["name"] = DELETED_NAME
    return data


def _carries_words_of(data, uid):
    """Whether an event's (or a webhook delivery's) data holds text user `uid` wrote: a message
    or its preview, or the note on an order of theirs."""
    order = data.get("order") or {}
    return carries_text(data, "sender_id", uid) or bool(
        order.get("customer_id") == uid and order.get("note"))
