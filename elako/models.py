"""MongoDB documents. Every query the services run has an index here; see `meta["indexes"]`.

Times are stored as naive UTC datetimes truncated to milliseconds (BSON's precision), so a value read
back equals the value written and the one already sent out in events.
"""

import secrets
import unicodedata
from datetime import datetime, timezone

from bson import ObjectId
from mongoengine import (
    BooleanField, DateTimeField, Document, EmbeddedDocument, EmbeddedDocumentField, IntField, ListField,
    ObjectIdField, StringField,
)

from .crypto import EncryptedStringField

ROLES = ("customer", "store")
MESSAGE_TYPES = ("text", "image", "file", "product", "order", "order_update")


def utcnow():
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def random_id():
    """An ObjectId of 12 random bytes, for ids that other people see. A generated ObjectId is a
    timestamp, a per-process value and a counter: knowing one, the ids around it can be walked."""
    return ObjectId(secrets.token_bytes(12))


class OpeningHours(EmbeddedDocument):
    """A store's weekly opening hours and away message (services/hours.py). Kept on the store's
    User and copied onto each of its conversations, so showing the status in a thread and deciding
    on an automatic reply read nothing more."""

    timezone = StringField(required=True)  # the store's own IANA zone: the ranges are its wall time
    # Open [start, end) ranges in minutes from Monday 00:00, sorted; a day's end may be 24:00.
    ranges = ListField(ListField(IntField()), default=list)
    away_message = StringField(max_length=500, default="")  # empty: no automatic reply


class User(Document):
    id = ObjectIdField(primary_key=True, default=random_id)
    role = StringField(required=True, choices=ROLES)
    name = StringField(required=True, max_length=80)
    email = StringField(required=True, max_length=254)  # stored lower-cased
    password_hash = StringField(required=True)
    description = StringField(max_length=280, default="")  # stores only
    timezone = StringField(required=True, default="Asia/Manila")
    # Nobody sees when this user is online or was last seen (services/privacy.py).
    hide_presence = BooleanField(default=False)
    created_at = DateTimeField(required=True, default=utcnow)
    # Email about unread messages while away (services.alerts); the settings page turns it off.
    email_alerts = BooleanField(default=True)
    # When its owner proved the address theirs (services/verification.py); until then it gets no
    # email but the verification and password reset emails themselves.
    email_verified_at = DateTimeField()
    hours = EmbeddedDocumentField(OpeningHours)  # stores only; none: no hours shown, no away reply

    meta = {
        "collection": "users",
        "indexes": [
            {"fields": ["email"], "unique": True},
            ("role", "name"),  # the store directory, sorted and searched by name
        ],
    }

    @property
    def is_store(self):
        return self.role == "store"


class AuthSession(Document):
    """One sign-in. Its id is the `sid` of the JWT or the web cookie; deleting it signs that out.
    An API session lives as long as its refresh token; each access token is shorter-lived."""

    user_id = ObjectIdField(required=True)
    kind = StringField(required=True, choices=("web", "api"))
    user_agent = StringField(default="")  # shown as the device in the list of sessions
    created_at = DateTimeField(required=True, default=utcnow)
    last_seen_at = DateTimeField(required=True, default=utcnow)
    expires_at = DateTimeField(required=True)
    # SHA-256 of the current refresh token, and of the one it replaced: that one coming back means
    # it was copied, and the whole session ends (services/sessions.py).
    refresh_hash = StringField()
    replaced_refresh_hash = StringField()

    meta = {
        "collection": "auth_sessions",
        "indexes": [
            {"fields": ["expires_at"], "expireAfterSeconds": 0},  # MongoDB removes expired ones
            "user_id",
        ],
    }


