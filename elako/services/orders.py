"""Orders: a customer orders from the store of a conversation, and the two move it along.

An order is announced by a message of type `order` through the ordinary send path
(services.messages.deliver: numbering, unread counts, events, webhooks, client_id dedupe); the
message names the Order, and history shows the order as it is now (one query per page of history
that holds orders).

Each status change is one conditional write (the status must still be the one read), so of two
changes at the same moment one wins and the other gets 409. Then:
- an `order` event carries the whole order to both participants (browsers: a card that replaces
  the one in the thread);
- a status line (a message of type `order_update`, "Order accepted by Aling Nena's") is sent by
  whoever made the change, through the same send path. So it is unread only for the other
  participant, only the other participant may get an email alert about it, and the inbox row
  shows it without "You:" (templates/_conversation_row.html). It does not count against the
  sender's message rate limit (the change counts against RATE_LIMIT_CHANGES).
- Conversation.open_orders (the store's "Open orders" inbox filter) moves in the same write that
  records the order's message or its status line.
"""

import logging

from mongoengine.errors import NotUniqueError
from mongoengine.queryset.visitor import Q

from .. import realtime
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited
from ..formatting import peso
from ..models import OPEN_ORDER_STATUSES, Conversation, Order, OrderLine, Product, utcnow
from ..schemas import parse
from ..schemas.requests import NewOrder, OrderChange
from . import conversations, inputs, messages, paging, ratelimit, webhooks
from .payloads import order_payload

log = logging.getLogger(__name__)

# The message types only this module sends.
MESSAGE_TYPES = ("order", "order_update")
NOT_SENT_AS_MESSAGES = "Place orders with POST /api/conversations/{id}/orders."
NOT_FOUND = "Order was not found."

# status -> {new status: the roles that may make that move}
TRANSITIONS = {
    "pending": {"accepted": {"store"}, "declined": {"store"}, "cancelled": {"customer", "store"}},
    "accepted": {"ready": {"store"}, "cancelled": {"store"}},
    "ready": {"completed": {"store"}},
}
VERBS = {"accepted": "accepted", "declined": "declined", "ready": "ready for pickup",
         "completed": "completed", "cancelled": "cancelled"}


def place_order(user, conversation_id, data, *, line_numbers=None):
    """Order from the conversation's store as its customer. Returns (message, created): the
    `order` message (its `order` loaded), created=False for a retry with the same client_id.
    `line_numbers`: the number a refusal gives each item, if not its place in `items` (a form's
    rows, counting the blank ones it left out)."""
    form = parse(NewOrder, data)
    conversation = conversations.conversation_for(user, conversation_id)
    if user.id != conversation.customer_id:
        raise Forbidden("Only the customer places orders in a conversation.", code="not_customer")
    if conversation.blocked_by:  # as deliver would answer, before anything is stored
        raise Forbidden(messages.BLOCKED, code="blocked")
    lines = _priced_lines(form.items, conversation,
                          line_numbers or range(1, len(form.items) + 1))
    order = Order(conversation_id=conversation.id, customer_id=conversation.customer_id,
                  store_id=conversation.store_id, items=lines,
                  total_centavos=sum(line.line_total_centavos for line in lines), note=form.note,
                  dedupe_key=f"{user.id}:{form.client_id}" if form.client_id else None,
                  created_at=utcnow())
    order.updated_at = order.created_at
    # The send's turn before the order is stored: a send refused as busy must leave no order
    # without its message.
    with messages.send_turns().turn():
        try:
            order.save(force_insert=True)
            new = True
        except NotUniqueError:  # a retry: the order placed the first time, its message below
            order = Order.objects.get(dedupe_key=order.dedupe_key)
            if order.conversation_id != conversation.id:
                raise Conflict("This client_id was already used for another conversation.",
                               field="client_id") from None
            new = False
        try:
            return messages.deliver(
                user, conversation.id, body=_summary(order), message_type="order",
                client_id=form.client_id, order=order, conversation_update={"inc__open_orders": 1})
        except (Forbidden, NotFound, Conflict, RateLimited):  # refused before anything was recorded
            if new:
                order.delete()
            raise


def conversation_with(customer, store_id):
    """The customer's conversation with a store, opened if there is none yet: only opening one
    counts against RATE_LIMIT_OPEN_CONVERSATION, not each order from the store's page."""
    found = Conversation.objects(customer_id=customer.id,
                                 store_id=inputs.object_id(store_id, "Store")).first()
    return found or conversations.open_conversation(customer, store_id)[0]


