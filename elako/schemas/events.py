"""What the event stream (`GET /api/events`) and its long-poll twin (`GET /api/events/poll`)
carry: each event type with its `data`. docs/events.md tells the protocol around them."""

from typing import Any, Literal

from pydantic import BaseModel, Field

from .responses import Conversation, Message, Order, Time


class MessageEvent(BaseModel):
    message: Message
    conversation: Conversation = Field(description="As the recipient of the event sees it.")
    unread_total: int = Field(None, description="The receiver's unread messages, all "
                                                "conversations (for `message_deleted`, both).")


class Delivered(BaseModel):
    conversation_id: str
    up_to_seq: int
    message_ids: list[str]
    delivered_at: Time


class Read(BaseModel):
    conversation_id: str
    reader_id: str
    up_to_seq: int
    message_ids: list[str]
    read_at: Time
    conversation: Conversation = Field(None, description="The reader's own copy only.")
    unread_total: int = Field(None, description="The reader's own copy only.")


class ConversationChanged(BaseModel):
    conversation: Conversation


class Typing(BaseModel):
    conversation_id: str
    user_id: str
    name: str
    state: Literal["start", "stop"]
    expires_in: int = Field(description="Seconds: hide the indicator after this without a new "
                                        "signal.")


class PresenceChanged(BaseModel):
    user_id: str
    online: bool
    last_seen_at: Time | None


class Resync(BaseModel):
    reason: Literal["history_gap"]
    last_event_id: str | None = Field(description="Reload state over the API, then continue "
                                                  "from this id.")


class SignedOut(BaseModel):
    reason: Literal["signed_out", "expired"]


class OrderChanged(BaseModel):
    order: Order = Field(description="The whole order as it is now.")


# type: (data, who gets it and when, whether it has an `id`: durable events, replayed after a
# reconnect, and resync, whose id is where to continue)
EVENT_TYPES = {
    "message": (MessageEvent, "A new message; to both participants.", True),
    "message_deleted": (MessageEvent, "A message was unsent (`message.deleted`, empty `body`); "
                                      "to both participants.", True),
    "delivered": (Delivered, "Messages reached one of the receiver's live connections; to the "
                             "sender.", True),
    "read": (Read, "Messages were read; to the sender and the reader's other connections.", True),
    "conversation": (ConversationChanged, "Archived or unarchived (to the archiver), blocked or "
                                          "unblocked (to both), or the other party deleted "
                                          "their account (to the one left).", True),
    "notice": (dict[str, Any], "What a shop's own system published with `sse.publish` "
                               "(`notice` unless it named another type).", True),
    "typing": (Typing, "The other participant started or stopped typing; ephemeral.", False),
    "presence": (PresenceChanged, "A recent counterpart came online or went offline; "
                                  "ephemeral.", False),
    "resync": (Resync, "Your Last-Event-ID is older than what is kept, or unknown.", True),
    "signed_out": (SignedOut, "The session was revoked or ran out; the stream ends.", False),
    "order": (OrderChanged, "An order's status changed; to both participants (its status line "
                            "follows as a `message` of type `order_update`).", True),
}
