"""Quick replies in a real browser: saved and sent with JavaScript off; with it, "/" and a shortcut
in the message box offer them by keyboard, for editing, and the list sends one without a reload."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import (
    OVERFLOWING_JS, PHONE, SCREENSHOTS, SMALL_TARGETS_JS, connected, sign_in_with_form,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def save(store, shortcut, text):
    response = store.call("POST", "/api/quick-replies", json={"shortcut": shortcut, "text": text})
    assert response.status_code == 201, response.text


def customer_asks(server, question, **replies):
    """A store with these replies (shortcut=text), and a customer who asked it `question`:
    (store, customer, conversation id)."""
    store = server.register("store", "Aling Nena's Sari-Sari")
    customer = server.register("customer", "Maria Santos")
    conversation_id = customer.open_conversation(store)
    customer.send(conversation_id, question)
    for shortcut, text in replies.items():
        save(store, shortcut, text)
    return store, customer, conversation_id


def test_saved_and_sent_without_javascript(server, browsers):
    store, customer, conversation_id = customer_asks(server, "Anong oras po kayo bukas?")
    page = browsers.page(server, path=None, java_script_enabled=False, form_factor=PHONE)
    sign_in_with_form(page, store.email)

    # Saved on the settings page: plain forms, a readable error, the text kept.
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Quick replies").click()
    expect(page).to_have_url(re.compile(r"/settings/quick-replies$"))
    page.get_by_label("Shortcut").fill("/oras")
    page.get_by_label("Reply").fill("Bukas po kami 7AM hanggang 7PM, Lunes hanggang Sabado.")
    page.get_by_role("button", name="Add").click()
    expect(page.locator(".form-error")).to_contain_text('leave the "/" out')
    expect(page.get_by_label("Reply")).to_have_value(
        "Bukas po kami 7AM hanggang 7PM, Lunes hanggang Sabado.")
    page.get_by_label("Shortcut").fill("oras")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_have_text("Added.")
    expect(page.locator(".quick-reply-list summary")).to_contain_text("/oras")
    page.reload()  # reloading after a post must not add it again
    expect(page.locator(".quick-reply-list > li")).to_have_count(1)

    # In the conversation, the list's button sends it: one message, back at the composer.
    page.goto(f"/c/{conversation_id}")
    page.get_by_text("Quick replies", exact=True).click()
    page.get_by_role("button", name=re.compile(r"^\/oras")).click()
    expect(page).to_have_url(re.compile(rf"/c/{conversation_id}#composer$"))
    sent = page.locator(".msg.out")
    expect(sent).to_have_count(1)
    expect(sent.locator(".body")).to_have_text(
        "Bukas po kami 7AM hanggang 7PM, Lunes hanggang Sabado.")
    page.reload()
    expect(page.locator(".msg.out")).to_have_count(1)
    items = customer.call("GET", f"/api/conversations/{conversation_id}/messages").json()["items"]
    assert [m["body"] for m in items] == [
        "Anong oras po kayo bukas?", "Bukas po kami 7AM hanggang 7PM, Lunes hanggang Sabado."]
    assert items[1]["client_id"]  # sent with a client_id, as the composer sends


def test_slash_offers_replies_by_keyboard_for_editing(server, browsers):
    store, customer, conversation_id = customer_asks(
        server, "Magkano po ang Milo?", salamat="Salamat po! Balik po kayo.",
        presyo="₱25 po ang sachet, ₱180 ang 300g.", pickup="Pwede na pong kunin mamayang hapon.")
    customer_page = browsers.page(server, customer, f"/c/{conversation_id}")
    connected(customer_page)
    assert "quick" not in customer_page.content().lower()  # nothing of it on a customer's page
    page = browsers.page(server, store, f"/c/{conversation_id}")
    connected(page)
    scripts = []
    page.on("request", lambda request: scripts.append(request.url)
            if "quick_replies.js" in request.url else None)
    box = page.get_by_role("textbox", name="Message", exact=True)
    box.fill("Hello po")
    assert not scripts  # loaded on first use only

    # "/" offers all of them; the announcement says how many and how to choose.
    box.fill("")
    box.press_sequentially("/")
    listbox = page.get_by_role("listbox", name="Quick replies")
    expect(listbox).to_be_visible()
    assert len(scripts) == 1
    options = listbox.get_by_role("option")
    expect(options).to_have_count(3)
    expect(page.get_by_role("status").filter(has_text="quick replies")).to_have_text(
        "3 quick replies: up and down arrows to choose, Enter to insert, Escape to close.")
    expect(box).to_have_attribute("aria-controls", "quick-reply-options")
    expect(box).to_have_attribute("aria-autocomplete", "list")

    # Typing narrows them (any case); the arrows move the active option, which the box names.
    box.press_sequentially("P")
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_contain_text("/pickup")  # by shortcut
    expect(options.nth(1)).to_contain_text("/presyo")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", "quick-reply-options-0")
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(options.nth(0)).to_have_attribute("aria-selected", "false")
    expect(box).to_have_attribute("aria-activedescendant", "quick-reply-options-1")
    box.press("ArrowDown")  # wraps round
    expect(box).to_have_attribute("aria-activedescendant", "quick-reply-options-0")
    box.press("ArrowUp")
    expect(box).to_have_attribute("aria-activedescendant", "quick-reply-options-1")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "desktop-store-quick-replies.png")

    # Enter puts it in the box for editing: nothing is sent.
    box.press("Enter")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("₱25 po ang sachet, ₱180 ang 300g.")
    expect(box).to_be_focused()
    expect(box).not_to_have_attribute("aria-activedescendant", re.compile("."))
    expect(page.get_by_role("status").filter(has_text="Inserted")).to_have_text(
        "Inserted /presyo. Edit it, then send.")
    box.press_sequentially(" Ilan po?")
    box.press("Enter")  # now Enter sends, as ever
    expect(page.locator(".msg.out .body")).to_have_text("₱25 po ang sachet, ₱180 ang 300g. Ilan po?")
    expect(customer_page.locator(".msg.in").last).to_contain_text("₱180 ang 300g. Ilan po?")

    # Escape closes until the text changes; Tab chooses too; no match says so.
    box.press_sequentially("/sa")
    expect(options).to_have_count(1)
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("/sa")
    box.press_sequentially("l")
    expect(listbox).to_be_visible()
    box.press("Tab")
    expect(box).to_have_value("Salamat po! Balik po kayo.")
    expect(box).to_be_focused()
    box.fill("")
    box.press_sequentially("/zz")
    expect(listbox).to_be_hidden()
    expect(page.get_by_role("status").filter(has_text="No quick reply")).to_have_text(
        "No quick reply starts with /zz.")
    # Only "/" and one word at the start of a message: a slash later is just text.
    box.fill("")
    box.press_sequentially("Presyo /p")
    expect(listbox).to_be_hidden()

    # A click on an option chooses it too, the focus staying in the box.
    box.fill("")
    box.press_sequentially("/sal")
    options.first.click()
    expect(box).to_have_value("Salamat po! Balik po kayo.")
    expect(box).to_be_focused()
    items = store.call("GET", f"/api/conversations/{conversation_id}/messages").json()["items"]
    assert len(items) == 2  # choosing never sent anything


def test_with_javascript_the_list_sends_without_a_reload(server, browsers):
    store, _customer, conversation_id = customer_asks(server, "Salamat po!",
                                                      welcome="Walang anuman po! 😊")
    page = browsers.page(server, store, f"/c/{conversation_id}", form_factor=PHONE)
    connected(page)
    page.get_by_role("textbox", name="Message", exact=True).fill("a draft, kept")
    page.evaluate("window.unloaded = false; addEventListener('pagehide', () => window.unloaded = true)")
    with page.expect_response(lambda response: "quick_replies.js" in response.url):
        page.get_by_text("Quick replies", exact=True).click()  # opening the list loads the script
    page.get_by_role("button", name=re.compile(r"^\/welcome")).click()
    expect(page.locator(".msg.out .body")).to_have_text("Walang anuman po! 😊")
    expect(page.locator(".msg.out .ticks")).to_have_text(re.compile(r"Sent|Delivered|Read"))
    assert page.evaluate("window.unloaded") is False  # no reload: sent like a typed message
    expect(page.locator("#quick-replies")).not_to_have_attribute("open", "")
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_have_value("a draft, kept")
    items = store.call("GET", f"/api/conversations/{conversation_id}/messages").json()["items"]
    assert [m["body"] for m in items] == ["Salamat po!", "Walang anuman po! 😊"]


def test_fits_a_small_phone_with_large_enough_targets(server, browsers):
    store, _customer, conversation_id = customer_asks(server, "Magkano po?", po="Opo.", **{
        "presyo-ng-lahat-ng-paninda": "Supercalifragilisticexpialidocious " * 20})
    small = {**PHONE, "viewport": {"width": 320, "height": 568}}
    page = browsers.page(server, store, "/settings/quick-replies", form_factor=small)

    def fits(where):
        measured = page.evaluate(OVERFLOWING_JS)
        assert measured["scrollWidth"] <= 320 and not measured["out"], (where, measured)
        assert page.evaluate(SMALL_TARGETS_JS) == [], where

    fits("settings")
    page.locator(".quick-reply-list summary").first.tap()
    expect(page.get_by_role("button", name="Delete /po")).to_be_visible()
    fits("settings, a reply open")
    page.goto(f"/c/{conversation_id}")
    connected(page)
    fits("conversation")
    page.get_by_text("Quick replies", exact=True).tap()
    expect(page.get_by_role("button", name=re.compile(r"^\/po"))).to_be_visible()
    fits("conversation, the list open")
    page.get_by_role("textbox", name="Message", exact=True).press_sequentially("/p")
    expect(page.get_by_role("listbox", name="Quick replies").get_by_role("option")).to_have_count(2)
    fits("conversation, suggestions open")
