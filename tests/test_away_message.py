"""The away message: a customer's message while the store is closed gets it back as an automatic
reply, once per conversation per closed period, through the ordinary send path; it reads nothing,
makes nobody look online, and costs no round trip while the store is open."""

from datetime import datetime

import pytest

from elako.models import Conversation, Message
from elako.services import activity, hours, messages, presence
from test_business_hours import HOURS, put_hours
from test_round_trips import database_commands  # noqa: F401  (a fixture)

AWAY = HOURS["away_message"]
# Moments in UTC for the Manila store of HOURS (UTC+8): Monday 2026-11-30.
OPEN_MORNING = datetime(2026, 11, 30, 2, 0)  # 10:00 AM
LUNCH = datetime(2026, 11, 30, 4, 15)  # 12:15 PM, closed until 1:00 PM
LATER_AT_LUNCH = datetime(2026, 11, 30, 4, 40)
AFTERNOON = datetime(2026, 11, 30, 6, 0)  # 2:00 PM
EVENING = datetime(2026, 11, 30, 12, 0)  # 8:00 PM, closed until Tuesday 7:00 AM


@pytest.fixture
def clock(monkeypatch):
    """`clock.now = datetime(...)`: the time messages are sent at (naive UTC)."""
    class Clock:
        now = OPEN_MORNING

    monkeypatch.setattr(messages, "utcnow", lambda: Clock.now)
    return Clock


@pytest.fixture
def shop(chat):
    """The chat, with the store's hours and away message set: (customer, store, conversation)."""
    customer, store, cid = chat
    assert put_hours(store, HOURS).status_code == 200
    return customer, store, cid


def history(person, cid):
    return person.api.get(f"/api/conversations/{cid}/messages").json["items"]


def automatic(person, cid):
    return [m for m in history(person, cid) if m["auto"]]


def test_a_message_while_closed_gets_the_away_message_once_per_closed_period(shop, clock):
    customer, store, cid = shop
    clock.now = OPEN_MORNING
    customer.send(cid, "Good morning po")
    assert automatic(customer, cid) == []

    clock.now = LUNCH
    sent = customer.send(cid, "May Milo pa po?")
    replies = automatic(customer, cid)
    assert len(replies) == 1
    reply = replies[0]
    assert reply["body"] == AWAY and reply["sender_id"] == store.id
    assert reply["receiver_id"] == customer.id and reply["seq"] == sent["seq"] + 1
    assert sent["auto"] is False
    # The store's inbox still shows the customer's message, unread: nobody answered it yet.
    row = store.api.get(f"/api/conversations/{cid}").json
    assert row["last_message"]["id"] == sent["id"] and row["last_message"]["seq"] == sent["seq"]
    assert not row["last_message"]["from_me"] and row["unread"] == 2
    assert row["last_seq"] == reply["seq"]

    clock.now = LATER_AT_LUNCH  # the same closed period: no second reply
    customer.send(cid, "Hello po?")
    assert len(automatic(customer, cid)) == 1

    clock.now = AFTERNOON  # open again
    customer.send(cid, "Pabili po")
    assert len(automatic(customer, cid)) == 1

    clock.now = EVENING  # a new closed period: a new reply
    customer.send(cid, "Bukas po ulit?")
    assert len(automatic(customer, cid)) == 2
    assert automatic(store, cid)[-1]["body"] == AWAY  # the store sees it in its thread too


def test_never_in_reply_to_the_store_nor_without_an_away_message(shop, clock, people):
    customer, store, cid = shop
    clock.now = LUNCH
    customer.send(cid, "Una po")  # the store has to have been written to first
    before = len(automatic(customer, cid))
    store.send(cid, "Sandali lang po")  # the store's own message while closed
    assert len(automatic(customer, cid)) == before

    quiet_store, other = people.store("Tahimik Store"), people.customer("Jun")
    assert put_hours(quiet_store, {**HOURS, "away_message": ""}).status_code == 200
    quiet = other.open_conversation(quiet_store)
    other.send(quiet, "Hello?")
    assert automatic(other, quiet) == []


