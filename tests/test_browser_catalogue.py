"""The catalogue in a real browser (issue 10): a store keeps its products and a customer asks about
one, all with JavaScript off; the product card arrives live; and a phone-sized picture of the
store page for docs/screenshots/."""

import io
import re
import uuid

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.support.browser import OVERFLOWING_JS, PHONE, SCREENSHOTS, SMALL_TARGETS_JS, connected

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def photo(tmp_path, name, color):
    path = tmp_path / name
    image = Image.new("RGB", (900, 700), color)
    image.paste((250, 240, 220), (200, 150, 700, 550))
    out = io.BytesIO()
    image.save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def add_on_the_page(page, name, price, description="", in_stock=True, photo_path=None):
    page.goto("/products")
    form = page.locator("form[action='/products']")
    if not form.is_visible():
        page.get_by_text("Add a product").click()
    form.get_by_label("Name").fill(name)
    form.get_by_label("Price in pesos").fill(price)
    form.get_by_label("Description").fill(description)
    if not in_stock:
        form.get_by_label("In stock").uncheck()
    if photo_path:
        form.get_by_label("Photo").set_input_files(str(photo_path))
    form.get_by_role("button", name="Add product").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()


def test_a_store_keeps_its_catalogue_and_a_customer_asks_about_a_product_without_javascript(
        server, browsers, tmp_path):
    name = f"Aling Nena's {uuid.uuid4().hex[:6]}"  # the shared server's directory has many
    store = server.register("store", name)
    customer = server.register("customer", "Maria Santos")
    shop = browsers.page(server, store, path=None, java_script_enabled=False)

    add_on_the_page(shop, "Kape 3-in-1 (10 sachets)", "65", "Original blend",
                    photo_path=photo(tmp_path, "kape.jpg", (110, 60, 30)))
    add_on_the_page(shop, "Pandesal", "2.5")
    # A refused form says why, and keeps what was typed.
    add_form = shop.locator("form[action='/products']")
    shop.get_by_text("Add a product").click()
    add_form.get_by_label("Name").fill("Tuyo")
    add_form.get_by_label("Price in pesos").fill("1,000,000.01")
    add_form.get_by_role("button", name="Add product").click()
    expect(shop.get_by_role("alert").filter(has_text="Prices can be at most ₱1,000,000.00.")
           ).to_be_visible()
    expect(add_form.get_by_label("Name")).to_have_value("Tuyo")

    # Edit a price, mark out of stock.
    pandesal = shop.locator(".product", has_text="Pandesal")
    pandesal.get_by_text("Edit").click()
    pandesal.get_by_label("Price in pesos").fill("3")
    pandesal.get_by_role("button", name="Save").click()
    pandesal = shop.locator(".product", has_text="Pandesal")
    expect(pandesal.locator(".price")).to_have_text("₱3.00")
    pandesal.get_by_role("button", name="Mark out of stock").click()
    expect(shop.locator(".product", has_text="Pandesal").locator(".stock")).to_have_text(
        "Out of stock")

    # The customer finds the store in the directory and opens its page.
    page = browsers.page(server, customer, path=f"/stores?q={name}", java_script_enabled=False)
    page.get_by_role("link", name=name).click()
    expect(page).to_have_url(re.compile(rf"/stores/{store.id}$"))
    kape = page.locator(".product", has_text="Kape 3-in-1")
    expect(kape.locator(".price")).to_have_text("₱65.00")
    expect(kape.get_by_role("img", name="Kape 3-in-1 (10 sachets)")).to_be_visible()
    expect(kape.get_by_label("Quantity of Kape 3-in-1 (10 sachets)")).to_have_value("0")
    out = page.locator(".product", has_text="Pandesal")
    expect(out.get_by_text("Out of stock")).to_be_visible()
    expect(out.get_by_role("spinbutton")).to_have_count(0)
    expect(page.get_by_role("button", name="Place order")).to_be_visible()

    # Enter in a quantity places the order, not an "Ask about this"; the conversation shows it,
    # priced by the catalogue, and the customer can still cancel it, all without JavaScript.
    kape.get_by_label(re.compile("Quantity")).fill("2")
    page.get_by_label("Note").fill("Pakibalot po")
    with page.expect_request(lambda r: r.method == "POST") as posted:
        kape.get_by_label(re.compile("Quantity")).press("Enter")
    assert posted.value.url.endswith(f"/stores/{store.id}/orders")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f]{24}$"))
    order = page.locator(".order-card")
    expect(order.locator(".order-lines")).to_have_text(re.compile(
        r"2 × Kape 3-in-1 \(10 sachets\)\s*₱130\.00"))
    expect(order.locator(".order-total")).to_contain_text("₱130.00")
    expect(order.locator(".order-status")).to_have_text("Waiting for the store")
    expect(order.locator(".order-note")).to_have_text("Note: Pakibalot po")
    order.get_by_role("button", name="Cancel order").click()
    expect(page.locator(".order-card .order-status")).to_have_text("Cancelled")
    page.goto(f"/stores/{store.id}")

    # "Ask about this" opens the conversation with the product's card.
    page.locator(".product", has_text="Kape 3-in-1").get_by_role(
        "button", name=re.compile("Ask about this")).click()
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f]{24}$"))
    card = page.locator(".msg.out .product-card")
    expect(card).to_contain_text("Kape 3-in-1 (10 sachets)")
    expect(card).to_contain_text("₱65.00")
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    # The conversation's menu in its header leads back to the store page.
    page.locator("details.actions > summary").click()
    page.get_by_role("link", name=f"Products of {name}").click()
    expect(page).to_have_url(re.compile(rf"/stores/{store.id}$"))
    page.go_back()

    # The store changes the price; the card keeps what was sent and says what it is now.
    kape_row = shop.locator(".product", has_text="Kape 3-in-1")
    shop.goto("/products")
    kape_row.get_by_text("Edit").click()
    kape_row.get_by_label("Price in pesos").fill("70")
    kape_row.get_by_role("button", name="Save").click()
    page.reload()
    expect(card).to_contain_text("₱65.00")
    expect(card.locator(".product-note")).to_have_text("Price now ₱70.00")

    # Removed: customers no longer see it; the card says so.
    shop.goto("/products")
    kape_row.locator("summary", has_text="Remove").click()
    kape_row.get_by_role("button", name=re.compile("Yes, remove")).click()
    expect(shop.locator(".product", has_text="Kape 3-in-1")).to_have_count(0)
    page.reload()
    expect(card.locator(".product-note")).to_have_text("No longer available")

    # The store's inbox shows it.
    shop.goto("/inbox")
    expect(shop.locator("#inbox-list .preview").first).to_have_text("🛍️ Kape 3-in-1 (10 sachets)")


