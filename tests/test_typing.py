"""Typing indicators: reach only the other participant, expire by themselves, never replay."""

import pytest

pytestmark = pytest.mark.e2e


def typing(user, conversation_id, state):
    return user.call("POST", f"/api/conversations/{conversation_id}/typing", json={"state": state})


def test_typing_start_and_stop_reach_the_other_side_only(server, pair, sse):
    customer, store, conversation_id = pair
    store_stream = sse(store.events_url(), headers=store.headers)
    own_stream = sse(customer.events_url(), headers=customer.headers)
    store_stream.wait_for_comments(1)
    own_stream.wait_for_comments(1)

    assert typing(customer, conversation_id, "start").status_code == 204
    started = store_stream.wait_for("typing")
    assert started.json == {"conversation_id": conversation_id, "user_id": customer.id,
                            "name": "Maria Santos", "state": "start", "expires_in": 6}
    assert started.id is None  # ephemeral: nothing to resume from, nothing replayed
    assert typing(customer, conversation_id, "stop").status_code == 204
    assert store_stream.wait_for(lambda e: e.type == "typing" and e.json["state"] == "stop")
    own_stream.wait_for_comments(own_stream.comments + 1)
    assert own_stream.of_type("typing") == []


def test_stale_typing_is_never_replayed_after_reconnect(server, pair, sse):
    customer, store, conversation_id = pair
    first = sse(store.events_url(), headers=store.headers)
    first.wait_for_comments(1)
    customer.send(conversation_id, "hello")
    resume_from = first.wait_for("message").id
    first.close()
    typing(customer, conversation_id, "start")  # while the store is away
    customer.send(conversation_id, "are you there?")
    back = sse(store.events_url(), headers={**store.headers, "Last-Event-ID": resume_from})
    back.wait_for("message")
    back.wait_for_comments(2)
    assert [e.type for e in back.events] == ["message"]


@pytest.mark.parametrize("body, status", [
    ({"state": "dancing"}, 422), ({}, 422), ({"state": None}, 422),
])
def test_bad_typing_signals(pair, body, status):
    customer, _, conversation_id = pair
    response = customer.call("POST", f"/api/conversations/{conversation_id}/typing", json=body)
    assert response.status_code == status and response.json()["error"]["field"] == "state"


def test_outsider_cannot_signal_typing(server, pair):
    _, _, conversation_id = pair
    outsider = server.register("customer", "Nosy")
    assert typing(outsider, conversation_id, "start").status_code == 404


def test_typing_fragment_expires_by_itself_and_names_the_typist(server, pair, sse):
    """The browser fragment carries its own expiry, so a lost "stop" never leaves it on."""
    customer, store, conversation_id = pair
    session = store.browser()
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    tab = sse(server.url + "/events", headers={"Cookie": cookie})
    tab.wait_for_comments(1)
    typing(customer, conversation_id, "start")
    fragment = tab.wait_for("typing").data
    assert f'id="typing-{conversation_id}"' in fragment
    assert "Maria Santos is typing" in fragment
    css = (server.root / "static" / "elako.css").read_text()
    assert ".typing-note { animation: typing-expire 6s" in css  # hides itself, as the API says
    typing(customer, conversation_id, "stop")
    stopped = tab.wait_for("typing", count=2).data
    assert "is typing" not in stopped


def test_arriving_message_clears_the_typing_line(server, pair, sse):
    customer, store, conversation_id = pair
    session = store.browser()
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    tab = sse(server.url + "/events", headers={"Cookie": cookie})
    tab.wait_for_comments(1)
    customer.send(conversation_id, "here's my order")
    fragment = tab.wait_for("message").data
    assert f'<div id="typing-{conversation_id}" class="typing" hx-swap-oob="true"></div>' in fragment
