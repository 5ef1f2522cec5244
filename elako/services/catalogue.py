"""A store's catalogue: its products, and product messages.

Anyone signed in sees a store's active products; only the store changes them, and another store's
product is the same NotFound as none. Removing a product archives it: messages that carried it keep
their card, because a product message holds a snapshot of the product as it was (ProductSnapshot),
never a reference that later changes rewrite. A photo is processed and stored exactly as a message
photo is (services/attachments.py); its files stay while any product or message names it.
"""

import re

from bson import ObjectId
from mongoengine.queryset.visitor import Q

from ..errors import Forbidden, InvalidInput, NotFound
from ..formatting import peso
from ..models import Message, Product, ProductSnapshot, User, sort_key, utcnow
from ..schemas import parse
from ..schemas.requests import PRICE_MAX_CENTAVOS, NewMessage, NewProduct, ProductChange
from ..storage import get_store
from . import attachments, conversations, inputs, messages, ratelimit

NOT_FOUND = "Product was not found."
STORE_NOT_FOUND = "Store was not found."
NOT_IN_CATALOGUE = "That product is not available from this store."
# Active products per store: a catalogue a customer can scroll, and a bound on what one store stores.
MAX_PRODUCTS = 1000
PESOS = re.compile(r"\A(\d{1,9})(?:\.(\d{1,2}))?\Z")


def require_store(user):
    """Only stores have a catalogue (no secret: a customer is told so, 403)."""
    if not user.is_store:
        raise Forbidden("Only stores have a catalogue.")


def own_product(user, product_id):
    """One of `user`'s active products; NotFound for anything else (another store's included)."""
    require_store(user)
    product = Product.objects(id=inputs.object_id(product_id, "Product"), store_id=user.id,
                              archived_at=None).first()
    if product is None:
        raise NotFound(NOT_FOUND)
    return product


def create_product(user, data, photo=None):
    """Add a product to `user`'s catalogue, with its photo (an upload) if one is given."""
    require_store(user)
    form = parse(NewProduct, data)
    if Product.objects(store_id=user.id, archived_at=None).count() >= MAX_PRODUCTS:
        raise InvalidInput(f"A catalogue holds at most {MAX_PRODUCTS:,} products. Remove some first.",
                           code="catalogue_full")
    product = Product(store_id=user.id, name=form.name, price_centavos=form.price_centavos,
                      description=form.description, in_stock=form.in_stock)
    if photo is not None:
        product.photo = _stored_photo(user, photo)
    try:
        product.save(force_insert=True)
    except BaseException:
        if product.photo:
            attachments.remove_stored(product.photo)
        raise
    return product


def update_product(user, product_id, data):
    """Change what `data` names of one of `user`'s products (the rest stays)."""
    product = own_product(user, product_id)
    changes = parse(ProductChange, data).model_dump(exclude_none=True)
    if not changes:
        return product
    if "name" in changes:
        changes["name_key"] = sort_key(changes["name"])
    updated = Product.objects(id=product.id, archived_at=None).modify(
        new=True, set__updated_at=utcnow(), **{f"set__{field}": v for field, v in changes.items()})
    if updated is None:  # archived meanwhile
        raise NotFound(NOT_FOUND)
    return updated


def set_photo(user, product_id, upload):
    """Give one of `user`'s products a new photo (the old one goes unless a message shows it)."""
    product = own_product(user, product_id)
    photo = _stored_photo(user, upload)
    # The document as it was: the photo this write replaced, even if another write came between.
    before = Product.objects(id=product.id, archived_at=None).modify(
        set__photo=photo, set__updated_at=utcnow())
    if before is None:
        attachments.remove_stored(photo)
        raise NotFound(NOT_FOUND)
    _release(before.photo)
    return Product.objects.get(id=product.id)


def remove_photo(user, product_id):
    product = own_product(user, product_id)
    before = Product.objects(id=product.id, archived_at=None).modify(
        unset__photo=True, set__updated_at=utcnow())
    if before is None:
        raise NotFound(NOT_FOUND)
    _release(before.photo)
    return Product.objects.get(id=product.id)


def _stored_photo(user, upload):
    if upload is None or not upload.filename:
        raise InvalidInput("Choose a photo.", field="file")
    ratelimit.hit("upload", user.id)
    return attachments.store_photo(upload)


def _release(photo):
    """Delete a photo no product shows any more, unless a product message still shows it. A
    message sending the product just then may be stored after that check: the messages are
    looked at again once the files are gone (send_product looks from its side)."""
    if photo is None or Message.objects(product__photo__id=photo.id).only("id").first() is not None:
        return
    attachments.remove_stored(photo)
    _unlink_from_messages(photo)


def _unlink_from_messages(photo):
    """Messages showing a photo whose files are gone show their product without it instead."""
    Message.objects(product__photo__id=photo.id).update(unset__product__photo=True)


def erase_store(store_id):
    """A deleted store's catalogue goes with it (services/data_rights.py); a photo that a
    customer's message shows stays with that message."""
    Product.objects(store_id=store_id, photo__exists=False).delete()
    # One at a time, each releasing the photo it had when deleted: a photo set meanwhile goes too.
    for product in Product.objects(store_id=store_id).only("id"):
        deleted = Product.objects(id=product.id).modify(remove=True)
        if deleted is not None:
            _release(deleted.photo)


def archive_product(user, product_id):
    """Remove a product from the catalogue; messages that carried it keep their card."""
    product = own_product(user, product_id)
    if not Product.objects(id=product.id, archived_at=None).update_one(set__archived_at=utcnow()):
        raise NotFound(NOT_FOUND)


