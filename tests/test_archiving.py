"""Archiving: either side can archive a conversation to move it out of their inbox; a new message
brings it back. Archiving is per user (the other side's inbox does not change), the archiver's
other tabs and devices follow live, outsiders get 404, and unarchiving restores it. Everything
runs over real HTTP against gunicorn: the JSON API, the pages' forms (with CSRF) and both event
streams."""

import pytest

from tests.support.answers import error_of
from tests.support.credentials import cookie_header
from tests.support.html import parse

pytestmark = pytest.mark.e2e

UNKNOWN_ID = "6b0000000000000000000000"


@pytest.fixture
def pair(server):
    """A customer and a store who have talked (only conversations with messages are listed)."""
    customer = server.register("customer", "Maria Santos")
    store = server.register("store", "Aling Nena's Store")
    cid = customer.open_conversation(store)
    customer.send(cid, "May Milo pa po ba?")
    store.send(cid, "Meron po")
    return customer, store, cid


def sides(pair, archiver_role):
    customer, store, _ = pair
    return (customer, store) if archiver_role == "customer" else (store, customer)



def page_token(server, session, cid):
    html = session.get(f"{server.url}/c/{cid}", timeout=10).text
    return parse(html).find_all("input", name="csrf_token")[0].attrs["value"]


def listed(person, **params):
    """Conversation ids in the person's inbox over the API (`archived="true"` for the archive)."""
    response = person.call("GET", f"/api/users/{person.id}/conversations", params=params)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


def inbox_rows(server, session, query=""):
    """Conversation ids of the rows in the inbox page's list."""
    response = session.get(f"{server.url}/inbox{query}", timeout=10)
    assert response.status_code == 200
    [rows] = parse(response.text).find_all("ul", id="inbox-list")
    return [li.attrs["id"].removeprefix("row-") for li in rows.find_all("li")]


def view(person, cid):
    response = person.call("GET", f"/api/conversations/{cid}")
    assert response.status_code == 200, response.text
    return response.json()


def archive(person, cid):
    response = person.call("POST", f"/api/conversations/{cid}/archive")
    assert response.status_code == 200, response.text
    return response.json()


def unarchive(person, cid):
    response = person.call("DELETE", f"/api/conversations/{cid}/archive")
    assert response.status_code == 200, response.text
    return response.json()


def menu_actions(server, session, cid):
    """The conversation page's menu: the form actions it offers."""
    html = session.get(f"{server.url}/c/{cid}", timeout=10).text
    menu = parse(html).by_id(f"actions-{cid}")
    return [form.attrs["action"] for form in menu.find_all("form")]


# -- archiving and unarchiving ---------------------------------------------------------------------

@pytest.mark.parametrize("archiver_role", ["customer", "store"])
def test_archiving_moves_it_out_of_the_archivers_inbox_only(server, pair, archiver_role):
    archiver, other = sides(pair, archiver_role)
    cid = pair[2]
    archiver_browser, other_browser = archiver.browser(), other.browser()
    assert listed(archiver) == listed(other) == [cid]
    assert inbox_rows(server, archiver_browser) == [cid]

    answer = archive(archiver, cid)
    assert answer["id"] == cid and answer["archived"] is True
    # Out of the archiver's inbox, into their archive: API and page.
    assert listed(archiver) == []
    assert listed(archiver, archived="true") == [cid]
    assert inbox_rows(server, archiver_browser) == []
    assert inbox_rows(server, archiver_browser, "?filter=archived") == [cid]
    assert view(archiver, cid)["archived"] is True
    assert menu_actions(server, archiver_browser, cid)[0] == f"/c/{cid}/unarchive"
    # The other side's inbox is unchanged.
    assert listed(other) == [cid] and listed(other, archived="true") == []
    assert inbox_rows(server, other_browser) == [cid]
    assert inbox_rows(server, other_browser, "?filter=archived") == []
    assert view(other, cid)["archived"] is False
    assert menu_actions(server, other_browser, cid)[0] == f"/c/{cid}/archive"
    # Archived is not gone: both still read the history.
    for person in (archiver, other):
        history = person.call("GET", f"/api/conversations/{cid}/messages").json()["items"]
        assert [m["body"] for m in history] == ["May Milo pa po ba?", "Meron po"]

    # Twice is harmless.
    assert archive(archiver, cid)["archived"] is True
    assert listed(archiver, archived="true") == [cid]

    # Unarchiving restores it.
    assert unarchive(archiver, cid)["archived"] is False
    assert listed(archiver) == [cid] and listed(archiver, archived="true") == []
    assert inbox_rows(server, archiver_browser) == [cid]
    assert inbox_rows(server, archiver_browser, "?filter=archived") == []
    assert listed(other) == [cid]


