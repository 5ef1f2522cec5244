"""Product messages (issue 10): a product of the conversation's store sent as a snapshot of how it
was, through the same send path as text; its card in the thread, the inbox and the live stream."""

import json

import pytest

from elako.models import Message, Product
from tests.support.credentials import cookie_header
from tests.support.html import parse
from tests.test_attachments import png, stored_files
from tests.test_catalogue import add, put_photo
from tests.test_round_trips import _log, database_commands  # noqa: F401 (a fixture)


def send_product(person, conversation_id, product_id, **extra):
    return person.api.post(f"/api/conversations/{conversation_id}/messages",
                           json={"type": "product", "product_id": product_id, **extra})


def test_either_participant_sends_a_product_as_it_is_now(chat):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "Hello po")
    product = add(store, name="Milo 1kg", price_centavos=123450)
    photo_url = put_photo(store, product["id"], png()).json["photo_url"]
    for sender in (customer, store):
        answer = send_product(sender, conversation_id, product["id"])
        assert answer.status_code == 201, answer.json
        message = answer.json
        assert message["type"] == "product" and message["body"] == ""
        assert message["sender_id"] == sender.id and message["attachment"] is None
        assert message["product"] == {"id": product["id"], "name": "Milo 1kg",
                                      "price_centavos": 123450, "currency": "PHP", "in_stock": True,
                                      "photo_thumbnail_url": photo_url + "?size=thumb"}
    # The other side's thumbnail is served to both.
    assert customer.api.get(photo_url + "?size=thumb").status_code == 200
    # A text message says it has no product.
    assert customer.send(conversation_id, "Salamat")["product"] is None


def test_the_snapshot_is_history_the_product_changing_later_does_not_rewrite_it(chat):
    customer, store, conversation_id = chat
    product = add(store, name="Kape", price_centavos=1250)
    sent = send_product(customer, conversation_id, product["id"]).json
    photo = put_photo(store, product["id"], png()).json["photo_url"]
    store.api.patch(f"/api/products/{product['id']}", json={"name": "Kape (bago)",
                                                              "price_centavos": 1500})
    store.api.delete(f"/api/products/{product['id']}")
    [stored] = customer.api.get(f"/api/conversations/{conversation_id}/messages").json["items"]
    assert stored["product"] == sent["product"]
    assert stored["product"]["photo_thumbnail_url"] is None and photo


def test_a_photo_a_message_shows_stays_when_the_product_gets_a_new_one(chat):
    customer, store, conversation_id = chat
    product = add(store)
    first = put_photo(store, product["id"], png()).json["photo_url"]
    thumbnail = send_product(customer, conversation_id, product["id"]).json["product"][
        "photo_thumbnail_url"]
    put_photo(store, product["id"], png(color=(1, 2, 3, 255)))
    assert thumbnail == first + "?size=thumb"
    assert customer.api.get(thumbnail).status_code == 200
    assert store.api.get(first).status_code == 200


@pytest.mark.parametrize("product_id", ["other store", "archived", "a" * 24, "nonsense", None, ""])
def test_only_an_active_product_of_the_conversations_store_can_be_sent(chat, people, product_id):
    customer, store, conversation_id = chat
    ids = {"other store": add(people.store("Other"))["id"], "archived": add(store)["id"]}
    store.api.delete(f"/api/products/{ids['archived']}")
    answer = send_product(customer, conversation_id, ids.get(product_id, product_id))
    assert answer.status_code == 422, answer.json
    assert answer.json["error"]["field"] == "product_id"
    assert Message.objects.count() == 0


def test_outsiders_get_404_and_a_product_id_goes_only_with_type_product(chat, people):
    customer, store, conversation_id = chat
    product = add(store)
    assert send_product(people.customer("Outsider"), conversation_id, product["id"]
                        ).status_code == 404
    plain = customer.api.post(f"/api/conversations/{conversation_id}/messages",
                              json={"body": "hi", "product_id": product["id"]})
    assert plain.status_code == 422 and plain.json["error"]["field"] == "product_id"
    blank = customer.api.post(f"/api/conversations/{conversation_id}/messages", json={})
    assert blank.status_code == 422 and blank.json["error"]["message"] == "Write a message first."
    assert blank.json["error"]["field"] == "body"


def test_a_retry_with_the_same_client_id_sends_once(chat):
    customer, store, conversation_id = chat
    product = add(store)
    first = send_product(customer, conversation_id, product["id"], client_id="ask-1")
    retry = send_product(customer, conversation_id, product["id"], client_id="ask-1")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json["id"] == first.json["id"] and Message.objects.count() == 1