def _priced_lines(items, conversation, line_numbers):
    """The order's lines from the catalogue as it is now; 422 naming the first bad line by its
    number in `line_numbers`."""
    wanted = [inputs.optional_id(item.product_id) for item in items]
    found = {str(p.id): p for p in Product.objects(
        id__in=[product_id for product_id in wanted if product_id],
        store_id=conversation.store_id, archived_at=None)}
    lines, seen = [], {}
    for number, item, product_id in zip(line_numbers, items, wanted, strict=True):
        field = f"items.{number - 1}.product_id"
        product = found.get(product_id)
        if product is None:
            raise InvalidInput(f"Line {number}: that product is not in "
                               f"{conversation.store_name}'s catalogue.", field=field)
        if not product.in_stock:
            raise InvalidInput(f"Line {number}: {product.name} is out of stock.", field=field)
        if product.id in seen:
            raise InvalidInput(f"Line {number}: {product.name} is already on line "
                               f"{seen[product.id]}.", field=field)
        seen[product.id] = number
        lines.append(OrderLine(product_id=product.id, name=product.name,
                               unit_price_centavos=product.price_centavos,
                               quantity=item.quantity))
    return lines


def _summary(order):
    """The order message's text: what its inbox preview and email alert say."""
    count = sum(line.quantity for line in order.items)
    return f"🧾 Order · {count} item{'s' if count != 1 else ''} · {peso(order.total_centavos)}"


def order_for(user, order_id):
    """The order if `user` is its customer or store; NotFound for everyone else."""
    order = Order.objects(Q(customer_id=user.id) | Q(store_id=user.id),
                          id=inputs.object_id(order_id, "Order")).first()
    if order is None:
        raise NotFound(NOT_FOUND)
    return order


def moves(status, *, is_store):
    """The statuses a participant may move an order from `status` to."""
    role = "store" if is_store else "customer"
    return [new for new, roles in TRANSITIONS.get(status, {}).items() if role in roles]


def change_status(user, order_id, data):
    """Move an order to `data["status"]`: 403 for a move that is the other participant's, 409
    `invalid_transition` for one nobody may make now (or that a concurrent change overtook)."""
    status = parse(OrderChange, data).status
    order = order_for(user, order_id)
    role = "store" if user.id == order.store_id else "customer"
    allowed = TRANSITIONS.get(order.status, {}).get(status)
    if allowed is None:
        raise Conflict(f"A {order.status} order can't become {status}.", code="invalid_transition")
    if role not in allowed:
        raise Forbidden(f"Only the {' or '.join(sorted(allowed))} can make this order {status}.")
    ratelimit.hit("changes", user.id)
    # The status line's turn before the change is stored: a change refused as busy changes nothing.
    with messages.send_turns().turn():
        changed = Order.objects(id=order.id, status=order.status).modify(
            new=True, set__status=status, set__updated_at=utcnow())
        if changed is None:
            raise Conflict("The order changed meanwhile; reload it.", code="invalid_transition")
        closes = order.status in OPEN_ORDER_STATUSES and status not in OPEN_ORDER_STATUSES
        _announce(changed, user, closes)
    return changed


def _announce(order, user, closes):
    """Both participants' `order` event and the store's `order.updated` webhook, then the status
    line in the thread."""
    payload = order_payload(order)
    realtime.notify("order", {order.customer_id: {"order": payload},
                              order.store_id: {"order": payload}})
    webhooks.publish(order.store_id, "order.updated", {"order": payload})
    update = {"inc__open_orders": -1} if closes else {}
    try:
        messages.deliver(user, order.conversation_id, body=f"Order {VERBS[order.status]} by "
                         f"{user.name}", message_type="order_update", client_id=None, limit=None,
                         conversation_update=update)
    except Forbidden:
        # Blocked: the change stands (declining or cancelling must stay possible) without a line.
        if update:
            Conversation.objects(id=order.conversation_id).update_one(**update)


def load_for(page):
    """Give each `order` message of a page of history its order as it is now: one query."""
    wanted = {m.order_id for m in page if m.type == "order" and m.order_id and m.order is None}
    if not wanted:
        return page
    found = {o.id: o for o in Order.objects(id__in=list(wanted))}
    for message in page:
        if message.order_id in found:
            message.order = found[message.order_id]
    return page


def list_orders(user, *, status="", before=None, limit=50):
    """The caller's orders (as customer or store), newest first, a page at a time by cursor.
    Returns (orders, next_before)."""
    owner = {"store_id" if user.is_store else "customer_id": user.id}
    return paging.newest_first(Order.objects(**owner, **({"status": status} if status else {})),
                               by="created_at", before=before, limit=limit,
                               anchors=Order.objects(**owner),
                               problem="`before` must be an order id from your orders.")

