"""Orders (issue 10): placing one from a conversation at the catalogue's prices, moving it along
(each move once, by the participant whose move it is, even when two race), and what both sides
see: the order message with the order as it is now, the `order` event, the status line."""

import json

import pytest

from elako.models import Conversation, Message, Order, Product


@pytest.fixture
def catalogue(app, chat):
    """Three products of the chat's store: {name: id}; "Kape" is out of stock."""
    _, store, _ = chat
    with app.app_context():
        made = {name: Product(store_id=store.id, name=name, price_centavos=price,
                              in_stock=in_stock).save()
                for name, price, in_stock in [("Pandesal", 250, True), ("Milo 1kg", 32550, True),
                                              ("Kape", 1000, False)]}
    return {name: str(product.id) for name, product in made.items()}


def place(customer, cid, items, **extra):
    return customer.api.post(f"/api/conversations/{cid}/orders", json={"items": items, **extra})


def change(person, order_id, status):
    return person.api.patch(f"/api/orders/{order_id}", json={"status": status})


def events(app, redis, user_id, kind):
    key = app.extensions["bus"].stream_key(user_id)
    return [json.loads(f["data"]) for _, f in redis.xrange(key) if f["type"] == kind]


def test_an_order_is_priced_from_the_catalogue_and_announced_as_a_message(app, redis, chat,
                                                                          catalogue):
    customer, store, cid = chat
    response = place(customer, cid, [{"product_id": catalogue["Pandesal"], "quantity": 10},
                                     {"product_id": catalogue["Milo 1kg"], "quantity": 1}],
                     note="Pakibalot po", client_id="order-1")
    assert response.status_code == 201, response.json
    message = response.json
    assert message["type"] == "order" and message["sender_id"] == customer.id
    order = message["order"]
    assert order["items"] == [
        {"product_id": catalogue["Pandesal"], "name": "Pandesal", "unit_price_centavos": 250,
         "quantity": 10, "line_total_centavos": 2500},
        {"product_id": catalogue["Milo 1kg"], "name": "Milo 1kg", "unit_price_centavos": 32550,
         "quantity": 1, "line_total_centavos": 32550}]
    assert (order["total_centavos"], order["currency"], order["status"], order["note"]) == (
        35050, "PHP", "pending", "Pakibalot po")
    # Through the send path: numbered, unread for the store, previewed, announced to both.
    row = store.api.get(f"/api/conversations/{cid}").json
    assert row["unread"] == 1 and row["last_message"]["preview"] == "🧾 Order · 11 items · ₱350.50"
    for person in (customer, store):
        announced = events(app, redis, person.id, "message")[-1]["message"]
        assert announced["id"] == message["id"] and announced["order"]["id"] == order["id"]
    # A retry with the same client_id is the same order, not a second one.
    again = place(customer, cid, [{"product_id": catalogue["Pandesal"], "quantity": 10}],
                  client_id="order-1")
    assert again.status_code == 200 and again.json["order"]["id"] == order["id"]
    assert Order.objects.count() == 1 and Message.objects(type="order").count() == 1
    assert Conversation.objects.get(id=cid).open_orders == 1


def test_prices_sent_by_the_client_are_ignored(chat, catalogue):
    customer, _, cid = chat
    response = place(customer, cid, [{"product_id": catalogue["Pandesal"], "quantity": 2,
                                      "unit_price_centavos": 1}], total_centavos=2)
    assert response.status_code == 201
    assert response.json["order"]["total_centavos"] == 500


@pytest.mark.parametrize("items, field, words", [
    ([{"quantity": 1}], "items.0.product_id", "required"),
    ([{"product_id": "P", "quantity": 0}], "items.0.quantity", "at least 1"),
    ([{"product_id": "P", "quantity": 1000}], "items.0.quantity", "at most 999"),
    ([{"product_id": "P", "quantity": 1}] * 51, "items", "at most 50 lines"),
    ([], "items", "at least one product"),
    ([{"product_id": "P", "quantity": 1}, {"product_id": "Kape", "quantity": 1}],
     "items.1.product_id", "Line 2: Kape is out of stock"),
    ([{"product_id": "P", "quantity": 1}, {"product_id": "P", "quantity": 2}],
     "items.1.product_id", "Line 2: Pandesal is already on line 1"),
    ([{"product_id": "nope", "quantity": 1}], "items.0.product_id", "not in Aling Nena's"),
])
def test_a_bad_line_is_refused_by_name(chat, catalogue, items, field, words):
    customer, _, cid = chat
    ids = {"P": catalogue["Pandesal"], "Kape": catalogue["Kape"]}
    items = [{**item, "product_id": ids.get(item["product_id"], item["product_id"])}
             if "product_id" in item else item for item in items]
    response = place(customer, cid, items)
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["field"] == field and words in error["message"], error
    assert Order.objects.count() == 0 and Message.objects.count() == 0