def test_the_inbox_preview_and_the_event_streams_carry_the_product(app, redis, chat):
    customer, store, conversation_id = chat
    product = add(store, name="Sardinas")
    sent = send_product(customer, conversation_id, product["id"]).json
    for person in (customer, store):
        conversation = person.api.get(f"/api/conversations/{conversation_id}").json
        assert conversation["last_message"]["preview"] == "🛍️ Sardinas"
        assert conversation["last_message"]["type"] == "product"
    events = [fields for _id, fields in redis.xrange(app.extensions["bus"].stream_key(store.id))]
    assert events[-1]["type"] == "message"
    assert json.loads(events[-1]["data"])["message"]["product"] == sent["product"]
    row = parse(store.page.get("/inbox").get_data(as_text=True)).by_id(f"row-{conversation_id}")
    assert "🛍️ Sardinas" in row.text


def test_the_thread_shows_the_card_and_what_changed_since(chat):
    customer, store, conversation_id = chat
    kape, tuyo, asin, suka = (add(store, name=n, price_centavos=1000)["id"]
                              for n in ("Kape", "Tuyo", "Asin", "Suka"))
    for product_id in (kape, tuyo, asin, suka):
        send_product(customer, conversation_id, product_id)
    store.api.patch(f"/api/products/{kape}", json={"price_centavos": 123450})
    store.api.delete(f"/api/products/{tuyo}")
    store.api.patch(f"/api/products/{asin}", json={"in_stock": False})
    page = parse(customer.page.get(f"/c/{conversation_id}").get_data(as_text=True))
    cards = {card.find_all("strong")[0].text: card for card in page.with_class("product-card")}
    assert set(cards) == {"Kape", "Tuyo", "Asin", "Suka"}
    assert all("₱10.00" in card.text for card in cards.values())  # as sent
    notes = {name: [n.text for n in card.with_class("product-note")] for name, card in cards.items()}
    assert notes == {"Kape": ["Price now ₱1,234.50"], "Tuyo": ["No longer available"],
                     "Asin": ["Out of stock now"], "Suka": []}


@pytest.mark.over_the_wire
def test_a_history_page_looks_its_products_up_in_one_query(chat, database_commands):  # noqa: F811
    customer, store, conversation_id = chat
    for n in range(6):
        send_product(customer, conversation_id, add(store, name=f"Item {n}")["id"])
    customer.send(conversation_id, "Ito po lahat")
    customer.page.get(f"/c/{conversation_id}")  # warm: the session is read once

    database_commands(lambda: customer.page.get(f"/c/{conversation_id}"))
    assert _log.collections.count("messages") >= 1  # it did record the page
    assert _log.collections.count("products") == 1


# -- "Ask about this" on the store page ------------------------------------------------------------

def test_ask_about_this_opens_the_conversation_and_sends_the_product(people):
    store, customer = people.store(), people.customer()
    product = add(store, name="Pandesal")
    page = customer.page
    form = {"product_id": product["id"], "client_id": "c" * 32, "quantity-" + product["id"]: "0"}
    answer = page.post(f"/stores/{store.id}/ask", form)
    assert answer.status_code == 303
    conversation_id = answer.headers["Location"].rsplit("/", 1)[-1]
    assert answer.headers["Location"] == f"/c/{conversation_id}"
    again = page.post(f"/stores/{store.id}/ask", form)  # a double tap, the same page
    assert again.headers["Location"] == answer.headers["Location"]
    [message] = Message.objects(conversation_id=conversation_id)
    assert message.type == "product" and message.product.name == "Pandesal"
    shown = parse(page.get(answer.headers["Location"]).get_data(as_text=True))
    assert "Pandesal" in shown.with_class("product-card")[0].text
    # The store sees it in its inbox as the newest message.
    row = parse(store.page.get("/inbox").get_data(as_text=True)).by_id(f"row-{conversation_id}")
    assert "🛍️ Pandesal" in row.text


def test_ask_about_a_product_gone_meanwhile_says_so_on_the_store_page(people):
    store, customer = people.store(), people.customer()
    product = add(store, name="Pandesal")
    store.api.delete(f"/api/products/{product['id']}")
    answer = customer.page.post(f"/stores/{store.id}/ask", {"product_id": product["id"]})
    assert answer.status_code == 422
    error = parse(answer.get_data(as_text=True)).with_class("form-error")[0]
    assert "not available" in error.text
    assert Message.objects.count() == 0
    assert store.page.post(f"/stores/{store.id}/ask", {"product_id": product["id"]}
                           ).status_code == 404  # as a store opening a conversation with one
    assert customer.page.post(f"/stores/{store.id}/ask", {"product_id": product["id"]},
                              csrf=False).status_code == 400


# -- live -------------------------------------------------------------------------------------------

