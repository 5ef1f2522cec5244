"""Sending a message: validation, storage, idempotent retries, and the events it publishes."""

import pytest

from elako.models import Message


def events_of(app, redis, user_id):
    """The user's durable events, straight from their Redis stream."""
    key = app.extensions["bus"].stream_key(user_id)
    return [(entry_id, fields) for entry_id, fields in redis.xrange(key)]


def test_send_stores_and_publishes_to_both(app, redis, chat):
    customer, store, conversation_id = chat
    response = customer.api.post(f"/api/conversations/{conversation_id}/messages",
                                 json={"body": "  May stock pa po ba ng Milo?  "})
    assert response.status_code == 201
    message = response.json
    assert message["body"] == "May stock pa po ba ng Milo?"  # trimmed
    assert message["sender_id"] == customer.id and message["receiver_id"] == store.id
    assert message["type"] == "text" and message["seq"] == 1
    assert message["delivered_at"] is None and message["read_at"] is None
    stored = Message.objects.get(id=message["id"])
    assert stored.body == "May stock pa po ba ng Milo?"
    for person in (customer, store):
        [(entry_id, fields)] = events_of(app, redis, person.id)
        assert fields["type"] == "message" and message["id"] in fields["data"]
    conversation = store.api.get(f"/api/conversations/{conversation_id}").json
    assert conversation["unread"] == 1
    assert conversation["last_message"]["preview"] == "May stock pa po ba ng Milo?"


def test_retry_with_same_client_id_returns_the_same_message(app, redis, chat):
    customer, store, conversation_id = chat
    url = f"/api/conversations/{conversation_id}/messages"
    first = customer.api.post(url, json={"body": "Order #1001 po", "client_id": "c-1"})
    retry = customer.api.post(url, json={"body": "Order #1001 po", "client_id": "c-1"})
    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.json == retry.json
    assert Message.objects(conversation_id=conversation_id).count() == 1
    assert len(events_of(app, redis, store.id)) == 1  # a retry publishes nothing new
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 1}
    # The same client_id from the *other* sender is a different message.
    other = store.api.post(url, json={"body": "Yes po", "client_id": "c-1"})
    assert other.status_code == 201 and other.json["id"] != first.json["id"]


def test_client_id_cannot_be_reused_in_another_conversation(chat, people):
    customer, _, conversation_id = chat
    second = customer.open_conversation(people.store(name="Other store"))
    customer.send(conversation_id, "hi", client_id="same")
    response = customer.api.post(f"/api/conversations/{second}/messages",
                                 json={"body": "hi", "client_id": "same"})
    assert response.status_code == 409 and response.json["error"]["field"] == "client_id"


@pytest.mark.parametrize("body, status, code", [
    ({"body": ""}, 422, "invalid_input"),
    ({"body": "   \n\t "}, 422, "invalid_input"),
    ({}, 422, "invalid_input"),
    ({"body": 5}, 422, "invalid_input"),
    ({"body": None}, 422, "invalid_input"),
    ({"body": ["a"]}, 422, "invalid_input"),
    ({"body": "x" * 4001}, 413, "message_too_long"),
    ({"body": "hi", "type": "video"}, 422, "invalid_input"),
    ({"body": "hi", "type": 3}, 422, "invalid_input"),
    ({"body": "hi", "client_id": "has space"}, 422, "invalid_input"),
    ({"body": "hi", "client_id": "x" * 65}, 422, "invalid_input"),
    ({"body": "hi", "client_id": {"$gt": ""}}, 422, "invalid_input"),
])
def test_bad_messages_are_refused_and_nothing_is_stored(app, redis, chat, body, status, code):
    customer, store, conversation_id = chat
    response = customer.api.post(f"/api/conversations/{conversation_id}/messages", json=body)
    assert response.status_code == status
    assert response.json["error"]["code"] == code and response.json["error"]["message"]
    assert Message.objects.count() == 0
    assert events_of(app, redis, store.id) == []


def test_longest_allowed_message_is_accepted(chat):
    customer, _, conversation_id = chat
    assert len(customer.send(conversation_id, "x" * 4000)["body"]) == 4000


@pytest.mark.settings(MESSAGE_MAX_LENGTH=10)
def test_limit_is_configurable(people):
    customer, store = people.customer(), people.store()
    conversation_id = customer.open_conversation(store)
    response = customer.api.post(f"/api/conversations/{conversation_id}/messages",
                                 json={"body": "eleven char"})
    assert response.status_code == 413


def test_control_characters_are_removed(chat):
    customer, _, conversation_id = chat
    sent = customer.send(conversation_id, "Salamat\x00\x07 po\r\nIngat\u200b")
    assert sent["body"] == "Salamat po\nIngat\u200b"


@pytest.mark.parametrize("data, content_type, status, code", [
    ("{not json", "application/json", 400, "malformed_json"),
    ('"a string"', "application/json", 422, "invalid_input"),
    ("[1, 2]", "application/json", 422, "invalid_input"),
    ("body=hi", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("", "application/json", 400, "malformed_json"),
])
def test_malformed_requests_get_clear_errors(chat, data, content_type, status, code):
    customer, _, conversation_id = chat
    response = customer.api.http.post(
        f"/api/conversations/{conversation_id}/messages", data=data,
        headers={"Authorization": f"Bearer {customer.token}", "Content-Type": content_type})
    assert response.status_code == status
    assert response.json["error"]["code"] == code


@pytest.mark.parametrize("conversation_id", [
    "6b0000000000000000000000", "nonsense", "%24where", "0" * 200,
])
def test_unknown_or_malformed_conversation_is_not_found(people, conversation_id):
    customer = people.customer()
    response = customer.api.post(f"/api/conversations/{conversation_id}/messages",
                                 json={"body": "hi"})
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_oversized_request_body_is_413(chat):
    customer, _, conversation_id = chat
    response = customer.api.post(f"/api/conversations/{conversation_id}/messages",
                                 json={"body": "x" * 70_000})
    assert response.status_code == 413
    assert response.json["error"]["code"] == "too_large"


def test_unknown_api_route_and_method_are_json(people):
    customer = people.customer()
    assert customer.api.get("/api/nothing-here").json["error"]["code"] == "not_found"
    wrong = customer.api.http.put("/api/me", headers={"Authorization": f"Bearer {customer.token}"})
    assert wrong.status_code == 405 and wrong.json["error"]["code"] == "method_not_allowed"