def test_only_active_products_of_this_store_can_be_ordered(app, people, chat, catalogue):
    customer, _, cid = chat
    other = people.store("Sari-sari ni Ben")
    with app.app_context():
        elsewhere = Product(store_id=other.id, name="Suka", price_centavos=1500).save()
        Product.objects(id=catalogue["Pandesal"]).update_one(set__archived_at=Product().created_at)
    for product_id in (str(elsewhere.id), catalogue["Pandesal"]):
        response = place(customer, cid, [{"product_id": product_id, "quantity": 1}])
        assert response.status_code == 422
        assert response.json["error"]["message"].startswith("Line 1:")


def test_only_the_conversations_customer_orders(people, chat, catalogue):
    customer, store, cid = chat
    line = [{"product_id": catalogue["Pandesal"], "quantity": 1}]
    place(customer, cid, line)  # so the store can reach the conversation at all
    assert place(store, cid, line).status_code == 403
    assert place(people.customer("Outsider"), cid, line).status_code == 404


def test_an_order_can_not_be_sent_or_unsent_as_a_message(chat, catalogue):
    customer, _, cid = chat
    for kind in ("order", "order_update"):
        response = customer.api.post(f"/api/conversations/{cid}/messages",
                                     json={"body": "free stuff", "type": kind})
        assert response.status_code == 422 and response.json["error"]["field"] == "type"
    message = place(customer, cid, [{"product_id": catalogue["Pandesal"], "quantity": 1}]).json
    response = customer.api.delete(f"/api/messages/{message['id']}")
    assert response.status_code == 403 and response.json["error"]["code"] == "order_not_unsendable"


# -- moving an order along --------------------------------------------------------------------------

@pytest.fixture
def placed(chat, catalogue):
    """Factory: a new pending order's id."""
    customer, _, cid = chat

    def order():
        response = place(customer, cid, [{"product_id": catalogue["Pandesal"], "quantity": 4}])
        assert response.status_code == 201
        return response.json["order"]["id"]
    return order


def test_the_store_takes_an_order_all_the_way(chat, placed):
    customer, store, cid = chat
    order_id = placed()
    for status in ("accepted", "ready", "completed"):
        response = change(store, order_id, status)
        assert response.status_code == 200, response.json
        assert response.json["status"] == status
    assert change(store, order_id, "cancelled").json["error"]["code"] == "invalid_transition"


@pytest.mark.parametrize("path, who, move, status", [
    ([], "customer", "cancelled", 200),
    ([], "store", "cancelled", 200),
    ([], "store", "declined", 200),
    ([], "customer", "accepted", 403),
    ([], "customer", "declined", 403),
    ([], "store", "ready", 409),
    ([], "store", "completed", 409),
    (["accepted"], "store", "cancelled", 200),
    (["accepted"], "customer", "cancelled", 403),
    (["accepted"], "store", "declined", 409),
    (["accepted"], "store", "accepted", 409),
    (["accepted", "ready"], "store", "cancelled", 409),
    (["accepted", "ready"], "customer", "completed", 403),
    (["declined"], "store", "accepted", 409),
    (["declined"], "customer", "cancelled", 409),
    (["cancelled"], "store", "accepted", 409),
])
def test_who_may_make_which_move(chat, placed, path, who, move, status):
    customer, store, _ = chat
    order_id = placed()
    for step in path:
        assert change(store, order_id, step).status_code == 200
    response = change(customer if who == "customer" else store, order_id, move)
    assert response.status_code == status, response.json
    if status == 409:
        assert response.json["error"]["code"] == "invalid_transition"


def test_outsiders_find_no_order(people, chat, placed):
    order_id = placed()
    outsider = people.store("Another store")
    assert change(outsider, order_id, "accepted").status_code == 404
    assert change(outsider, "not-an-id", "accepted").status_code == 404
    _, store, _ = chat
    assert change(store, order_id, "shipped").status_code == 422


