"""A conversation a customer opened but has not written in yet is in her inbox, so backing out of it
does not mean finding the store again; the store sees it only once she writes."""


def test_a_new_empty_conversation_is_in_the_customers_inbox_only(people):
    customer, store = people.customer(), people.store(name="Kusina ni Mang Tonyo")
    opened = customer.page.post(f"/stores/{store.id}/chat")
    assert opened.status_code == 303
    inbox = customer.page.get("/inbox").get_data(as_text=True)
    assert "Kusina ni Mang Tonyo" in inbox and "No messages yet" in inbox
    assert "Maria Santos" not in store.page.get("/inbox").get_data(as_text=True)
    # The API's list keeps its rule: conversations with messages (tests/test_conversations.py).
    assert customer.api.get(f"/api/users/{customer.id}/conversations").json["items"] == []