@pytest.mark.e2e
def test_the_live_stream_renders_the_product_card_for_both_sides(server, pair, sse):
    customer, store, conversation_id = pair
    product = store.call("POST", "/api/products", json={"name": "Kape <b>3-in-1</b>",
                                                        "price_centavos": 1250}).json()
    store_tab = sse(server.url + "/events", headers=cookie_header(store.browser()))
    customer_tab = sse(server.url + "/events", headers=cookie_header(customer.browser()))
    store_tab.wait_for_comments(1)
    customer_tab.wait_for_comments(1)
    sent = customer.call("POST", f"/api/conversations/{conversation_id}/messages",
                         json={"type": "product", "product_id": product["id"]})
    assert sent.status_code == 201, sent.text
    for tab in (store_tab, customer_tab):
        fragment = tab.wait_for("message").data
        assert f'data-message-id="{sent.json()["id"]}"' in fragment
        card = parse(fragment).with_class("product-card")[0]
        assert "Kape <b>3-in-1</b>" in card.text and "₱12.50" in card.text  # escaped, as text
        assert "<b>3-in-1" not in fragment
        assert "This message can’t be shown" not in fragment
    assert "🛍️ Kape &lt;b&gt;3-in-1&lt;/b&gt;" in store_tab.of_type("message")[-1].data  # inbox row


# -- unsending, deleting an account -----------------------------------------------------------------

def test_an_unsent_product_message_shows_no_product(chat):
    customer, store, conversation_id = chat
    sent = send_product(customer, conversation_id, add(store, name="Kape")["id"]).json
    gone = customer.api.delete(f"/api/messages/{sent['id']}").json
    assert gone["deleted"] is True and gone["product"] is None
    assert store.api.get(f"/api/conversations/{conversation_id}").json["last_message"]["preview"] == ""


def test_a_deleted_store_takes_its_catalogue_but_not_the_photo_a_customers_message_shows(chat):
    from tests.conftest import PASSWORD

    customer, store, conversation_id = chat
    shown, unshown = add(store, name="Kape"), add(store, name="Tuyo")
    shown_photo = put_photo(store, shown["id"], png()).json["photo_url"]
    put_photo(store, unshown["id"], png(color=(5, 5, 5, 255)))
    send_product(customer, conversation_id, shown["id"])
    send_product(store, conversation_id, unshown["id"])
    assert stored_files()[0] == 4
    assert store.api.delete("/api/me", json={"password": PASSWORD}).status_code == 204
    assert Product.objects.count() == 0
    assert stored_files()[0] == 2  # the photo (and thumbnail) of the customer's message
    assert customer.api.get(shown_photo).status_code == 200


def test_a_store_sends_a_product_from_its_conversation_page(chat, people):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "Ano po ang meron kayo?")
    product = add(store, name="Bigas 1kg", price_centavos=5800)
    thread = store.page.get(f"/c/{conversation_id}").get_data(as_text=True)
    assert f'href="/c/{conversation_id}/products"' in thread  # in the conversation's menu
    picker = parse(store.page.get(f"/c/{conversation_id}/products").get_data(as_text=True))
    [button] = [b for b in picker.find_all("button") if b.attrs.get("name") == "product_id"]
    assert button.attrs["value"] == product["id"] and "Bigas 1kg" in button.text
    form = {"product_id": product["id"], "client_id": "d" * 32}
    answer = store.page.post(f"/c/{conversation_id}/products", form)
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/c/{conversation_id}#composer"
    store.page.post(f"/c/{conversation_id}/products", form)  # a reload of the post: sent once
    [sent] = Message.objects(type="product")
    assert str(sent.sender_id) == store.id
    assert "🛍️ Bigas 1kg" in parse(customer.page.get("/inbox").get_data(as_text=True)).by_id(
        f"row-{conversation_id}").text
    # Customers send from the store page instead; outsiders find nothing.
    assert customer.page.get(f"/c/{conversation_id}/products").status_code == 403
    assert people.store("Other").page.get(f"/c/{conversation_id}/products").status_code == 404



# -- hostile names -----------------------------------------------------------------------------------

def test_hostile_product_names_and_descriptions_are_shown_as_text_everywhere(chat):
    from tests.support.xss import CORPUS, inert_problems

    customer, store, conversation_id = chat
    hostile = [typed for typed, _links in CORPUS if len(typed) <= 120 and "\n" not in typed][:20]
    for typed in hostile:
        product = add(store, name=typed, description=typed)
        assert send_product(customer, conversation_id, product["id"]).status_code == 201
    pages = {"store page": customer.page.get(f"/stores/{store.id}"),
             "products": store.page.get("/products"),
             "thread": customer.page.get(f"/c/{conversation_id}"),
             "store's picker": store.page.get(f"/c/{conversation_id}/products")}
    for label, answer in pages.items():
        assert answer.status_code == 200, label
        markup = answer.get_data(as_text=True)
        assert inert_problems(markup) == [], label
    store_page = parse(pages["store page"].get_data(as_text=True))
    shown = {h.text for h in store_page.find_all("h3")}
    assert set(hostile) <= shown  # character for character
    cards = parse(pages["thread"].get_data(as_text=True)).with_class("product-card")
    assert {c.find_all("strong")[0].text for c in cards} == set(hostile)
