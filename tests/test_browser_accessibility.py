"""What a screen reader, a keyboard and a zoomed screen meet in the thread: each own message
announced once, Unsend buttons named for their message and out of the way of Tab, a menu that
closes like a menu, nothing sideways at 200% zoom, and read told apart from delivered without
colour."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import DESKTOP, OVERFLOWING_JS, PHONE, connected

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# Records what the thread's live region would announce: every element added inside it that is
# exposed to assistive technology (not inside aria-hidden), with its text.
ANNOUNCEMENTS_JS = """() => {
  window.__announced = [];
  const log = document.querySelector('[role="log"]');
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1 || node.closest('[aria-hidden="true"]')) continue;
        window.__announced.push(node.textContent.replace(/\\s+/g, " ").trim());
      }
    }
  }).observe(log, {childList: true, subtree: true});
}"""


@pytest.fixture
def thread(server):
    store = server.register("store", "Aling Nena's Sari-Sari")
    customer = server.register("customer", "Maria Santos")
    chat = customer.open_conversation(store)
    return customer, store, chat


def composer(page):
    return page.get_by_role("textbox", name="Message", exact=True)


def test_an_own_message_is_announced_once(thread, browsers):
    customer, store, chat = thread
    page = browsers.page(server_of(customer), customer, f"/c/{chat}")
    connected(page)
    page.evaluate(ANNOUNCEMENTS_JS)
    composer(page).fill("Dalawang sachet po ng Milo")
    composer(page).press("Enter")
    expect(page.locator(".msg.out[data-message-id]")).to_have_count(1)
    expect(page.locator(".msg.out .ticks")).to_be_visible()
    page.wait_for_timeout(500)  # anything late would be a second announcement
    announced = [text for text in page.evaluate("window.__announced") if "Dalawang sachet" in text]
    assert len(announced) == 1, announced
    assert announced[0].startswith("You:"), announced


def test_unsend_buttons_are_named_for_their_message_and_out_of_the_tab_order(thread, browsers):
    customer, store, chat = thread
    customer.send(chat, "Magandang umaga po!")
    customer.send(chat, "May Milo pa po ba kayo?")
    page = browsers.page(server_of(customer), customer, f"/c/{chat}")
    connected(page)
    first = page.get_by_role("button", name="Unsend “Magandang umaga po!”")
    second = page.get_by_role("button", name="Unsend “May Milo pa po ba kayo?”")
    expect(first).to_have_count(1)
    expect(second).to_have_count(1)

    # Shift+Tab from the composer reaches the thread itself, not each Unsend on the way.
    composer(page).focus()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("log")).to_be_focused()
    # The arrow keys go to the messages; Tab from a message reaches its own Unsend.
    page.keyboard.press("ArrowUp")
    expect(page.locator(".msg.out").last).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(page.locator(".msg.out").first).to_be_focused()
    page.keyboard.press("Tab")
    expect(first).to_be_focused()
    page.keyboard.press("Tab")
    expect(composer(page)).to_be_focused()  # the other message's Unsend is skipped
    # A message that arrives live, like one sent from here, keeps its Unsend out of the way too.
    composer(page).fill("Salamat po")
    composer(page).press("Enter")
    expect(page.locator(".msg.out[data-message-id]")).to_have_count(3)
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("log")).to_be_focused()


def test_the_conversation_menu_closes_on_escape_and_on_a_click_outside(thread, browsers):
    customer, store, chat = thread
    page = browsers.page(server_of(customer), customer, f"/c/{chat}")
    connected(page)
    menu = page.locator("details.actions")
    options = page.locator("details.actions > summary")
    options.click()
    expect(menu).to_have_attribute("open", "")
    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(options).to_be_focused()
    options.click()
    expect(menu).to_have_attribute("open", "")
    page.get_by_role("log").click()
    expect(menu).not_to_have_attribute("open", "")


def test_nothing_scrolls_sideways_at_200_percent_zoom_on_a_phone(server, browsers):
    store = server.register("store", "Bayanihan Hardware and Construction Supply")
    customer = server.register("customer", "Maria Santos")
    chat = customer.open_conversation(store)
    customer.send(chat, "May 1/2 inch na pako po kayo?")
    zoomed = {**PHONE, "viewport": {"width": 180, "height": 320}}  # 360 x 640 at 200%
    for user, path in ((customer, f"/c/{chat}"), (store, f"/c/{chat}"), (store, "/inbox")):
        page = browsers.page(server, user, path, form_factor=zoomed)
        connected(page)
        found = page.evaluate(OVERFLOWING_JS)
        assert found["scrollWidth"] <= 180 and not found["out"], (path, found)


def test_a_long_draft_leaves_the_thread_room_at_200_percent_zoom_on_a_desktop(thread, browsers):
    customer, store, chat = thread
    customer.send(chat, "Magandang umaga po!")
    zoomed = {**DESKTOP, "viewport": {"width": 640, "height": 400}}  # 1280 x 800 at 200%
    page = browsers.page(server_of(customer), customer, f"/c/{chat}", form_factor=zoomed)
    connected(page)
    box = composer(page)
    box.focus()
    for line in range(10):
        box.press_sequentially(f"Linya {line + 1}")
        box.press("Shift+Enter")
    log = page.get_by_role("log").bounding_box()
    assert box.bounding_box()["height"] <= 400 * 0.3, box.bounding_box()
    assert log["height"] >= 100, log


def test_read_differs_from_delivered_by_a_word_not_only_colour(thread, browsers):
    customer, store, chat = thread
    customer.send(chat, "Magandang umaga po!")
    customer.send(chat, "May Milo pa po?")
    store.call("PATCH", f"/api/conversations/{chat}/read")
    page = browsers.page(server_of(customer), customer, f"/c/{chat}")
    connected(page)
    store.call("GET", f"/api/conversations/{chat}/messages")  # nothing new: stays read
    delivered = customer.send(chat, "Dalawang sachet po")  # delivered or sent, not read
    ticks = page.locator(".msg.out .ticks")
    expect(ticks).to_have_count(3)
    drawn = ticks.evaluate_all("""all => all.map(t => t.firstElementChild.textContent +
      getComputedStyle(t.firstElementChild, "::after").content)""")
    # The newest read message says so (what is above it was read too); delivered does not.
    assert drawn[1] == '✓✓" Read"' and drawn[0] == "✓✓none", drawn
    assert "Read" not in drawn[2], drawn
    assert delivered["read_at"] is None


def server_of(user):
    return user.server
