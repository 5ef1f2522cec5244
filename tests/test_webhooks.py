"""Webhooks (Standard Webhooks): stores register endpoints; events they are party to are POSTed,
signed so the `standardwebhooks` library verifies them, retried on the schedule, recorded per
delivery; a worker killed mid-delivery is replaced and the event is delivered once; private and
metadata addresses are refused."""

import json
import ssl
import threading
import time

import pytest
from standardwebhooks import Webhook

from elako.models import WebhookEndpoint
from elako.services.webhooks import refusal
from tests.conftest import FAST_JOBS
from tests.support.outbound import self_signed_certificate

pytestmark = pytest.mark.settings(**FAST_JOBS)
EVENTS = ["message.created", "message.read", "message.deleted", "conversation.created"]


def register(store, url, events=EVENTS):
    answer = store.api.post("/api/webhooks", json={"url": url, "events": events})
    assert answer.status_code == 201, answer.json
    return answer.json


def deliveries_of(store, endpoint):
    return store.api.get(f"/api/webhooks/{endpoint['id']}/deliveries").json["items"]


def verified(receiver, endpoint):
    """Each request's JSON, after `standardwebhooks` checked its signature and timestamp."""
    signer = Webhook(endpoint["secret"])
    return [signer.verify(r["body"], r["headers"]) for r in receiver.requests]


def test_registering_listing_and_deleting_endpoints(people, receivers):
    store, other_store, customer = people.store(), people.store("Other"), people.customer()
    created = register(store, "https://hooks.example.ph/elako", ["message.created"])
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 30
    assert created["events"] == ["message.created"] and created["disabled"] is False
    listed = store.api.get("/api/webhooks").json["items"]
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]

    assert other_store.api.get(f"/api/webhooks/{created['id']}/deliveries").status_code == 404
    assert other_store.api.delete(f"/api/webhooks/{created['id']}").status_code == 404
    assert customer.api.post("/api/webhooks", json={
        "url": "https://x.ph", "events": ["message.created"]}).status_code == 403
    for wrong in ({"url": "ftp://x.ph/", "events": EVENTS}, {"url": "https://x.ph", "events": []},
                  {"url": "https://x.ph", "events": ["message.eaten"]}, {"events": EVENTS}):
        answer = store.api.post("/api/webhooks", json=wrong)
        assert answer.status_code == 422, wrong

    assert store.api.delete(f"/api/webhooks/{created['id']}").status_code == 204
    assert store.api.get("/api/webhooks").json["items"] == []
    assert store.api.delete(f"/api/webhooks/{created['id']}").status_code == 404


def test_the_stores_events_arrive_signed_and_verify(app, people, receivers, run_jobs):
    receiver = receivers()
    customer, store = people.customer(), people.store()
    endpoint = register(store, receiver.url)
    conversation_id = customer.open_conversation(store)
    sent = customer.send(conversation_id, "May Milo po ba?")
    store.api.patch(f"/api/conversations/{conversation_id}/read")
    unsent = customer.send(conversation_id, "Oops")
    customer.api.delete(f"/api/messages/{unsent['id']}")
    run_jobs(until=lambda: len(receiver.requests) == 5)
    run_jobs()

    bodies = verified(receiver, endpoint)
    by_type = {}
    for body in bodies:
        by_type.setdefault(body["type"], []).append(body)
    assert sorted(by_type) == sorted(EVENTS)
    created = by_type["message.created"][0]
    assert created["data"]["message"] == {**sent, "delivered_at": None}
    assert created["data"]["conversation"]["other"]["name"] == "Maria Santos"  # as the store sees it
    assert created["timestamp"].endswith("Z")
    assert by_type["message.read"][0]["data"]["message_ids"] == [sent["id"]]
    assert by_type["message.deleted"][0]["data"]["message"]["deleted"] is True
    assert by_type["conversation.created"][0]["data"]["conversation"]["id"] == conversation_id
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(set(ids)) == 5
    assert all(abs(int(r["headers"]["webhook-timestamp"]) - time.time()) < 60
               for r in receiver.requests)

    deliveries = deliveries_of(store, endpoint)
    assert len(deliveries) == 5
    assert all(d["status"] == "succeeded" and d["status_code"] == 200 and d["attempts"] == 1
               and d["next_retry_at"] is None for d in deliveries)


def test_only_subscribed_types_and_only_the_stores_own_events(app, people, receivers, run_jobs):
    mine, theirs = receivers(), receivers()
    customer, store, other_store = people.customer(), people.store(), people.store("Other")
    register(store, mine.url, ["message.created"])
    register(other_store, theirs.url)
    customer.send(customer.open_conversation(store), "Hello")
    run_jobs()
    assert [json.loads(r["body"])["type"] for r in mine.requests] == ["message.created"]
    assert theirs.requests == []


