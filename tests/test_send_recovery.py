"""A send that fails half-way (Redis or MongoDB gone for a moment) is finished by the sender's
retry with the same client_id: counted once, announced once, never stored twice."""

import json

import pymongo.errors
import redis as redis_py

from elako import realtime
from elako.services import messages


def events(app, redis, user_id, kind="message"):
    key = app.extensions["bus"].stream_key(user_id)
    return [json.loads(f["data"]) for _, f in redis.xrange(key) if f["type"] == kind]


def fail_once(monkeypatch, module, name, error):
    original = getattr(module, name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, failing)
    return calls


def send(person, cid, body, client_id):
    return person.api.post(f"/api/conversations/{cid}/messages",
                           json={"body": body, "client_id": client_id})


def test_redis_down_while_announcing_then_the_retry_announces(app, redis, chat, monkeypatch):
    customer, store, cid = chat
    fail_once(monkeypatch, realtime, "notify", redis_py.ConnectionError("Redis is restarting"))
    first = send(customer, cid, "May Milo pa po?", "order-1-q1")
    assert first.status_code == 503 and first.headers["Retry-After"]
    # Stored and counted already; only the announcement is owed.
    assert store.api.get(f"/api/conversations/{cid}").json["unread"] == 1
    assert events(app, redis, store.id) == []

    retry = send(customer, cid, "May Milo pa po?", "order-1-q1")
    assert retry.status_code == 200
    for person in (customer, store):
        [event] = events(app, redis, person.id)
        assert event["message"]["id"] == retry.json["id"]
    assert store.api.get(f"/api/conversations/{cid}").json["unread"] == 1
    again = send(customer, cid, "May Milo pa po?", "order-1-q1")  # nothing more is owed
    assert again.json["id"] == retry.json["id"] and len(events(app, redis, store.id)) == 1
    history = customer.api.get(f"/api/conversations/{cid}/messages").json["items"]
    assert [m["body"] for m in history] == ["May Milo pa po?"]


def test_mongodb_gone_before_storing_then_the_retry_stores_and_announces(
        app, redis, chat, monkeypatch):
    customer, store, cid = chat
    fail_once(monkeypatch, messages, "_store", pymongo.errors.AutoReconnect("primary stepped down"))
    # ... and still gone when the send tries to take back what it counted.
    fail_once(monkeypatch, messages, "_uncount", pymongo.errors.AutoReconnect("no primary"))
    assert send(customer, cid, "Pabili po", "q2").status_code == 503
    # Counted and previewed in the write that numbered it; the message itself is owed.
    assert customer.api.get(f"/api/conversations/{cid}/messages").json["items"] == []
    assert store.api.get(f"/api/conversations/{cid}").json["unread"] == 1
    retry = send(customer, cid, "Pabili po", "q2")
    assert retry.status_code == 200
    view = store.api.get(f"/api/conversations/{cid}").json
    assert view["unread"] == 1 and view["last_message"]["preview"] == "Pabili po"
    assert view["last_message"]["id"] == retry.json["id"]
    assert len(events(app, redis, store.id)) == 1
    assert send(customer, cid, "Pabili po", "q2").json["id"] == retry.json["id"]
    assert store.api.get(f"/api/users/{store.id}/unread-count").json["count"] == 1


def test_a_retry_older_than_the_conversation_remembers_is_still_one_message(
        app, redis, chat, monkeypatch):
    customer, store, cid = chat
    monkeypatch.setattr(messages, "RECENT_SENDS", 2)
    first = send(customer, cid, "Isang Milo po", "m-1")
    send(customer, cid, "At isang Bear Brand", "m-2")
    send(customer, cid, "Salamat po", "m-3")  # m-1 is no longer among the recent ones
    late = send(customer, cid, "Isang Milo po", "m-1")
    assert late.status_code == 200 and late.json["id"] == first.json["id"]
    view = store.api.get(f"/api/conversations/{cid}").json
    assert view["unread"] == 3 and view["last_message"]["preview"] == "Salamat po"
    assert len(events(app, redis, store.id)) == 3


def test_a_failed_store_takes_its_count_back_when_mongodb_answers_again(app, redis, chat, monkeypatch):
    customer, store, cid = chat
    customer.send(cid, "Magandang umaga po")
    fail_once(monkeypatch, messages, "_store", pymongo.errors.AutoReconnect("primary stepped down"))
    response = customer.api.post(f"/api/conversations/{cid}/messages", json={"body": "Pabili po"})
    assert response.status_code == 503
    view = store.api.get(f"/api/conversations/{cid}").json
    assert view["unread"] == 1 and view["last_message"]["preview"] == "Magandang umaga po"
    assert len(events(app, redis, store.id)) == 1


def test_a_retry_while_the_first_attempt_is_still_announcing_is_announced_once(
        app, redis, chat, monkeypatch):
    """A client that gave up waiting sends again while its first attempt, stored already, has not
    announced yet: both announce, each participant's stream takes the message once, and what
    follows a send (email alert, webhooks) runs once."""
    customer, store, cid = chat
    followed = []
    monkeypatch.setattr(messages.followups, "message_sent",
                        lambda message, conversation, store_view: followed.append(message.id))
    announce, retries = messages._announce, []

    def retry_first(message, conversation):
        if not retries:  # the first attempt, stored, about to announce
            retries.append(None)
            retries[0] = send(customer, cid, "Pabili po ng Milo", "slow-1")
        announce(message, conversation)

    monkeypatch.setattr(messages, "_announce", retry_first)
    first = send(customer, cid, "Pabili po ng Milo", "slow-1")
    [retry] = retries
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json["id"] == first.json["id"]
    for person in (customer, store):
        assert [e["message"]["id"] for e in events(app, redis, person.id)] == [first.json["id"]]
    assert [str(message_id) for message_id in followed] == [first.json["id"]]
    assert store.api.get(f"/api/conversations/{cid}").json["unread"] == 1


def test_a_retry_after_the_claims_expired_looks_in_the_stream_before_announcing(
        app, redis, chat, monkeypatch):
    customer, store, cid = chat
    first = send(customer, cid, "May Bear Brand po?", "late-1")
    monkeypatch.setattr(messages, "CLOCK_SKEW", messages.ANNOUNCE_ONCE_SECONDS + 60)  # as if later
    redis.delete(*redis.keys("*:once"))  # the claims expired
    retry = send(customer, cid, "May Bear Brand po?", "late-1")
    assert retry.status_code == 200 and retry.json["id"] == first.json["id"]
    assert len(events(app, redis, store.id)) == 1 and len(events(app, redis, customer.id)) == 1
