"""Orders through a real gunicorn + gevent server: every change reaches both participants' open
streams (JSON for integrations, the card's fragment for pages), and two changes sent at the same
moment by two HTTP clients leave exactly one winner."""

import threading
from datetime import datetime, timezone

import pytest
from bson import ObjectId

from tests.support.credentials import cookie_header

pytestmark = pytest.mark.e2e


@pytest.fixture
def stocked(server, pair, server_db):
    """The pair's store with a product in the server's database: (customer, store, cid, id)."""
    customer, store, cid = pair
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    product_id = ObjectId()
    server_db(server).products.insert_one({
        "_id": product_id, "store_id": ObjectId(store.id), "name": "Pandesal",
        "price_centavos": 250, "description": "", "in_stock": True, "created_at": now,
        "updated_at": now})
    return customer, store, cid, str(product_id)


def place(customer, cid, product_id):
    response = customer.call("POST", f"/api/conversations/{cid}/orders",
                             json={"items": [{"product_id": product_id, "quantity": 3}]})
    assert response.status_code == 201, response.text
    return response.json()["order"]["id"]


def test_a_change_reaches_both_sides_live(server, stocked, sse):
    customer, store, cid, product_id = stocked
    order_id = place(customer, cid, product_id)
    streams = {who: sse(person.events_url(), headers=person.headers)
               for who, person in (("customer", customer), ("store", store))}
    tabs = {who: sse(server.url + "/events", headers=cookie_header(person.browser()))
            for who, person in (("customer", customer), ("store", store))}
    for stream in (*streams.values(), *tabs.values()):
        stream.wait_for_comments(1)

    assert store.call("PATCH", f"/api/orders/{order_id}",
                      json={"status": "accepted"}).status_code == 200
    for stream in streams.values():
        order = stream.wait_for("order").json["order"]
        assert (order["id"], order["status"], order["total_centavos"]) == (order_id, "accepted",
                                                                          750)
        line = stream.wait_for(lambda e: e.type == "message"
                               and e.json["message"]["type"] == "order_update")
        assert line.json["message"]["body"] == "Order accepted by Aling Nena's Store"
    # Pages get the card, swapped in place by its id, with the buttons of that viewer.
    cards = {who: tab.wait_for("order").data for who, tab in tabs.items()}
    for card in cards.values():
        assert f'<section id="order-{order_id}" class="order-card accepted"' in card
        assert 'hx-swap-oob="true"' in card and "Accepted" in card
    assert ">Ready</button>" in cards["store"] and "<button" not in cards["customer"]


def test_two_changes_at_the_same_moment_leave_one_winner(server, stocked, server_db):
    customer, store, cid, product_id = stocked
    db = server_db(server)
    for _ in range(6):
        order_id = place(customer, cid, product_id)
        start = threading.Barrier(2)
        answers = {}

        def move(person, status):
            start.wait()
            answers[status] = person.call("PATCH", f"/api/orders/{order_id}",
                                          json={"status": status})

        # Declining and cancelling: whichever comes second finds a closed order (409), in
        # either order. (Accepting against cancelling would not do: a cancel that reads the
        # order already accepted is the store's move, 403, not a lost race.)
        racers = [threading.Thread(target=move, args=(store, "declined")),
                  threading.Thread(target=move, args=(customer, "cancelled"))]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        codes = sorted(response.status_code for response in answers.values())
        assert codes == [200, 409], {s: r.text for s, r in answers.items()}
        winner = next(s for s, r in answers.items() if r.status_code == 200)
        loser = next(r for r in answers.values() if r.status_code == 409)
        assert loser.json()["error"]["code"] == "invalid_transition"
        assert db.orders.find_one({"_id": ObjectId(order_id)})["status"] == winner
    # One status line per order, and the open orders count agrees with the orders.
    history = customer.call("GET", f"/api/conversations/{cid}/messages?limit=100").json()["items"]
    assert sum(m["type"] == "order_update" for m in history) == 6
    still_open = db.orders.count_documents({"conversation_id": ObjectId(cid),
                                            "status": {"$in": ["pending", "accepted", "ready"]}})
    assert db.conversations.find_one({"_id": ObjectId(cid)})["open_orders"] == still_open
