"""Read state: marking a conversation read, unread counts, and the read event."""

import json


def stream(app, redis, user_id):
    key = app.extensions["bus"].stream_key(user_id)
    return [(fields["type"], json.loads(fields["data"])) for _, fields in redis.xrange(key)]


def test_mark_read_updates_counts_and_tells_the_sender(app, redis, chat):
    customer, store, conversation_id = chat
    sent = [customer.send(conversation_id, f"q{i}")["id"] for i in range(3)]
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 3}

    response = store.api.patch(f"/api/conversations/{conversation_id}/read")
    assert response.status_code == 200
    assert response.json["updated"] == 3 and response.json["read_at"].endswith("Z")
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 0}
    history = customer.api.get(f"/api/conversations/{conversation_id}/messages").json["items"]
    assert all(m["read_at"] == response.json["read_at"] for m in history)

    read_events = [data for kind, data in stream(app, redis, customer.id) if kind == "read"]
    assert len(read_events) == 1 and sorted(read_events[0]["message_ids"]) == sorted(sent)
    # Marking again changes nothing and announces nothing.
    again = store.api.patch(f"/api/conversations/{conversation_id}/read")
    assert again.json["updated"] == 0
    assert len([k for k, _ in stream(app, redis, customer.id) if k == "read"]) == 1


def test_read_up_to_a_point(chat):
    customer, store, conversation_id = chat
    for i in range(4):
        customer.send(conversation_id, f"q{i}")
    response = store.api.patch(f"/api/conversations/{conversation_id}/read", json={"up_to_seq": 2})
    assert response.json["updated"] == 2
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 2}


def test_own_messages_never_count_as_unread(chat):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "hello")
    assert customer.api.get(f"/api/users/{customer.id}/unread-count").json == {"count": 0}
    assert customer.api.patch(f"/api/conversations/{conversation_id}/read").json["updated"] == 0


def test_bad_read_requests(chat, people):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "hello")
    bad = store.api.patch(f"/api/conversations/{conversation_id}/read", json={"up_to_seq": "x"})
    assert bad.status_code == 422
    outsider = people.store(name="Nosy")
    assert outsider.api.patch(f"/api/conversations/{conversation_id}/read").status_code == 404


def test_a_link_from_another_site_does_not_mark_read(chat):
    """SameSite=Lax cookies come along when another site links to a conversation: opening it
    that way must not tell the sender it was read."""
    customer, store, conversation_id = chat
    customer.send(conversation_id, "one")
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Referer": "https://evil.example/"}, {}):  # the last two: older browsers
        page = store.page.http.get(f"/c/{conversation_id}", headers=headers)
        assert page.status_code == 200 and "one" in page.get_data(as_text=True)
        assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 1}
    store.page.http.get(f"/c/{conversation_id}", headers={"Referer": "http://localhost/inbox"})
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 0}
    customer.send(conversation_id, "two")
    store.page.get(f"/c/{conversation_id}", headers={"Sec-Fetch-Site": "none"})  # typed, bookmark
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 0}
