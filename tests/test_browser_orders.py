"""An order card in two real browsers (phones): the store's buttons move the order, and both
cards change in place at once; the status line appears in both threads."""

import re
from datetime import datetime, timezone

import pytest
from bson import ObjectId
from playwright.sync_api import expect

from tests.support.browser import PHONE, SCREENSHOTS, connected

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_an_order_card_changes_live_on_both_sides(server, pair, server_db, browsers):
    customer, store, cid = pair
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    products = [{"_id": ObjectId(), "store_id": ObjectId(store.id), "name": name,
                 "price_centavos": price, "description": "", "in_stock": True,
                 "created_at": now, "updated_at": now}
                for name, price in [("Pandesal", 250), ("Milo 1kg", 32550), ("Itlog (dozen)", 9600)]]
    server_db(server).products.insert_many(products)
    customer.send(cid, "Magandang umaga po!")
    buyer = browsers.page(server, customer, f"/c/{cid}", form_factor=PHONE)
    shop = browsers.page(server, store, f"/c/{cid}", form_factor=PHONE)
    connected(buyer)
    connected(shop)

    # Placed while both look: the card arrives live in the store's thread.
    response = customer.call("POST", f"/api/conversations/{cid}/orders", json={
        "items": [{"product_id": str(p["_id"]), "quantity": q}
                  for p, q in zip(products, (10, 1, 1))], "note": "Pakibalot po nang maayos"})
    assert response.status_code == 201, response.text
    order_id = response.json()["order"]["id"]
    cards = {"customer": buyer.locator(f"#order-{order_id}"),
             "store": shop.locator(f"#order-{order_id}")}
    for card in cards.values():
        expect(card.locator(".order-status")).to_have_text("Waiting for the store")
        expect(card.locator(".order-total")).to_have_text(re.compile(r"Total\s*₱446\.50"))
        expect(card).to_contain_text("10 × Pandesal")
    expect(cards["store"].get_by_role("button")).to_have_text(["Accept", "Decline", "Cancel order"])
    expect(cards["customer"].get_by_role("button")).to_have_text(["Cancel order"])

    # The store accepts: its own card answers, the customer's changes through its stream.
    cards["store"].get_by_role("button", name="Accept").click()
    for card in cards.values():
        expect(card.locator(".order-status")).to_have_text("Accepted")
    expect(cards["store"].get_by_role("button")).to_have_text(["Ready", "Cancel order"])
    expect(cards["customer"].get_by_role("button")).to_have_count(0)
    for page in (buyer, shop):
        expect(page.locator(".msg.system")).to_have_text(
            re.compile("Order accepted by Aling Nena's Store"))
        expect(page.locator(f"#order-{order_id}")).to_have_count(1)  # replaced, never doubled

    # The customer, reading along, has read the status line too.
    expect(buyer).to_have_title("Aling Nena's Store · ELako Chat")
    expect(buyer.locator("#unread-badge")).to_be_hidden()

    cards["store"].get_by_role("button", name="Ready").click()
    for card in cards.values():
        expect(card.locator(".order-status")).to_have_text("Ready for pickup")
    expect(cards["store"].get_by_role("button")).to_have_text(["Completed"])
    expect(buyer.locator("#unread-badge")).to_be_hidden()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for who, page in (("customer", buyer), ("store", shop)):
        cards[who].evaluate("card => card.scrollIntoView({block: 'center'})")
        page.screenshot(path=SCREENSHOTS / f"order-card-{who}.png")
