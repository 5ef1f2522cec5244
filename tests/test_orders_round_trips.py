"""What orders cost in MongoDB round trips (pymongo's command monitoring, as
tests/test_round_trips.py counts the other hot paths)."""

import pytest

from elako.models import Product
from tests.test_round_trips import _log, database_commands  # noqa: F401 (a fixture)

pytestmark = pytest.mark.over_the_wire


@pytest.fixture
def shop(app, chat):
    """(Tests take it after `database_commands`, whose session cache its warm-up fills.)"""
    customer, store, cid = chat
    with app.app_context():
        product = Product(store_id=store.id, name="Pandesal", price_centavos=250).save()
    customer.send(cid, "warm-up")  # the first request of a session reads it once
    store.api.get("/api/me")
    order_id = place(customer, cid, str(product.id), "warm-up")  # mongoengine makes the indexes
    store.api.patch(f"/api/orders/{order_id}", json={"status": "declined"})
    return customer, store, cid, str(product.id)


def place(customer, cid, product_id, client_id="o-1"):
    response = customer.api.post(f"/api/conversations/{cid}/orders", json={
        "items": [{"product_id": product_id, "quantity": 2}], "client_id": client_id})
    assert response.status_code == 201, response.json
    return response.json["order"]["id"]


def test_placing_an_order_costs_six_round_trips(database_commands, shop):  # noqa: F811
    customer, _, cid, product_id = shop
    # The conversation, the products, the order; then the send path's three.
    assert database_commands(lambda: place(customer, cid, product_id)) == [
        "find", "find", "insert", "findAndModify", "insert", "aggregate"]


def test_a_change_costs_five_round_trips(database_commands, shop):  # noqa: F811
    customer, store, cid, product_id = shop
    order_id = place(customer, cid, product_id)

    def accept():
        assert store.api.patch(f"/api/orders/{order_id}",
                               json={"status": "accepted"}).status_code == 200

    # The order, its conditional write; the status line through the send path (which also
    # moves the open orders count).
    assert database_commands(accept) == ["find", "findAndModify", "findAndModify", "insert",
                                         "aggregate"]


def test_orders_in_history_cost_one_query_per_page(database_commands, shop):  # noqa: F811
    customer, store, cid, product_id = shop
    for number in range(3):
        order_id = place(customer, cid, product_id, f"o-{number}")
        store.api.patch(f"/api/orders/{order_id}", json={"status": "accepted"})
    items = customer.api.get(f"/api/conversations/{cid}/messages").json["items"]
    assert sum(m["type"] == "order" for m in items) == 4
    first_order = next(m["id"] for m in items if m["type"] == "order")

    def history(query=""):
        def read():
            assert customer.api.get(f"/api/conversations/{cid}/messages{query}").status_code == 200
        return read

    # The conversation, the page, then all of its orders at once...
    assert database_commands(history()) == ["find", "find", "find"]
    # ...and nothing more for a page without any (the cursor's message is one more read).
    assert database_commands(history(f"?before={first_order}")) == ["find", "find", "find"]
    assert _log.collections[-1] == "messages"
