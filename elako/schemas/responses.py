"""What the API answers: the shapes of elako/services/payloads.py, described for the OpenAPI
document (the routes return the payloads themselves; the fuzz test checks they match)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ..models import MESSAGE_TYPES, ROLES, WEBHOOK_EVENT_TYPES

Time = datetime  # ISO 8601 in UTC with milliseconds and a Z: 2026-11-25T06:07:03.204Z


class User(BaseModel):
    id: str
    role: Literal[ROLES]
    name: str
    description: str = Field(None, description="Stores only.")


class Me(User):
    email: str
    timezone: str = Field(description="IANA name, e.g. Asia/Manila.")
    email_alerts: bool = Field(description="Email about unread messages while away.")
    hide_presence: bool = Field(description="Nobody sees when you are online or were last seen.")
    email_verified: bool = Field(description="You confirmed your address (the link in the "
                                             "verification email); until then it gets no alerts.")


class Notice(BaseModel):
    message: str = Field(description="What happened, in words for people.")


class Session(BaseModel):
    """A sign-in of yours: a browser, or an integration's tokens."""

    id: str
    kind: Literal["web", "api"]
    device: str = Field(description="From the User-Agent: \"Chrome on Android\", \"curl\".")
    created_at: Time
    last_seen_at: Time = Field(description="Last used (written at most every five minutes).")
    current: bool = Field(description="The session making this call.")


class Sessions(BaseModel):
    items: list[Session] = Field(description="Most recently used first.")


class EndedSessions(BaseModel):
    ended: int