class Attachment(EmbeddedDocument):
    """A message's photo or file. The bytes live in storage (elako/storage.py) under `file_id`
    (and `thumb_id` for an image's thumbnail); `id` is what links and the API name it by."""

    id = ObjectIdField(required=True, default=random_id)
    name = EncryptedStringField(required=True)  # as sent, cleaned; the extension fits the type
    content_type = StringField(required=True)
    size = IntField(required=True)
    digest = StringField(required=True)  # SHA-256 of the bytes served: the ETag
    file_id = ObjectIdField(required=True)
    width = IntField()  # images only, as are the rest
    height = IntField()
    thumb_id = ObjectIdField()
    thumb_size = IntField()
    thumb_width = IntField()
    thumb_height = IntField()


class LastMessage(EmbeddedDocument):
    """The snapshot an inbox row shows, so listing conversations never reads messages."""

    message_id = ObjectIdField(required=True)
    # Left out when the message was numbered in the same write (it is then the conversation's
    # last_seq); kept where an older message had to take the preview back.
    seq = IntField()
    sender_id = ObjectIdField(required=True)
    type = StringField(required=True)
    body = EncryptedStringField(default="")
    created_at = DateTimeField(required=True)
    deleted = BooleanField(default=False)  # once unsent, the preview says so instead of the text
    attachment_name = EncryptedStringField()  # a file's name, which its preview shows
    product_name = StringField()  # a product message's product, which its preview shows


class RecentSend(EmbeddedDocument):
    """A client_id recently recorded in a conversation, and the message id it was given."""

    key = StringField(required=True)  # Message.dedupe_key
    message_id = ObjectIdField(required=True)


class Conversation(Document):
    """The one conversation between a customer and a store."""

    id = ObjectIdField(primary_key=True, default=random_id)
    customer_id = ObjectIdField(required=True)
    store_id = ObjectIdField(required=True)
    customer_name = StringField(required=True)
    store_name = StringField(required=True)
    participants = ListField(ObjectIdField(), required=True)  # [customer_id, store_id]
    # Messages are numbered 1, 2, 3... per conversation; the counter lives here.
    last_seq = IntField(required=True, default=0)
    last_message = EmbeddedDocumentField(LastMessage)
    last_activity_at = DateTimeField(required=True, default=utcnow)
    customer_unread = IntField(required=True, default=0)
    store_unread = IntField(required=True, default=0)
    archived_by = ListField(ObjectIdField(), default=list)
    blocked_by = ListField(ObjectIdField(), default=list)
    # The last few client_ids recorded here (services.messages.RECENT_SENDS), so a retry is told
    # from a new message in the write that records it.
    recent_sends = ListField(EmbeddedDocumentField(RecentSend), default=list)
    created_at = DateTimeField(required=True, default=utcnow)
    # Orders here that are pending, accepted or ready (services/orders.py keeps it in the same
    # write that records the order's message or status line): the store's "Open orders" filter.
    open_orders = IntField(required=True, default=0)
    # The store's opening hours (a copy of User.hours), and the end of the closed period the last
    # automatic reply here answered: one reply per closed period (services/hours.py).
    store_hours = EmbeddedDocumentField(OpeningHours)
    away_replied_until = DateTimeField()

    meta = {
        "collection": "conversations",
        "indexes": [
            {"fields": ["customer_id", "store_id"], "unique": True},
            ("participants", "-last_activity_at", "-id"),  # inboxes, newest activity first
            # A store's "Open orders" inbox: holds only the conversations that have some.
            {"fields": ["store_id", "-last_activity_at", "-id"], "name": "open_orders_inbox",
             "partialFilterExpression": {"open_orders": {"$gt": 0}}},
        ],
    }

    def other_party(self, user_id):
        return self.store_id if user_id == self.customer_id else self.customer_id

    def other_name(self, user_id):
        return self.store_name if user_id == self.customer_id else self.customer_name

    def unread_field(self, user_id):
        return "customer_unread" if user_id == self.customer_id else "store_unread"

    def unread_for(self, user_id):
        return getattr(self, self.unread_field(user_id))


class ProductSnapshot(EmbeddedDocument):
    """A product as it was when a message carried it (services/catalogue.py): history shows it so
    even after the product changed or was archived. `photo` is a copy of the product's photo
    record; its files stay while a message names them."""

    product_id = ObjectIdField(required=True)
    name = StringField(required=True)
    price_centavos = IntField(required=True)
    in_stock = BooleanField(required=True)
    photo = EmbeddedDocumentField(Attachment)


