"""Live fan-out costs one Redis connection per worker, not one per connected client."""

import pytest
import redis as redis_py

pytestmark = pytest.mark.e2e

CUSTOMERS = 20
TABS_EACH = 10  # 200 open event streams in all


def redis_clients(redis_url, prefix):
    clients = redis_py.Redis.from_url(redis_url, decode_responses=True).client_list()
    return [c for c in clients if c["name"].startswith(prefix + ":")]


def test_200_streams_on_one_worker_share_one_pubsub_connection(live_server, redis_url, sse):
    server = live_server(workers=1)
    store = server.register("store", "Aling Nena's Store")
    customers = [server.register("customer", f"Customer {i}") for i in range(CUSTOMERS)]
    conversations = [store.open_conversation(c) for c in customers]
    streams = [sse(c.events_url(), headers=c.headers) for c in customers for _ in range(TABS_EACH)]
    for stream in streams:
        stream.wait_for_comments(1, timeout=30)
    assert len(streams) == 200

    ours = redis_clients(redis_url, server.prefix)
    subscribers = [c for c in ours if int(c["sub"]) or int(c["psub"])]
    assert len(subscribers) == 1, subscribers  # the worker's hub, for all 200 streams
    assert subscribers[0]["name"] == f"{server.prefix}:hub"
    assert int(subscribers[0]["sub"]) == CUSTOMERS + 1  # one channel per user, plus control
    # Commands go through a bounded pool; nothing grows with the number of clients.
    assert len(ours) <= 1 + 64 and len(ours) < len(streams) // 2

    for conversation_id in conversations:
        store.send(conversation_id, "Sale today: 10% off Milo!")
    for stream in streams:
        stream.wait_for("message", timeout=30)
        assert len(stream.of_type("message")) == 1


def test_flask_sse_publish_interface_reaches_the_users_stream(app, people, redis):
    """`sse.publish(data, type=..., channel=...)` works as in flask-sse, on our per-user streams."""
    from elako.blueprints.events import sse

    person = people.customer()
    with app.app_context():
        event_id = sse.publish({"note": "order #1001 shipped"}, type="order_update",
                               channel=person.id)
        events = redis.xrange(app.extensions["bus"].stream_key(person.id))
    assert [(i, f["type"]) for i, f in events] == [(event_id, "order_update")]
    assert "order #1001 shipped" in events[0][1]["data"]
    with app.app_context(), pytest.raises(ValueError):
        sse.publish({"x": 1}, id="5", channel=person.id)
