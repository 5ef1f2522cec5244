"""Rough edges a careful user found: Unsend that shook the thread, ticks on unsent messages,
spaces sent, a sign-up form asking a customer about her store, a menu item six lines tall, an
archived conversation that did not say so, and emoji drawn as empty boxes."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.support.browser import PHONE, connected, sign_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def thread(server):
    store = server.register("store", "Aling Nena's Sari-Sari")
    customer = server.register("customer", "Maria Santos")
    return customer, store, customer.open_conversation(store)


def composer(page):
    return page.get_by_role("textbox", name="Message", exact=True)


@pytest.mark.parametrize("form_factor", ["phone", "desktop"])
def test_revealing_unsend_moves_nothing(thread, browsers, form_factor):
    customer, store, chat = thread
    customer.send(chat, "Magandang umaga po! May Milo pa po ba kayo? Dalawang sachet po sana, at isang "
                        "supot ng pandesal, kung meron pa po.")
    customer.send(chat, "Salamat po!")
    options = {"form_factor": PHONE} if form_factor == "phone" else {}
    page = browsers.page(thread[0].server, customer, f"/c/{chat}", **options)
    connected(page)
    first, second = page.locator(".msg.out").first, page.locator(".msg.out").last
    before = [first.locator(".bubble").bounding_box(), second.bounding_box()]
    if form_factor == "phone":
        first.locator(".bubble").tap()
    else:
        first.locator(".bubble").hover()
    unsend = first.get_by_role("button", name=re.compile("^Unsend"))
    expect(unsend).to_be_visible()
    assert unsend.bounding_box()["height"] >= 44
    assert [first.locator(".bubble").bounding_box(), second.bounding_box()] == before
    log = page.get_by_role("log")
    assert log.evaluate("el => el.scrollWidth <= el.clientWidth"), "the thread scrolls sideways"
    box = unsend.bounding_box()
    assert box["x"] >= log.bounding_box()["x"], box


def test_an_unsent_message_shows_no_ticks(thread, browsers):
    customer, store, chat = thread
    kept = customer.send(chat, "Magandang umaga po!")
    gone = customer.send(chat, "Mali po, pasensya na")
    store.call("PATCH", f"/api/conversations/{chat}/read")
    page = browsers.page(thread[0].server, customer, f"/c/{chat}")
    connected(page)
    customer.call("DELETE", f"/api/messages/{gone['id']}")
    unsent = page.locator(f"#msg-{gone['id']}")
    expect(unsent).to_contain_text("Message deleted")
    expect(unsent.locator(".ticks")).to_have_count(0)
    page.reload()
    expect(page.locator(f"#msg-{gone['id']}")).to_contain_text("Message deleted")
    expect(page.locator(f"#msg-{gone['id']} .ticks")).to_have_count(0)
    expect(page.locator(f"#msg-{kept['id']} .ticks")).to_have_count(1)


def test_a_message_of_spaces_is_cleared_with_a_clear_error(thread, browsers):
    customer, store, chat = thread
    page = browsers.page(thread[0].server, customer, f"/c/{chat}")
    connected(page)
    composer(page).fill("   \n  ")
    composer(page).press("Enter")
    expect(page.get_by_role("alert").filter(has_text="Write a message first.")).to_be_visible()
    expect(composer(page)).to_have_value("")
    expect(page.locator(".msg")).to_have_count(0)
    composer(page).press_sequentially("Hello po")  # the error goes with the next send
    composer(page).press("Enter")
    expect(page.locator(".msg.out[data-message-id]")).to_have_count(1)
    expect(page.get_by_text("Write a message first.")).to_be_hidden()


def test_sign_up_asks_about_the_store_only_for_a_store(server, browsers):
    page = browsers.page(server, path="/signup")
    about = page.get_by_role("textbox", name=re.compile("About your store"))
    expect(about).to_be_hidden()  # "a customer" is chosen first
    page.get_by_role("radio", name="a store").check()
    expect(about).to_be_visible()
    page.get_by_role("radio", name="a customer").check()
    expect(about).to_be_hidden()


def test_a_long_name_in_the_menu_stays_on_one_line(server, browsers):
    store = server.register("store", "Bayanihan Hardware and Construction Supply of Barangay San Isidro")
    customer = server.register("customer", "Maria Santos")
    chat = customer.open_conversation(store)
    page = browsers.page(server, customer, f"/c/{chat}", form_factor=PHONE)
    connected(page)
    page.locator("details.actions > summary").click()
    block = page.locator(".menu summary", has_text=re.compile("^Block Bayanihan"))
    expect(block).to_be_visible()
    assert block.bounding_box()["height"] < 60, block.bounding_box()  # one line, not six
    assert block.evaluate("el => el.getBoundingClientRect().right <= document.documentElement.clientWidth")


def test_an_archived_conversation_says_so(thread, browsers):
    customer, store, chat = thread
    customer.send(chat, "Magandang umaga po!")
    customer.call("POST", f"/api/conversations/{chat}/archive")
    page = browsers.page(thread[0].server, customer, f"/c/{chat}")
    connected(page)
    expect(page.locator(".thread-head")).to_contain_text("Archived")


def test_emoji_are_drawn_in_colour_not_as_empty_boxes(thread, browsers):
    customer, store, chat = thread
    customer.send(chat, "Salamat po! 😊🙏")
    page = browsers.page(thread[0].server, customer, f"/c/{chat}")
    connected(page)
    family = page.locator(".msg .body").first.evaluate("el => getComputedStyle(el).fontFamily")
    assert "Noto Color Emoji" in family and "Apple Color Emoji" in family, family
    # Drawn with the page's own fonts: a colour glyph has coloured pixels, an empty box has none.
    probe = page.locator(".msg .body").first
    probe.evaluate("el => { el.style.background = '#fff'; el.style.color = '#000'; el.style.fontSize = '32px'; el.textContent = '😊'; }")
    image = Image.open(io.BytesIO(probe.screenshot())).convert("RGB")
    coloured = sum(1 for r, g, b in image.get_flattened_data() if max(r, g, b) - min(r, g, b) > 40)
    assert coloured > 50, coloured


def overlaps(a, b):
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_the_connection_pill_covers_neither_the_offer_nor_the_name_and_online_is_not_claimed(
        thread, browsers):
    from tests.test_browser_notifications import FAKE_NOTIFICATION

    customer, store, chat = thread
    customer.send(chat, "Magandang umaga po!")
    server = customer.server
    shop = browsers.page(server, store, f"/c/{chat}")
    connected(shop)
    context = browsers.new(server, form_factor=PHONE)
    sign_in(context, customer, server)
    context.add_init_script(FAKE_NOTIFICATION)
    page = context.new_page()
    page.goto(f"/c/{chat}")
    connected(page)
    offer = page.locator("#notify-offer")
    expect(offer).to_be_visible()
    assert offer.bounding_box()["height"] <= 52, offer.bounding_box()  # one slim line
    presence = page.locator(".thread-head .presence-text")
    expect(presence).to_have_text("Online")

    page.context.set_offline(True)
    pill = page.locator("#connection")
    expect(pill).to_have_text("Offline")
    for covered in (offer, page.locator(".thread-head h1")):
        assert not overlaps(pill.bounding_box(), covered.bounding_box()), covered
    expect(presence).not_to_be_visible()  # not "Online" while that cannot be known
    page.context.set_offline(False)
    connected(page)
    expect(presence).to_be_visible()

    # Dismissed with one tap, and remembered.
    page.get_by_role("button", name="Not now").click()
    expect(offer).to_be_hidden()
    page.reload()
    connected(page)
    expect(offer).to_be_hidden()


def test_check_for_new_messages_does_not_flash_while_the_live_connection_opens(thread, browsers):
    customer, store, chat = thread
    server = customer.server
    context = browsers.new(server)
    sign_in(context, customer, server)
    held = []
    context.route(re.compile(r"/events\b"), lambda route: held.append(route))
    page = context.new_page()
    page.goto(f"/c/{chat}")
    wait_until(page, lambda: held)  # the stream is on its way, slowly
    expect(page.get_by_role("link", name="Check for new messages")).to_be_hidden()
    before = composer(page).bounding_box()
    for route in held:
        route.continue_()
    context.unroute(re.compile(r"/events\b"))
    connected(page)
    assert composer(page).bounding_box() == before


def test_the_likely_time_zones_come_first(server, browsers):
    customer = server.register("customer", "Maria Santos")
    page = browsers.page(server, customer, "/settings", timezone_id="America/New_York")
    zone = page.get_by_label("Timezone")
    first = zone.locator("option").evaluate_all("options => options.slice(0, 3).map(o => o.value)")
    assert first[0] == "Asia/Manila" and "America/New_York" in first, first
    expect(zone).to_have_value("Asia/Manila")  # the account's own, chosen
    zone.select_option("America/New_York")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_label("Timezone")).to_have_value("America/New_York")


def test_block_asks_first_says_so_and_can_be_undone(thread, browsers):
    customer, store, chat = thread
    customer.send(chat, "Magandang umaga po!")
    page = browsers.page(customer.server, customer, f"/c/{chat}")
    connected(page)
    page.locator("details.actions > summary").click()
    page.locator(".menu summary", has_text="Block Aling Nena's Sari-Sari").click()
    expect(composer(page)).to_be_visible()  # nothing happened yet
    page.get_by_role("button", name="Yes, block", exact=True).click()
    expect(page.locator(".composer-slot")).to_contain_text("You blocked Aling Nena's Sari-Sari.")
    page.locator(".composer-slot").get_by_role("button", name="Unblock").click()
    expect(composer(page)).to_be_visible()
    assert not customer.call("GET", f"/api/conversations/{chat}").json()["blocked_by_me"]


def test_archive_says_so_in_the_inbox_with_an_undo(thread, browsers):
    customer, store, chat = thread
    customer.send(chat, "Magandang umaga po!")
    page = browsers.page(customer.server, customer, f"/c/{chat}")
    connected(page)
    page.locator("details.actions > summary").click()
    page.get_by_role("button", name="Archive", exact=True).click()
    expect(page).to_have_url(re.compile(r"/inbox\?archived="))
    notice = page.get_by_role("status").filter(has_text="Archived your conversation with Aling Nena")
    expect(notice).to_be_visible()
    expect(page.locator("#inbox-list .name")).to_have_count(0)
    notice.get_by_role("button", name="Undo").click()
    expect(page.locator(".thread-head h1")).to_have_text("Aling Nena's Sari-Sari")
    expect(page.locator(".thread-head")).not_to_contain_text("Archived")
    assert not customer.call("GET", f"/api/conversations/{chat}").json()["archived"]
