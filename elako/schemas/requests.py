"""What clients may send: JSON bodies and query strings. Text people type is cleaned (invisible
control characters gone, half a UTF-16 surrogate pair replaced) before its length is checked, and
a password with half a pair is refused, so nothing that cannot be encoded reaches MongoDB, Redis
or a log; ids and search terms go to services that parse or clean them the same way."""

import re
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from flask import current_app
from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from spectree.model_adapter.pydantic_adapter import BaseFile

from ..errors import InvalidInput
from ..models import MESSAGE_TYPES, ROLES, WEBHOOK_EVENT_TYPES
from ..services.inputs import CLIENT_ID, LONE_SURROGATE, clean_text
from . import OWN_MESSAGE

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")  # the whole of it: fullmatch
PASSWORD_MAX_LENGTH = 1024


def _refuse(message):
    return PydanticCustomError(OWN_MESSAGE, message)


def _cleaner(*, multiline):
    def clean(value):
        return clean_text(value, multiline=multiline) if isinstance(value, str) else value
    return BeforeValidator(clean)


def Text(max_length, *, required=True, multiline=False):  # noqa: N802 (a type, read as one)
    """Cleaned text of at most `max_length` characters; `required`: not blank once cleaned."""
    # The constraints sit next to `str` so they check the text once cleaned.
    return Annotated[Annotated[str, Field(min_length=1 if required else 0, max_length=max_length)],
                     _cleaner(multiline=multiline)]


def _valid_email(value):
    if not EMAIL.fullmatch(value):
        raise _refuse("Enter a valid email address.")
    return value


def _hashable(value):
    # Taken as sent, but half a UTF-16 surrogate pair cannot be encoded, so never hashed or checked
    # (pydantic refuses one only in some paths).
    if LONE_SURROGATE.search(value):
        raise _refuse("Password must be text.")
    return value


def _long_enough(value):
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(value) < minimum:
        raise _refuse(f"Password must be at least {minimum} characters.")
    return value


def _none_if_empty(value):
    return None if value == "" else value  # a form's empty field


def _client_id(value):
    if value is not None and not CLIENT_ID.match(value):
        raise _refuse("client_id must be 1 to 64 letters, digits or . _ : -")
    return value


def _web_url(value):
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is no number or out of range, a bracket left open
        valid = False
    if not valid:
        raise _refuse("url must be an http:// or https:// URL.")
    return value


Email = Annotated[Text(254), AfterValidator(str.lower)]
Password = Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX_LENGTH),
                     AfterValidator(_hashable)]
ObjectIdText = Annotated[str, Field(description="An id this API returned (24 hex digits).")]
Cursor = Annotated[str, Field(description="The `next_before` of the previous page.")]


class Registration(BaseModel):
    """A new customer or store account."""

    role: Literal[ROLES] = Field(title="Role")
    name: Text(80) = Field(title="Name")
    email: Annotated[Email, AfterValidator(_valid_email)] = Field(
        title="Email", json_schema_extra={"format": "email", "pattern": f"^{EMAIL.pattern}$"})
    password: Annotated[Password, AfterValidator(_long_enough)] = Field(
        title="Password", description="At least PASSWORD_MIN_LENGTH characters (8 by default).")
    description: Text(280, required=False, multiline=True) = Field(
        "", title="Description", description="Stores only: a line for the store directory.")


class ProfileChange(BaseModel):
    """Your settings (the settings page, PATCH /api/me): what is left out stays as it is."""

    name: Text(80) | None = Field(None, title="Name")
    description: Text(280, required=False, multiline=True) | None = Field(
        None, title="Description", description="Stores only.")
    timezone: str = Field("", title="Timezone", description="An IANA name, e.g. Asia/Manila.")
    hide_presence: Annotated[bool, Strict()] | None = Field(
        None, title="hide_presence", description="true: nobody sees when you are online or were "
        "last seen (only people you have messages with ever could).")
    email_alerts: Annotated[bool, Strict()] | None = Field(
        None, title="email_alerts",
        description="Email about unread messages after EMAIL_ALERT_DELAY_SECONDS away.")


class PasswordChange(BaseModel):
    """A new password, given with the current one. Every other session and token ends."""

    blank_messages: ClassVar = {"current_password": "Enter your current password."}

    current_password: Password = Field(title="Current password")
    new_password: Annotated[Password, AfterValidator(_long_enough)] = Field(
        title="New password", description="At least PASSWORD_MIN_LENGTH characters (8 by default).")


class AccountDeletion(BaseModel):
    """Your password, to delete your account for good."""

    blank_messages: ClassVar = {"password": "Enter your password."}

    password: Password = Field(title="Password")


class PasswordResetRequest(BaseModel):
    """An address whose password was forgotten."""

    blank_messages: ClassVar = {"email": "Enter the email address of your account."}

    email: Annotated[Email, AfterValidator(_valid_email)] = Field(
        title="Email", json_schema_extra={"format": "email", "pattern": f"^{EMAIL.pattern}$"})