class Message(Document):
    conversation_id = ObjectIdField(required=True)
    seq = IntField(required=True)
    sender_id = ObjectIdField(required=True)
    receiver_id = ObjectIdField(required=True)
    type = StringField(required=True, choices=MESSAGE_TYPES, default="text")
    body = EncryptedStringField(default="")
    client_id = StringField(max_length=64)
    # "<sender>:<client_id>", set only when the sender gave a client_id: a unique sparse index on
    # one field makes a retry find the first message instead of storing a second.
    dedupe_key = StringField()
    created_at = DateTimeField(required=True, default=utcnow)
    delivered_at = DateTimeField()
    read_at = DateTimeField()
    deleted_at = DateTimeField()
    attachment = EmbeddedDocumentField(Attachment)  # type image or file; removed when unsent
    order_id = ObjectIdField()  # type order: the Order it announced
    # Not stored: the Order itself, loaded for a page of history in one query (services.orders).
    order = None
    auto = BooleanField()  # the store's away message, sent for it (services/hours.py); else unset
    product = EmbeddedDocumentField(ProductSnapshot)  # type product

    meta = {
        "collection": "messages",
        # Documents written by earlier versions may carry fields no longer used (`pending`).
        "strict": False,
        "indexes": [
            {"fields": ["conversation_id", "seq"], "unique": True},  # history pages
            ("receiver_id", "read_at"),  # unread counts, marking read
            ("receiver_id", "delivered_at"),  # delivery once the receiver connects
            {"fields": ["dedupe_key"], "unique": True, "sparse": True},
            {"fields": ["attachment.id"], "sparse": True},  # opening an attachment
            {"fields": ["product.photo.id"], "sparse": True},  # a product photo a message names
        ],
    }


class Product(Document):
    """A store's catalogue entry (services/catalogue.py). Never deleted: removing one archives it, so
    the messages and orders that name it keep their card."""

    id = ObjectIdField(primary_key=True, default=random_id)
    store_id = ObjectIdField(required=True)
    name = StringField(required=True, max_length=120)
    # What the catalogue sorts by (sort_key(name)), kept in step with `name` by every write of it.
    # Products stored by earlier versions have none until services/catalogue.py lists them.
    name_key = StringField()
    price_centavos = IntField(required=True, min_value=0)  # PHP; shown as ₱1,234.50
    description = StringField(max_length=1000, default="")
    in_stock = BooleanField(required=True, default=True)
    # The photo, processed and stored as a message photo is (services/attachments.py).
    photo = EmbeddedDocumentField(Attachment)
    archived_at = DateTimeField()
    created_at = DateTimeField(required=True, default=utcnow)
    updated_at = DateTimeField(required=True, default=utcnow)

    meta = {
        "collection": "products",
        "indexes": [
            ("store_id", "archived_at", "name_key", "id"),  # a store's catalogue, by name
            {"fields": ["photo.id"], "sparse": True},  # serving a product photo
        ],
    }

    def clean(self):
        """Run by save(): a product saved whole gets its sort key; partial writes set it too."""
        self.name_key = sort_key(self.name)


