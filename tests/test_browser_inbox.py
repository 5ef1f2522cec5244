"""The inbox in a real browser: searching and filtering, Back and Forward, and rows that arrive
live staying true to what the list shows."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import connected, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def store_with_customers(server):
    store = server.register("store", "Kusina ni Mang Tonyo")
    ana, ben = server.register("customer", "Ana Reyes"), server.register("customer", "Ben Cruz")
    with_ana, with_ben = ana.open_conversation(store), ben.open_conversation(store)
    ana.send(with_ana, "Pa-reserve po ng adobo")
    ben.send(with_ben, "Bukas pa po kayo?")
    return store, (ana, with_ana), (ben, with_ben)


def names(page):
    return page.locator("#inbox-list .name")


def test_back_after_a_search_is_the_whole_page_again(server, browsers, store_with_customers):
    store, _, _ = store_with_customers
    page = browsers.page(server, store, "/inbox")
    connected(page)
    search = page.get_by_role("searchbox", name="Search by customer name")
    search.fill("ben")
    expect(page).to_have_url(re.compile(r"/inbox\?q=ben"))
    expect(names(page)).to_have_text(["Ben Cruz"])
    page.go_back()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()  # not a bare fragment
    expect(names(page)).to_have_text(["Ben Cruz", "Ana Reyes"])
    connected(page)
    page.go_forward()
    expect(names(page)).to_have_text(["Ben Cruz"])
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def test_a_search_typed_with_pauses_is_one_step_back(server, browsers, store_with_customers):
    """Issue 16: each pause in typing pushed a history entry, so Back walked through "be", "b"…
    The URL follows the typing (replaced), and the search has one entry."""
    store, _, _ = store_with_customers
    page = browsers.page(server, store, "/inbox")
    connected(page)
    before = page.evaluate("history.length")
    search = page.get_by_role("searchbox", name="Search by customer name")
    for typed in ("b", "be", "ben"):
        search.fill(typed)  # each a pause long enough for its own results
        expect(page).to_have_url(re.compile(rf"/inbox\?q={typed}(&|$)"))
    expect(names(page)).to_have_text(["Ben Cruz"])
    search.press("Enter")  # submitted: the same search, no second entry
    expect(names(page)).to_have_text(["Ben Cruz"])
    page.wait_for_timeout(500)
    assert page.evaluate("history.length") == before + 1
    page.go_back()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(names(page)).to_have_text(["Ben Cruz", "Ana Reyes"])


def test_typing_in_the_search_box_is_never_lost(server, browsers, store_with_customers):
    """Results swap under the search box, never the box itself: keys typed while an answer is on
    its way stay, and so does the focus."""
    store, _, _ = store_with_customers
    page = browsers.page(server, store, "/inbox")
    connected(page)
    search = page.get_by_role("searchbox", name="Search by customer name")
    # A slow network: the answer for "Ben" comes only after " Cruz" was typed too. (The newer
    # search replaces the older one, which htmx reports as aborted.)
    browsers.allow(r"^htmx:(sendAbort|afterRequest), \[object HTML")
    held = []
    answers = re.compile(r"/inbox\?")
    page.route(answers, lambda route: held.append(route))
    search.press_sequentially("Ben")
    wait_until(page, lambda: held)  # asked, after the 300 ms pause in typing
    search.press_sequentially(" Cruz")
    wait_until(page, lambda: len(held) == 2)  # and again for "Ben Cruz"
    for route in held:
        route.continue_()
    page.unroute(answers)
    expect(names(page)).to_have_text(["Ben Cruz"])
    expect(search).to_have_value("Ben Cruz")
    expect(search).to_be_focused()
    page.get_by_role("link", name="Unread", exact=True).click()
    expect(page.get_by_role("link", name="Unread", exact=True)).to_have_attribute("aria-current", "true")
    expect(names(page)).to_have_text(["Ben Cruz"])
    expect(search).to_have_value("Ben Cruz")


def test_live_rows_keep_to_the_search_and_the_filter(server, browsers, store_with_customers):
    store, (ana, with_ana), (ben, with_ben) = store_with_customers
    searching = browsers.page(server, store, "/inbox?q=ben")
    archived = browsers.page(server, store, "/inbox?filter=archived")
    for page in (searching, archived):
        connected(page)
    expect(names(searching)).to_have_text(["Ben Cruz"])
    expect(names(archived)).to_have_count(0)

    store.call("POST", f"/api/conversations/{with_ana}/archive")
    ana.send(with_ana, "Dalawang order po")  # brings Ana's conversation back to the inbox
    ben.send(with_ben, "Sige po, salamat")
    expect(searching.locator(f"#row-{with_ben} .preview")).to_have_text("Sige po, salamat")
    expect(names(searching)).to_have_text(["Ben Cruz"])  # Ana's news is not a match
    expect(names(archived)).to_have_count(0)  # no longer archived, so not listed here


def test_the_open_conversation_stays_marked_in_the_inbox_beside_it(server, browsers,
                                                                   store_with_customers):
    store, (ana, with_ana), (ben, with_ben) = store_with_customers
    page = browsers.page(server, store, f"/c/{with_ana}")
    connected(page)
    open_row = page.locator(f"#row-{with_ana} a")
    expect(open_row).to_have_attribute("aria-current", "page")
    ana.send(with_ana, "Dalawang order po")  # the row is drawn again, and moves to the top
    ben.send(with_ben, "Sige po")
    expect(page.locator(".msg.in", has_text="Dalawang order po")).to_have_count(1)
    expect(names(page)).to_have_text(["Ben Cruz", "Ana Reyes"])
    expect(open_row).to_have_attribute("aria-current", "page")
    expect(page.locator(f"#row-{with_ben} a")).not_to_have_attribute("aria-current", "page")


def test_opening_a_conversation_from_a_search_or_a_filter_keeps_them_beside_it(
        server, browsers, store_with_customers):
    store, (ana, with_ana), (ben, with_ben) = store_with_customers
    store.call("POST", f"/api/conversations/{with_ana}/archive")
    page = browsers.page(server, store, "/inbox")
    connected(page)
    search = page.get_by_role("searchbox", name="Search by customer name")
    search.fill("ben")
    expect(page).to_have_url(re.compile(r"/inbox\?q=ben$"))
    expect(page.locator("#inbox-list")).to_have_attribute("data-q", "ben")
    page.get_by_role("link", name=re.compile("Ben Cruz")).click()
    expect(page).to_have_url(re.compile(rf"/c/{with_ben}\?q=ben$"))
    expect(names(page)).to_have_text(["Ben Cruz"])
    expect(search).to_have_value("ben")

    page.goto("/inbox")
    page.get_by_role("link", name="Archived", exact=True).click()
    expect(names(page)).to_have_text(["Ana Reyes"])
    page.get_by_role("link", name=re.compile("Ana Reyes")).click()
    expect(page.locator(".thread-head h1")).to_have_text("Ana Reyes")
    expect(page.get_by_role("link", name="Archived", exact=True)).to_have_attribute("aria-current", "true")
    expect(names(page)).to_have_text(["Ana Reyes"])
    ana.send(with_ana, "Nandiyan pa po ba kayo?")  # back in the inbox: it leaves the archived list
    expect(names(page)).to_have_count(0)