class PasswordReset(BaseModel):
    """A new password, with the token from a password reset email."""

    blank_messages: ClassVar = {"password": "Choose a new password."}

    token: str = Field(title="token", description="From the link in the password reset email "
                                                  "(the part after `/password-reset/`).")
    password: Annotated[Password, AfterValidator(_long_enough)] = Field(
        title="New password", description="At least PASSWORD_MIN_LENGTH characters (8 by default).")


class RefreshRequest(BaseModel):
    """A refresh token to exchange for new tokens; it is spent."""

    refresh_token: str = Field(title="refresh_token")


class NewWebhook(BaseModel):
    """A URL to POST the store's events to, and which events."""

    url: Annotated[Text(2000), AfterValidator(_web_url)] = Field(
        title="url", description="http:// or https://; its address must be a public one.")
    events: Annotated[list[Literal[WEBHOOK_EVENT_TYPES]], Field(min_length=1)] = Field(
        title="events", description="The event types to send.")


class Credentials(BaseModel):
    """An email and password to exchange for an access token."""

    blank_messages: ClassVar = {"email": "Enter your email and password.",
                                "password": "Enter your email and password."}

    email: Email = Field(title="Email")
    password: Password = Field(title="Password")
    device_token: str | None = Field(
        None, description="The `device_token` of an earlier sign-in from this device: it is then "
                          "never refused because others guessed at the password.")


class NewConversation(BaseModel):
    """Who to talk to: a customer names a store, a store names a customer."""

    store_id: ObjectIdText | None = Field(None, description="A customer sends this.")
    customer_id: ObjectIdText | None = Field(None, description="A store sends this.")

    def counterpart_for(self, role):
        """The id of the other party for a user of `role`; InvalidInput if it is missing."""
        key = "store_id" if role == "customer" else "customer_id"
        if not getattr(self, key):
            raise InvalidInput(f"Send the {key} of the {key[:-3]} to talk to.", field=key)
        return getattr(self, key)


ClientId = Annotated[str | None, BeforeValidator(_none_if_empty), AfterValidator(_client_id)]


class NewMessage(BaseModel):
    """A message to send; retry with the same `client_id` to send it at most once."""

    # No field is required on its own, but an empty body is no message (400, as for a body that
    # is not JSON: elako/openapi.py).
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    # `type` first: whether `body` and `product_id` are needed depends on it.
    type: Literal[MESSAGE_TYPES] = Field("text", title="Type")
    body: Text(None, required=False, multiline=True) | None = Field(
        None, title="Message", validate_default=True,
        description="At most MESSAGE_MAX_LENGTH characters (4,000 by default): longer is "
                    "413 `message_too_long`. Optional with type `product` (a caption).")
    product_id: ObjectIdText | None = Field(
        None, title="product_id", validate_default=True,
        description="With type `product`: a product of the conversation's store (else 422).")
    client_id: ClientId = Field(
        None, title="client_id", json_schema_extra={"pattern": r"^[A-Za-z0-9._:-]{1,64}$"},
        description="Your own id for this message: a retry with the same one returns the first "
                    "message (200) instead of sending it twice.")

    @field_validator("body")
    @classmethod
    def _written_unless_product(cls, value, info):
        if not value and info.data.get("type") != "product":
            raise _refuse("Write a message first.")
        return value or ""

    @field_validator("product_id")
    @classmethod
    def _product_with_its_type(cls, value, info):
        if info.data.get("type") == "product" and not value:
            raise _refuse("Choose a product to send.")
        if value and info.data.get("type") != "product":
            raise _refuse("product_id goes with type product.")
        return value


class NewAttachment(BaseModel):
    """A photo or file to send (multipart/form-data), with an optional caption; retry with the
    same `client_id` to send it at most once (the file is stored once)."""

    file: BaseFile = Field(
        title="File", description="JPEG, PNG, WebP, GIF, HEIC (re-encoded, metadata removed), "
        "PDF, text, CSV, DOCX, XLSX, told from the bytes (else 415 `unsupported_file_type`); "
        "at most ATTACHMENT_MAX_BYTES (413 `file_too_large`); a damaged image: 422.")
    body: Text(None, required=False, multiline=True) = Field("", title="Caption")
    client_id: ClientId = NewMessage.model_fields["client_id"]


class AttachmentQuery(BaseModel):
    size: Literal["full", "thumb"] = Field("full", description="`thumb`: a photo's thumbnail.")


class ReadReceipt(BaseModel):
    """How far the caller has read; without `up_to_seq`, everything."""

    up_to_seq: Annotated[int, Strict(), Field(ge=1)] | None = Field(None, title="up_to_seq")


