"""History: pages by cursor, oldest to newest within a page, backed by indexes."""

import pytest

from elako.models import Conversation, Message


def test_pages_walk_back_to_the_first_message(chat):
    customer, store, conversation_id = chat
    for i in range(7):
        (store if i % 2 else customer).send(conversation_id, f"message {i}")
    url = f"/api/conversations/{conversation_id}/messages"
    newest = customer.api.get(url, query_string={"limit": 3}).json
    assert [m["body"] for m in newest["items"]] == ["message 4", "message 5", "message 6"]
    middle = customer.api.get(url, query_string={"limit": 3, "before": newest["next_before"]}).json
    assert [m["body"] for m in middle["items"]] == ["message 1", "message 2", "message 3"]
    oldest = customer.api.get(url, query_string={"limit": 3, "before": middle["next_before"]}).json
    assert [m["body"] for m in oldest["items"]] == ["message 0"]
    assert oldest["next_before"] is None


def test_exact_page_boundary_has_no_phantom_page(chat):
    customer, _, conversation_id = chat
    for i in range(3):
        customer.send(conversation_id, f"m{i}")
    page = customer.api.get(f"/api/conversations/{conversation_id}/messages",
                            query_string={"limit": 3}).json
    assert len(page["items"]) == 3 and page["next_before"] is None


@pytest.mark.parametrize("params, status", [
    ({"limit": "0"}, 422), ({"limit": "101"}, 422), ({"limit": "ten"}, 422),
    ({"before": "nonsense"}, 422), ({"before": "6b0000000000000000000000"}, 422),
])
def test_bad_paging_parameters(chat, params, status):
    customer, _, conversation_id = chat
    response = customer.api.get(f"/api/conversations/{conversation_id}/messages",
                                query_string=params)
    assert response.status_code == status and "error" in response.json


def test_cursor_from_another_conversation_is_refused(chat, people):
    customer, _, conversation_id = chat
    other = customer.open_conversation(people.store(name="Other"))
    foreign = customer.send(other, "elsewhere")
    response = customer.api.get(f"/api/conversations/{conversation_id}/messages",
                                query_string={"before": foreign["id"]})
    assert response.status_code == 422 and response.json["error"]["field"] == "before"


def test_every_query_has_an_index(chat):
    message_indexes = [tuple(k for k, _ in spec["key"])
                       for spec in Message._get_collection().index_information().values()]
    conversation_indexes = [tuple(k for k, _ in spec["key"])
                            for spec in Conversation._get_collection().index_information().values()]
    assert ("conversation_id", "seq") in message_indexes  # history
    assert ("dedupe_key",) in message_indexes  # idempotent retries
    assert ("receiver_id", "read_at") in message_indexes  # unread counts
    assert ("customer_id", "store_id") in conversation_indexes  # one per pair
    assert ("participants", "last_activity_at", "_id") in conversation_indexes  # inbox pages
    info = Message._get_collection().index_information()
    assert any(spec.get("unique") and [k for k, _ in spec["key"]] == ["dedupe_key"]
               for spec in info.values())
