"""How the pages look and read: phone and desktop screenshots (kept in docs/screenshots/), no
sideways scrolling down to 320 px, 44 px touch targets, semantics, keyboard focus, AA contrast in
light and dark."""

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.support.browser import (
    CONTRAST_JS, DESKTOP, OVERFLOWING_JS, PASSWORD, PHONE, SCREENSHOTS, SMALL_TARGETS_JS, connected,
    sign_in,
)
from tests.support.servers import RemoteUser

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def register(server, role, name, description=""):
    """Like `server.register`, with the store description the directory shows."""
    email = f"{re.sub(r'[^a-z]', '', name.lower())[:12]}.{role}@example.ph"
    response = requests.post(server.url + "/api/auth/register", timeout=10, json={
        "role": role, "name": name, "email": email, "password": PASSWORD,
        "description": description})
    assert response.status_code == 201, response.text
    token = requests.post(server.url + "/api/auth/token", timeout=10,
                          json={"email": email, "password": PASSWORD}).json()["access_token"]
    return RemoteUser(server, response.json()["id"], role, email, token)


def read(user, conversation_id):
    response = user.call("PATCH", f"/api/conversations/{conversation_id}/read")
    assert response.status_code == 200, response.text


@pytest.fixture
def shop_street(live_server):
    """A fresh server with a believable neighbourhood: three stores, three customers, and the
    conversations a morning brings. Returns (server, people by name, Maria and Nena's conversation)."""
    server = live_server()
    people = {
        "nena": register(server, "store", "Aling Nena's Sari-Sari",
                         "Snacks, drinks, load and rice. Open 6am to 10pm."),
        "tonyo": register(server, "store", "Kusina ni Mang Tonyo", "Home-cooked ulam; pre-order by 10am."),
        "hardware": register(server, "store", "Bayanihan Hardware", "Tools, paint and plumbing supplies."),
        "maria": register(server, "customer", "Maria Santos"),
        "juan": register(server, "customer", "Juan Dela Cruz"),
        "ana": register(server, "customer", "Ana Reyes"),
    }
    nena, maria = people["nena"], people["maria"]
    hardware_chat = maria.open_conversation(people["hardware"])
    maria.send(hardware_chat, "May 1/2 inch na pako po kayo?")
    tonyo_chat = maria.open_conversation(people["tonyo"])
    maria.send(tonyo_chat, "Ano po ang ulam bukas?")
    read(people["tonyo"], tonyo_chat)
    people["tonyo"].send(tonyo_chat, "Adobong manok at sinigang na baboy po.")
    ana_chat = people["ana"].open_conversation(nena)
    people["ana"].send(ana_chat, "Pa-reserve po ng tatlong itlog, kukunin ko mamaya.")
    read(nena, ana_chat)
    nena.send(ana_chat, "Sige po, nakatabi na.")
    chat = maria.open_conversation(nena)
    for sender, body in [
            (maria, "Magandang umaga po! May Milo pa po ba kayo?"),
            (nena, "Opo, meron pa! Sachet o yung malaking pack?"),
            (maria, "Dalawang sachet po, at isang supot ng pandesal."),
            (nena, "Sige po, ihahanda ko na. Mga sampung minuto po."),
            (maria, "Salamat po! Papunta na ako. Pakisama na rin po ng load, 50 pesos.")]:
        sender.send(chat, body)
    juan_chat = people["juan"].open_conversation(nena)
    people["juan"].send(juan_chat, "Bukas pa po ba kayo mamayang alas-nuwebe?")
    people["juan"].send(juan_chat, "May yelo rin po ba?")
    return server, people, chat


def overflow(page, width):
    found = page.evaluate(OVERFLOWING_JS)
    assert found["scrollWidth"] <= width and not found["out"], found


