"""Opt-in browser notifications (issue "Live signals"): "Browser notifications for new messages when
the page is hidden, after the user opted in with a click (never a permission prompt on page load);
clicking one opens the conversation."

Headless chromium can neither show a permission prompt nor a notification, so every page gets a
recording stand-in for `window.Notification` before any of its scripts run: `permission` starts
"default", `requestPermission()` records the call (and whether a click was behind it) and resolves
"granted", and each notification built is kept with its title, body, tag and `onclick`. A granted
permission is remembered by the context (localStorage), as a browser remembers it for the site.
Hiding the page is done in the page: `document.visibilityState` is overridden and
`visibilitychange` dispatched. Messages come from real HTTP requests to the API.
"""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.support.browser import connected, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

FAKE_NOTIFICATION = """(() => {
  const GRANTED = "elako-test-notification-permission";
  const remembered = () => { try { return localStorage.getItem(GRANTED); } catch (e) { return null; } };
  const record = window.__notifications = { requests: [], shown: [] };
  class FakeNotification {
    constructor(title, options) {
      options = options || {};
      this.title = title;
      this.body = options.body;
      this.tag = options.tag;
      this.onclick = null;
      this.closed = false;
      record.shown.push(this);
    }
    close() { this.closed = true; }
    static get permission() { return remembered() || "default"; }
    static requestPermission(callback) {
      record.requests.push({
        // true only while a click (or key press) is being handled: a prompt the user asked for
        userActivation: !!(navigator.userActivation && navigator.userActivation.isActive),
        readyState: document.readyState,
      });
      try { localStorage.setItem(GRANTED, "granted"); } catch (e) { /* opaque origin */ }
      if (callback) { callback("granted"); }
      return Promise.resolve("granted");
    }
  }
  Object.defineProperty(window, "Notification", {value: FakeNotification, writable: true,
                                                 configurable: true});
})();"""

# (An untitled one is the page checking, before it offers anything, that this browser can build
# notifications at all: Android's Chrome cannot. It is closed at once and never shown.)
SHOWN_JS = """() => window.__notifications.shown.filter(n => n.title !== "").map(
  n => ({title: n.title, body: n.body, tag: n.tag, closed: n.closed}))"""
REQUESTS_JS = "() => window.__notifications.requests"

