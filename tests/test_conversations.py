"""Conversations: one per customer-store pair, listed newest activity first, private to both."""

from concurrent.futures import ThreadPoolExecutor

from elako.models import Conversation
from tests.support.answers import error_of


def test_create_or_get(people):
    customer, store = people.customer(), people.store()
    first = customer.api.post("/api/conversations", json={"store_id": store.id})
    again = customer.api.post("/api/conversations", json={"store_id": store.id})
    assert first.status_code == 201 and again.status_code == 200
    assert first.json["unread"] == 0 and first.json["last_message"] is None
    customer.send(first.json["id"], "Hello po")  # a store reaches only customers who wrote to it
    from_store = store.api.post("/api/conversations", json={"customer_id": customer.id})
    assert from_store.status_code == 200
    assert first.json["id"] == again.json["id"] == from_store.json["id"]
    assert first.json["other"]["name"] == store.name
    assert from_store.json["other"]["name"] == customer.name


def test_concurrent_create_makes_one_conversation(app, people):
    customer, store = people.customer(), people.store()

    def open_it(_):
        with app.app_context():
            http = app.test_client()
            return http.post("/api/conversations", json={"store_id": store.id},
                             headers={"Authorization": f"Bearer {customer.token}"})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(open_it, range(8)))
    assert {r.json["id"] for r in responses} == {responses[0].json["id"]}
    assert sorted(r.status_code for r in responses).count(201) == 1
    assert Conversation.objects(customer_id=customer.id, store_id=store.id).count() == 1


def test_open_needs_the_right_kind_of_party(people):
    customer, other_customer, store = people.customer(), people.customer(), people.store()
    assert customer.api.post("/api/conversations", json={}).json["error"]["field"] == "store_id"
    # A customer cannot "open" a conversation with another customer, nor a store with a store.
    assert customer.api.post("/api/conversations",
                             json={"store_id": other_customer.id}).status_code == 404
    assert store.api.post("/api/conversations",
                          json={"customer_id": people.store().id}).status_code == 404
    assert customer.api.post("/api/conversations",
                             json={"store_id": "not-an-id"}).status_code == 404
    not_text = customer.api.post("/api/conversations", json={"store_id": 42})
    assert not_text.status_code == 422 and not_text.json["error"]["field"] == "store_id"


def test_inbox_lists_newest_activity_first(people):
    customer = people.customer()
    stores = [people.store(name=f"Store {i}") for i in range(3)]
    ids = [customer.open_conversation(s) for s in stores]
    customer.send(ids[0], "hello first store")
    customer.send(ids[2], "hello third store")
    listed = customer.api.get(f"/api/users/{customer.id}/conversations").json
    # Conversations without messages yet stay out of inboxes.
    assert [c["id"] for c in listed["items"]] == [ids[2], ids[0]]
    assert listed["items"][0]["last_message"]["preview"] == "hello third store"
    store_view = stores[2].api.get(f"/api/users/{stores[2].id}/conversations").json["items"]
    assert [(c["id"], c["unread"]) for c in store_view] == [(ids[2], 1)]


def test_inbox_pages_by_cursor(people):
    customer = people.customer()
    for i in range(5):
        customer.send(customer.open_conversation(people.store(name=f"Store {i}")), f"hi {i}")
    seen, before = [], None
    while True:
        page = customer.api.get(f"/api/users/{customer.id}/conversations",
                                query_string={"limit": 2, **({"before": before} if before else {})})
        seen += [c["last_message"]["preview"] for c in page.json["items"]]
        before = page.json["next_before"]
        if not before:
            break
    assert seen == [f"hi {i}" for i in reversed(range(5))]


def test_only_you_may_list_your_conversations(people):
    customer, other = people.customer(), people.customer()
    response = other.api.get(f"/api/users/{customer.id}/conversations")
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    assert other.api.get(f"/api/users/{customer.id}/unread-count").status_code == 403


def test_outsiders_get_not_found(chat, people):
    customer, store, conversation_id = chat
    outsider = people.customer()
    for path in (f"/api/conversations/{conversation_id}",
                 f"/api/conversations/{conversation_id}/messages"):
        response = outsider.api.get(path)
        missing = outsider.api.get(path.replace(conversation_id, "6b0000000000000000000000"))
        assert response.status_code == missing.status_code == 404
        assert error_of(response.json) == error_of(missing.json)  # no existence leak
