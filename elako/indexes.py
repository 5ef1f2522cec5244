"""`flask --app app check-indexes`: ask a real MongoDB how it runs each query of the hot paths, and
fail if any of them scans a whole collection.

The queries are built the way the services build them (same fields, same operators, same sort), with
made-up ids: the plan depends on the shape of a query, not on its values. mongomock cannot explain,
so this needs MONGODB_URI.
"""

from bson import ObjectId

from .models import AuthSession, Conversation, Message, Order, Product, QuickReply, User


def hot_queries():
    """(name, queryset) for every query a send, a stream, an inbox or a sign-in runs."""
    user, other, conversation = ObjectId(), ObjectId(), ObjectId()
    return [
        ("sign-in: user by email", User.objects(email="someone@example.ph")),
        ("every request: session by id", AuthSession.objects(id=ObjectId())),
        ("every request: user by id", User.objects(id=user)),
        ("send/read: conversation of a participant",
         Conversation.objects(id=conversation, participants=user)),
        ("open a conversation", Conversation.objects(customer_id=user, store_id=other)),
        ("inbox page", Conversation.objects(participants=user, last_seq__gt=0, archived_by__ne=user)
         .order_by("-last_activity_at", "-id")),
        ("a customer's inbox page", Conversation.objects(participants=user, archived_by__ne=user)
         .order_by("-last_activity_at", "-id")),
        ("presence: recent counterparts",
         Conversation.objects(participants=user, last_seq__gt=0).order_by("-last_activity_at")),
        ("presence: who of them hides it", User.objects(id__in=[user, other], hide_presence=True)),
        ("a store finds a customer's conversation",
         Conversation.objects(participants=user, last_seq__gt=0, customer_id=other)),
        ("history page", Message.objects(conversation_id=conversation, seq__lt=100).order_by("-seq")),
        ("unread total", Message.objects(receiver_id=user, read_at=None, deleted_at=None)),
        ("mark read", Message.objects(conversation_id=conversation, receiver_id=user, read_at=None,
                                      deleted_at=None, seq__lte=100)),
        ("mark delivered on connect", Message.objects(receiver_id=user, delivered_at=None,
                                                      read_at=None)),
        ("send retry: message by client_id", Message.objects(dedupe_key=f"{user}:c-1")),
        ("a store's open orders inbox", Conversation.objects(
            participants=user, last_seq__gt=0, archived_by__ne=user, store_id=user,
            open_orders__gt=0)
         .order_by("-last_activity_at", "-id")),
        ("history page: its orders", Order.objects(id__in=[ObjectId(), ObjectId()])),
        ("an order of a participant", Order.objects(id=ObjectId(), store_id=user)),
        ("place an order: its products", Product.objects(
            id__in=[ObjectId()], store_id=other, archived_at=None)),
        ("a store's orders by status", Order.objects(store_id=user, status="pending")
         .order_by("-created_at", "-id")),
        ("a customer's orders", Order.objects(customer_id=user).order_by("-created_at", "-id")),
        ("a store's composer: its quick replies",
         QuickReply.objects(store_id=user).order_by("shortcut_key")),
        # -- business hours (issue 10)
        ("away message: claim the closed period",
         Conversation.objects(id=conversation, blocked_by__size=0, away_replied_until=None,
                              last_message__message_id=other)),
        ("a store's hours onto its conversations",
         Conversation.objects(participants=user, store_id=user)),
        # -- catalogue (issue 10)
        ("store page: a store's products by name",
         Product.objects(store_id=other, archived_at=None).order_by("name_key", "id")),
        ("store page: its products stored without a sort key",
         Product.objects(store_id=other, archived_at=None, name_key=None)),
        ("a store's own product", Product.objects(id=ObjectId(), store_id=user, archived_at=None)),
        ("history page: its products now", Product.objects(id__in=[ObjectId(), ObjectId()])),
        ("product photo", Product.objects(photo__id=ObjectId())),
        ("product photo a message shows", Message.objects(product__photo__id=ObjectId())),
    ]


def stages(plan):
    """Every stage name in an explain plan (a tree of `inputStage`/`inputStages`)."""
    found = [plan.get("stage")] if plan.get("stage") else []
    for child in [plan.get("inputStage"), *plan.get("inputStages", [])]:
        if child:
            found += stages(child)
    return found


def winning_plan(explained):
    planner = explained.get("queryPlanner", {})
    # A sharded cluster reports a winning plan per shard.
    return planner.get("winningPlan", {}).get("queryPlan") or planner.get("winningPlan", {})


def check():
    """[(name, stages, verdict)] for every hot query; verdict is "ok", "collection scan" or
    "sorts in memory"."""
    results = []
    for name, queryset in hot_queries():
        found = stages(winning_plan(queryset.explain()))
        if "COLLSCAN" in found:
            verdict = "collection scan"
        elif "SORT" in found:
            verdict = "sorts in memory"
        else:
            verdict = "ok"
        results.append((name, found, verdict))
    return results
