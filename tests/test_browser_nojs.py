"""With JavaScript disabled the same pages still do everything a user needs, as plain HTML."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import sign_in_with_form

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_sign_in_read_history_send_and_check_for_new_messages_without_javascript(server, browsers):
    store = server.register("store", "Aling Nena's Sari-Sari")
    customer = server.register("customer", "Maria Santos")
    conversation_id = customer.open_conversation(store)
    for n in range(1, 36):  # more than one page of history (30)
        customer.send(conversation_id, f"Order {n}: isang pack ng kape")
    page = browsers.page(server, path=None, java_script_enabled=False)
    sign_in_with_form(page, store.email)

    # (<noscript> content, which Playwright's text and role locators skip: found by CSS.)
    expect(page.locator(".banner")).to_contain_text("Live updates need JavaScript.")
    expect(page.locator(".banner")).to_be_visible()
    expect(page.locator("#connection")).to_be_hidden()
    row = page.locator("#inbox-list > li")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text(re.compile(r"\b35 unread"))
    expect(page).to_have_title("(35) Inbox · ELako Chat")

    # Opening the conversation shows the newest page and reads it.
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/c/{conversation_id}$"))
    messages = page.locator(".messages > li.msg")
    expect(messages).to_have_count(30)
    expect(messages.last).to_contain_text("Order 35:")
    expect(messages.last).to_be_in_viewport()  # it opens at the newest message
    expect(messages.first).not_to_be_in_viewport()
    expect(page).to_have_title("Maria Santos · ELako Chat")
    stored = customer.call("GET", f"/api/conversations/{conversation_id}/messages?limit=100").json()
    assert all(m["read_at"] for m in stored["items"])

    # Older history is a link.
    page.get_by_role("link", name="Older messages").click()
    expect(messages.first).to_contain_text("Order 1:")
    expect(page.get_by_text("This is the start of your conversation with Maria Santos.")).to_be_visible()

    # Sending is a form post, answered with a redirect back to the conversation.
    page.goto(f"/c/{conversation_id}")
    page.get_by_role("textbox", name="Message", exact=True).fill("Opo, ready na po\nPakikuha na lang")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(rf"/c/{conversation_id}#composer$"))
    sent = page.locator(".msg.out")
    expect(sent).to_have_count(1)
    expect(sent).to_be_in_viewport()
    assert sent.locator(".body").inner_text() == "Opo, ready na po\nPakikuha na lang"
    expect(sent.locator(".ticks")).to_have_text(re.compile(r"Sent|Delivered"))
    page.reload()  # reloading after a post must not send it again
    expect(page.locator(".msg.out")).to_have_count(1)

    # New messages: "Check for new messages" instead of the live stream.
    customer.send(conversation_id, "Salamat po! Papunta na ako.")
    check = page.locator(".check-new a")
    expect(check).to_have_text("Check for new messages")
    check.click()
    expect(page.locator(".msg.in").last).to_contain_text("Salamat po! Papunta na ako.")
    expect(page.locator(".msg.in").last).to_be_in_viewport()
    customer.send(conversation_id, "Nasa labas na po.")
    check.click()  # again, from the very URL it links to: still a reload, not just a scroll
    expect(page.locator(".msg.in").last).to_contain_text("Nasa labas na po.")

    # Sign out from the settings page (where phones find it).
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("main").get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/signin$"))


def test_inbox_filters_work_with_one_tap_without_javascript(server, browsers):
    store = server.register("store", "Kusina ni Mang Tonyo")
    ana, ben = server.register("customer", "Ana Reyes"), server.register("customer", "Ben Cruz")
    with_ana = ana.open_conversation(store)
    ana.send(with_ana, "Pa-reserve po ng adobo")
    ben.send(ben.open_conversation(store), "Bukas pa po kayo?")
    store.call("PATCH", f"/api/conversations/{with_ana}/read")
    page = browsers.page(server, path=None, java_script_enabled=False)
    sign_in_with_form(page, store.email)
    names = page.locator("#inbox-list .name")
    expect(names).to_have_count(2)

    page.get_by_role("link", name="Unread", exact=True).click()
    expect(page).to_have_url(re.compile(r"/inbox\?filter=unread$"))
    expect(names).to_have_text(["Ben Cruz"])
    expect(page.get_by_role("link", name="Unread", exact=True)).to_have_attribute("aria-current", "true")
    # A search keeps the filter, and a filter keeps the search.
    page.get_by_role("searchbox").fill("ana")
    page.get_by_role("button", name="Search").click()
    expect(names).to_have_count(0)
    page.get_by_role("link", name="All", exact=True).click()
    expect(page).to_have_url(re.compile(r"/inbox\?q=ana$"))
    expect(names).to_have_text(["Ana Reyes"])


def test_text_sent_after_a_block_landed_stays_on_the_page_without_javascript(server, browsers):
    store = server.register("store", "Aling Nena's Sari-Sari")
    customer = server.register("customer", "Maria Santos")
    conversation_id = customer.open_conversation(store)
    customer.send(conversation_id, "Magandang umaga po!")
    page = browsers.page(server, customer, f"/c/{conversation_id}", java_script_enabled=False)
    page.get_by_role("textbox", name="Message", exact=True).fill("Pakitabi po ng dalawang itlog")
    store.call("POST", f"/api/conversations/{conversation_id}/block")  # while the page is open
    page.get_by_role("button", name="Send", exact=True).click()

    expect(page.get_by_text("You can’t send messages in this conversation.")).to_be_visible()
    kept = page.get_by_role("textbox", name="Not sent: your message")
    expect(kept).to_have_value("Pakitabi po ng dalawang itlog")
    expect(page.locator(".msg.out")).to_have_count(1)
