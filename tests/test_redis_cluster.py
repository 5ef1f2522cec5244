"""The whole live path on a real three-node Redis Cluster, with two gunicorn workers.

What a cluster forbids and a single Redis allows (a script or command whose keys span slots,
pipelined scripts, cross-slot MGET) would fail here. Each user's keys share the hash tag
{<user id>}, so different users land on different nodes and everything still works.
"""

import pytest
import requests

from tests.support.credentials import cookie_header

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(live_server, redis_cluster):
    return live_server(workers=2, redis=redis_cluster.url, REDIS_CLUSTER="1",
                       RATE_LIMIT_SEND="4 per minute")



def test_messages_receipts_replay_typing_and_presence_across_nodes(server, redis_cluster, sse):
    customer = server.register("customer", "Maria Santos")
    store = server.register("store", "Aling Nena's Sari-Sari")
    conversation_id = customer.open_conversation(store)
    assert requests.get(server.url + "/healthz", timeout=10).json()["checks"]["redis"] == "ok"

    store_json = sse(store.events_url(), headers=store.headers)
    store_page = sse(server.url + "/events", headers=cookie_header(store.browser()))
    customer_json = sse(customer.events_url(), headers=customer.headers)
    for stream in (store_json, store_page, customer_json):
        stream.wait_for_comments(1)

    # The two users' streams live in different slots (and here, on different nodes).
    cluster = redis_cluster.client()
    keys = [f"{server.prefix}:{{{user.id}}}:events" for user in (customer, store)]
    sent = customer.send(conversation_id, "May Milo pa po?")
    assert store_json.wait_for("message").json["message"]["id"] == sent["id"]
    assert f'data-message-id="{sent["id"]}"' in store_page.wait_for("message").data
    assert customer_json.wait_for("message").json["message"]["id"] == sent["id"]
    assert all(cluster.exists(key) for key in keys)
    assert len({cluster.keyslot(key) for key in keys}) == 2

    # Delivered (the store's streams are open), then read; the sender's stream hears both.
    assert customer_json.wait_for("delivered").json["message_ids"] == [sent["id"]]
    read = store.call("PATCH", f"/api/conversations/{conversation_id}/read")
    assert read.json()["updated"] == 1
    assert customer_json.wait_for("read").json["message_ids"] == [sent["id"]]

    # Typing is announced across the cluster (ephemeral: no id).
    typing = customer.call("POST", f"/api/conversations/{conversation_id}/typing",
                           json={"state": "start"})
    assert typing.status_code == 204
    assert store_json.wait_for("typing").id is None

    # Presence: both are online, seen from either worker.
    for _ in range(4):
        other = customer.call("GET", f"/api/conversations/{conversation_id}").json()["other"]
        assert other["presence"]["online"] is True

    # Replay after a reconnect, in order, from the cluster's stream.
    last_id = store_json.last_id
    store_json.close()
    answers = [store.send(conversation_id, body)["id"] for body in ("Opo!", "Ilan po?")]
    resumed = sse(store.events_url(), headers={**store.headers, "Last-Event-ID": last_id})
    resumed.wait_for("message", count=2)
    assert [e.json["message"]["id"] for e in resumed.of_type("message")] == answers
    ids = [tuple(map(int, e.id.split("-"))) for e in resumed.events]
    assert ids == sorted(set(ids)) and ids[0] > tuple(map(int, last_id.split("-")))


def test_rate_limits_hold_on_a_cluster(server):
    customer = server.register("customer", "Juan Dela Cruz")
    store = server.register("store", "Bayanihan Hardware")
    conversation_id = customer.open_conversation(store)
    codes = [customer.call("POST", f"/api/conversations/{conversation_id}/messages",
                           json={"body": f"pako {n}"}).status_code for n in range(6)]
    assert codes == [201] * 4 + [429] * 2
