"""Several workers and several hosts: nothing held per process breaks delivery."""

import pytest
import redis as redis_py

pytestmark = pytest.mark.e2e


def test_streams_on_every_worker_see_a_message_posted_anywhere(live_server, redis_url, sse):
    server = live_server(workers=2)
    customer = server.register("customer", "Maria")
    store = server.register("store", "Sari-Sari")
    conversation_id = customer.open_conversation(store)
    tabs = [sse(store.events_url(), headers=store.headers) for _ in range(10)]
    for tab in tabs:
        tab.wait_for_comments(1)
    redis = redis_py.Redis.from_url(redis_url, decode_responses=True)
    hubs = redis.pubsub_numsub(f"{server.prefix}:hub")[0][1]
    assert hubs == 2, "the ten streams should be spread over both workers"

    for i in range(5):  # each post lands on whichever worker accepts it
        customer.send(conversation_id, f"message {i}")
    for tab in tabs:
        tab.wait_for("message", count=5)
        assert [e.json["message"]["body"] for e in tab.of_type("message")] == [
            f"message {i}" for i in range(5)]


def test_a_second_host_delivers_to_streams_on_the_first(live_server, sse):
    first = live_server(workers=2)
    second = live_server(workers=2, REDIS_KEY_PREFIX=first.prefix,
                         MONGODB_DB=first.env["MONGODB_DB"])
    customer = first.register("customer", "Juan")
    store = first.register("store", "Hardware")
    conversation_id = customer.open_conversation(store)
    on_first = sse(store.events_url(first), headers=store.headers)
    on_second = sse(customer.events_url(second), headers=customer.headers)
    on_first.wait_for_comments(1)
    on_second.wait_for_comments(1)

    sent = customer.send(conversation_id, "Do you have PVC pipes?", server=second)
    assert on_first.wait_for("message").json["message"]["id"] == sent["id"]
    reply = store.send(conversation_id, "Yes, 1/2 inch and 3/4 inch.", server=first)
    assert on_second.wait_for(
        lambda e: e.type == "message" and e.json["message"]["id"] == reply["id"])
