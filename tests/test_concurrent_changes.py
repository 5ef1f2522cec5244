"""Two requests about the same messages at the same moment (two tabs, two people, two workers):
counts, previews and receipts stay right. Each test forces the interleaving by running the other
request at the exact step where the race would bite: when the first one stamps its time, after it
read what it is about to change."""

import json

import pytest

from elako.models import Conversation
from elako.services import messages


@pytest.fixture
def meanwhile(monkeypatch):
    """`meanwhile(action)`: run `action()` once, inside the next request, at the moment it takes
    the time for what it is about to write."""
    def schedule(action):
        original = messages.utcnow
        pending = [action]

        def utcnow():
            if pending:
                pending.pop()()
            return original()

        monkeypatch.setattr(messages, "utcnow", utcnow)
    return schedule


def events(app, redis, user_id, kind):
    key = app.extensions["bus"].stream_key(user_id)
    return [json.loads(f["data"]) for _, f in redis.xrange(key) if f["type"] == kind]


def unread(person, conversation_id):
    return (person.api.get(f"/api/conversations/{conversation_id}").json["unread"],
            person.api.get(f"/api/users/{person.id}/unread-count").json["count"])


def test_read_racing_an_unsend_counts_each_message_once(app, chat, meanwhile):
    customer, store, cid = chat
    customer.send(cid, "Pabili po ng Milo")
    doomed = customer.send(cid, "Ay, mali po")
    meanwhile(lambda: customer.api.delete(f"/api/messages/{doomed['id']}"))
    response = store.api.patch(f"/api/conversations/{cid}/read")
    assert response.json["updated"] == 1  # the unsent one left the count with the unsend
    assert Conversation.objects.get(id=cid).store_unread == 0
    assert unread(store, cid) == (0, 0)
    customer.send(cid, "Isang Milo po")
    assert unread(store, cid) == (1, 1)


def test_unsend_racing_a_reply_leaves_the_replys_preview(app, chat, meanwhile):
    customer, store, cid = chat
    doomed = customer.send(cid, "Ay, mali po")
    # The store's reply lands while the unsend is on its way.
    meanwhile(lambda: store.send(cid, "Ano po ulit?"))
    assert customer.api.delete(f"/api/messages/{doomed['id']}").status_code == 200
    for person in (customer, store):
        last = person.api.get(f"/api/conversations/{cid}").json["last_message"]
        assert (last["preview"], last["deleted"]) == ("Ano po ulit?", False)


def test_a_read_landing_during_delivery_is_never_followed_by_delivered(app, redis, chat, meanwhile):
    customer, store, cid = chat
    sent = customer.send(cid, "Bukas pa po kayo?")
    meanwhile(lambda: store.api.patch(f"/api/conversations/{cid}/read"))
    with app.app_context():
        assert messages.mark_delivered(store.id) == 0
    assert [e["message_ids"] for e in events(app, redis, customer.id, "read")] == [[sent["id"]]]
    assert events(app, redis, customer.id, "delivered") == []


def test_two_tabs_marking_read_at_once_announce_each_message_once(app, redis, chat, meanwhile):
    customer, store, cid = chat
    first, second = customer.send(cid, "Isa"), customer.send(cid, "Dalawa")
    meanwhile(lambda: store.api.patch(f"/api/conversations/{cid}/read", json={"up_to_seq": 1}))
    response = store.api.patch(f"/api/conversations/{cid}/read")  # the other tab took "Isa"
    assert response.json["updated"] == 1
    receipts = [e["message_ids"] for e in events(app, redis, customer.id, "read")]
    assert receipts == [[first["id"]], [second["id"]]]
