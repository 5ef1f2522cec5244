"""Live delivery through a real gunicorn + gevent server, watched by real SSE clients."""

import re

import pytest
import requests

from tests.support.credentials import cookie_header

pytestmark = pytest.mark.e2e

EVENT_ID = re.compile(r"\A\d+-\d+\Z")


def test_message_reaches_the_store_and_the_senders_other_devices(server, pair, sse):
    customer, store, conversation_id = pair
    store_stream = sse(store.events_url(), headers=store.headers)
    customer_stream = sse(customer.events_url(), headers=customer.headers)
    assert store_stream.status == 200
    assert store_stream.headers["Content-Type"].startswith("text/event-stream")
    assert store_stream.headers["Cache-Control"].startswith("no-cache")
    store_stream.wait_for_comments(1)  # connected and idle

    sent = customer.send(conversation_id, "May Milo pa po ba?")
    received = store_stream.wait_for("message")
    assert EVENT_ID.match(received.id)
    assert received.json["message"] == {**sent, "delivered_at": None}
    assert received.json["conversation"]["other"]["name"] == "Maria Santos"
    assert received.json["unread_total"] == 1
    echo = customer_stream.wait_for("message")
    assert echo.json["message"]["id"] == sent["id"]
    assert echo.json["conversation"]["other"]["name"] == "Aling Nena's Store"
    # The store's open stream delivered it: the sender learns so.
    delivered = customer_stream.wait_for("delivered")
    assert delivered.json["message_ids"] == [sent["id"]]


def test_outsider_receives_nothing(server, pair, sse):
    customer, store, conversation_id = pair
    outsider = server.register("customer", "Nosy Neighbour")
    watching = sse(outsider.events_url(), headers=outsider.headers)
    store_stream = sse(store.events_url(), headers=store.headers)
    watching.wait_for_comments(1)
    customer.send(conversation_id, "private order details")
    store_stream.wait_for("message")
    watching.wait_for_comments(watching.comments + 2)  # two heartbeats later: still nothing
    assert watching.events == []


def test_heartbeat_comments_and_retry_hint(server, pair, sse):
    _, store, _ = pair
    stream = sse(store.events_url(), headers=store.headers)
    stream.wait_for_comments(3, timeout=10)
    assert stream.retry == 500  # SSE_RETRY_MS from the server's settings


def test_default_heartbeat_is_at_most_15_seconds():
    from config import Config

    assert 0 < Config.SSE_HEARTBEAT_SECONDS <= 15


def test_stream_needs_a_valid_token(server, sse):
    anonymous = sse(server.url + "/api/events")
    forged = sse(server.url + "/api/events", headers={"Authorization": "Bearer x.y.z"})
    assert anonymous.status == forged.status == 401
    assert b'"error"' in anonymous.body
    page_stream = sse(server.url + "/events")
    assert page_stream.status == 401


def test_idempotent_retry_over_http_publishes_once(server, pair, sse):
    customer, store, conversation_id = pair
    store_stream = sse(store.events_url(), headers=store.headers)
    store_stream.wait_for_comments(1)
    first = customer.send(conversation_id, "Pa-reserve po 2 pcs", client_id="retry-1")
    again = customer.call("POST", f"/api/conversations/{conversation_id}/messages",
                          json={"body": "Pa-reserve po 2 pcs", "client_id": "retry-1"})
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    store_stream.wait_for("message")
    store_stream.wait_for_comments(store_stream.comments + 2)
    assert len(store_stream.of_type("message")) == 1


def test_bad_inputs_over_http(server, pair):
    customer, _, conversation_id = pair
    url = f"{server.url}/api/conversations/{conversation_id}/messages"
    auth = customer.headers
    cases = [
        (requests.post(url, data="{oops", headers={**auth, "Content-Type": "application/json"}),
         400),
        (requests.post(url, json={"body": ""}, headers=auth), 422),
        (requests.post(url, json={"body": "x" * 4001}, headers=auth), 413),
        (requests.post(url, data="body=hi", headers={
            **auth, "Content-Type": "application/x-www-form-urlencoded"}), 415),
        (requests.post(server.url + "/api/conversations/zzz/messages", json={"body": "hi"},
                       headers=auth), 404),
        (requests.get(server.url + "/api/users/zzz/conversations", headers=auth), 403),
        (requests.get(server.url + "/api/me"), 401),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        assert set(response.json()["error"]) >= {"code", "message"}


def test_browser_stream_renders_fragments_for_each_viewer(server, pair, sse):
    customer, store, conversation_id = pair
    store_tab = sse(server.url + "/events", headers=cookie_header(store.browser()))
    customer_tab = sse(server.url + "/events", headers=cookie_header(customer.browser()))
    store_tab.wait_for_comments(1)
    customer_tab.wait_for_comments(1)
    sent = customer.send(conversation_id, "Magkano po ang <b>bigas</b>?")

    on_store = store_tab.wait_for("message")
    on_customer = customer_tab.wait_for("message")
    assert on_store.id == store_tab.last_id and EVENT_ID.match(on_store.id)
    for fragment in (on_store.data, on_customer.data):
        assert f'data-message-id="{sent["id"]}"' in fragment
        assert "Magkano po ang &lt;b&gt;bigas&lt;/b&gt;?" in fragment and "<b>bigas" not in fragment
        assert 'hx-swap-oob' in fragment
    # Received on the left ("in"), sent on the right ("out").
    assert 'class="msg in"' in on_store.data and 'class="msg out"' in on_customer.data
    assert "<time" in on_store.data
    # The inbox row moves to the top with the preview and the unread badge.
    assert f'id="row-{conversation_id}"' in on_store.data
    assert 'afterbegin:#inbox-list' in on_store.data
    assert "Maria Santos" in on_store.data and 'id="unread-badge" class="badge total" data-count="1"' in on_store.data