class TypingSignal(BaseModel):
    state: Literal["start", "stop"] = Field(title="state")


class StoreSearch(BaseModel):
    q: str = Field("", description="Part of a store's name.")


class ConversationQuery(BaseModel):
    archived: bool = Field(False, description="Only archived conversations (else only the rest).")
    unread: bool = Field(False, description="Only conversations with unread messages.")
    q: str = Field("", description="Part of the other party's name.")
    before: Cursor = ""
    limit: int = Field(50, ge=1, le=100, title="limit")


class HistoryQuery(BaseModel):
    before: Cursor = ""
    # Without it the service's default: HISTORY_PAGE_SIZE.
    limit: int = Field(None, ge=1, le=100, title="limit", description="Default 30 "
                       "(HISTORY_PAGE_SIZE).")


# -- orders ----------------------------------------------------------------------------------------

ORDER_MAX_LINES = 50
ORDER_NOTE_MAX_LENGTH = 500


class OrderItem(BaseModel):
    product_id: ObjectIdText = Field(title="product_id")
    quantity: Annotated[int, Strict(), Field(ge=1, le=999)] = Field(title="quantity")


def _order_length(items):
    if not items:
        raise _refuse("Choose at least one product to order.")
    if len(items) > ORDER_MAX_LINES:
        raise _refuse(f"An order can have at most {ORDER_MAX_LINES} lines.")
    return items


class NewOrder(BaseModel):
    """What a customer orders from the conversation's store: prices come from its catalogue at
    this moment. Retry with the same `client_id` to place it at most once."""

    blank_messages: ClassVar = {"items": "Choose at least one product to order."}

    items: Annotated[list[OrderItem], AfterValidator(_order_length)] = Field(
        title="items", description="1 to 50 lines, each an in-stock product of the store and a "
                                   "quantity of 1 to 999; a product at most once.",
        json_schema_extra={"minItems": 1, "maxItems": ORDER_MAX_LINES})
    note: Text(ORDER_NOTE_MAX_LENGTH, required=False, multiline=True) = Field("", title="Note")
    client_id: ClientId = NewMessage.model_fields["client_id"]


class OrderChange(BaseModel):
    status: Literal["accepted", "declined", "ready", "completed", "cancelled"] = Field(
        title="status")


class OrderQuery(BaseModel):
    status: Literal["pending", "accepted", "declined", "ready", "completed", "cancelled",
                    ""] = Field("", description="Only orders with this status.")
    before: Cursor = ""
    limit: int = Field(50, ge=1, le=100, title="limit")


# -- quick replies ---------------------------------------------------------------------------------

SHORTCUT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"


def _shortcut(value):
    if value.startswith("/"):
        raise _refuse('Shortcut is the word typed after "/": leave the "/" out.')
    if not re.fullmatch(SHORTCUT_PATTERN[1:-1], value):
        raise _refuse("Shortcut must be one word of at most 32 letters, digits, - or _ "
                      "(no spaces), starting with a letter or digit.")
    return value


def _fits_a_message(value):
    limit = current_app.config["MESSAGE_MAX_LENGTH"]
    if len(value) > limit:
        raise _refuse(f"Reply must be at most {limit:,} characters, as a message is.")
    return value


Shortcut = Annotated[Text(None), AfterValidator(_shortcut)]
ReplyText = Annotated[Text(None, multiline=True), AfterValidator(_fits_a_message)]


class NewQuickReply(BaseModel):
    """A saved reply: typed as "/shortcut" in the composer, it offers `text`."""

    blank_messages: ClassVar = {"shortcut": "Choose a shortcut.", "text": "Write the reply."}

    shortcut: Shortcut = Field(
        title="Shortcut", json_schema_extra={"pattern": SHORTCUT_PATTERN},
        description='One word without the "/": letters, digits, - and _, at most 32; unique in '
                    "your store whatever the case.")
    text: ReplyText = Field(title="Reply", description="At most MESSAGE_MAX_LENGTH characters.")


class QuickReplyChange(BaseModel):
    """A saved reply's new shortcut or text: what is left out stays as it is."""

    shortcut: Shortcut | None = Field(None, title="Shortcut",
                                      json_schema_extra={"pattern": SHORTCUT_PATTERN})
    text: ReplyText | None = Field(None, title="Reply",
                                   description="At most MESSAGE_MAX_LENGTH characters.")


# -- business hours (issue 10) ---------------------------------------------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# 24-hour wall time; "24:00" only ends a day's last range (a range never crosses midnight: a night
# shop writes 18:00-24:00 on one day and 00:00-02:00 on the next, and they join up).
CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")  # ASCII digits only
AWAY_MESSAGE_MAX_LENGTH = 500
RANGES_PER_DAY = 12