def test_archive_and_unarchive_from_the_page_menu(server, pair):
    customer, store, cid = pair
    browser = store.browser()
    token = page_token(server, browser, cid)

    archived = browser.post(f"{server.url}/c/{cid}/archive", data={"csrf_token": token},
                            allow_redirects=False, timeout=10)
    assert archived.status_code == 303
    assert archived.headers["Location"].endswith(f"/inbox?archived={cid}")  # says so, with an undo
    assert inbox_rows(server, browser) == []
    assert inbox_rows(server, browser, "?filter=archived") == [cid]
    assert listed(store) == [] and listed(store, archived="true") == [cid]
    assert listed(customer) == [cid]

    restored = browser.post(f"{server.url}/c/{cid}/unarchive", data={"csrf_token": token},
                            allow_redirects=False, timeout=10)
    assert restored.status_code == 303
    assert restored.headers["Location"].endswith(f"/c/{cid}")
    assert inbox_rows(server, browser) == [cid]
    assert inbox_rows(server, browser, "?filter=archived") == []
    assert listed(store) == [cid]


def test_the_page_form_needs_its_csrf_token(server, pair):
    _, store, cid = pair
    browser = store.browser()
    for data in ({}, {"csrf_token": "forged"}):
        refused = browser.post(f"{server.url}/c/{cid}/archive", data=data, allow_redirects=False,
                               timeout=10)
        assert refused.status_code == 400
    assert listed(store) == [cid] and view(store, cid)["archived"] is False


def test_outsiders_get_404_and_change_nothing(server, pair):
    customer, store, cid = pair
    outsider = server.register("customer", "Nosy Neighbour")
    never = outsider.call("POST", f"/api/conversations/{UNKNOWN_ID}/archive")
    assert never.status_code == 404
    for method in ("POST", "DELETE"):
        response = outsider.call(method, f"/api/conversations/{cid}/archive")
        assert response.status_code == 404
        assert error_of(response.json()) == error_of(never.json())  # no hint that the conversation exists
    browser = outsider.browser()
    token = parse(browser.get(f"{server.url}/inbox", timeout=10).text).find_all(
        "input", name="csrf_token")[0].attrs["value"]
    for action in ("archive", "unarchive"):
        page = browser.post(f"{server.url}/c/{cid}/{action}", data={"csrf_token": token},
                            allow_redirects=False, timeout=10)
        assert page.status_code == 404
    # Nothing changed for the participants, and nothing appeared for the outsider.
    for person in (customer, store):
        assert listed(person) == [cid] and view(person, cid)["archived"] is False
    assert listed(outsider) == [] and listed(outsider, archived="true") == []
    # An archive by a participant is not undone by an outsider's DELETE either.
    archive(store, cid)
    assert outsider.call("DELETE", f"/api/conversations/{cid}/archive").status_code == 404
    assert listed(store, archived="true") == [cid]


# -- a new message brings it back ------------------------------------------------------------------