def store_for(store_id):
    store = User.objects(id=inputs.object_id(store_id, "Store"), role="store").first()
    if store is None:
        raise NotFound(STORE_NOT_FOUND)
    return store


def list_products(store, *, before=None, limit=50):
    """A page of `store`'s active products by name (case and accents aside: models.sort_key),
    after product `before` (a cursor). Returns (products, next_before)."""
    query = Product.objects(store_id=store.id, archived_at=None)
    _add_sort_keys(query)
    if before:
        problem = "`before` must be a product id from this store's catalogue."
        anchor = Product.objects(id=inputs.cursor(before, problem), store_id=store.id).only(
            "name").first()
        if anchor is None:
            raise InvalidInput(problem, field="before")
        key = sort_key(anchor.name)  # from the name: an archived anchor may have no key stored
        query = query.filter(Q(name_key__gt=key) | Q(name_key=key, id__gt=anchor.id))
    page = list(query.order_by("name_key", "id").limit(limit + 1))
    has_more = len(page) > limit
    page = page[:limit]
    return page, (str(page[-1].id) if has_more else None)


def _add_sort_keys(products):
    """Give the sort key to those of `products` stored without one (by an earlier version, which
    a rolling deploy keeps running for a while): one indexed query that finds none once done."""
    for product in products.filter(name_key=None).only("name"):
        Product.objects(id=product.id, name=product.name).update_one(
            set__name_key=sort_key(product.name))


def open_photo(photo_id, *, thumbnail=False):
    """A product photo, for anyone signed in: a product's now, or one a product message showed."""
    photo_id = inputs.object_id(photo_id, "Photo")
    product = Product.objects(photo__id=photo_id).only("photo").first()
    photo = product and product.photo
    if photo is None:
        message = Message.objects(product__photo__id=photo_id).only("product").first()
        photo = message and message.product.photo
    if photo is None:
        raise NotFound("Photo was not found.")
    return attachments.open_stored(photo, thumbnail=thumbnail)


# -- product messages ------------------------------------------------------------------------------

def send_product(user, conversation_id, form):
    """Send a product of the conversation's store (a validated NewMessage of type product) as it
    is now. Returns (message, created) as messages.send_message does."""
    conversation = conversations.conversation_for(user, conversation_id)  # 404 for outsiders first
    product = ObjectId.is_valid(form.product_id) and Product.objects(
        id=ObjectId(form.product_id), store_id=conversation.store_id, archived_at=None).first()
    if not product:
        raise InvalidInput(NOT_IN_CATALOGUE, code="product_unavailable", field="product_id")
    snapshot = ProductSnapshot(product_id=product.id, name=product.name,
                               price_centavos=product.price_centavos, in_stock=product.in_stock,
                               photo=product.photo)
    message, created = messages.deliver(user, conversation.id, body=form.body,
                                        message_type="product", client_id=form.client_id,
                                        product=snapshot)
    _drop_photo_if_released(message, product.id)
    return message, created


def _drop_photo_if_released(message, product_id):
    """The photo a product message shows, replaced (or removed) just as it was sent, may have
    been deleted before the message was stored. Still the product's photo, it is safe: releasing
    it comes later and sees the message. Else, its files gone, the message shows none."""
    photo = message.product and message.product.photo
    if photo is None:
        return
    still_shown = Product.objects(id=product_id, photo__id=photo.id).only("id").first()
    if still_shown is None and not get_store().exists(photo.file_id):
        _unlink_from_messages(photo)
        message.product.photo = None


def ask_about(user, store_id, product_id, client_id=None):
    """A customer's "Ask about this": the conversation with the store (opened if new) and the
    product sent in it (a store asking is NotFound, as opening a conversation with a store is).
    Returns (conversation, message)."""
    form = parse(NewMessage, {"type": "product", "product_id": product_id or None,
                              "client_id": client_id})
    conversation, _created = conversations.open_conversation(user, store_id)
    message, _created = send_product(user, conversation.id, form)
    return conversation, message


def changes_since(items):
    """How the products of the product messages among `items` (message payloads) differ now, as
    {message id: "No longer available" | "Price now ₱…" | "Out of stock now" | "In stock now"};
    one query for the whole page."""
    sent = [m for m in items if m.get("product")]
    if not sent:
        return {}
    ids = {ObjectId(m["product"]["id"]) for m in sent}
    now = {str(p.id): p for p in Product.objects(id__in=list(ids)).only(
        "price_centavos", "in_stock", "archived_at")}
    notes = {}
    for message in sent:
        then = message["product"]
        current = now.get(then["id"])
        if current is None or current.archived_at is not None:
            notes[message["id"]] = "No longer available"
        elif current.price_centavos != then["price_centavos"]:
            notes[message["id"]] = f"Price now {peso(current.price_centavos)}"
        elif current.in_stock != then["in_stock"]:
            notes[message["id"]] = "In stock now" if current.in_stock else "Out of stock now"
    return notes


def centavos(text):
    """A price typed in pesos ("1,234.50", "₱ 25", "7.5") as integer centavos."""
    cleaned = re.sub(r"[\s,₱]", "", text or "").removeprefix("PHP")
    match = PESOS.match(cleaned)
    if not match:
        raise InvalidInput("Enter the price in pesos, like 1,234.50.", field="price")
    value = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if value > PRICE_MAX_CENTAVOS:
        raise InvalidInput(f"Prices can be at most {peso(PRICE_MAX_CENTAVOS)}.", field="price")
    return value


def page_form(form):
    """The product form of the /products page (price in pesos, a checkbox) as the API's fields."""
    return {"name": form.get("name", ""), "price_centavos": centavos(form.get("price")),
            "description": form.get("description", ""), "in_stock": "in_stock" in form}