def test_a_product_message_arrives_live_in_the_stores_inbox_and_thread(server, browsers):
    store = server.register("store", "Kusina ni Mang Tonyo")
    customer = server.register("customer", "Ana Reyes")
    conversation_id = customer.open_conversation(store)
    customer.send(conversation_id, "Magandang umaga po")
    product = store.call("POST", "/api/products", json={"name": "Adobo (1 order)",
                                                        "price_centavos": 9500}).json()
    shop = browsers.page(server, store, path=f"/c/{conversation_id}")
    connected(shop)
    customer.call("POST", f"/api/conversations/{conversation_id}/messages",
                  json={"type": "product", "product_id": product["id"]})
    expect(shop.locator(".msg.in .product-card")).to_contain_text("Adobo (1 order)")
    expect(shop.locator(".msg.in .product-card")).to_contain_text("₱95.00")
    expect(shop.locator(f"#row-{conversation_id} .preview")).to_have_text("🛍️ Adobo (1 order)")


def test_screenshot_of_the_store_page_on_a_phone(server, browsers, tmp_path):
    store = server.register("store", "Aling Nena's Sari-Sari")
    customer = server.register("customer", "Maria Santos")
    shop = browsers.page(server, store, path=None, java_script_enabled=False)
    for name, price, description, color, in_stock in [
            ("Kape 3-in-1 (10 sachets)", "65", "Original blend, para sa umaga", (110, 60, 30), True),
            ("Pandesal (10 pcs)", "25", "Mainit pa, 6 AM", (210, 160, 90), True),
            ("Sardinas 155g", "24.50", "", (190, 40, 40), False),
            ("Bigas 1kg (Dinorado)", "58", "", (235, 235, 225), True)]:
        add_on_the_page(shop, name, price, description, in_stock,
                        photo(tmp_path, f"{color[0]}.jpg", color))
    page = browsers.page(server, customer, path=f"/stores/{store.id}", form_factor=PHONE)
    expect(page.locator(".product")).to_have_count(4)
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    layout = page.evaluate(OVERFLOWING_JS)
    assert layout["scrollWidth"] <= layout["width"], layout["out"]
    assert page.evaluate(SMALL_TARGETS_JS) == []
    page.screenshot(path=SCREENSHOTS / "catalogue-phone.png", full_page=True)
    # The store's own page of products fits a phone too.
    manage = browsers.page(server, store, path="/products", form_factor=PHONE)
    layout = manage.evaluate(OVERFLOWING_JS)
    assert layout["scrollWidth"] <= layout["width"], layout["out"]
    assert manage.evaluate(SMALL_TARGETS_JS) == []