def test_the_reply_reads_nothing_and_makes_nobody_look_online(app, shop, clock):
    customer, store, cid = shop
    with app.app_context():
        store_active = activity.last_active(store.id)
    clock.now = LUNCH
    sent = customer.send(cid, "May Milo pa po?")
    assert len(automatic(customer, cid)) == 1

    with app.app_context():
        assert Message.objects.get(id=sent["id"]).read_at is None  # the store has not read it
        conversation = Conversation.objects.get(id=cid)
        assert conversation.store_unread == 1  # still waiting for the store
        assert activity.last_active(store.id) == store_active
        assert not presence.status([store.id])[store.id]["online"]
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 1}
    # Its page shows it as an automatic reply, to either side.
    for person in (customer, store):
        assert "Automatic reply" in person.page.get(f"/c/{cid}").get_data(as_text=True)


def test_two_messages_at_once_get_one_reply_and_a_block_gets_none(app, shop, clock):
    customer, store, cid = shop
    clock.now = LUNCH
    sent = customer.send(cid, "Una po")
    with app.app_context():
        Conversation.objects(id=cid).update_one(unset__away_replied_until=True)  # start afresh
        conversation = Conversation.objects.get(id=cid)
        first = Message.objects.get(id=sent["id"])
        # Two workers, each with the conversation as its send left it: one reply between them.
        replies = [hours.reply_if_away(first, conversation), hours.reply_if_away(first, conversation)]
        assert sum(reply is not None for reply in replies) == 1

        # Blocked after the customer's send read the conversation: no reply.
        Conversation.objects(id=cid).update_one(unset__away_replied_until=True,
                                                push__blocked_by=conversation.store_id)
        assert hours.reply_if_away(first, conversation) is None
    assert len(automatic(customer, cid)) == 2  # the one from the send, and the one above


def test_changing_the_hours_reaches_the_copy_on_each_conversation(app, shop, clock):
    customer, store, cid = shop
    clock.now = LUNCH
    always = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    assert put_hours(store, {**HOURS, "weekly": always}).status_code == 200
    customer.send(cid, "Open po ba?")
    assert automatic(customer, cid) == []
    assert store.api.delete("/api/stores/me/hours").status_code == 204
    with app.app_context():
        assert Conversation.objects.get(id=cid).store_hours is None


def test_the_away_message_schedules_no_email_alert(app, redis, shop, clock, run_jobs):
    from elako.jobs import get_queue

    customer, store, cid = shop
    clock.now = LUNCH
    customer.send(cid, "Una po")
    assert len(automatic(customer, cid)) == 1
    run_jobs(until=lambda: not get_queue(app).counts()["ready"])  # both messages' follow-ups
    prefix = app.config["REDIS_KEY_PREFIX"]

    def alert_check_for(person):
        return redis.exists(f"{prefix}:{{jobs}}:unique:alert-check:{person.id}:{cid}")

    assert alert_check_for(store) and not alert_check_for(customer)


@pytest.mark.settings(RATE_LIMIT_SEND="2 per minute")
def test_the_away_message_is_not_held_back_by_the_stores_rate_limit(shop, clock):
    customer, store, cid = shop
    clock.now = LUNCH
    customer.send(cid, "Una po")
    assert len(automatic(customer, cid)) == 1
    store.send(cid, "Isa")
    store.send(cid, "Dalawa")  # the store's own two: the automatic reply did not count


# -- what it costs ---------------------------------------------------------------------------------

@pytest.mark.over_the_wire
def test_no_extra_round_trip_unless_a_reply_is_due(shop, clock, database_commands):  # noqa: F811
    customer, store, cid = shop
    customer.send(cid, "warm-up")  # the first request of a session reads it once
    send = ["findAndModify", "insert", "aggregate"]  # services.messages.send_message

    def sends(body):
        return lambda: customer.send(cid, body)

    clock.now = OPEN_MORNING
    assert database_commands(sends("Open po?")) == send
    clock.now = LUNCH  # closed: claim the closed period, then the reply's own send
    assert database_commands(sends("Closed po?")) == [*send, "update", *send]
    clock.now = LATER_AT_LUNCH  # replied already: the conversation the send wrote says so
    assert database_commands(sends("Still closed?")) == send
    assert store.api.delete("/api/stores/me/hours").status_code == 204
    clock.now = EVENING  # no hours at all
    assert database_commands(sends("No hours")) == send
