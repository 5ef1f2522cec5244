"""Unsending: a sender may delete their own message within MESSAGE_DELETE_WINDOW_SECONDS. Both
sides see "Message deleted" in its place, live, and the text is erased from storage (MongoDB and
the stored event streams in Redis), not just hidden. After the window, or for someone else's
message, nothing happens."""

from datetime import timedelta

import mongoengine
import pytest
import redis as redis_py

from elako.models import Message, utcnow
from tests.support.answers import error_of
from tests.support.credentials import cookie_header
from tests.support.html import parse

SECRET_TEXT = "Ang PIN ko ay 4321, pakibura"


def everything_in_mongodb(db):
    """Every stored document of every collection, as text."""
    return "\n".join(repr(doc) for name in db.list_collection_names() for doc in db[name].find())


def everything_in_redis(redis, prefix):
    """Every stored event of every user stream under `prefix`, as text."""
    chunks = []
    for key in redis.scan_iter(f"{prefix}:*:events"):
        chunks += [repr(fields) for _, fields in redis.xrange(key)]
    return "\n".join(chunks)


def age(message_id, **delta):
    Message.objects(id=message_id).update(set__created_at=utcnow() - timedelta(**delta))


# -- in process ------------------------------------------------------------------------------------

def test_unsend_erases_the_text_from_mongodb_and_the_event_streams(app, redis, chat):
    customer, store, cid = chat
    sent = customer.send(cid, SECRET_TEXT)
    # Snapshots of the conversation that carry the preview: a read receipt, an archive.
    store.api.patch(f"/api/conversations/{cid}/read", json={})
    customer.api.post(f"/api/conversations/{cid}/archive")
    db = mongoengine.get_db()
    prefix = app.config["REDIS_KEY_PREFIX"]
    assert SECRET_TEXT in everything_in_mongodb(db)
    assert SECRET_TEXT in everything_in_redis(redis, prefix)

    response = customer.api.delete(f"/api/messages/{sent['id']}")
    assert response.status_code == 200
    assert response.json["deleted"] is True and response.json["body"] == ""
    assert SECRET_TEXT not in everything_in_mongodb(db)
    assert SECRET_TEXT not in everything_in_redis(redis, prefix)
    assert SECRET_TEXT[:20] not in everything_in_redis(redis, prefix)  # previews too
    stored = db.messages.find_one({"_id": Message.objects.get(id=sent["id"]).id})
    assert stored["body"] == "" and stored["deleted_at"] is not None

    # Both sides are told, and the history and inbox say "deleted" instead.
    bus = app.extensions["bus"]
    for person in (customer, store):
        [(_, last)] = redis.xrevrange(bus.stream_key(person.id), count=1)
        assert last["type"] == "message_deleted" and sent["id"] in last["data"]
        [item] = person.api.get(f"/api/conversations/{cid}/messages").json["items"]
        assert item["deleted"] is True and item["body"] == ""
        preview = person.api.get(f"/api/conversations/{cid}").json["last_message"]
        assert preview["deleted"] is True and preview["preview"] == ""


def test_other_events_stay_in_the_streams(app, redis, chat):
    """Only what carries the text is erased: later messages and receipts stay replayable."""
    customer, store, cid = chat
    doomed = customer.send(cid, SECRET_TEXT)
    kept = store.send(cid, "Sige po")
    bus = app.extensions["bus"]
    before = [f["type"] for _, f in redis.xrange(bus.stream_key(customer.id))]
    customer.api.delete(f"/api/messages/{doomed['id']}")
    after = [(f["type"], f["data"]) for _, f in redis.xrange(bus.stream_key(customer.id))]
    assert [t for t, _ in after] == ["message", "message_deleted"]
    assert before == ["message", "message"]
    assert kept["id"] in after[0][1] and "Sige po" in after[0][1]


def test_only_the_sender_can_unsend(chat, people):
    customer, store, cid = chat
    sent = customer.send(cid, SECRET_TEXT)
    for other in (store, people.customer()):
        response = other.api.delete(f"/api/messages/{sent['id']}")
        assert response.status_code == 404
        missing = other.api.delete("/api/messages/6b0000000000000000000000")
        assert error_of(response.json) == error_of(missing.json)
    assert Message.objects.get(id=sent["id"]).body == SECRET_TEXT


@pytest.mark.settings(MESSAGE_DELETE_WINDOW_SECONDS=3600)
def test_the_window_is_configurable_and_enforced(chat):
    customer, store, cid = chat
    recent = customer.send(cid, "recent")
    old = customer.send(cid, SECRET_TEXT)
    age(recent["id"], minutes=59)
    age(old["id"], minutes=61)
    assert customer.api.delete(f"/api/messages/{recent['id']}").status_code == 200
    refused = customer.api.delete(f"/api/messages/{old['id']}")
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "delete_window_passed"
    assert refused.json["error"]["message"] == "This message is too old to delete."
    assert Message.objects.get(id=old["id"]).body == SECRET_TEXT
    # The page offers "Unsend" only inside the window, and refuses a late form post clearly.
    page = parse(customer.page.get(f"/c/{cid}").get_data(as_text=True))
    assert not page.by_id(f"msg-{old['id']}").find_all("form")
    late = customer.page.post(f"/m/{old['id']}/delete", {})
    assert late.status_code == 403
    assert "too old to delete" in late.get_data(as_text=True)


