"""Live fan-out costs one Redis connection per worker, not one per connected client."""

import time

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
    conversations = [c.open_conversation(store) for c in customers]
    for customer, conversation_id in zip(customers, conversations):
        customer.send(conversation_id, "Hello po")  # a store answers; it never writes first
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


@pytest.mark.parametrize("reserved", ["message", "read", "delivered", "typing", "resync",
                                      "signed_out", "session_revoked"])
def test_the_apps_own_event_types_are_reserved(app, people, reserved):
    """Clients rely on the shape of the app's own events; a published one could break them."""
    from elako.blueprints.events import sse

    with app.app_context(), pytest.raises(ValueError, match="reserved"):
        sse.publish({"x": 1}, type=reserved, channel=people.customer().id)


def test_published_events_reach_both_streams_and_never_break_them(
        server, sse, redis_url, shared_mongo_uri, tmp_path):
    """An integration's own events (what flask-sse users publish) go to the JSON stream as they
    are, keep the page's cursor moving, and never stop the chat's events, live or replayed."""
    from elako import create_app
    from elako.blueprints.events import sse as blueprint
    from tests.conftest import make_config

    customer, store = server.register("customer", "Maria"), server.register("store", "Sari-Sari")
    conversation_id = customer.open_conversation(store)
    before = customer.send(conversation_id, "Naipadala na po ba?")
    cookie = {"Cookie": "; ".join(f"{c.name}={c.value}" for c in customer.browser().cookies)}
    page = sse(server.url + "/events", headers=cookie)
    integration = sse(customer.events_url(), headers=customer.headers)
    page.wait_for_comments(1)
    integration.wait_for_comments(1)
    [(start, _)] = redis_py.Redis.from_url(redis_url, decode_responses=True).xrevrange(
        f"{server.prefix}:{{{customer.id}}}:events", count=1)  # what a page renders to resume from

    # The shop's own system publishes into the server's streams (same Redis, same names).
    shop_system = create_app(make_config(
        redis_url, tmp_path, REDIS_KEY_PREFIX=server.prefix, MONGODB_URI=shared_mongo_uri,
        MONGODB_DB=server.env["MONGODB_DB"]))
    with shop_system.app_context():
        notice = blueprint.publish({"note": "Order #1001 shipped"}, channel=customer.id)
        update = blueprint.publish("plain text, two\nlines", type="order_update",
                                   channel=customer.id)

    assert integration.wait_for("notice").json == {"note": "Order #1001 shipped"}
    assert integration.wait_for("order_update").data == "plain text, two\nlines"
    assert [e.id for e in integration.events[-2:]] == [notice, update]
    assert page.wait_for("order_update").id == update  # nothing to show, but the cursor moves
    assert page.of_type("notice")[0].data == "<!-- -->"

    reply = store.send(conversation_id, "Opo, kaninang umaga po")
    for stream in (page, integration):
        assert reply["id"] in stream.wait_for("message").data
    # A page coming back from before them replays all three, in order.
    again = sse(server.url + f"/events?last_event_id={start}", headers=cookie)
    again.wait_for("message")
    assert [e.type for e in again.events if e.type != "delivered"] == [
        "notice", "order_update", "message"]
    assert before["id"] not in again.events[-1].data


def test_the_pubsub_connection_stays_up_while_idle_and_answers_pings(live_server, sse, redis_url):
    """The hub pings Redis over its pub/sub connection and reconnects only when nothing comes
    back; Redis's answers count, so an idle but healthy connection is never dropped."""
    server = live_server(REDIS_PUBSUB_PING_SECONDS="0.2")
    store = server.register("store", "Sari-Sari")
    stream = sse(store.events_url(), headers=store.headers)
    stream.wait_for_comments(1)

    def hub_connection():
        [hub] = [c for c in redis_clients(redis_url, server.prefix)
                 if c["name"] == f"{server.prefix}:hub"]
        return hub["id"], int(hub["age"])

    first_id, _ = hub_connection()
    time.sleep(3)  # fifteen pings: five times over what a silent connection would be given
    assert hub_connection()[0] == first_id
    assert hub_connection()[1] >= 3
    assert "reconnecting" not in server.log()
