"""Open pages survive a server restart, a lost history (resync), a failed send and going offline.

"Two hosts" of one deployment share Redis and MongoDB: while `host` (the one the browsers use) is
down, messages are sent through `other_host`, as they would be through another machine.
"""

import re

import pytest
import redis as redis_py
from playwright.sync_api import expect

from tests.support.browser import connected

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def hosts(live_server):
    # A short graceful timeout: open event streams would otherwise hold a stop for 10 s.
    host = live_server(GRACEFUL_TIMEOUT="1")
    other_host = live_server(REDIS_KEY_PREFIX=host.prefix, MONGODB_DB=host.env["MONGODB_DB"])
    return host, other_host


def composer(page):
    return page.get_by_role("textbox", name="Message", exact=True)


def thread_bodies(page):
    return page.locator(".messages > li.msg .body").all_inner_texts()


def message_ids(page):
    return page.locator(".messages > li.msg").evaluate_all("items => items.map(i => i.dataset.messageId)")


def test_restart_reconnects_and_shows_what_was_sent_meanwhile_once(hosts, browsers):
    host, other_host = hosts
    browsers.allow(r"^\[object Event\]$")  # htmx reports each failed connection attempt
    store = host.register("store", "Aling Nena's Sari-Sari")
    customer = host.register("customer", "Maria Santos")
    conversation_id = customer.open_conversation(store)
    customer.send(conversation_id, "Hello po")
    path = f"/c/{conversation_id}"
    shop = browsers.page(host, store, path)
    buyer = browsers.page(host, customer, path)
    pages = (shop, buyer)
    for page in pages:
        connected(page)
        page.evaluate("window.notReloaded = true")

    host.stop()
    for page in pages:
        expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
        expect(page.locator("#connection")).to_have_text("Reconnecting…")
    customer.send(conversation_id, "Isang Milo po", server=other_host)
    answer = store.send(conversation_id, "Sige po, ihahanda ko", server=other_host)
    customer.send(conversation_id, "Salamat po!", server=other_host)

    host.start()
    expected = ["Hello po", "Isang Milo po", "Sige po, ihahanda ko", "Salamat po!"]
    for page in pages:
        connected(page)
        expect(page.locator(".messages > li.msg")).to_have_count(4)
        assert thread_bodies(page) == expected
        assert len(set(message_ids(page))) == 4
        assert page.evaluate("window.notReloaded") is True
    # The replay reached the customer's visible page, which read the store's answer.
    expect(shop.locator(f"#ticks-{answer['id']}")).to_have_class(re.compile(r"\bread\b"))

    # Live delivery goes on as before, still once.
    composer(shop).fill("Nandito na po")
    composer(shop).press("Enter")
    expect(buyer.locator(".msg.in", has_text="Nandito na po")).to_have_count(1)


def test_resync_refreshes_thread_inbox_and_title_without_reload(hosts, browsers, redis_url):
    host, other_host = hosts
    browsers.allow(r"^\[object Event\]$")
    store = host.register("store", "Kusina ni Mang Tonyo")
    ana = host.register("customer", "Ana Reyes")
    ben = host.register("customer", "Ben Cruz")
    with_ana, with_ben = ana.open_conversation(store), ben.open_conversation(store)
    ana.send(with_ana, "Pa-reserve po ng adobo")
    shop = browsers.page(host, store, f"/c/{with_ana}")
    connected(shop)
    shop.evaluate("window.notReloaded = true")
    shop.locator("#thread").evaluate("el => { el.dataset.stale = 'yes'; }")
    expect(shop.locator("#inbox-list .name")).to_have_text(["Ana Reyes"])

    host.stop()
    ana.send(with_ana, "Dalawang order po", server=other_host)
    ben.send(with_ben, "Bukas pa po kayo?", server=other_host)
    # The store's event history is lost (trimmed, expired, a Redis failover): the page's last
    # event id no longer exists, so the stream must tell the page to reload its state.
    client = redis_py.Redis.from_url(redis_url)
    assert client.delete(f"{host.prefix}:{{{store.id}}}:events") == 1
    client.close()

    host.start()
    connected(shop)
    thread = shop.locator("#thread")
    expect(thread).not_to_have_attribute("data-stale", "yes")  # swapped for a fresh copy
    expect(shop.locator(".msg.in .body")).to_have_text(["Pa-reserve po ng adobo", "Dalawang order po"])
    expect(shop.locator("#inbox-list .name")).to_have_text(["Ben Cruz", "Ana Reyes"])
    expect(shop.locator(f"#row-{with_ana}")).not_to_have_class(re.compile(r"\bunread\b"))
    expect(shop.locator(f"#row-{with_ana} a")).to_have_attribute("aria-current", "page")
    expect(shop.locator(f"#row-{with_ben}")).to_have_class(re.compile(r"\bunread\b"))
    expect(shop).to_have_title("(1) Ana Reyes · ELako Chat")
    assert shop.evaluate("window.notReloaded") is True


def test_a_send_that_fails_while_the_server_is_down_is_kept_and_sent_once_when_back(hosts, browsers):
    host, _ = hosts
    browsers.allow(r"^\[object Event\]$")
    # The send, and the typing signal before it, fail while the server is down.
    browsers.allow(r"^htmx:(afterRequest|sendError), \[object HTML(Form|TextArea)Element\]")
    store = host.register("store", "Bayanihan Hardware")
    customer = host.register("customer", "Juan Dela Cruz")
    conversation_id = customer.open_conversation(store)
    buyer = browsers.page(host, customer, f"/c/{conversation_id}")
    connected(buyer)

    host.stop()
    composer(buyer).fill("Isang galon ng pintura po")
    composer(buyer).press("Enter")
    failed = buyer.locator(".msg.out.failed")
    expect(failed).to_contain_text("Not sent")
    expect(failed.locator(".body")).to_have_text("Isang galon ng pintura po")

    host.start()
    connected(buyer)  # connected again: it goes out by itself (issue 16), no Retry needed
    sent = buyer.locator(".msg.out")
    expect(sent).to_have_count(1)
    expect(sent).to_have_attribute("data-message-id", re.compile(r"^[0-9a-f]{24}$"))
    expect(sent.locator(".ticks")).to_have_text("✓Sent")
    stored = customer.call("GET", f"/api/conversations/{conversation_id}/messages").json()["items"]
    assert [m["body"] for m in stored] == ["Isang galon ng pintura po"]


def test_offline_then_online_again(server, browsers):
    customer = server.register("customer", "Maria Santos")
    page = browsers.page(server, customer, "/inbox")
    connected(page)
    page.context.set_offline(True)
    expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
    expect(page.locator("#connection")).to_have_text("Offline")
    page.context.set_offline(False)
    connected(page)


def test_signing_out_in_one_tab_takes_the_other_tabs_to_sign_in(server, browsers):
    store = server.register("store", "Aling Nena's Sari-Sari")
    customer = server.register("customer", "Maria Santos")
    conversation_id = customer.open_conversation(store)
    reading = browsers.page(server, customer, f"/c/{conversation_id}")
    connected(reading)
    settings = reading.context.new_page()
    settings.goto("/settings")
    settings.get_by_role("main").get_by_role("button", name="Sign out", exact=True).click()
    expect(settings).to_have_url(re.compile(r"/signin$"))
    expect(reading).to_have_url(re.compile(r"/signin$"))  # told by its stream, at once
    expect(reading.get_by_role("heading", name="Sign in")).to_be_visible()
