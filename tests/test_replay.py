"""Reconnecting: Last-Event-ID replays exactly what was missed; a gap too old means resync."""

import socket
import time

import pytest
import redis as redis_py

pytestmark = pytest.mark.e2e


@pytest.fixture
def pair(server):
    customer = server.register("customer", "Juan Dela Cruz")
    store = server.register("store", "Kusina ni Mang Tonyo")
    return customer, store, customer.open_conversation(store)


def bodies(events):
    return [e.json["message"]["body"] for e in events if e.type == "message"]


def test_reconnect_replays_missed_events_in_order_without_duplicates(pair, sse):
    customer, store, conversation_id = pair
    first = sse(store.events_url(), headers=store.headers)
    first.wait_for_comments(1)
    customer.send(conversation_id, "one")
    seen = first.wait_for("message")
    first.close()

    for body in ("two", "three", "four"):
        customer.send(conversation_id, body)
    again = sse(store.events_url(), headers={**store.headers, "Last-Event-ID": seen.id})
    again.wait_for("message", count=3)
    again.wait_for_comments(1)
    assert bodies(again.events) == ["two", "three", "four"]
    ids = [e.id for e in again.events if e.id]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-")))) and len(set(ids)) == 3
    assert all(e.id > seen.id for e in again.events if e.type == "message")

    # Live events continue after the replay, still without repeats.
    customer.send(conversation_id, "five")
    again.wait_for(lambda e: e.type == "message" and e.json["message"]["body"] == "five")
    assert bodies(again.events) == ["two", "three", "four", "five"]


def test_query_parameter_works_like_the_header(pair, sse):
    customer, store, conversation_id = pair
    customer.send(conversation_id, "before")
    anchor = sse(store.events_url(), headers=store.headers)
    anchor.wait_for_comments(1)
    customer.send(conversation_id, "anchor")
    mark = anchor.wait_for("message").id
    anchor.close()
    customer.send(conversation_id, "missed")
    resumed = sse(f"{store.events_url()}?last_event_id={mark}", headers=store.headers)
    resumed.wait_for("message")
    resumed.wait_for_comments(1)
    assert bodies(resumed.events) == ["missed"]


def test_no_last_event_id_starts_from_now(pair, sse):
    customer, store, conversation_id = pair
    customer.send(conversation_id, "old news")
    fresh = sse(store.events_url(), headers=store.headers)
    fresh.wait_for_comments(2)
    assert fresh.events == []


@pytest.mark.parametrize("last_event_id", ["garbage", "1-x", "-1", "99999999999999-0",
                                           "99999999999999999999-0", "1-99999999999999999999"])
def test_unknown_or_malformed_id_gets_resync(pair, sse, last_event_id):
    customer, store, conversation_id = pair
    customer.send(conversation_id, "hello")
    stream = sse(store.events_url(), headers={**store.headers, "Last-Event-ID": last_event_id})
    resync = stream.wait_for("resync")
    assert stream.events[0] is resync
    assert resync.json["reason"] == "history_gap"
    assert resync.id == resync.json["last_event_id"]  # the next reconnect resumes from here


def test_gap_older_than_the_stream_keeps_gets_resync(live_server, sse):
    server = live_server(EVENT_STREAM_MAXLEN="5")
    customer = server.register("customer", "Maria")
    store = server.register("store", "Sari-Sari")
    conversation_id = customer.open_conversation(store)
    watch = sse(store.events_url(), headers=store.headers)
    watch.wait_for_comments(1)
    customer.send(conversation_id, "first")
    old_id = watch.wait_for("message").id
    watch.close()
    for i in range(8):
        customer.send(conversation_id, f"while away {i}")

    back = sse(store.events_url(), headers={**store.headers, "Last-Event-ID": old_id})
    resync = back.wait_for("resync")
    back.wait_for_comments(1)
    assert [e.type for e in back.events] == ["resync"]  # no partial replay after a gap
    # Resync means "reload from MongoDB": everything is there.
    history = customer.call("GET", f"/api/conversations/{conversation_id}/messages").json()
    assert len(history["items"]) == 9
    # And resuming from the resync id works normally.
    customer.send(conversation_id, "after resync")
    resumed = sse(store.events_url(), headers={**store.headers, "Last-Event-ID": resync.id})
    resumed.wait_for("message")
    assert bodies(resumed.events) == ["after resync"]


