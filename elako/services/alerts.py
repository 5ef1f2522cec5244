"""Email alerts for unread messages, for people who are away.

A new message schedules a check of its conversation for the receiver, EMAIL_ALERT_DELAY_SECONDS
later (one scheduled check covers every message of that stretch). The check sends one email when
the receiver has had no activity (services.activity) for the whole delay and still has unread
messages that arrived after their last activity; reading them, or coming back within the delay,
settles it. One email per conversation per absence: the absence is named by the time of the last
activity before it, and the email is sent once per name.
"""

import time
from datetime import datetime, timezone

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from .. import jobs, realtime
from ..errors import NotFound
from ..models import Conversation, Message, User
from . import activity, mail

LATEST = 5  # messages quoted in an email
TYPE_LABELS = {"image": "📷 Photo", "file": "📎 File", "product": "🛍️ Product", "order": "🧾 Order"}


def schedule_check(user_id, conversation_id, delay=None):
    """Check the conversation for `user_id` after the delay, unless a check is already due then."""
    delay = current_app.config["EMAIL_ALERT_DELAY_SECONDS"] if delay is None else delay
    jobs.enqueue("alert_unread", str(user_id), str(conversation_id), delay=delay,
                 unique_key=f"alert-check:{user_id}:{conversation_id}", unique_for=delay)


def check_unread(user_id, conversation_id):
    """Email `user_id` about unread messages in the conversation if they have been away long
    enough; otherwise nothing, or another check when they will have been."""
    user = User.objects(id=user_id).first()
    if user is None or not user.email_alerts or not mail.may_email(user):
        return
    conversation = Conversation.objects(id=conversation_id, participants=user.id).first()
    if conversation is None or user.id in conversation.blocked_by:
        return
    active_at = activity.last_active(user.id)
    since = datetime.fromtimestamp(active_at, timezone.utc).replace(tzinfo=None)
    unread = list(Message.objects(conversation_id=conversation.id, receiver_id=user.id,
                                  read_at=None, deleted_at=None, created_at__gt=since)
                  .order_by("-seq").limit(LATEST + 1))
    if not unread:
        return  # read, unsent, or they were back after it arrived
    wait = active_at + current_app.config["EMAIL_ALERT_DELAY_SECONDS"] - time.time()
    if wait > 0:  # they were around after an earlier message: give them the full delay
        schedule_check(user.id, conversation.id, delay=wait)
        return
    sender = conversation.other_name(user.id)
    unsubscribe = mail.absolute_url("alerts.unsubscribe", token=unsubscribe_token(user))
    mail.send_to_user(
        user, "unread_alert",
        subject=f"{sender} sent you a message on ELako" if len(unread) == 1
        else f"{sender} sent you messages on ELako",
        headers={"List-Unsubscribe": f"<{unsubscribe}>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        unique_key=f"alert:{user.id}:{conversation.id}:{active_at!r}",
        user=user, sender=sender, more=len(unread) > LATEST,
        lines=[_line(m) for m in reversed(unread[:LATEST])],
        conversation_url=mail.absolute_url("pages.conversation", conversation_id=conversation.id),
        settings_url=mail.absolute_url("pages.settings"), unsubscribe_url=unsubscribe)


def _line(message):
    return TYPE_LABELS.get(message.type, message.body)


def set_email_alerts(user, enabled):
    """Turn `user`'s email alerts on or off (a bool the API's schema or the form decided)."""
    user.modify(set__email_alerts=enabled)
    realtime.broadcast("user_changed", user.id)  # workers drop the user they cached
    return user


def _serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="email-alerts-off")


def unsubscribe_token(user):
    """A link token that turns off this user's alerts, without signing in, for ever."""
    return _serializer().dumps(str(user.id))


def unsubscribe_user(token):
    """The user an unsubscribe token names; NotFound for a forged or mangled one."""
    try:
        user_id = _serializer().loads(token)
    except BadSignature:
        raise NotFound("This unsubscribe link is not valid.") from None
    user = User.objects(id=user_id).first()
    if user is None:
        raise NotFound("This unsubscribe link is not valid.")
    return user
