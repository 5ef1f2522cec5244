"""What stored changes set off beyond the live streams: an email alert check for a receiver who
may be away, and webhook events for the store. Each call here is one enqueue (one Redis round
trip) on the request's path; the work happens in the job worker (elako/jobs/tasks.py). A closed
store's away message is the exception: it is sent at once (services.hours.reply_if_away)."""

from .. import jobs
from . import hours, webhooks
from .payloads import conversation_payload, message_payload


def message_sent(message, conversation, store_view):
    """After a new message is stored and announced (services.messages._announce), given as the
    store's event showed it (`store_view`: its message and conversation payloads); a customer's
    message to a closed store then gets its away message (services.hours)."""
    jobs.enqueue("follow_up_message", str(message.receiver_id), str(conversation.id),
                 str(conversation.store_id), store_view)
    hours.reply_if_away(message, conversation)


def message_read(conversation, receipt):
    webhooks.publish(conversation.store_id, "message.read", receipt)


def message_deleted(message, conversation):
    webhooks.publish(conversation.store_id, "message.deleted", {
        "message": message_payload(message),
        "conversation": conversation_payload(conversation, conversation.store_id)})


def conversation_created(conversation):
    webhooks.publish(conversation.store_id, "conversation.created",
                     {"conversation": conversation_payload(conversation, conversation.store_id)})
