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
from ..models import Message, Product, ProductSnapshot, User, utcnow
from ..schemas import parse
from ..schemas.requests import PRICE_MAX_CENTAVOS, NewMessage, NewProduct, ProductChange
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
    """Delete a photo no product shows any more, unless a product message still shows it."""
    if photo is not None and Message.objects(product__photo__id=photo.id).only("id").first() is None:
        attachments.remove_stored(photo)


def erase_store(store_id):
    """A deleted store's catalogue goes with it (services/data_rights.py); a photo that a
    customer's message shows stays with that message."""
    for product in Product.objects(store_id=store_id, photo__exists=True).only("photo"):
        _release(product.photo)
    Product.objects(store_id=store_id).delete()


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
    """A page of `store`'s active products by name, after product `before` (a cursor).
    Returns (products, next_before)."""
    query = Product.objects(store_id=store.id, archived_at=None)
    if before:
        problem = "`before` must be a product id from this store's catalogue."
        anchor = Product.objects(id=inputs.cursor(before, problem), store_id=store.id).only(
            "name").first()
        if anchor is None:
            raise InvalidInput(problem, field="before")
        query = query.filter(Q(name__gt=anchor.name) | Q(name=anchor.name, id__gt=anchor.id))
    page = list(query.order_by("name", "id").limit(limit + 1))
    has_more = len(page) > limit
    page = page[:limit]
    return page, (str(page[-1].id) if has_more else None)


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
    return messages.deliver(user, conversation.id, body=form.body, message_type="product",
                            client_id=form.client_id, product=snapshot)


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