class Token(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <access_token>`.")
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds until it expires (JWT_EXPIRES_SECONDS).")
    refresh_token: str = Field(description="Send to POST /api/auth/refresh for new tokens before "
                               "or after the access token expires; each one works once.")
    device_token: str = Field(None, description="Sign-in only: send it with your next password "
                              "sign-in from this device.")


class Stores(BaseModel):
    items: list[User]


class Presence(BaseModel):
    online: bool
    last_seen_at: Time | None = Field(description="While offline: when last seen, if known.")


class OtherParty(BaseModel):
    id: str
    name: str
    role: Literal[ROLES]
    presence: Presence = Field(None, description="Only from GET /api/conversations/{id}, and "
                                                 "not while the conversation is blocked.")


class LastMessage(BaseModel):
    id: str
    seq: int
    sender_id: str
    from_me: bool
    type: Literal[MESSAGE_TYPES]
    preview: str = Field(description="The first 120 characters; empty once unsent.")
    deleted: bool
    created_at: Time


class Conversation(BaseModel):
    """A conversation as the caller sees it: the other party, the caller's own unread count."""

    id: str
    other: OtherParty
    last_message: LastMessage | None
    last_seq: int = Field(description="The seq of the newest message (0: none yet).")
    last_activity_at: Time | None
    unread: int
    archived: bool
    open_orders: int = Field(description="Its pending, accepted or ready orders.")
    blocked_by_me: bool
    blocked_by_other: bool
    created_at: Time


class ConversationPage(BaseModel):
    items: list[Conversation] = Field(description="Newest activity first.")
    next_before: str | None = Field(description="Pass as `before` for the next page; null at "
                                                "the end.")


class Attachment(BaseModel):
    """A photo or file at `url`. Photos have a size and a `thumbnail_url`; files have null."""

    id: str
    name: str
    content_type: str
    size: int
    url: str
    width: int | None
    height: int | None
    thumbnail_url: str | None
    thumbnail_width: int | None = None
    thumbnail_height: int | None = None


class ProductSnapshot(BaseModel):
    """A product as a message carried it, never changed afterwards."""

    id: str
    name: str
    price_centavos: int
    currency: Literal["PHP"]
    in_stock: bool
    photo_thumbnail_url: str | None


class Message(BaseModel):
    id: str
    conversation_id: str
    seq: int = Field(description="1, 2, 3 … within its conversation.")
    sender_id: str
    receiver_id: str
    type: Literal[MESSAGE_TYPES]
    body: str = Field(description="Empty once unsent.")
    client_id: str | None
    created_at: Time
    delivered_at: Time | None
    read_at: Time | None
    deleted: bool
    attachment: Attachment | None = Field(description="Of `image` and `file` messages.")
    auto: bool = Field(description="An automatic reply: the store's away message, sent while "
                                   "it was closed.")
    order: "Order | None" = Field(None, description="Of `order` messages: the order as it is now.")
    product: ProductSnapshot | None = Field(
        description="Of `product` messages: the product as it was when sent.")


class MessagePage(BaseModel):
    items: list[Message] = Field(description="Oldest to newest within the page.")
    next_before: str | None = Field(description="Pass as `before` for older messages; null at "
                                                "the start of the conversation.")


class ReadResult(BaseModel):
    updated: int = Field(description="How many messages this call marked read.")
    read_at: Time | None = Field(description="null when there was nothing to mark.")


class UnreadCount(BaseModel):
    count: int


class WebhookEndpoint(BaseModel):
    id: str
    url: str
    events: list[Literal[WEBHOOK_EVENT_TYPES]]
    created_at: Time
    disabled: bool = Field(description="Turned off after failing for "
                           "WEBHOOK_DISABLE_AFTER_SECONDS (3 days); register it again.")


class NewWebhookEndpoint(WebhookEndpoint):
    secret: str = Field(description="`whsec_` + base64: verifies `webhook-signature`. Shown only "
                        "here.")


class WebhookEndpoints(BaseModel):
    items: list[WebhookEndpoint]


class WebhookDelivery(BaseModel):
    event_id: str = Field(description="Its `webhook-id`, the same on every attempt.")
    type: str = Field(description="An event type, or `webhook.test`.")
    status: Literal["pending", "succeeded", "failed"]
    status_code: int | None = Field(description="The last attempt's answer; null if none came.")
    attempts: int
    last_error: str | None
    next_retry_at: Time | None
    created_at: Time


class WebhookDeliveries(BaseModel):
    items: list[WebhookDelivery] = Field(description="The last 100, newest first.")


class FieldProblem(BaseModel):
    field: str | None = Field(description="The field's name; null for the body as a whole.")
    message: str


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, for programs: invalid_input, not_found, "
                                  "rate_limited, message_too_long, …")
    message: str = Field(description="For people.")
    request_id: str = Field(description="This request's id (its X-Request-ID): quote it when "
                                        "reporting a problem.")
    field: str = Field(None, description="The (first) field at fault.")
    details: list[FieldProblem] = Field(None, description="One entry per invalid field.")


class Error(BaseModel):
    """Every error, whatever its status."""

    error: ErrorDetail


# -- orders ----------------------------------------------------------------------------------------

class OrderLine(BaseModel):
    product_id: str
    name: str = Field(description="As the catalogue named it when ordered.")
    unit_price_centavos: int = Field(description="The catalogue's price when ordered.")
    quantity: int
    line_total_centavos: int


class Order(BaseModel):
    id: str
    conversation_id: str
    customer_id: str
    store_id: str
    items: list[OrderLine]
    total_centavos: int
    currency: Literal["PHP"]
    status: Literal["pending", "accepted", "declined", "ready", "completed", "cancelled"] = Field(
        description="pending → accepted | declined; accepted → ready → completed; cancelled by "
                    "the customer while pending, by the store while pending or accepted.")
    note: str
    created_at: Time
    updated_at: Time


Message.model_rebuild()  # its `order` names Order, defined just above


class OrderPage(BaseModel):
    items: list[Order] = Field(description="Newest first.")
    next_before: str | None = Field(description="Pass as `before` for the next page; null at "
                                                "the end.")


# -- quick replies ---------------------------------------------------------------------------------

class QuickReply(BaseModel):
    id: str
    shortcut: str = Field(description='Typed after "/" in the composer.')
    text: str
    created_at: Time


class QuickReplies(BaseModel):
    items: list[QuickReply] = Field(description="By shortcut; at most 50.")


# -- business hours (issue 10) ---------------------------------------------------------------------

class OpenStatus(BaseModel):
    open: bool
    text: str = Field(description="As customers see it, in the store's own time: \"Open now · "
                      "until 7:00 PM\", \"Closed · opens 1:00 PM\", \"Closed · opens Mon 7:00 AM\".")
    changes_at: Time | None = Field(description="When it next opens or closes; null: never.")


class StoreHours(BaseModel):
    configured: bool = Field(description="false: no hours set (nothing is shown to customers, no "
                                         "away message is sent); the rest is then the defaults.")
    timezone: str = Field(description="IANA name, e.g. Asia/Manila.")
    weekly: dict[str, list[list[str]]] = Field(
        description="Every day, mon to sun: its open ranges [[\"07:00\", \"12:00\"], …]; [] "
                    "closed.")
    away_message: str
    status: OpenStatus | None = Field(description="Now; null without hours.")


# -- catalogue (issue 10) ---------------------------------------------------------------------------

class Product(BaseModel):
    id: str
    store_id: str
    name: str
    price_centavos: int = Field(description="In centavos: 123450 is ₱1,234.50.")
    currency: Literal["PHP"]
    description: str
    in_stock: bool
    photo_url: str | None = Field(description="Any signed-in user may fetch it; add "
                                              "`?size=thumb` for a thumbnail (at most 320 px).")


class ProductPage(BaseModel):
    items: list[Product] = Field(description="By name.")
    next_before: str | None = Field(description="Pass as `before` for the next page; null at "
                                                "the end.")