@pytest.mark.parametrize("form_factor", ["phone", "desktop"])
def test_screenshots_of_inbox_and_thread_for_both_roles(shop_street, browsers, form_factor):
    server, people, chat = shop_street
    options = PHONE if form_factor == "phone" else DESKTOP
    width = options["viewport"]["width"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = {}
    for role, who in (("customer", "maria"), ("store", "nena")):
        # Notifications already decided, so the pictures show the steady state.
        page = browsers.page(server, people[who], f"/c/{chat}", form_factor=options,
                             permissions=["notifications"])
        connected(page)
        pages[role] = page
    for role, page in pages.items():
        expect(page.locator(".thread-head .presence-text")).to_have_text("Online")
        expect(page.locator(".messages .msg")).to_have_count(5)
        page.locator(".msg").last.hover()  # the pointer off the composer: no focus ring in the picture
        page.evaluate("document.activeElement.blur()")
        overflow(page, width)
        page.screenshot(path=SCREENSHOTS / f"{form_factor}-{role}-thread.png")
    expect(pages["customer"].locator(".msg.out .ticks").last).to_have_text("✓✓Read")

    for role, page in pages.items():
        page.goto("/inbox")
        connected(page)
        expect(page.locator("#inbox-list > li")).to_have_count(3)
        overflow(page, width)
        page.screenshot(path=SCREENSHOTS / f"{form_factor}-{role}-inbox.png")
    # The store's inbox: Juan's unread conversation on top and standing out.
    rows = pages["store"].locator("#inbox-list > li")
    expect(rows.first).to_contain_text("Juan Dela Cruz")
    expect(rows.first).to_have_class(re.compile(r"\bunread\b"))
    expect(pages["store"]).to_have_title("(2) Inbox · ELako Chat")

    if form_factor == "phone":  # the one-pane layout: the inbox, then the thread with a way back
        store = pages["store"]
        expect(store.locator(".thread-pane")).to_be_hidden()
        rows.first.get_by_role("link").tap()
        expect(store.locator(".inbox-pane")).to_be_hidden()
        store.get_by_role("link", name="Back to inbox").tap()
        expect(store).to_have_url(re.compile(r"/inbox$"))
    else:  # side by side
        page = pages["customer"]
        page.locator("#inbox-list > li", has_text="Aling Nena").get_by_role("link").click()
        expect(page.locator(".inbox-pane")).to_be_visible()
        expect(page.locator(".thread-pane")).to_be_visible()


def test_dark_screenshots(shop_street, browsers):
    server, people, chat = shop_street
    for name, who, path, options in [("phone-dark-customer-thread", "maria", f"/c/{chat}", PHONE),
                                     ("desktop-dark-store-thread", "nena", f"/c/{chat}", DESKTOP)]:
        page = browsers.page(server, people[who], path, form_factor=options, color_scheme="dark",
                             permissions=["notifications"])
        connected(page)
        page.evaluate("document.activeElement.blur()")
        page.screenshot(path=SCREENSHOTS / f"{name}.png")


def test_nothing_scrolls_sideways_at_320px(server, browsers):
    store = server.register("store", "Bayanihan Hardware and Construction Supply of Barangay San Roque")
    customer = server.register("customer", "Maria Clara Santos-Villanueva de la Paz")
    chat = customer.open_conversation(store)
    customer.send(chat, "https://example.ph/a-very-long-link-without-spaces-" + "x" * 80)
    customer.send(chat, "Supercalifragilisticexpialidocious" * 3)
    one_word = server.register("store", "BayanihanHardwareAndConstructionSupply")  # no products yet
    small = {**PHONE, "viewport": {"width": 320, "height": 568}}
    anonymous = browsers.page(server, path="/signin", form_factor=small)
    for path in ("/signin", "/signup"):
        anonymous.goto(path)
        overflow(anonymous, 320)
    for user, paths in ((customer, ["/inbox", f"/c/{chat}", "/stores", f"/stores/{one_word.id}",
                                    "/settings"]),
                        (store, ["/inbox", f"/c/{chat}", "/settings"])):
        page = browsers.page(server, user, None, form_factor=small)
        for path in paths:
            page.goto(path)
            if path.startswith("/c/"):
                connected(page)
                expect(page.locator(".thread-head .presence-text")).to_be_visible()
                # Offline and reconnecting states take the most room.
                page.context.set_offline(True)
                expect(page.locator("#connection")).to_have_text("Offline")
                overflow(page, 320)
                page.context.set_offline(False)
            overflow(page, 320)


# The connection indicator against the bar: its box, its words' box (a dot alone shows them all or
# none, never part of a letter), what of the brand and navigation it covers, and sideways scrolling.
INDICATOR_JS = """() => {
  const indicator = document.getElementById("connection"), bar = document.querySelector(".topbar");
  const box = indicator.getBoundingClientRect(), inBar = bar.getBoundingClientRect();
  const words = document.createRange();
  words.selectNodeContents(indicator);
  const text = words.getBoundingClientRect();
  const covered = [...bar.querySelectorAll(".brand, .topnav > a")].filter(el => {
    const b = el.getBoundingClientRect();
    return b.left < box.right && box.left < b.right && b.top < box.bottom && box.top < b.bottom;
  }).map(el => el.textContent.trim());
  const round = b => [b.left, b.top, b.right, b.bottom].map(Math.round);
  return {box: round(box), bar: round(inBar), text: round(text), covered,
          inside: box.width > 0 && box.left >= inBar.left && box.right <= inBar.right
                  && box.top >= inBar.top && box.bottom <= inBar.bottom,
          words: text.left >= box.left - .5 && text.right <= box.right + .5 ? "all"
                 : text.left >= box.right - .5 ? "none" : "cut",
          scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth};
}"""


def indicator_fits(page, state):
    found = page.evaluate(INDICATOR_JS)
    assert found["inside"] and found["box"][2] <= found["width"], (state, found)
    assert found["words"] != "cut" and not found["covered"], (state, found)
    assert found["words"] == "all" or state == "connected", (state, found)
    assert found["scrollWidth"] <= found["width"], (state, found)


@pytest.mark.parametrize("width", [320, 360])
def test_connection_indicator_shows_whole_in_the_bar_on_a_phone(server, browsers, width):
    browsers.allow(r"^\[object Event\]$")  # htmx reports each failed connection attempt
    store = server.register("store", "Bayanihan Hardware and Construction Supply of Barangay San Roque")
    customer = server.register("customer", "Maria Clara Santos-Villanueva de la Paz")
    chat = customer.open_conversation(store)
    customer.send(chat, "May 1/2 inch na pako po kayo?")
    other = server.register("customer", "Juan Dela Cruz")
    other.send(other.open_conversation(store), "Bukas pa po kayo?")  # a badge on the store's Inbox
    phone = {**PHONE, "viewport": {"width": width, "height": 640}}
    pages = ((customer, f"/c/{chat}"), (customer, f"/stores/{store.id}"), (store, f"/c/{chat}"))
    for user, path in pages:
        page = browsers.page(server, user, path, form_factor=phone)
        connected(page)
        indicator_fits(page, "connected")
        page.context.set_offline(True)
        expect(page.locator("#connection")).to_have_text("Offline")
        indicator_fits(page, "offline")
        # A stream that cannot open while the network is up.
        context = browsers.new(server, form_factor=phone)
        sign_in(context, user, server)
        context.route("**/events?**", lambda route: route.abort())
        page = context.new_page()
        page.goto(path)
        expect(page.locator("#connection")).to_have_text("Reconnecting…")
        indicator_fits(page, "reconnecting")
    # Without JavaScript the indicator never shows, and the bar still fits.
    page = browsers.page(server, store, f"/c/{chat}", form_factor=phone, java_script_enabled=False)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_count(3)
    expect(page.locator("#connection")).to_be_hidden()
    overflow(page, width)


def test_touch_targets_are_at_least_44px_on_a_phone(server, browsers):
    store = server.register("store", "Aling Nena's Sari-Sari")
    customer = server.register("customer", "Maria Santos")
    chat = customer.open_conversation(store)
    customer.send(chat, "May Milo pa po? https://example.ph/milo")
    store.send(chat, "Opo, meron pa!")
    for user, paths in ((customer, ["/inbox", f"/c/{chat}", "/stores", "/settings"]),
                        (store, ["/inbox", f"/c/{chat}", "/settings"])):
        page = browsers.page(server, user, None, form_factor=PHONE)
        for path in paths:
            page.goto(path)
            assert page.evaluate(SMALL_TARGETS_JS) == [], path
    # Tapping an own message shows its Unsend button, as large as any other target.
    page = browsers.page(server, customer, f"/c/{chat}", form_factor=PHONE)
    page.locator(".msg.out").tap()
    unsend = page.get_by_role("button", name="Unsend")
    expect(unsend).to_be_visible()
    box = unsend.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44, box
    page.locator(".actions > summary").tap()  # the menu's items too
    expect(page.get_by_role("button", name="Archive")).to_be_visible()
    assert page.evaluate(SMALL_TARGETS_JS) == []
    anonymous = browsers.page(server, path="/signin", form_factor=PHONE)
    assert anonymous.evaluate(SMALL_TARGETS_JS) == []


def test_semantics_for_assistive_technology(server, browsers):
    store = server.register("store", "Aling Nena's Sari-Sari")
    customer = server.register("customer", "Maria Santos")
    chat = customer.open_conversation(store)
    customer.send(chat, "Magandang umaga po!")
    store.send(chat, "Magandang umaga rin po!")
    page = browsers.page(server, customer, f"/c/{chat}")
    connected(page)

    log = page.get_by_role("log", name="Messages with Aling Nena's Sari-Sari")
    expect(log).to_have_attribute("aria-live", "polite")
    items = log.get_by_role("list").locator("> li.msg")
    expect(items).to_have_count(2)
    for item in items.all():
        expect(item).to_have_attribute("data-message-id", re.compile(r"^[0-9a-f]{24}$"))
    # Who said it, and the tick state, are spoken, not just drawn.
    expect(items.first).to_contain_text("You:")
    expect(items.last).to_contain_text("Aling Nena's Sari-Sari:")
    expect(items.first.locator(".ticks .visually-hidden")).to_have_text(re.compile("^(Sent|Delivered|Read)$"))
    expect(page.locator(".thread-head .presence-text")).to_have_text("Offline")  # the store has no page open

    textbox = page.get_by_role("textbox", name="Message", exact=True)
    assert textbox.evaluate("el => el.tagName") == "TEXTAREA"
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Connected")
    expect(page.locator("#inbox-list .badge")).to_have_count(0)

    # A new message is added inside the live region, so it is announced.
    store.send(chat, "Ano po ang kailangan ninyo?")
    expect(items).to_have_count(3)
    expect(items.last).to_have_attribute("data-message-id", re.compile(r"^[0-9a-f]{24}$"))


def test_every_control_is_reachable_by_keyboard_with_visible_focus(server, browsers):
    store = server.register("store", "Aling Nena's Sari-Sari")
    customer = server.register("customer", "Maria Santos")
    chat = customer.open_conversation(store)
    customer.send(chat, "Magandang umaga po!")
    page = browsers.page(server, customer, f"/c/{chat}")
    connected(page)
    page.get_by_role("link", name="Skip to content").focus()
    reached = ["Skip to content"]
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
          const el = document.activeElement, style = getComputedStyle(el);
          const label = el.labels && el.labels.length ? el.labels[0].textContent : "";
          return {name: (el.getAttribute("aria-label") || label || el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40),
                  tag: el.tagName, outline: style.outlineStyle, width: parseFloat(style.outlineWidth)};
        }""")
        if focused["tag"] == "BODY":
            break
        assert focused["outline"] != "none" and focused["width"] >= 2, focused
        reached.append(focused["name"])
    text = " | ".join(reached)
    # (No "Back to inbox" here: on a desktop the inbox stands beside the thread; the phone test
    # of the screenshots taps it. Nor "Unsend": it is reached from its message, with the arrow
    # keys in the thread: test_browser_accessibility.py.)
    for control in ("Skip to content", "Inbox", "Stores", "Settings", "Search by store name", "Aling Nena",
                    "Conversation options", "Messages with", "Message", "Send"):
        assert control in text, text
    assert "Unsend" not in text, text
    # Enter on the focused composer sends; the keyboard alone can chat.
    page.get_by_role("textbox", name="Message", exact=True).focus()
    page.keyboard.type("Salamat po")
    page.keyboard.press("Enter")
    expect(page.locator(".msg.out", has_text="Salamat po")).to_have_attribute("data-message-id", re.compile("."))


# Text that must stay readable, each against the colour actually behind it.
READABLE = [".typing .typing-note", ".row-typing .typing-note", ".topnav a", ".brand", "#unread-badge", ".connection", "#inbox-search",
            ".chip", ".row .name", ".row .preview", ".row-top time", ".row .badge", ".thread-head h1",
            ".thread-head .presence-text", ".day span", ".msg.in .body", ".msg.in .meta time",
            ".msg.out .body", ".msg.out .meta time", ".msg.out .ticks", ".send"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_meets_wcag_aa(server, browsers, scheme):
    store = server.register("store", "Aling Nena's Sari-Sari")
    customer = server.register("customer", "Maria Santos")
    other = server.register("customer", "Juan Dela Cruz")
    chat = customer.open_conversation(store)
    customer.send(chat, "May Milo pa po?")
    store.send(chat, "Opo!")
    other.send(other.open_conversation(store), "Bukas pa po kayo?")  # an unread row
    page = browsers.page(server, store, f"/c/{chat}", color_scheme=scheme)
    buyer = browsers.page(server, customer, f"/c/{chat}")
    connected(page)
    expect(page.locator(".thread-head .presence-text")).to_have_text("Online")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    channels = [int(c) for c in re.findall(r"\d+", background)[:3]]
    assert (max(channels) < 60) if scheme == "dark" else (min(channels) > 200), background
    buyer.get_by_role("textbox", name="Message", exact=True).press_sequentially("Dalawa po")
    expect(page.locator(".typing .typing-note")).to_be_visible()

    failures = []
    for selector in READABLE:
        element = page.locator(selector).first
        expect(element).to_be_visible()
        found = element.evaluate(CONTRAST_JS)
        large = found["size"] >= 24 or (found["size"] >= 18.66 and found["weight"] >= 700)
        if found["ratio"] < (3 if large else 4.5):
            failures.append(f"{selector}: {found}")
    assert not failures, "\n".join(failures)
