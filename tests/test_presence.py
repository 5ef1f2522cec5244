"""Presence: online while any connection lives anywhere, offline after a grace period, last seen."""

import os
import signal
import time

import pytest

pytestmark = pytest.mark.e2e


def presence_of(viewer, conversation_id, server=None):
    response = viewer.call("GET", f"/api/conversations/{conversation_id}", server=server)
    return response.json()["other"]["presence"]


def wait_until(condition, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition never became true")


def test_online_offline_and_last_seen_across_two_workers(live_server, sse):
    server = live_server(workers=2)
    customer = server.register("customer", "Maria")
    store = server.register("store", "Sari-Sari")
    conversation_id = customer.open_conversation(store)
    customer.send(conversation_id, "hello")  # counterparts are people you have talked with
    watching = sse(customer.events_url(), headers=customer.headers)
    watching.wait_for_comments(1)
    assert presence_of(customer, conversation_id) == {"online": False, "last_seen_at": None}

    store_tabs = [sse(store.events_url(), headers=store.headers) for _ in range(4)]
    came = watching.wait_for("presence")
    assert came.json == {"user_id": store.id, "online": True, "last_seen_at": None}
    for _ in range(6):  # answered by whichever worker: they agree
        assert presence_of(customer, conversation_id)["online"] is True

    # Closing one tab of several, or reloading, is no offline flicker.
    store_tabs.pop().close()
    store_tabs.append(sse(store.events_url(), headers=store.headers))
    watching.wait_for_comments(watching.comments + 3)
    assert len(watching.of_type("presence")) == 1

    for tab in store_tabs:
        tab.close()
    gone = watching.wait_for(lambda e: e.type == "presence" and not e.json["online"])
    assert gone.json["last_seen_at"]
    status = presence_of(customer, conversation_id)
    assert status["online"] is False and status["last_seen_at"]


def test_a_killed_worker_cannot_leave_anyone_online(live_server, sse):
    host_a = live_server(workers=1)
    host_b = live_server(workers=1, REDIS_KEY_PREFIX=host_a.prefix,
                         MONGODB_DB=host_a.env["MONGODB_DB"])
    customer = host_a.register("customer", "Juan")
    store = host_a.register("store", "Hardware")
    conversation_id = customer.open_conversation(store)
    customer.send(conversation_id, "hello")
    watching = sse(customer.events_url(host_b), headers=customer.headers)
    watching.wait_for_comments(1)
    store_tab = sse(store.events_url(host_a), headers=store.headers)
    watching.wait_for("presence")

    for pid in host_a.worker_pids():  # a crash: no cleanup code runs
        os.kill(pid, signal.SIGKILL)
    store_tab.wait_closed()
    # The dead stream is no longer heartbeated; it expires and host B's sweeper settles it.
    gone = watching.wait_for(lambda e: e.type == "presence" and not e.json["online"], timeout=20)
    assert gone.json["user_id"] == store.id
    assert presence_of(customer, conversation_id, server=host_b)["online"] is False


def test_presence_only_reaches_counterparts(server, sse):
    customer = server.register("customer", "Maria")
    stranger = server.register("customer", "Stranger")
    store = server.register("store", "Sari-Sari")
    customer.send(customer.open_conversation(store), "hi")
    friend_tab = sse(customer.events_url(), headers=customer.headers)
    stranger_tab = sse(stranger.events_url(), headers=stranger.headers)
    friend_tab.wait_for_comments(1)
    stranger_tab.wait_for_comments(1)
    sse(store.events_url(), headers=store.headers)
    friend_tab.wait_for("presence")
    stranger_tab.wait_for_comments(stranger_tab.comments + 2)
    assert stranger_tab.events == []


def test_page_shows_presence_with_text(server, sse):
    customer = server.register("customer", "Maria")
    store = server.register("store", "Sari-Sari")
    conversation_id = customer.open_conversation(store)
    customer.send(conversation_id, "hi")
    page = customer.browser().get(f"{server.url}/c/{conversation_id}").text
    assert f"presence-{store.id}" in page and "Offline" in page
    tab = sse(store.events_url(), headers=store.headers)
    tab.wait_for_comments(1)
    page = customer.browser().get(f"{server.url}/c/{conversation_id}").text
    assert "Online" in page


def test_live_inbox_rows_keep_the_presence_dot(server, sse):
    """A row re-rendered by an event (new message, read) shows the other party's presence as the
    page did, read at render time: presence is never stored in the stream."""
    customer = server.register("customer", "Maria")
    store = server.register("store", "Sari-Sari")
    conversation_id = customer.open_conversation(store)
    store_page = sse(f"{server.url}/events", headers={"Cookie": "; ".join(
        f"{c.name}={c.value}" for c in store.browser().cookies)})
    store_page.wait_for_comments(1)

    customer.send(conversation_id, "May load po kayo?")  # the customer has no stream: offline
    row = store_page.wait_for("message").data
    assert f'class="presence presence-{customer.id}"' in row and "Offline" in row

    customer_stream = sse(customer.events_url(), headers=customer.headers)
    customer_stream.wait_for_comments(1)
    customer.send(conversation_id, "Globe po, 50")
    row = store_page.wait_for("message", count=2).data
    assert f'class="presence presence-{customer.id} online"' in row and "Online" in row


def test_closing_the_last_tab_goes_offline_after_the_grace_period_not_the_heartbeat_ttl(
        live_server, sse):
    """A connection's presence lasts PRESENCE_TTL_SECONDS past its last heartbeat (for a worker
    that dies without closing anything); a stream that closes properly ends it after the grace."""
    server = live_server(PRESENCE_TTL_SECONDS="30", PRESENCE_GRACE_SECONDS="1")
    customer = server.register("customer", "Maria")
    store = server.register("store", "Sari-Sari")
    conversation_id = customer.open_conversation(store)
    customer.send(conversation_id, "hello")
    watching = sse(customer.events_url(), headers=customer.headers)
    watching.wait_for_comments(1)
    tab = sse(store.events_url(), headers=store.headers)
    watching.wait_for(lambda e: e.type == "presence" and e.json["online"])
    tab.wait_for_comments(2)  # a heartbeat renewed it: 30 s from now

    closed = time.monotonic()
    tab.close()
    watching.wait_for(lambda e: e.type == "presence" and not e.json["online"], timeout=15)
    assert time.monotonic() - closed < 10


def test_a_worker_flushes_many_heartbeats_in_slices_and_each_stream_stays_live(
        app, redis, monkeypatch):
    from elako.extensions import get_redis
    from elako.services import presence

    monkeypatch.setattr(presence, "HEARTBEAT_BATCH", 3)
    with app.app_context():
        client = get_redis()
        pipelines, pipeline = [], client.pipeline
        monkeypatch.setattr(client, "pipeline", lambda **options: pipelines.append(options)
                            or pipeline(**options))
        for n in range(7):
            presence.heartbeat(f"user-{n}", f"tab-{n}")
        before = time.time()
        presence.flush_heartbeats()
        assert len(pipelines) == 3  # 3 + 3 + 1
        ttl = app.config["PRESENCE_TTL_SECONDS"]
        for n in range(7):
            assert redis.zscore(presence._key(f"user-{n}", "conns"), f"tab-{n}") >= before + ttl
            assert redis.zscore(presence._online_key(), f"user-{n}") >= before + ttl
        presence.flush_heartbeats()  # nothing beat since
        assert len(pipelines) == 3
