"""Orders without JavaScript (issue 10): ordering from the store page's form, the order card in
the thread with the buttons the viewer may press now, each a plain form; htmx gets the card
back; the store's "Open orders" inbox."""

import html
import re

import pytest

from elako.models import Conversation, Order, Product


@pytest.fixture
def shop(app, people):
    """A customer and a store with three products (Kape out of stock), no conversation yet:
    (customer, store, {name: product id})."""
    customer, store = people.customer(), people.store()
    with app.app_context():
        made = {name: str(Product(store_id=store.id, name=name, price_centavos=price,
                                  in_stock=in_stock).save().id)
                for name, price, in_stock in [("Pandesal", 250, True), ("Milo 1kg", 32550, True),
                                              ("Kape", 1000, False)]}
    return customer, store, made


def order_form(products, note="", **quantities):
    """The store page's form as a browser posts it: every product's quantity field, mostly 0."""
    form = {f"quantity-{product_id}": str(quantities.get(name, 0))
            for name, product_id in products.items() if name != "Kape"}
    return {**form, "note": note}


def text(response):
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def test_ordering_from_the_store_page_without_javascript(shop):
    customer, store, products = shop
    response = customer.page.post(f"/stores/{store.id}/orders",
                                  order_form(products, note="Pakibalot po", Pandesal=6))
    assert response.status_code == 303
    conversation = Conversation.objects.get(customer_id=customer.id, store_id=store.id)
    assert response.headers["Location"] == f"/c/{conversation.id}"
    order = Order.objects.get()
    assert [(line.name, line.quantity) for line in order.items] == [("Pandesal", 6)]
    assert (order.total_centavos, order.note, order.status) == (1500, "Pakibalot po", "pending")
    page = text(customer.page.get(response.headers["Location"]))
    assert "6 × Pandesal ₱15.00" in page and "Total ₱15.00" in page
    assert "Waiting for the store" in page and "Note: Pakibalot po" in page


@pytest.mark.parametrize("fields, words", [
    ({}, "Choose at least one product to order."),
    ({"Pandesal": "lots"}, "Each quantity must be a whole number."),
    ({"Pandesal": "1000"}, "Each quantity must be between 0 and 999."),
    ({"Kape": "1"}, "Kape is out of stock."),
])
def test_a_refused_order_says_why_on_the_conversation_page(shop, fields, words):
    customer, store, products = shop
    form = order_form(products)
    form.update({f"quantity-{products[name]}": value for name, value in fields.items()})
    response = customer.page.post(f"/stores/{store.id}/orders", form)
    assert response.status_code == 303 and response.headers["Location"].endswith("#composer")
    page = text(customer.page.get(response.headers["Location"]))
    assert "Your order was not placed: " in page and words in page
    assert Order.objects.count() == 0


def test_a_refused_line_is_named_by_its_row_on_the_store_page(shop):
    customer, store, products = shop
    # Rows: Pandesal left at 0, Milo 1kg, then Kape (sold out since the page was shown).
    form = {**order_form(products, **{"Milo 1kg": 2}), f"quantity-{products['Kape']}": "1"}
    response = customer.page.post(f"/stores/{store.id}/orders", form)
    page = text(customer.page.get(response.headers["Location"]))
    assert "Your order was not placed: Line 3: Kape is out of stock." in page
    assert Order.objects.count() == 0


def test_only_customers_order_from_a_store_page_and_only_with_the_forms_token(shop, people):
    customer, store, products = shop
    other_store = people.store("Another store")
    assert other_store.page.post(f"/stores/{store.id}/orders",
                                 order_form(products, Pandesal=1)).status_code == 403
    assert customer.page.post(f"/stores/{store.id}/orders", order_form(products, Pandesal=1),
                              csrf=False).status_code == 400
    assert customer.page.post("/stores/nope/orders",
                              order_form(products, Pandesal=1)).status_code == 404
    assert Order.objects.count() == 0


@pytest.mark.settings(RATE_LIMIT_OPEN_CONVERSATION="1 per hour")
def test_ordering_again_does_not_count_as_opening_a_conversation(shop):
    customer, store, products = shop
    for _ in range(3):
        response = customer.page.post(f"/stores/{store.id}/orders",
                                      order_form(products, Pandesal=1))
        assert response.status_code == 303 and "#composer" not in response.headers["Location"]
    assert Order.objects.count() == 3


@pytest.fixture
def ordered(shop):
    """A pending order placed from the store page: (customer, store, conversation id, order id)."""
    customer, store, products = shop
    customer.page.post(f"/stores/{store.id}/orders", order_form(products, Pandesal=2))
    order = Order.objects.get()
    return customer, store, str(order.conversation_id), str(order.id)