def test_each_change_tells_both_and_adds_a_status_line(app, redis, chat, placed):
    customer, store, cid = chat
    order_id = placed()
    store.api.patch(f"/api/conversations/{cid}/read")
    change(store, order_id, "accepted")
    for person in (customer, store):
        told = events(app, redis, person.id, "order")
        assert [e["order"]["status"] for e in told] == ["accepted"]
        assert told[0]["order"]["id"] == order_id and len(told[0]["order"]["items"]) == 1
    line = customer.api.get(f"/api/conversations/{cid}/messages").json["items"][-1]
    assert (line["type"], line["body"], line["sender_id"]) == (
        "order_update", "Order accepted by Aling Nena's Store", store.id)
    # Unread for the customer only; the one who made the change has nothing new to read.
    assert customer.api.get(f"/api/conversations/{cid}").json["unread"] == 1
    assert store.api.get(f"/api/conversations/{cid}").json["unread"] == 0


def test_history_shows_each_order_as_it_is_now(chat, placed):
    customer, store, cid = chat
    first, second = placed(), placed()
    change(store, first, "declined")
    change(customer, second, "cancelled")
    orders = [m["order"] for m in customer.api.get(f"/api/conversations/{cid}/messages").json["items"]
              if m["type"] == "order"]
    assert [(o["id"], o["status"]) for o in orders] == [(first, "declined"), (second, "cancelled")]


def test_open_orders_are_counted_in_the_conversation(chat, placed):
    _, store, cid = chat
    first, second, third = placed(), placed(), placed()

    def open_orders():
        return Conversation.objects.get(id=cid).open_orders

    assert open_orders() == 3
    change(store, first, "accepted")
    change(store, first, "ready")
    assert open_orders() == 3
    change(store, first, "completed")
    change(store, second, "declined")
    assert open_orders() == 1
    change(store, third, "cancelled")
    assert open_orders() == 0


def test_a_change_goes_through_while_the_conversation_is_blocked(chat, placed):
    customer, store, cid = chat
    order_id = placed()
    customer.api.post(f"/api/conversations/{cid}/block")
    assert change(store, order_id, "declined").status_code == 200
    assert Conversation.objects.get(id=cid).open_orders == 0


def test_a_change_that_lost_a_race_is_refused(monkeypatch, chat, placed):
    """The other change lands between reading the order and writing it: the write's condition
    (the status read) no longer holds, so this one gets 409 and changes nothing."""
    from elako.services import orders

    customer, store, _ = chat
    order_id = placed()
    original = orders.ratelimit.hit
    pending = [lambda: change(customer, order_id, "cancelled")]

    def hit(name, user_id):
        if name == "changes" and pending:
            assert pending.pop()().status_code == 200
        return original(name, user_id)

    monkeypatch.setattr(orders.ratelimit, "hit", hit)
    response = change(store, order_id, "accepted")
    assert response.status_code == 409 and response.json["error"]["code"] == "invalid_transition"
    assert Order.objects.get(id=order_id).status == "cancelled"


def test_orders_are_listed_by_status_a_page_at_a_time(people, chat, placed):
    customer, store, _ = chat
    ids = [placed() for _ in range(5)]
    change(store, ids[0], "accepted")
    listed = store.api.get("/api/orders?limit=2").json
    assert [o["id"] for o in listed["items"]] == ids[:-3:-1]
    seen = [o["id"] for o in listed["items"]]
    while listed["next_before"]:
        listed = store.api.get(f"/api/orders?limit=2&before={listed['next_before']}").json
        seen += [o["id"] for o in listed["items"]]
    assert seen == ids[::-1]
    assert [o["id"] for o in customer.api.get("/api/orders?status=accepted").json["items"]] == [
        ids[0]]
    assert len(customer.api.get("/api/orders?status=pending").json["items"]) == 4
    assert people.customer("Nobody").api.get("/api/orders").json["items"] == []
    assert store.api.get("/api/orders?status=lost").status_code == 422
    assert store.api.get("/api/orders?before=zzz").status_code == 422


# -- data rights ------------------------------------------------------------------------------------

def test_the_export_holds_the_orders_and_deletion_erases_the_customers_note(chat, placed):
    import io
    import zipfile

    from tests.conftest import PASSWORD

    customer, store, cid = chat
    order_id = placed()
    Order.objects(id=order_id).update_one(set__note="Sa likod po ng simbahan")
    for person in (customer, store):
        zipped = zipfile.ZipFile(io.BytesIO(person.api.get("/api/me/export").get_data()))
        [exported] = json.loads(zipped.read("orders.json"))["orders"]
        assert exported["id"] == order_id and exported["note"] == "Sa likod po ng simbahan"
    assert customer.api.delete("/api/me", json={"password": PASSWORD}).status_code == 204
    kept = Order.objects.get(id=order_id)
    assert kept.note == "" and kept.status == "pending"  # still the store's record of a sale
