"""What one account can make the server keep and send: each user's event stream is capped in
bytes as well as entries, one replay sends a bounded amount (a resync after that), and reconnecting
is rate limited."""

import pytest
import requests

LONG = "Magandang araw po! " * 150  # 2,850 characters


def stored(app, redis, user_id):
    """(entries, bytes of their data, the running total the publish script keeps)."""
    bus = app.extensions["bus"]
    entries = redis.xrange(bus.stream_key(user_id))
    return (len(entries), sum(len(f["data"].encode()) for _, f in entries),
            int(redis.get(bus.stream_key(user_id) + ":bytes") or 0))


@pytest.mark.settings(EVENT_STREAM_MAX_BYTES=30000)
def test_long_messages_are_trimmed_by_bytes_not_only_by_count(app, redis, chat):
    customer, store, cid = chat
    for n in range(30):
        customer.send(cid, f"{n} {LONG}")
    count, size, total = stored(app, redis, store.id)
    assert size <= 30000 and size == total
    assert 3 <= count < 30  # the newest ones, whole
    newest = app.extensions["bus"].newest(store.id, 1)[0]
    assert newest.data["message"]["body"].startswith("29 ")


@pytest.mark.settings(EVENT_STREAM_MAXLEN=5)
def test_the_entry_cap_still_holds_and_the_byte_total_follows_it(app, redis, chat):
    customer, store, cid = chat
    for n in range(12):
        customer.send(cid, f"Item {n}")
    count, size, total = stored(app, redis, store.id)
    assert count == 5 and size == total


def test_unsending_takes_the_erased_events_off_the_byte_total(app, redis, chat):
    customer, store, cid = chat
    customer.send(cid, "Isang Milo po")
    doomed = customer.send(cid, LONG)
    assert customer.api.delete(f"/api/messages/{doomed['id']}").status_code == 200
    for person in (customer, store):
        _, size, total = stored(app, redis, person.id)
        assert size == total


@pytest.mark.e2e
def test_a_replay_from_the_beginning_is_bounded_then_resyncs(live_server, sse):
    server = live_server(STREAM_REPLAY_MAX_BYTES="12000")
    customer = server.register("customer", "Maria Santos")
    store = server.register("store", "Aling Nena's Store")
    cid = customer.open_conversation(store)
    for n in range(10):
        customer.send(cid, f"{n} {LONG}")
    stream = sse(store.events_url(), headers={**store.headers, "Last-Event-ID": "0-0"})
    resync = stream.wait_for("resync")
    replayed = stream.of_type("message")
    assert 1 <= len(replayed) <= 4  # what fits in 12,000 bytes, oldest first
    assert replayed[0].json["message"]["body"].startswith("0 ")
    assert resync.json["last_event_id"] == resync.id
    # Resuming from the resync id sends nothing old again.
    again = sse(store.events_url(), headers={**store.headers, "Last-Event-ID": resync.id})
    again.wait_for_comments(1)
    assert again.of_type("message") == []


@pytest.mark.e2e
def test_an_account_reconnecting_in_a_loop_is_slowed_down(live_server):
    server = live_server(RATE_LIMIT_STREAM_OPEN="3 per minute")
    store = server.register("store", "Tindahan")
    for _ in range(3):
        with requests.get(store.events_url(), headers=store.headers, stream=True,
                          timeout=10) as response:
            assert response.status_code == 200
    with requests.get(store.events_url(), headers=store.headers, stream=True, timeout=10) as refused:
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["code"] == "rate_limited"
    poll = requests.get(server.url + "/api/events/poll", params={"timeout": 0},
                        headers=store.headers, timeout=10)
    assert poll.status_code == 429