@pytest.mark.settings(**FAST_JOBS, WEBHOOK_TIMEOUT_SECONDS=0.5)
def test_a_receiver_down_for_two_attempts_gets_the_third(app, people, receivers, run_jobs):
    """The first attempt times out, the second gets a 503, the third a 200: one webhook-id."""
    def respond(number):
        if number == 1:
            time.sleep(1.5)
        return 503 if number == 2 else 200

    receiver = receivers(respond)
    customer, store = people.customer(), people.store()
    endpoint = register(store, receiver.url, ["message.created"])
    customer.send(customer.open_conversation(store), "Hello")
    run_jobs(until=lambda: len(receiver.requests) == 3)
    run_jobs()
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    assert len({r["body"] for r in receiver.requests}) == 1
    [delivery] = deliveries_of(store, endpoint)
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 3
    assert delivery["status_code"] == 200 and delivery["last_error"] is None


def test_after_the_last_attempt_the_delivery_is_failed(app, people, receivers, run_jobs):
    receiver = receivers(lambda number: 500)
    customer, store = people.customer(), people.store()
    endpoint = register(store, receiver.url, ["message.created"])
    customer.send(customer.open_conversation(store), "Hello")
    run_jobs()
    assert len(receiver.requests) == 4  # WEBHOOK_RETRY_SCHEDULE has three retries
    [delivery] = deliveries_of(store, endpoint)
    assert delivery == {**delivery, "status": "failed", "attempts": 4, "status_code": 500,
                        "last_error": "answered 500", "next_retry_at": None}
    assert store.api.get("/api/webhooks").json["items"][0]["disabled"] is False


@pytest.mark.settings(**FAST_JOBS, WEBHOOK_DISABLE_AFTER_SECONDS=0)
def test_an_endpoint_failing_too_long_is_disabled_and_its_store_told(
        app, people, receivers, inbox, run_jobs):
    receiver = receivers(lambda number: 410)
    customer, store = people.customer(), people.store().verify_email()
    endpoint = register(store, receiver.url, ["message.created"])
    conversation_id = customer.open_conversation(store)
    customer.send(conversation_id, "Hello")
    run_jobs(until=lambda: any(m["To"] == store.email and "webhook" in m["Subject"]
                               for m in inbox.messages))
    assert store.api.get("/api/webhooks").json["items"][0]["disabled"] is True
    notice = next(m for m in inbox.messages if "webhook" in m["Subject"])
    assert receiver.url in notice.get_body(("plain",)).get_content()
    customer.send(conversation_id, "Again")
    run_jobs()
    assert len(receiver.requests) == 1  # nothing more to a disabled endpoint
    [delivery, *_] = deliveries_of(store, endpoint)
    assert delivery["status"] == "failed"


def test_the_test_event(app, people, receivers, run_jobs):
    receiver = receivers()
    store = people.store()
    endpoint = register(store, receiver.url, ["message.created"])
    answer = store.api.post(f"/api/webhooks/{endpoint['id']}/test")
    assert answer.status_code == 202 and answer.json["status"] == "pending"
    run_jobs()
    [body] = verified(receiver, endpoint)
    assert body["type"] == "webhook.test" and body["data"] == {"endpoint_id": endpoint["id"]}
    assert receiver.requests[0]["headers"]["webhook-id"] == answer.json["event_id"]


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.8.8", "::1", "10.1.2.3", "172.16.5.4", "192.168.1.10", "100.64.0.1",
    "169.254.169.254", "fe80::1", "fd00:ec2::254", "fc00::5", "224.0.0.251", "ff02::1",
    "0.0.0.0", "::", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "240.0.0.1", "100.100.100.200"])