@pytest.mark.parametrize("sender", ["archiver", "other side"])
@pytest.mark.parametrize("archiver_role", ["customer", "store"])
def test_a_new_message_brings_it_back(server, pair, sse, archiver_role, sender):
    archiver, other = sides(pair, archiver_role)
    cid = pair[2]
    archive(archiver, cid)
    archiver_json = sse(archiver.events_url(), headers=archiver.headers)
    archiver_tab = sse(server.url + "/events", headers=cookie_header(archiver.browser()))
    for stream in (archiver_json, archiver_tab):
        stream.wait_for_comments(1)

    sent = (archiver if sender == "archiver" else other).send(cid, "Ilan po ang kailangan?")
    assert listed(archiver) == [cid] and listed(archiver, archived="true") == []
    assert view(archiver, cid)["archived"] is False
    assert inbox_rows(server, archiver.browser()) == [cid]
    # The archiver's open tabs put it back at the top of the inbox.
    event = archiver_json.wait_for("message")
    assert event.json["message"]["id"] == sent["id"]
    assert event.json["conversation"]["archived"] is False
    fragment = parse(archiver_tab.wait_for("message").data)
    [top] = fragment.find_all("div", **{"hx-swap-oob": "afterbegin:#inbox-list"})
    [row] = top.find_all("li")
    assert row.attrs["id"] == f"row-{cid}"
    assert "Ilan po ang kailangan?" in row.with_class("preview")[0].text


def test_a_new_message_brings_it_back_for_both_when_both_archived(server, pair):
    customer, store, cid = pair
    archive(customer, cid)
    archive(store, cid)
    assert listed(customer) == listed(store) == []
    customer.send(cid, "Hello po ulit")
    for person in (customer, store):
        assert listed(person) == [cid] and listed(person, archived="true") == []


# -- live, in the archiver's other tabs ------------------------------------------------------------

def test_the_archivers_other_tabs_follow_live_and_the_other_side_hears_nothing(server, pair, sse):
    customer, store, cid = pair
    customer_json = sse(customer.events_url(), headers=customer.headers)
    customer_tab = sse(server.url + "/events", headers=cookie_header(customer.browser()))
    store_json = sse(store.events_url(), headers=store.headers)
    store_tab = sse(server.url + "/events", headers=cookie_header(store.browser()))
    for stream in (customer_json, customer_tab, store_json, store_tab):
        stream.wait_for_comments(1)

    # The customer archives from the page menu in yet another tab.
    browser = customer.browser()
    token = page_token(server, browser, cid)
    assert browser.post(f"{server.url}/c/{cid}/archive", data={"csrf_token": token},
                        allow_redirects=False, timeout=10).status_code == 303

    event = customer_json.wait_for("conversation")
    assert event.json["conversation"]["id"] == cid
    assert event.json["conversation"]["archived"] is True
    fragment = parse(customer_tab.wait_for("conversation").data)
    [gone] = fragment.find_all("li", id=f"row-{cid}")
    assert gone.attrs["hx-swap-oob"] == "delete"
    menu = fragment.by_id(f"actions-{cid}")
    assert [f.attrs["action"] for f in menu.find_all("form")][0] == f"/c/{cid}/unarchive"
    # For the store nothing changed, so it hears nothing: its own archive, a moment later, is the
    # first conversation event its streams get (each stream keeps the order events were sent in).
    archive(store, cid)
    for stream in (store_json, store_tab):
        stream.wait_for("conversation")
        assert len(stream.of_type("conversation")) == 1
    assert store_json.of_type("conversation")[0].json["conversation"]["archived"] is True
    unarchive(store, cid)

    # Unarchiving (here over the API, from another device) brings the row back in every tab.
    unarchive(customer, cid)
    event = customer_json.wait_for("conversation", count=2)
    assert event.json["conversation"]["archived"] is False
    fragment = parse(customer_tab.wait_for("conversation", count=2).data)
    [back] = fragment.find_all("li", id=f"row-{cid}")
    assert back.attrs["hx-swap-oob"] == "true"
    assert back.with_class("preview")[0].text.strip() == "Meron po"
    menu = fragment.by_id(f"actions-{cid}")
    assert [f.attrs["action"] for f in menu.find_all("form")][0] == f"/c/{cid}/archive"
