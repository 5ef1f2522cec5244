"""GET /api/events/poll: the event stream for clients that cannot hold one open (a cron script, a
PHP page) or sit behind a proxy that buffers. Same events, replay, resync and limits."""

import threading
import time

import pytest
import requests

pytestmark = pytest.mark.e2e


def poll(user, **params):
    return requests.get(user.server.url + "/api/events/poll", params=params, headers=user.headers,
                        timeout=40)


def test_waiting_events_come_at_once_and_match_the_stream(server, pair, sse):
    customer, store, conversation_id = pair
    stream = sse(store.events_url(), headers=store.headers)
    start = poll(store, timeout=0).json()["last_event_id"]
    sent = [customer.send(conversation_id, f"Order {n}") for n in range(3)]
    streamed = [stream.wait_for("message", count=n + 1) for n in range(3)]
    began = time.monotonic()
    answer = poll(store, last_event_id=start, timeout=30)
    assert answer.status_code == 200 and time.monotonic() - began < 5
    events = [e for e in answer.json()["events"] if e["type"] == "message"]
    assert [e["data"]["message"]["id"] for e in events] == [m["id"] for m in sent]
    assert [(e["id"], e["data"]) for e in events] == [(e.id, e.json) for e in streamed]
    assert answer.json()["last_event_id"] == answer.json()["events"][-1]["id"]


def test_an_empty_poll_waits_for_the_first_event(server, pair):
    customer, store, conversation_id = pair
    start = poll(store, timeout=0).json()["last_event_id"]
    threading.Timer(1.0, customer.send, (conversation_id, "Nandiyan pa po kayo?")).start()
    began = time.monotonic()
    answer = poll(store, last_event_id=start, timeout=20).json()
    assert 0.5 < time.monotonic() - began < 10
    [event] = [e for e in answer["events"] if e["type"] == "message"]
    assert event["data"]["message"]["body"] == "Nandiyan pa po kayo?"
    # Polling delivered it: the sender's ticks say so.
    receipts = poll(customer, last_event_id="0-0", timeout=0).json()["events"]
    assert [e["data"]["message_ids"] for e in receipts if e["type"] == "delivered"] == [
        [event["data"]["message"]["id"]]]


def test_a_quiet_poll_ends_at_its_timeout_with_nothing(server, pair):
    _, store, _ = pair
    start = poll(store, timeout=0).json()["last_event_id"]
    began = time.monotonic()
    answer = poll(store, last_event_id=start, timeout=2).json()
    assert 1.8 < time.monotonic() - began < 6
    assert answer == {"events": [], "last_event_id": start}


def test_an_id_the_stream_no_longer_holds_gets_a_resync(server, pair):
    customer, store, conversation_id = pair
    customer.send(conversation_id, "Hello")
    answer = poll(store, last_event_id="1-1", timeout=0).json()
    [event] = answer["events"]
    assert event["type"] == "resync" and event["id"] == answer["last_event_id"]
    assert event["data"]["last_event_id"] == event["id"]


@pytest.mark.parametrize("params, status, code", [
    ({"timeout": "31"}, 422, "invalid_input"),
    ({"timeout": "-1"}, 422, "invalid_input"),
    ({"timeout": "soon"}, 422, "invalid_input"),
])
def test_bad_timeouts_are_refused_clearly(server, pair, params, status, code):
    _, store, _ = pair
    answer = poll(store, **params)
    assert answer.status_code == status and answer.json()["error"]["code"] == code


def test_polling_needs_a_token(server):
    answer = requests.get(server.url + "/api/events/poll", params={"timeout": 0}, timeout=10)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "missing_token"


def test_polls_count_against_the_accounts_connection_limit(live_server, sse):
    server = live_server(MAX_STREAMS_PER_USER="2")
    store = server.register("store", "Tindahan")
    for _ in range(2):
        sse(store.events_url(), headers=store.headers).wait_for_comments(1)
    answer = poll(store, timeout=0)
    assert answer.status_code == 429 and answer.json()["error"]["code"] == "too_many_streams"