def test_private_loopback_link_local_multicast_and_metadata_addresses_are_refused(address):
    assert refusal(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert refusal(address) is None


@pytest.mark.settings(**{**FAST_JOBS, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": False})
def test_a_loopback_endpoint_gets_nothing_unless_private_networks_are_allowed(
        app, people, receivers, run_jobs):
    receiver = receivers()
    customer, store = people.customer(), people.store()
    endpoint = register(store, receiver.url.replace("127.0.0.1", "localhost"), ["message.created"])
    customer.send(customer.open_conversation(store), "Hello")
    run_jobs()
    assert receiver.requests == []
    [delivery] = deliveries_of(store, endpoint)
    assert delivery["status"] == "failed" and "loopback address" in delivery["last_error"]


def test_https_endpoints_get_the_checked_address_and_verify_the_hostname(
        app, people, receivers, run_jobs, tmp_path, monkeypatch):
    """The POST goes to the address that passed the check, and TLS still verifies the name in the
    URL (localhost): a certificate for another name would fail."""
    cert, key = self_signed_certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    receiver = receivers(tls=tls)
    customer, store = people.customer(), people.store()
    endpoint = register(store, receiver.url, ["message.created"])
    conversation_id = customer.open_conversation(store)
    customer.send(conversation_id, "Untrusted")  # the certificate is not trusted yet
    run_jobs(until=lambda: [d["attempts"] for d in deliveries_of(store, endpoint)] == [1])
    assert receiver.requests == []
    assert "CERTIFICATE_VERIFY_FAILED" in deliveries_of(store, endpoint)[0]["last_error"]

    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now trusted, as a real CA's would be
    run_jobs()
    [body] = verified(receiver, endpoint)
    assert body["data"]["message"]["body"] == "Untrusted"
    assert receiver.requests[0]["headers"]["host"] == receiver.url.split("/")[2]  # localhost:port


def test_redirects_are_not_followed(app, people, receivers, run_jobs):
    target = receivers()
    redirecting = receivers(lambda number: 307)
    redirecting.redirect_to = target.url
    customer, store = people.customer(), people.store()
    endpoint = register(store, redirecting.url, ["message.created"])
    customer.send(customer.open_conversation(store), "Hello")
    run_jobs()
    assert target.requests == []
    [delivery] = deliveries_of(store, endpoint)
    assert delivery["status"] == "failed" and delivery["status_code"] == 307


@pytest.mark.e2e
@pytest.mark.over_the_wire  # the worker process must reach the same store
def test_a_worker_killed_mid_delivery_is_replaced_and_the_event_delivered_once(
        app, receivers, worker_processes):
    """SIGKILL while the receiver holds the first request: after the claim timeout a new worker
    delivers again, with the same webhook-id, and nothing more arrives after the 200."""
    holding = threading.Event()
    release = threading.Event()

    def respond(number):
        if number == 1:
            holding.set()
            release.wait(30)
            return 500  # never read: its worker is dead by now
        return 200

    receiver = receivers(respond)
    http = app.test_client()
    from tests.conftest import Person  # the API as in the other tests, on the shared store

    customer = Person(app, "customer", "Maria Santos", "maria@kill.ph")
    store = Person(app, "store", "Nena", "nena@kill.ph")
    endpoint = register(store, receiver.url, ["message.created"])
    customer.send(customer.open_conversation(store), "Hello")

    doomed = worker_processes(app)
    assert holding.wait(20), "the first delivery never arrived"
    doomed.kill()  # SIGKILL, mid-request
    doomed.wait(5)
    release.set()
    worker_processes(app)
    receiver.wait_for(2, timeout=20)
    time.sleep(1)  # anything else would come now
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    deliveries = http.get(f"/api/webhooks/{endpoint['id']}/deliveries",
                          headers={"Authorization": f"Bearer {store.token}"}).json["items"]
    assert [(d["status"], d["attempts"]) for d in deliveries] == [("succeeded", 1)]
    with app.app_context():
        assert WebhookEndpoint.objects(id=endpoint["id"]).first().failing_since is None


@pytest.fixture
def no_leaked_encryption(monkeypatch):
    """`crypto.configure` sets module-global state: put back what was there before the test."""
    from elako import crypto

    monkeypatch.setattr(crypto, "_cipher", crypto._cipher)
    monkeypatch.setattr(crypto, "_encrypting", crypto._encrypting)


def test_rotating_keys_keeps_endpoints_signing(app, people, receivers, run_jobs,
                                               no_leaked_encryption):
    """Secrets are stored encrypted; `rotate-message-keys` rewrites them with the new key, so
    the endpoint still signs (and verifies) once the old key is gone."""
    from cryptography.fernet import Fernet

    from elako import crypto

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    crypto.configure(old)
    receiver = receivers()
    customer, store = people.customer(), people.store()
    endpoint = register(store, receiver.url, ["message.created"])
    with app.app_context():
        stored = WebhookEndpoint.objects(id=endpoint["id"]).as_pymongo().first()["secret"]
    assert endpoint["secret"] not in stored

    crypto.configure(f"{new},{old}")
    result = app.test_cli_runner().invoke(args=["rotate-message-keys"])
    assert "rewrote 1 webhook secret(s) and delivery bodies" in result.output, result.output
    crypto.configure(new)
    customer.send(customer.open_conversation(store), "After the rotation")
    run_jobs()
    [body] = verified(receiver, endpoint)
    assert body["data"]["message"]["body"] == "After the rotation"
