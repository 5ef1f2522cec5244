"""Someone using the app without JavaScript has no event stream, yet loads pages and posts forms:
that counts as being around ("Active now", "Active 2 min ago"), on pages only."""

import re
import time

import pytest


def shown(page, conversation_id):
    html = page.get(f"/c/{conversation_id}").get_data(as_text=True)
    return re.search(r'class="thread-head".*?<span class="presence-text">([^<]*)</span>', html,
                     re.S).group(1)


def test_page_loads_without_a_stream_show_as_active(app, redis, chat):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "May Milo pa po?")  # presence shows between people who talked
    store.page.get("/inbox")  # a page load: the store has no event stream open
    assert shown(customer.page, conversation_id) == "Active now"

    key = f"{app.config['REDIS_KEY_PREFIX']}:{{{store.id}}}:page_seen"
    redis.set(key, repr(time.time() - 150))
    assert shown(customer.page, conversation_id) == "Active 2 min ago"
    redis.set(key, repr(time.time() - 2 * 3600))
    assert shown(customer.page, conversation_id).startswith("Last seen ")


def test_a_stream_closed_after_the_last_page_load_is_last_seen(app, redis, chat):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "May Milo pa po?")
    store.page.get("/inbox")
    # The store's live page closed after that page load: the stream's last seen wins.
    redis.set(f"{app.config['REDIS_KEY_PREFIX']}:{{{store.id}}}:last_seen",
              time.strftime("%Y-%m-%dT%H:%M:%S.999Z", time.gmtime(time.time() + 1)))
    assert shown(customer.page, conversation_id).startswith("Last seen ")


@pytest.mark.parametrize("hidden", [True])
def test_api_calls_and_hidden_presence_do_not_show_as_active(chat, hidden):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "May Milo pa po?")
    store.send(conversation_id, "Opo!")  # an API call: an integration, not a person on a page
    assert shown(customer.page, conversation_id) == "Offline"
    assert customer.api.get(f"/api/conversations/{conversation_id}").json["other"]["presence"] == {
        "online": False, "last_seen_at": None}
    store.page.post("/settings", {"name": store.name, "timezone": "Asia/Manila",
                                   **({"hide_presence": "on"} if hidden else {})})
    assert "presence-text" not in customer.page.get(f"/c/{conversation_id}").get_data(as_text=True)
