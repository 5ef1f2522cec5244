"""Ticks: sent once stored, delivered once it reached a live connection, read once seen."""

import pytest

pytestmark = pytest.mark.e2e


def history(user, conversation_id):
    return user.call("GET", f"/api/conversations/{conversation_id}/messages").json()["items"]


def test_sent_then_delivered_then_read(pair, sse):
    customer, store, conversation_id = pair
    sender_tab = sse(customer.events_url(), headers=customer.headers)
    sender_tab.wait_for_comments(1)

    sent = customer.send(conversation_id, "Pa-order po ng 2 Milo")  # store offline: only sent
    assert (sent["delivered_at"], sent["read_at"]) == (None, None)
    sender_tab.wait_for_comments(sender_tab.comments + 1)
    assert sender_tab.of_type("delivered") == []

    store_tab = sse(store.events_url(), headers=store.headers)  # store comes online
    delivered = sender_tab.wait_for("delivered")
    assert delivered.json["conversation_id"] == conversation_id
    assert delivered.json["message_ids"] == [sent["id"]] and delivered.json["up_to_seq"] == 1
    assert history(customer, conversation_id)[0]["delivered_at"] == delivered.json["delivered_at"]

    store.call("PATCH", f"/api/conversations/{conversation_id}/read")
    read = sender_tab.wait_for("read")
    assert read.json["conversation_id"] == conversation_id and read.json["up_to_seq"] == 1
    assert read.json["message_ids"] == [sent["id"]]
    assert history(customer, conversation_id)[0]["read_at"] == read.json["read_at"]
    # The reader's own tabs hear it too, to clear their badges.
    assert store_tab.wait_for("read").json["unread_total"] == 0


def test_live_arrival_is_delivered_once_however_many_tabs(pair, sse):
    customer, store, conversation_id = pair
    sender_tab = sse(customer.events_url(), headers=customer.headers)
    tabs = [sse(store.events_url(), headers=store.headers) for _ in range(3)]
    for tab in tabs + [sender_tab]:
        tab.wait_for_comments(1)
    sent = customer.send(conversation_id, "hello")
    for tab in tabs:
        tab.wait_for("message")
    sender_tab.wait_for("delivered")
    sender_tab.wait_for_comments(sender_tab.comments + 2)
    delivered_ids = [i for e in sender_tab.of_type("delivered") for i in e.json["message_ids"]]
    assert delivered_ids == [sent["id"]]


def test_reconnect_replays_messages_and_receipts_in_order(pair, sse):
    customer, store, conversation_id = pair
    tab = sse(customer.events_url(), headers=customer.headers)
    tab.wait_for_comments(1)
    customer.send(conversation_id, "first")
    resume = tab.wait_for("message").id
    tab.close()

    store_tab = sse(store.events_url(), headers=store.headers)  # delivers "first"
    store_tab.wait_for_comments(1)
    store.call("PATCH", f"/api/conversations/{conversation_id}/read")
    store.send(conversation_id, "reply")

    back = sse(customer.events_url(), headers={**customer.headers, "Last-Event-ID": resume})
    back.wait_for("message")
    assert [e.type for e in back.events] == ["delivered", "read", "message"]
    assert back.events[2].json["message"]["body"] == "reply"


def test_page_shows_ticks_with_text_alternatives(pair, server):
    customer, store, conversation_id = pair
    customer.send(conversation_id, "one")
    page = customer.browser().get(f"{server.url}/c/{conversation_id}").text
    assert 'class="ticks sent"' in page and "Sent" in page
    store.call("PATCH", f"/api/conversations/{conversation_id}/read")
    page = customer.browser().get(f"{server.url}/c/{conversation_id}").text
    assert 'class="ticks read"' in page and "Read" in page
