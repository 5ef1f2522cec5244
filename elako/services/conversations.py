"""Conversations: one per customer and store, and who may see them.

`conversation_for` is the single authorization rule: a conversation exists for a user only if they
are one of its two participants, and for its store only once the customer has written in it (a
store never reaches a customer who did not write to it first). Everyone else gets the same NotFound
as for an id that never existed, so probing ids reveals nothing. Pages, htmx fragments, the JSON
API and the event streams all go through it.
"""

from mongoengine.errors import NotUniqueError
from mongoengine.queryset.visitor import Q

from .. import realtime
from ..errors import InvalidInput, NotFound
from ..models import Conversation, User
from . import followups, inputs, paging, ratelimit
from .payloads import conversation_payload

NOT_FOUND = "Conversation"


def reachable_by(user):
    """The conversations `user` may reach: their own, and for a store only those its customer has
    written in (only a customer can write first, so any message means she did)."""
    return Q(participants=user.id, last_seq__gt=0) if user.is_store else Q(participants=user.id)


def conversation_for(user, conversation_id):
    """The conversation if `user` may reach it (`reachable_by`); NotFound otherwise."""
    conversation = Conversation.objects(
        reachable_by(user), id=inputs.object_id(conversation_id, NOT_FOUND)).first()
    if conversation is None:
        raise NotFound(f"{NOT_FOUND} was not found.")
    return conversation


def open_conversation(user, counterpart_id):
    """Create or get the conversation between a customer and a store; a store only gets one its
    customer has written in, and any other customer id is the same NotFound as one that does not
    exist. Every attempt counts against RATE_LIMIT_OPEN_CONVERSATION, so ids cannot be walked.

    Safe under concurrent requests: the unique (customer, store) index lets exactly one insert win,
    and the loser reads the winner's document. Returns (conversation, created).
    """
    ratelimit.hit("open_conversation", user.id)
    if user.is_store:
        conversation = Conversation.objects(
            reachable_by(user), customer_id=inputs.object_id(counterpart_id, "Customer")).first()
        if conversation is None:
            raise NotFound("Customer was not found.")
        return conversation, False
    store = User.objects(id=inputs.object_id(counterpart_id, "Store"), role="store").first()
    if store is None:
        raise NotFound("Store was not found.")
    customer = user
    conversation = Conversation(
        customer_id=customer.id, store_id=store.id, customer_name=customer.name,
        store_name=store.name, participants=[customer.id, store.id], store_hours=store.hours)
    try:
        conversation.save(force_insert=True)
        followups.conversation_created(conversation)
        return conversation, True
    except NotUniqueError:
        return Conversation.objects.get(customer_id=customer.id, store_id=store.id), False


def list_conversations(user, *, archived=False, unread_only=False, search="", before=None,
                       limit=50, opened=False, open_orders=False):
    """The user's conversations that have messages, newest activity first, a page at a time.
    With `opened` (the inbox page), a customer's also include those she opened and has not
    written in yet, so backing out of a new conversation does not lose it (`reachable_by`).

    With `open_orders` (a store's "Open orders"), only those with a pending, accepted or ready
    order.

    `before` is the id of the last conversation of the previous page (a cursor, never a skip).
    Returns (conversations, next_before).
    """
    with_messages = Q(participants=user.id, last_seq__gt=0)
    query = Conversation.objects(reachable_by(user) if opened else with_messages)
    query = query.filter(archived_by=user.id) if archived else query.filter(archived_by__ne=user.id)
    if open_orders:  # the partial index open_orders_inbox holds just these
        query = query.filter(store_id=user.id, open_orders__gt=0)
    role_of_other = "store" if user.role == "customer" else "customer"
    if unread_only:
        query = query.filter(**{f"{user.role}_unread__gt": 0})
    search = inputs.search_text(search)
    if search:
        query = query.filter(**{f"{role_of_other}_name__icontains": search})
    return paging.newest_first(query, by="last_activity_at", before=before, limit=limit,
                               anchors=Conversation.objects(participants=user.id),
                               problem="`before` must be a conversation id from your inbox.")


def just_archived(user, conversation_id):
    """The conversation `user` just archived (the inbox offers to undo it), or None."""
    if not conversation_id:
        return None
    try:
        conversation = conversation_for(user, conversation_id)
    except (NotFound, InvalidInput):
        return None
    if user.id not in conversation.archived_by:
        return None
    return conversation_payload(conversation, user.id)


def _set_membership(user, conversation_id, field, member, tell):
    """Put the user's id into the conversation's list `field` (member=True) or take it out, and
    announce the new state to `tell(conversation)` (user ids), each as they see it. Nothing is
    announced when nothing changed, and each change counts against RATE_LIMIT_CHANGES: it is an
    event in someone's stream."""
    conversation = conversation_for(user, conversation_id)
    ratelimit.hit("changes", user.id)
    # The condition makes the match count say whether anything changed.
    if member:
        changed = Conversation.objects(id=conversation.id, **{f"{field}__ne": user.id}).update_one(
            **{f"push__{field}": user.id})
    else:
        changed = Conversation.objects(id=conversation.id, **{field: user.id}).update_one(
            **{f"pull__{field}": user.id})
    if changed:
        conversation.reload()
        realtime.notify("conversation", {
            user_id: {"conversation": conversation_payload(conversation, user_id)}
            for user_id in tell(conversation)})
    return conversation


def set_archived(user, conversation_id, archived):
    """Move a conversation out of the user's inbox, or back. A new message also brings it back.
    Only the user's own tabs and devices hear of it: for the other side nothing changed."""
    return _set_membership(user, conversation_id, "archived_by", archived, lambda _: [user.id])


def set_blocked(user, conversation_id, blocked):
    """Block or unblock the other party. While blocked nobody sends, types or sees presence;
    both sides hear of it (the other side's composer changes too)."""
    return _set_membership(user, conversation_id, "blocked_by", blocked,
                           lambda conversation: conversation.participants)