def buttons(page_html, order_id):
    card = re.search(rf'<section id="order-{order_id}".*?</section>', page_html, re.S).group(0)
    return re.findall(r'<button type="submit"[^>]*>([^<]+)</button>', card)


def test_each_side_sees_the_buttons_it_may_press_now(ordered):
    customer, store, cid, order_id = ordered
    assert buttons(customer.page.get(f"/c/{cid}").get_data(as_text=True), order_id) == [
        "Cancel order"]
    assert buttons(store.page.get(f"/c/{cid}").get_data(as_text=True), order_id) == [
        "Accept", "Decline", "Cancel order"]
    store.api.patch(f"/api/orders/{order_id}", json={"status": "accepted"})
    assert buttons(customer.page.get(f"/c/{cid}").get_data(as_text=True), order_id) == []
    assert buttons(store.page.get(f"/c/{cid}").get_data(as_text=True), order_id) == [
        "Ready", "Cancel order"]


def test_pressing_a_button_without_javascript_moves_the_order_and_comes_back(ordered):
    customer, store, cid, order_id = ordered
    response = store.page.post(f"/orders/{order_id}/status", {"status": "accepted"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/c/{cid}#order-{order_id}"
    assert Order.objects.get(id=order_id).status == "accepted"
    page = text(customer.page.get(f"/c/{cid}"))
    assert "Accepted" in page and "Order accepted by Aling Nena's Store" in page


def test_a_refused_press_says_why_on_the_card(ordered):
    customer, store, cid, order_id = ordered
    store.page.post(f"/orders/{order_id}/status", {"status": "declined"})
    # The customer's page still showed Cancel when the store declined.
    response = customer.page.post(f"/orders/{order_id}/status", {"status": "cancelled"})
    assert response.status_code == 303
    page = customer.page.get(response.headers["Location"]).get_data(as_text=True)
    error = html.unescape(re.search(rf'id="order-error-{order_id}"[^>]*>([^<]*)<', page).group(1))
    assert error == "A declined order can't become cancelled."
    assert Order.objects.get(id=order_id).status == "declined"


def test_htmx_gets_the_card_as_it_is_now(ordered):
    _, store, _, order_id = ordered
    response = store.page.post(f"/orders/{order_id}/status", {"status": "accepted"}, htmx=True)
    assert response.status_code == 200
    card = response.get_data(as_text=True)
    assert card.lstrip().startswith(f'<section id="order-{order_id}"') and "Accepted" in card
    refused = store.page.post(f"/orders/{order_id}/status", {"status": "accepted"}, htmx=True,
                              headers={"X-Error-Target": f"#order-error-{order_id}"})
    assert refused.status_code == 409
    assert refused.headers["HX-Retarget"] == f"#order-error-{order_id}"


def test_outsiders_can_not_press_anything(ordered, people):
    _, _, _, order_id = ordered
    outsider = people.store("Outsider")
    assert outsider.page.post(f"/orders/{order_id}/status",
                              {"status": "declined"}).status_code == 404
    assert Order.objects.get(id=order_id).status == "pending"


def test_the_inbox_preview_of_a_status_line_reads_as_news(ordered):
    customer, store, cid, order_id = ordered
    store.page.post(f"/orders/{order_id}/status", {"status": "accepted"})
    for person in (customer, store):
        row = re.search(rf'<li id="row-{cid}".*?</li>', person.page.get("/inbox").get_data(
            as_text=True), re.S).group(0)
        assert "Order accepted by Aling Nena&#39;s Store" in row and "You:" not in row


def test_the_store_inbox_filters_open_orders(shop, people, app):
    customer, store, products = shop
    chatty = people.customer("Just chatting")
    chatty.send(chatty.open_conversation(store), "Hello po")
    customer.page.post(f"/stores/{store.id}/orders", order_form(products, Pandesal=1))
    order_id = str(Order.objects.get().id)
    listed = store.page.get("/inbox?filter=orders").get_data(as_text=True)
    assert "Open orders" in listed and customer.name in listed and "Just chatting" not in listed
    assert "Just chatting" in store.page.get("/inbox").get_data(as_text=True)
    store.page.post(f"/orders/{order_id}/status", {"status": "declined"})
    assert "No open orders." in store.page.get("/inbox?filter=orders").get_data(as_text=True)
    # Customers have no such filter: theirs is the whole inbox.
    mine = customer.page.get("/inbox?filter=orders").get_data(as_text=True)
    assert "Open orders" not in mine and store.name.replace("'", "&#39;") in mine
