"""Typing indicators: ephemeral signals to the other participant, never stored or replayed."""

from .. import realtime
from ..errors import InvalidInput
from . import ratelimit
from .conversations import conversation_for

STATES = ("start", "stop")
# A typing indicator hides itself this long after the last signal. Browsers do it in CSS
# (`.typing-note` in static/elako.css, same value); API clients get it as `expires_in`.
EXPIRES_IN_SECONDS = 6


def signal(user, conversation_id, state):
    """Tell the other participant that `user` started or stopped typing.

    The indicator expires by itself after EXPIRES_IN_SECONDS, so a lost "stop" never leaves it on. Nothing is sent while the conversation is blocked.
    """
    if state not in STATES:
        raise InvalidInput("state must be 'start' or 'stop'.", field="state")
    conversation = conversation_for(user, conversation_id)
    if conversation.blocked_by:
        return
    ratelimit.hit("typing", user.id)
    realtime.signal("typing", [conversation.other_party(user.id)], {
        "conversation_id": str(conversation.id), "user_id": str(user.id), "name": user.name,
        "state": state, "expires_in": EXPIRES_IN_SECONDS})
