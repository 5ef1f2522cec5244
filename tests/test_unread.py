"""Unread counts and offline delivery: right across tabs, devices and time away."""

import pytest

pytestmark = pytest.mark.e2e


def test_messages_wait_for_an_offline_user_with_right_counts(server):
    store = server.register("store", "Aling Nena's Store")
    customers = [server.register("customer", f"Customer {i}") for i in range(2)]
    conversations = [c.open_conversation(store) for c in customers]
    customers[0].send(conversations[0], "one")
    customers[0].send(conversations[0], "two")
    customers[1].send(conversations[1], "three")

    # The store comes back: everything is there, counted right, newest activity first.
    assert store.call("GET", f"/api/users/{store.id}/unread-count").json() == {"count": 3}
    inbox = store.call("GET", f"/api/users/{store.id}/conversations").json()["items"]
    assert [(c["id"], c["unread"]) for c in inbox] == [(conversations[1], 1), (conversations[0], 2)]
    page = store.browser().get(server.url + "/inbox").text
    assert "<title>(3) Inbox · ELako Chat</title>" in page


def test_two_tabs_of_the_same_user_agree_on_counts(server, sse):
    customer = server.register("customer", "Maria")
    store = server.register("store", "Sari-Sari")
    conversation_id = customer.open_conversation(store)
    tabs = [sse(store.events_url(), headers=store.headers) for _ in range(2)]
    for tab in tabs:
        tab.wait_for_comments(1)
    customer.send(conversation_id, "one")
    customer.send(conversation_id, "two")
    for tab in tabs:
        assert tab.wait_for("message", count=2).json["unread_total"] == 2
        assert tab.of_type("message")[-1].json["conversation"]["unread"] == 2
    store.call("PATCH", f"/api/conversations/{conversation_id}/read")  # read in one tab
    for tab in tabs:
        read = tab.wait_for("read")
        assert read.json["unread_total"] == 0 and read.json["conversation"]["unread"] == 0


def test_browser_fragments_update_the_badge_the_title_follows(server, sse):
    customer = server.register("customer", "Maria")
    store = server.register("store", "Sari-Sari")
    conversation_id = customer.open_conversation(store)
    cookie = "; ".join(f"{c.name}={c.value}" for c in store.browser().cookies)
    tab = sse(server.url + "/events", headers={"Cookie": cookie})
    tab.wait_for_comments(1)
    customer.send(conversation_id, "one")
    customer.send(conversation_id, "two")
    second = tab.wait_for("message", count=2).data
    assert 'id="unread-badge" class="badge total" data-count="2"' in second  # the title follows it
    assert '<span class="visually-hidden">, </span>2<span class="visually-hidden"> unread</span>' \
        in second
    store.call("PATCH", f"/api/conversations/{conversation_id}/read")
    read = tab.wait_for("read").data
    assert 'id="unread-badge" class="badge total" data-count="0"' in read