def test_a_fresh_message_offers_unsend_to_its_sender_only(chat):
    customer, store, cid = chat
    sent = customer.send(cid, "hello")
    mine = parse(customer.page.get(f"/c/{cid}").get_data(as_text=True)).by_id(f"msg-{sent['id']}")
    theirs = parse(store.page.get(f"/c/{cid}").get_data(as_text=True)).by_id(f"msg-{sent['id']}")
    [form] = mine.find_all("form")
    assert form.attrs["action"] == f"/m/{sent['id']}/delete"
    assert not theirs.find_all("form")


def test_unsending_an_unread_message_takes_it_out_of_the_unread_count(chat):
    customer, store, cid = chat
    customer.send(cid, "one")
    doomed = customer.send(cid, SECRET_TEXT)
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 2}
    customer.api.delete(f"/api/messages/{doomed['id']}")
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 1}
    assert store.api.get(f"/api/conversations/{cid}").json["unread"] == 1
    # Twice is harmless and changes nothing more.
    again = customer.api.delete(f"/api/messages/{doomed['id']}")
    assert again.status_code == 200 and again.json["deleted"] is True
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 1}


def test_pages_show_message_deleted_in_place(chat):
    customer, store, cid = chat
    sent = customer.send(cid, SECRET_TEXT)
    assert customer.page.post(f"/m/{sent['id']}/delete", {}).status_code == 303
    for person in (customer, store):
        html = person.page.get(f"/c/{cid}").get_data(as_text=True)
        assert SECRET_TEXT not in html
        item = parse(html).by_id(f"msg-{sent['id']}")
        assert item.has_class("deleted") and item.text.count("Message deleted") == 1
        [row] = parse(html).find_all("li", id=f"row-{cid}")
        assert row.with_class("preview")[0].text == "Message deleted"


# -- live, through gunicorn ------------------------------------------------------------------------


@pytest.mark.e2e
def test_both_sides_see_message_deleted_live_and_the_text_is_gone(server, sse, server_db,
                                                                  redis_url):
    customer = server.register("customer", "Maria")
    store = server.register("store", "Sari-Sari")
    cid = customer.open_conversation(store)
    customer_browser, store_browser = customer.browser(), store.browser()
    streams = {"customer json": sse(customer.events_url(), headers=customer.headers),
               "store json": sse(store.events_url(), headers=store.headers),
               "customer page": sse(server.url + "/events", headers=cookie_header(customer_browser)),
               "store page": sse(server.url + "/events", headers=cookie_header(store_browser))}
    for stream in streams.values():
        stream.wait_for_comments(1)
    customer.send(cid, "before")
    mark = streams["store json"].wait_for("message").id
    sent = customer.send(cid, SECRET_TEXT)
    for stream in streams.values():
        stream.wait_for("message", count=2)

    html = customer_browser.get(f"{server.url}/c/{cid}", timeout=10).text
    token = parse(html).find_all("input", name="csrf_token")[0].attrs["value"]
    unsent = customer_browser.post(f"{server.url}/m/{sent['id']}/delete", timeout=10,
                                   headers={"HX-Request": "true", "X-CSRFToken": token})
    assert unsent.status_code == 204

    for name, stream in streams.items():
        event = stream.wait_for("message_deleted")
        if name.endswith("json"):
            assert event.json["message"]["id"] == sent["id"]
            assert event.json["message"]["deleted"] is True and event.json["message"]["body"] == ""
            assert event.json["conversation"]["last_message"]["deleted"] is True
        else:
            fragment = parse(event.data)
            item = fragment.by_id(f"msg-{sent['id']}")
            assert item.attrs["hx-swap-oob"] == "true" and item.has_class("deleted")
            assert "Message deleted" in item.text
            assert fragment.by_id(f"row-{cid}").with_class("preview")[0].text == "Message deleted"
        assert SECRET_TEXT not in event.data

    db = server_db(server)
    assert SECRET_TEXT not in everything_in_mongodb(db)
    assert db.messages.find_one({"seq": 2, "body": ""}) is not None
    redis = redis_py.Redis.from_url(redis_url, decode_responses=True)
    assert SECRET_TEXT not in everything_in_redis(redis, server.prefix)

    # A tab that reconnects from before the message replays no trace of the text.
    replay = sse(store.events_url(), headers={**store.headers, "Last-Event-ID": mark})
    replay.wait_for("message_deleted")
    replay.wait_for_comments(1)
    assert [e.type for e in replay.events] == ["message_deleted"]
    assert all(SECRET_TEXT not in e.data for e in replay.events)


@pytest.mark.e2e
def test_unsend_after_the_window_is_refused_over_http(server, server_db):
    customer = server.register("customer", "Maria")
    store = server.register("store", "Sari-Sari")
    cid = customer.open_conversation(store)
    sent = customer.send(cid, SECRET_TEXT)
    db = server_db(server)
    from bson import ObjectId

    db.messages.update_one({"_id": ObjectId(sent["id"])},
                           {"$set": {"created_at": utcnow() - timedelta(minutes=16)}})
    refused = customer.call("DELETE", f"/api/messages/{sent['id']}")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "delete_window_passed"
    assert db.messages.find_one({"_id": ObjectId(sent["id"])})["body"] == SECRET_TEXT
    [item] = store.call("GET", f"/api/conversations/{cid}/messages").json()["items"]
    assert item["body"] == SECRET_TEXT and not item["deleted"]