HIDE_JS = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW_JS = """() => {
  delete document.visibilityState;  // back to the real (visible) getters of Document.prototype
  delete document.hidden;
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def notifying_page(browsers, server, user, path):
    """A page of a new context signed in as `user`, with the recording Notification, at `path`."""
    context = browsers.new(server)
    sign_in(context, user, server)
    context.add_init_script(FAKE_NOTIFICATION)
    page = context.new_page()
    page.goto(path)
    return page


def offer(page):
    return page.locator("#notify-offer")


def shown(page):
    return page.evaluate(SHOWN_JS)


def requests_made(page):
    return page.evaluate(REQUESTS_JS)


def turn_on(page):
    expect(offer(page)).to_be_visible()
    page.get_by_role("button", name="Turn on notifications").click()
    page.wait_for_function("() => Notification.permission === 'granted'")


def hide(page):
    page.evaluate(HIDE_JS)
    assert page.evaluate("document.visibilityState") == "hidden"


def show(page):
    page.evaluate(SHOW_JS)
    assert page.evaluate("document.visibilityState") == "visible"


def chat(server, store_name="Tindahan ni Aling Rosa"):
    store_name = f"{store_name} {uuid.uuid4().hex[:4]}"
    store = server.register("store", store_name)
    customer = server.register("customer", "Maria Santos")
    conversation_id = customer.open_conversation(store)
    customer.send(conversation_id, "Magandang araw po")  # a store answers; it never writes first
    return customer, store, store_name, conversation_id


def test_no_permission_prompt_on_load_and_not_now_lasts_a_week(server, browsers):
    customer, store, _, conversation_id = chat(server)
    page = notifying_page(browsers, server, customer, "/inbox")
    connected(page)  # the page is fully up, its stream open: nothing asked for on the way
    expect(offer(page)).to_be_visible()
    expect(offer(page)).to_contain_text("Get notified of new messages")
    expect(page.get_by_role("button", name="Turn on notifications")).to_be_visible()
    assert page.evaluate("Notification.permission") == "default"
    assert requests_made(page) == []

    # Activity on the stream does not ask either.
    store.send(conversation_id, "Magandang araw po!")
    expect(page.locator(f"#row-{conversation_id} .preview")).to_have_text("Magandang araw po!")
    assert requests_made(page) == []

    page.get_by_role("button", name="Not now").click()
    expect(offer(page)).to_be_hidden()
    assert requests_made(page) == []
    assert page.evaluate("Notification.permission") == "default"

    # The next page loads in this tab keep it hidden, and still ask nothing.
    page.reload()
    connected(page)
    expect(offer(page)).to_be_hidden()
    assert requests_made(page) == []
    page.goto(f"/c/{conversation_id}")
    connected(page)
    expect(offer(page)).to_be_hidden()
    assert requests_made(page) == []

    # Nor does another tab; a week later the offer comes back, still without asking.
    other_tab = page.context.new_page()
    other_tab.goto("/inbox")
    connected(other_tab)
    expect(offer(other_tab)).to_be_hidden()
    other_tab.evaluate("""() => localStorage.setItem("elako-notify-later",
                                                     String(Date.now() - 8 * 24 * 3600 * 1000))""")
    other_tab.reload()
    connected(other_tab)
    expect(offer(other_tab)).to_be_visible()
    assert requests_made(other_tab) == []


def test_no_offer_where_notifications_cannot_be_shown(server, browsers):
    """Android's Chrome has `Notification`, but building one throws (only service workers may
    show them there): an offer would promise what never comes."""
    customer, store, _, conversation_id = chat(server)
    context = browsers.new(server)
    sign_in(context, customer, server)
    context.add_init_script("""(() => {
      class AndroidNotification {
        constructor() { throw new TypeError("Illegal constructor. Use ServiceWorkerRegistration.showNotification() instead."); }
        static get permission() { return "default"; }
        static requestPermission() { return Promise.resolve("default"); }
      }
      Object.defineProperty(window, "Notification", {value: AndroidNotification, configurable: true});
    })();""")
    page = context.new_page()
    page.goto(f"/c/{conversation_id}")
    connected(page)
    expect(offer(page)).to_be_hidden()
    store.send(conversation_id, "Andito na po ang order")  # notify() runs and shows nothing
    expect(page.locator(".msg.in")).to_have_count(1)


def test_turning_on_asks_once_from_the_click_and_hides_the_offer(server, browsers):
    customer, _, _, conversation_id = chat(server)
    page = notifying_page(browsers, server, customer, f"/c/{conversation_id}")
    connected(page)
    assert requests_made(page) == []

    turn_on(page)
    expect(offer(page)).to_be_hidden()
    requests = requests_made(page)
    assert len(requests) == 1, requests
    assert requests[0]["userActivation"] is True, requests  # asked from within the click

    # Granted: later page loads neither offer nor ask again.
    page.reload()
    connected(page)
    expect(offer(page)).to_be_hidden()
    assert requests_made(page) == []
    page.goto("/inbox")
    connected(page)
    expect(offer(page)).to_be_hidden()
    assert requests_made(page) == []


def test_notifies_only_while_hidden_and_only_for_the_other_party(server, browsers):
    customer, store, store_name, conversation_id = chat(server)
    page = notifying_page(browsers, server, customer, f"/c/{conversation_id}")
    connected(page)
    turn_on(page)

    # Visible: the message shows in the thread, no notification. (The stream's listener that
    # notifies runs before the one that swaps, so once the message is on the page it has run.)
    store.send(conversation_id, "Nandito na po ang order ninyo")
    expect(page.locator(".msg.in", has_text="Nandito na po ang order ninyo")).to_have_count(1)
    assert shown(page) == []

    # Hidden: one notification, titled with the sender's name, the text as its body, and tagged
    # with the conversation it opens.
    hide(page)
    store.send(conversation_id, "Pakikuha na lang po sa tindahan")
    expect(page.locator(".msg.in", has_text="Pakikuha na lang po sa tindahan")).to_have_count(1)
    page.wait_for_function("() => window.__notifications.shown.some(n => n.title)")
    assert shown(page) == [{"title": store_name, "body": "Pakikuha na lang po sa tindahan",
                            "tag": f"/c/{conversation_id}", "closed": False}]

    # The user's own messages, sent through the API and from another tab, notify nobody.
    customer.send(conversation_id, "Sige po, salamat!")
    expect(page.locator(".msg.out", has_text="Sige po, salamat!")).to_have_count(1)
    other_tab = page.context.new_page()
    other_tab.goto(f"/c/{conversation_id}")
    connected(other_tab)
    other_tab.get_by_role("textbox", name="Message", exact=True).fill("Papunta na po ako")
    other_tab.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".msg.out", has_text="Papunta na po ako")).to_have_count(1)
    assert len(shown(page)) == 1, shown(page)
    assert shown(other_tab) == []  # visible, and the message was its own anyway

    # The other party again, still hidden: a second notification (notifying was not broken).
    store.send(conversation_id, "Ingat po!")
    expect(page.locator(".msg.in", has_text="Ingat po!")).to_have_count(1)
    page.wait_for_function("() => window.__notifications.shown.filter(n => n.title).length >= 2")
    assert [n["body"] for n in shown(page)] == ["Pakikuha na lang po sa tindahan", "Ingat po!"]

    # Visible again: nothing more.
    show(page)
    store.send(conversation_id, "Bukas po ulit")
    expect(page.locator(".msg.in", has_text="Bukas po ulit")).to_have_count(1)
    assert len(shown(page)) == 2, shown(page)


def test_no_notification_without_permission_even_when_hidden(server, browsers):
    customer, store, _, conversation_id = chat(server)
    page = notifying_page(browsers, server, customer, f"/c/{conversation_id}")
    connected(page)
    hide(page)
    store.send(conversation_id, "Hindi pa po kayo pumapayag")
    expect(page.locator(".msg.in", has_text="Hindi pa po kayo pumapayag")).to_have_count(1)
    assert shown(page) == []
    assert requests_made(page) == []


@pytest.mark.parametrize("where", ["another conversation", "the inbox"])
def test_clicking_a_notification_opens_its_conversation(server, browsers, where):
    customer, store, store_name, conversation_id = chat(server)
    other_store = server.register("store", f"Bayanihan Hardware {uuid.uuid4().hex[:4]}")
    other_id = customer.open_conversation(other_store)
    start = f"/c/{other_id}" if where == "another conversation" else "/inbox"
    page = notifying_page(browsers, server, customer, start)
    connected(page)
    turn_on(page)
    hide(page)

    store.send(conversation_id, "May bagong stock na po ng Milo")
    page.wait_for_function("() => window.__notifications.shown.some(n => n.title)")
    notes = shown(page)
    assert [(n["title"], n["body"]) for n in notes] == [(store_name, "May bagong stock na po ng Milo")]
    assert page.url.endswith(start)

    closed = page.evaluate("""() => {
      const note = window.__notifications.shown.find(n => n.title);
      note.onclick(new Event("click"));
      return note.closed;
    }""")
    assert closed is True  # the clicked notification goes away
    expect(page).to_have_url(re.compile(rf"/c/{conversation_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(store_name)
    expect(page.locator(".msg.in", has_text="May bagong stock na po ng Milo")).to_have_count(1)