def test_dead_clients_are_found_by_heartbeats_and_release_everything(server, pair, redis_url):
    _, store, _ = pair
    redis = redis_py.Redis.from_url(redis_url, decode_responses=True)
    channel = f"{server.prefix}:{{{store.id}}}:live"
    connections = f"{server.prefix}:{{{store.id}}}:conns"

    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall((f"GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {store.token}"
                  "\r\nAccept: text/event-stream\r\n\r\n").encode())
    assert b"200" in sock.recv(4096).split(b"\r\n")[0]
    deadline = time.monotonic() + 5
    while redis.pubsub_numsub(channel)[0][1] != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert redis.pubsub_numsub(channel)[0][1] == 1
    assert redis.zcard(connections) == 1

    # The phone vanishes without closing the connection properly: RST, no FIN handshake.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if redis.pubsub_numsub(channel)[0][1] == 0 and redis.zcard(connections) == 0:
            break
        time.sleep(0.1)
    assert redis.pubsub_numsub(channel)[0][1] == 0  # the worker unsubscribed
    assert redis.zcard(connections) == 0  # and forgot the connection for presence


def test_a_reader_overtaken_by_trimming_is_told_of_the_gap(redis):
    """A slow reader (a phone on 2G, a worker catching up after its pub/sub connection dropped)
    reads its stream a page at a time after its cursor. If the stream is trimmed past the cursor
    in the meantime, what was trimmed must not be skipped silently."""
    from elako.realtime.bus import NO_EVENTS, EventBus, HistoryGap

    bus = EventBus(redis, prefix=f"gap{time.monotonic_ns()}", maxlen=5)
    [cursor] = bus.publish([("u1", "message", {"n": 0})])
    bus.publish([("u1", "message", {"n": n}) for n in range(1, 4)])
    assert [e.data["n"] for e in bus.read_after("u1", cursor)] == [1, 2, 3]

    pages = bus.read_after("u1", cursor, page_size=2)
    assert next(pages).data == {"n": 1}
    bus.publish([("u1", "message", {"n": n}) for n in range(4, 9)])  # 0 to 3 trimmed
    with pytest.raises(HistoryGap):
        list(pages)  # the page after 2 would start at 4: 3 is gone
    with pytest.raises(HistoryGap):
        list(bus.read_after("u1", cursor))
    # "Everything you still have" is never a gap; nor is a cursor still kept.
    assert [e.data["n"] for e in bus.read_after("u1", NO_EVENTS)] == [4, 5, 6, 7, 8]
    kept = bus.latest_id("u1")
    assert list(bus.read_after("u1", kept)) == []
    redis.delete(bus.stream_key("u1"))
    with pytest.raises(HistoryGap):  # the whole stream expired
        list(bus.read_after("u1", kept))


def test_publishing_is_one_round_trip_and_survives_a_redis_that_forgot_its_scripts(redis):
    from elako.realtime.bus import EventBus

    bus = EventBus(redis, prefix=f"scripts{time.monotonic_ns()}")
    bus.publish([("u1", "message", {"n": 0})])

    def script_commands():
        return redis.info("commandstats").get("cmdstat_script", {}).get("calls", 0)

    before = script_commands()
    bus.publish([("u1", "message", {"n": 1}), ("u2", "message", {"n": 1})])
    assert script_commands() == before  # no SCRIPT EXISTS / LOAD on the way
    redis.script_flush()  # what a restart or a failover to a fresh replica does
    ids = bus.publish([("u1", "message", {"n": 2})])
    assert [e.data["n"] for e in bus.read_after("u1", "0-0")] == [0, 1, 2]
    assert ids == [bus.latest_id("u1")]
