"""Blocking: either side can block the other. While blocked nobody sends (the blocked side is told
only that it can't), typing and presence stop both ways, and history stays; unblocking restores
everything. The main flow runs over real HTTP against gunicorn with both sides' streams open."""

import pytest

from tests.support.credentials import cookie_header
from tests.support.html import parse

BLOCKED_MESSAGE = "You can't send messages in this conversation."


def sides(pair, who_blocks):
    customer, store = pair
    return (customer, store) if who_blocks == "customer" else (store, customer)


# -- over HTTP, with live streams ------------------------------------------------------------------

@pytest.fixture
def pair(server):
    customer = server.register("customer", "Maria Santos")
    store = server.register("store", "Aling Nena's Store")
    return customer, store



def page_token(server, session, cid):
    html = session.get(f"{server.url}/c/{cid}", timeout=10).text
    return parse(html).find_all("input", name="csrf_token")[0].attrs["value"]


@pytest.mark.e2e
@pytest.mark.parametrize("who_blocks", ["customer", "store"])
def test_blocking_stops_sending_typing_and_presence_and_unblocking_restores_them(
        server, pair, sse, who_blocks):
    customer, store = pair
    blocker, blocked = sides(pair, who_blocks)
    cid = customer.open_conversation(store)
    customer.send(cid, "Pabili po ng Milo")
    store.send(cid, "Ilan po?")
    blocker_stream = sse(blocker.events_url(), headers=blocker.headers)
    blocker_stream.wait_for_comments(1)

    assert blocker.call("POST", f"/api/conversations/{cid}/block").json()["blocked_by_me"]
    blocker_stream.wait_for("conversation")
    # The blocked side comes online now: the blocker is not told.
    blocked_stream = sse(blocked.events_url(), headers=blocked.headers)
    blocked_stream.wait_for_comments(1)

    # Nobody sends; the blocked side hears only that it can't.
    for person in (blocked, blocker):
        refused = person.call("POST", f"/api/conversations/{cid}/messages", json={"body": "hi"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "blocked"
    assert refused.json()["error"]["message"] == BLOCKED_MESSAGE
    # Opening the conversation again does not get around it.
    key = "store_id" if blocked.role == "customer" else "customer_id"
    again = blocked.call("POST", "/api/conversations", json={key: blocker.id})
    assert again.json()["id"] == cid and again.json()["blocked_by_other"]
    # Typing signals are accepted and dropped; presence is hidden both ways.
    for person in (blocked, blocker):
        assert person.call("POST", f"/api/conversations/{cid}/typing",
                           json={"state": "start"}).status_code == 204
        assert "presence" not in person.call("GET", f"/api/conversations/{cid}").json()["other"]
    # The blocked side cannot lift someone else's block.
    assert blocked.call("DELETE", f"/api/conversations/{cid}/block").json()["blocked_by_other"]

    # A durable event to each after all that (archiving is told to the archiver alone): whatever
    # typing or presence had been sent to them would have arrived before it.
    for person in (blocker, blocked):
        person.call("POST", f"/api/conversations/{cid}/archive")
    blocker_stream.wait_for("conversation", count=2)  # block, archive; the no-op unblock: nothing
    blocked_stream.wait_for("conversation")  # its own archive, and nothing before it
    assert len(blocked_stream.of_type("conversation")) == 1
    for stream in (blocker_stream, blocked_stream):
        assert not stream.of_type("typing") and not stream.of_type("presence")
    # History stays, for both.
    for person in (blocker, blocked):
        history = person.call("GET", f"/api/conversations/{cid}/messages").json()["items"]
        assert [m["body"] for m in history] == ["Pabili po ng Milo", "Ilan po?"]

    # Unblocking restores sending, typing and presence.
    assert not blocker.call("DELETE", f"/api/conversations/{cid}/block").json()["blocked_by_me"]
    assert "presence" in blocker.call("GET", f"/api/conversations/{cid}").json()["other"]
    blocked.send(cid, "Salamat po")
    blocker_stream.wait_for(lambda e: e.type == "message"
                            and e.json["message"]["body"] == "Salamat po")
    blocked.call("POST", f"/api/conversations/{cid}/typing", json={"state": "start"})
    assert blocker_stream.wait_for("typing").json["user_id"] == blocked.id
    blocker.call("POST", f"/api/conversations/{cid}/typing", json={"state": "start"})
    assert blocked_stream.wait_for("typing").json["user_id"] == blocker.id
    blocked_stream.close()  # the blocked side goes offline, and the blocker is told again
    gone = blocker_stream.wait_for(lambda e: e.type == "presence"
                                   and e.json["user_id"] == blocked.id, timeout=20)
    assert gone.json["online"] is False


@pytest.mark.e2e
def test_pages_and_live_fragments_while_blocked(server, pair, sse):
    customer, store = pair
    cid = customer.open_conversation(store)
    customer.send(cid, "Pabili po")
    customer_browser, store_browser = customer.browser(), store.browser()
    customer_tab = sse(server.url + "/events", headers=cookie_header(customer_browser))
    customer_tab.wait_for_comments(1)

    store_token = page_token(server, store_browser, cid)
    blocked = store_browser.post(f"{server.url}/c/{cid}/block", allow_redirects=False,
                                 timeout=10, data={"csrf_token": store_token})
    assert blocked.status_code == 303

    # The customer's open page learns it live: its composer is replaced by the neutral notice.
    fragment = parse(customer_tab.wait_for("conversation").data)
    slot = fragment.by_id(f"composer-slot-{cid}")
    assert slot.attrs["hx-swap-oob"] == "true" and not slot.find_all("form")
    assert slot.text.strip() == "You can’t send messages in this conversation."

    # Pages: the blocked side sees the neutral notice, the blocker sees what they did.
    customer_page = parse(customer_browser.get(f"{server.url}/c/{cid}", timeout=10).text)
    assert "block" not in customer_page.by_id(f"composer-slot-{cid}").text.lower()
    assert not customer_page.find_all("form", id="composer")
    assert not customer_page.with_class(f"presence-{store.id}")  # no presence while blocked
    store_page = parse(store_browser.get(f"{server.url}/c/{cid}", timeout=10).text)
    assert "You blocked Maria Santos" in store_page.by_id(f"composer-slot-{cid}").text
    assert [m.text.strip() for m in store_page.with_class("body")] == ["Pabili po"]  # history

    # A send from the page anyway (an old tab): refused, with the message, nothing stored.
    token = page_token(server, customer_browser, cid)
    htmx = customer_browser.post(f"{server.url}/c/{cid}/messages", data={"body": "hello?"},
                                 timeout=10, headers={"HX-Request": "true", "X-CSRFToken": token,
                                                      "X-Error-Target": "#composer-error"})
    assert htmx.status_code == 403 and htmx.headers["HX-Retarget"] == "#composer-error"
    assert parse(htmx.text).with_class("error-note")[0].text == BLOCKED_MESSAGE
    plain = customer_browser.post(f"{server.url}/c/{cid}/messages", allow_redirects=False,
                                  timeout=10, data={"body": "hello??", "csrf_token": token})
    assert plain.status_code == 303  # back to the page, whose composer says why, text kept
    again = customer_browser.get(server.url + plain.headers["Location"], timeout=10)
    slot = parse(again.text).by_id(f"composer-slot-{cid}")
    assert slot.text.strip().startswith("You can’t send messages in this conversation.")
    assert slot.find_all("textarea")[0].text == "hello??"
    assert len(customer.call("GET", f"/api/conversations/{cid}/messages").json()["items"]) == 1

    # Unblocked: the composer comes back live, and sending works.
    store_browser.post(f"{server.url}/c/{cid}/unblock", allow_redirects=False, timeout=10,
                       data={"csrf_token": store_token})
    restored = parse(customer_tab.wait_for("conversation", count=2).data)
    assert restored.by_id(f"composer-slot-{cid}").find_all("form", id="composer")
    assert customer_browser.post(f"{server.url}/c/{cid}/messages", allow_redirects=False,
                                 timeout=10, data={"body": "back", "csrf_token": token}
                                 ).status_code == 303


# -- in process ------------------------------------------------------------------------------------

def test_both_blocks_must_be_lifted(chat):
    customer, store, cid = chat
    customer.send(cid, "Pabili po")
    customer.api.post(f"/api/conversations/{cid}/block")
    store.api.post(f"/api/conversations/{cid}/block")
    customer.api.delete(f"/api/conversations/{cid}/block")
    view = customer.api.get(f"/api/conversations/{cid}").json
    assert not view["blocked_by_me"] and view["blocked_by_other"]
    assert customer.api.post(f"/api/conversations/{cid}/messages",
                             json={"body": "hi"}).status_code == 403
    store.api.delete(f"/api/conversations/{cid}/block")
    assert customer.api.post(f"/api/conversations/{cid}/messages",
                             json={"body": "hi"}).status_code == 201


def test_blocking_is_idempotent_and_told_to_both_sides(app, redis, chat):
    customer, store, cid = chat
    customer.send(cid, "Pabili po")
    for _ in range(2):
        assert store.api.post(f"/api/conversations/{cid}/block").status_code == 200
    bus = app.extensions["bus"]
    for person, mine in ((store, True), (customer, False)):
        events = [f for _, f in redis.xrange(bus.stream_key(person.id))
                  if f["type"] == "conversation"]
        assert len(events) == 1  # the second block changed nothing, so it told nobody
        assert f'"blocked_by_me":{str(mine).lower()}' in events[0]["data"]
    from elako.models import Conversation

    assert Conversation.objects.get(id=cid).blocked_by == [Conversation.objects.get(
        id=cid).store_id]


def test_presence_is_not_announced_across_a_block(app, chat):
    """Presence changes go only to counterparts; a blocked conversation makes none."""
    from elako.models import User
    from elako.services import privacy

    customer, store, cid = chat
    customer.send(cid, "hi")
    customer_doc = User.objects.get(id=customer.id)
    assert [str(u) for u in privacy.presence_audience(customer_doc, limit=10)] == [store.id]
    store.api.post(f"/api/conversations/{cid}/block")
    assert privacy.presence_audience(customer_doc, limit=10) == []
    store.api.delete(f"/api/conversations/{cid}/block")
    assert [str(u) for u in privacy.presence_audience(customer_doc, limit=10)] == [store.id]