def clock_minutes(value):
    """'07:30' -> 450 (a time CLOCK matched)."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def _clock(value):
    if not CLOCK.fullmatch(value):
        raise _refuse(f"Times are 24-hour HH:MM from 00:00 to 24:00, not “{value[:12]}”.")
    return value


def _ordered(pair):
    start, end = pair
    if clock_minutes(start) >= clock_minutes(end):
        raise _refuse(f"{start}-{end} must end after it starts (write a night past midnight as "
                      "two ranges: …-24:00 and 00:00-… the next day).")
    return pair


def _apart(ranges):
    if len(ranges) > RANGES_PER_DAY:
        raise _refuse(f"A day can have at most {RANGES_PER_DAY} ranges.")
    ranges = sorted(ranges, key=lambda pair: clock_minutes(pair[0]))
    for (start, end), (next_start, next_end) in zip(ranges, ranges[1:]):
        if clock_minutes(next_start) < clock_minutes(end):
            raise _refuse(f"{start}-{end} and {next_start}-{next_end} overlap.")
    return ranges


def _known_timezone(value):
    from ..services.accounts import TIMEZONES  # (accounts imports this module)

    if value not in TIMEZONES:
        raise _refuse(f"“{value[:60]}” is not a timezone: use an IANA name such as Asia/Manila.")
    return value


ClockTime = Annotated[str, AfterValidator(_clock),
                      Field(json_schema_extra={"pattern": f"^({CLOCK.pattern})$"})]
OpenRange = Annotated[tuple[ClockTime, ClockTime], AfterValidator(_ordered)]
DayHours = Annotated[list[OpenRange], AfterValidator(_apart),
                     Field(json_schema_extra={"maxItems": RANGES_PER_DAY})]


class WeeklyHours(BaseModel):
    """Open ranges per day, [["07:00", "12:00"], ["13:00", "19:00"]]; a day left out or [] is
    closed. Ranges of a day may touch but not overlap."""

    model_config = {"extra": "forbid"}

    mon: DayHours = []
    tue: DayHours = []
    wed: DayHours = []
    thu: DayHours = []
    fri: DayHours = []
    sat: DayHours = []
    sun: DayHours = []

    @model_validator(mode="before")
    @classmethod
    def _known_days(cls, data):
        unknown = [key for key in data if key not in WEEKDAYS] if isinstance(data, dict) else []
        if unknown:
            raise _refuse(f"“{str(unknown[0])[:20]}” is not a day: use {', '.join(WEEKDAYS)}.")
        return data


class BusinessHours(BaseModel):
    """A store's weekly opening hours, in its own timezone, and its away message: the whole of
    them (what is left out of `weekly` is closed)."""

    timezone: Annotated[str, AfterValidator(_known_timezone)] = Field(
        title="timezone", description="The store's IANA timezone, e.g. Asia/Manila: the hours are "
                                      "its wall-clock time.")
    weekly: WeeklyHours = Field(title="weekly")
    away_message: Text(AWAY_MESSAGE_MAX_LENGTH, required=False, multiline=True) = Field(
        "", title="away_message", description="Sent once per closed period to a customer who "
        "writes while the store is closed; empty: no automatic reply.")


# -- catalogue (issue 10) ---------------------------------------------------------------------------

PRICE_MAX_CENTAVOS = 100_000_000  # ₱1,000,000.00: more is a typo, not a sari-sari price
Price = Annotated[int, Strict(), Field(ge=0, le=PRICE_MAX_CENTAVOS)]


class NewProduct(BaseModel):
    """A product for your catalogue (stores only); set its photo with PUT /api/products/{id}/photo."""

    blank_messages: ClassVar = {"name": "Give the product a name."}

    name: Text(120) = Field(title="Name")
    price_centavos: Price = Field(
        title="Price", description="In centavos (₱1,234.50 is 123450), at most 100,000,000.")
    description: Text(1000, required=False, multiline=True) = Field("", title="Description")
    in_stock: Annotated[bool, Strict()] = Field(True, title="in_stock")


class ProductChange(BaseModel):
    """Changes to one of your products: what is left out stays as it is."""

    blank_messages: ClassVar = NewProduct.blank_messages

    name: Text(120) | None = Field(None, title="Name")
    price_centavos: Price | None = Field(None, title="Price", description="In centavos.")
    description: Text(1000, required=False, multiline=True) | None = Field(None, title="Description")
    in_stock: Annotated[bool, Strict()] | None = Field(None, title="in_stock")


class ProductPhoto(BaseModel):
    """A product's photo (multipart/form-data)."""

    file: BaseFile = Field(
        title="Photo", description="JPEG, PNG, WebP, GIF or HEIC, re-encoded as message photos "
        "are; at most ATTACHMENT_MAX_BYTES (413); anything else: 415, a damaged image: 422.")


class ProductQuery(BaseModel):
    before: Cursor = ""
    limit: int = Field(50, ge=1, le=100, title="limit")
