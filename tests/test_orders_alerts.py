"""Email alerts about orders: a status line is news for the other participant only, never for
the one who made the change."""

import pytest

from elako.models import Product
from tests.conftest import FAST_JOBS

pytestmark = pytest.mark.settings(**FAST_JOBS, PUBLIC_URL="https://chat.example.ph")


def test_a_status_line_is_emailed_to_the_other_side_only(app, chat, inbox, run_jobs):
    customer, store, cid = chat
    customer.verify_email(), store.verify_email()  # only verified addresses get alerts
    with app.app_context():
        product = Product(store_id=store.id, name="Pandesal", price_centavos=250).save()
    order = customer.api.post(f"/api/conversations/{cid}/orders", json={
        "items": [{"product_id": str(product.id), "quantity": 4}]}).json["order"]
    run_jobs()
    [to_store] = inbox.messages
    assert to_store["To"] == store.email and "🧾 Order" in to_store.get_body(
        ("plain",)).get_content()

    store.api.patch(f"/api/conversations/{cid}/read")
    assert store.api.patch(f"/api/orders/{order['id']}", json={"status": "accepted"}).status_code == 200
    run_jobs()
    assert [m["To"] for m in inbox.messages] == [store.email, customer.email]
    assert "Order accepted by Aling Nena's Store" in inbox.messages[-1].get_body(
        ("plain",)).get_content()


def test_a_change_is_a_webhook_event_and_leaves_with_the_customers_account(
        app, redis, chat, receivers, run_jobs):
    import json

    from standardwebhooks import Webhook

    from elako.models import WebhookDelivery
    from tests.conftest import PASSWORD

    customer, store, cid = chat
    receiver = receivers()
    endpoint = store.api.post("/api/webhooks", json={"url": receiver.url,
                                                     "events": ["order.updated"]}).json
    with app.app_context():
        product = Product(store_id=store.id, name="Pandesal", price_centavos=250).save()
    order = customer.api.post(f"/api/conversations/{cid}/orders", json={
        "items": [{"product_id": str(product.id), "quantity": 4}],
        "note": "Sa likod po ng simbahan"}).json["order"]
    store.api.patch(f"/api/orders/{order['id']}", json={"status": "accepted"})
    run_jobs(until=lambda: len(receiver.requests) == 1)
    [body] = [Webhook(endpoint["secret"]).verify(r["body"], r["headers"])
              for r in receiver.requests]
    assert body["type"] == "order.updated"
    assert (body["data"]["order"]["id"], body["data"]["order"]["status"]) == (order["id"],
                                                                            "accepted")
    assert WebhookDelivery.objects.count() == 1

    # The customer leaves: her note goes from the store's stored events and deliveries too.
    assert customer.api.delete("/api/me", json={"password": PASSWORD}).status_code == 204
    key = app.extensions["bus"].stream_key(store.id)
    assert "Sa likod po" not in json.dumps([f for _, f in redis.xrange(key)])
    assert WebhookDelivery.objects.count() == 0