def sort_key(name):
    """`name` as a person sorts it: case and accents ignored ("banana" before "Zesto", "Ñ" with
    "N"). A stored key, because mongomock has no collation and MongoDB's needs one per query."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


ORDER_STATUSES = ("pending", "accepted", "declined", "ready", "completed", "cancelled")
OPEN_ORDER_STATUSES = ("pending", "accepted", "ready")


class OrderLine(EmbeddedDocument):
    """A product as ordered: its name and price copied from the catalogue at that moment."""

    product_id = ObjectIdField(required=True)
    name = StringField(required=True)
    unit_price_centavos = IntField(required=True, min_value=0)
    quantity = IntField(required=True, min_value=1)

    @property
    def line_total_centavos(self):
        return self.unit_price_centavos * self.quantity


class Order(Document):
    """A customer's order in a conversation (services/orders.py). Its lines never change; its
    status moves by one conditional write each (the status must still be the one read)."""

    id = ObjectIdField(primary_key=True, default=random_id)
    conversation_id = ObjectIdField(required=True)
    customer_id = ObjectIdField(required=True)
    store_id = ObjectIdField(required=True)
    items = ListField(EmbeddedDocumentField(OrderLine), required=True)
    total_centavos = IntField(required=True, min_value=0)
    note = EncryptedStringField(default="")
    status = StringField(required=True, choices=ORDER_STATUSES, default="pending")
    # "<customer>:<client_id>" when the customer gave one: a retry finds this order.
    dedupe_key = StringField()
    created_at = DateTimeField(required=True, default=utcnow)
    updated_at = DateTimeField(required=True, default=utcnow)

    meta = {
        "collection": "orders",
        "indexes": [
            {"fields": ["dedupe_key"], "unique": True, "sparse": True},
            # GET /api/orders, newest first: a customer's, a store's, with or without a status.
            ("customer_id", "status", "-created_at", "-id"),
            ("store_id", "status", "-created_at", "-id"),
            ("customer_id", "-created_at", "-id"),
            ("store_id", "-created_at", "-id"),
        ],
    }


class QuickReply(Document):
    """A store's saved reply (services/quick_replies.py), offered in its composer as "/shortcut"."""

    id = ObjectIdField(primary_key=True, default=random_id)
    store_id = ObjectIdField(required=True)
    shortcut = StringField(required=True, max_length=32)  # as the store typed it
    shortcut_key = StringField(required=True)  # lower-cased: unique per store, whatever the case
    # Encrypted at rest like message bodies (it may hold an account number or an address); the
    # shortcut stays plain: its lower-cased copy is the unique, sorted key.
    text = EncryptedStringField(required=True)
    created_at = DateTimeField(required=True, default=utcnow)

    meta = {
        "collection": "quick_replies",
        "indexes": [
            # A store's list, by shortcut; two shortcuts differing only in case are one.
            {"fields": ["store_id", "shortcut_key"], "unique": True},
        ],
    }


WEBHOOK_EVENT_TYPES = ("message.created", "message.read", "message.deleted", "conversation.created",
                       "order.updated")


class WebhookEndpoint(Document):
    """A URL a store asked us to POST its events to (services.webhooks)."""

    store_id = ObjectIdField(required=True)
    url = StringField(required=True, max_length=2000)
    events = ListField(StringField(choices=WEBHOOK_EVENT_TYPES), required=True)
    secret = EncryptedStringField(required=True)  # "whsec_" + base64; signs every delivery
    created_at = DateTimeField(required=True, default=utcnow)
    # Set by the first failed delivery after a success; an endpoint failing for
    # WEBHOOK_DISABLE_AFTER_SECONDS is disabled (disabled_at) and its store told by email.
    failing_since = DateTimeField()
    disabled_at = DateTimeField()

    meta = {"collection": "webhook_endpoints", "indexes": ["store_id"]}


class WebhookDelivery(Document):
    """One event for one endpoint, through all its attempts. `event_id` is its `webhook-id`."""

    endpoint_id = ObjectIdField(required=True)
    event_id = StringField(required=True)
    type = StringField(required=True)
    body = EncryptedStringField(required=True)  # the exact JSON signed and sent, same on retries
    status = StringField(required=True, choices=("pending", "succeeded", "failed"), default="pending")
    attempts = IntField(required=True, default=0)
    status_code = IntField()
    last_error = StringField()
    next_retry_at = DateTimeField()
    created_at = DateTimeField(required=True, default=utcnow)

    meta = {
        "collection": "webhook_deliveries",
        "indexes": [
            {"fields": ["endpoint_id", "event_id"], "unique": True},  # a re-run job adds no twin
            ("endpoint_id", "-created_at"),  # the deliveries list
            {"fields": ["created_at"], "expireAfterSeconds": 30 * 24 * 3600},
        ],
    }
