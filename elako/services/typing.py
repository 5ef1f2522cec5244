"""Typing indicators: ephemeral signals to the other participant, never stored or replayed."""

from flask import current_app

from .. import realtime
from ..errors import InvalidInput
from . import ratelimit
from .conversations import conversation_for

STATES = ("start", "stop")


def signal(user, conversation_id, state):
    """Tell the other participant that `user` started or stopped typing.

    The indicator expires by itself after TYPING_TTL_SECONDS (sent along as `expires_in`), so a
    lost "stop" never leaves it on. Nothing is sent while the conversation is blocked.
    """
    if state not in STATES:
        raise InvalidInput("state must be 'start' or 'stop'.", field="state")
    conversation = conversation_for(user, conversation_id)
    if conversation.blocked_by:
        return
    ratelimit.hit("typing", user.id)
    realtime.signal("typing", [conversation.other_party(user.id)], {
        "conversation_id": str(conversation.id), "user_id": str(user.id), "name": user.name,
        "state": state, "expires_in": current_app.config["TYPING_TTL_SECONDS"]})
