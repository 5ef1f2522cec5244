"""The HTML pages: everything works as plain forms and links, and htmx gets fragments of the same."""

import re

import pytest

from elako.models import Message
from tests.conftest import PASSWORD, PageClient


def html(response):
    return response.get_data(as_text=True)


def test_sign_up_sign_in_and_out(client):
    page = client.get("/signup")
    assert page.status_code == 200 and 'name="role"' in html(page)
    created = client.post("/signup", {"role": "customer", "name": "Maria Santos",
                                      "email": "maria@example.ph", "password": PASSWORD})
    # Not signed in at once: an address that has an account must get this same answer.
    assert created.status_code == 303 and created.headers["Location"].endswith("/signup/sent")
    sent = client.get("/signup/sent")
    assert "Check your email" in html(sent) and "maria@example.ph" in html(sent)
    assert client.get("/inbox").status_code == 302
    client.get("/signin")
    assert client.post("/signin", {"email": "maria@example.ph",
                                   "password": PASSWORD}).status_code == 303  # usable at once
    inbox = client.get("/inbox")
    assert inbox.status_code == 200 and "Sign out" in html(inbox)
    assert "No conversations yet" in html(inbox)
    out = client.post("/signout")
    assert out.status_code == 303
    assert client.get("/inbox").status_code == 302  # back to sign-in


def test_sign_up_errors_are_readable_and_keep_what_was_typed(client):
    response = client.post("/signup", {"role": "customer", "name": "Maria",
                                       "email": "maria@example.ph", "password": "short"})
    assert response.status_code == 422
    assert "at least 8 characters" in html(response)
    assert 'value="maria@example.ph"' in html(response)


def test_wrong_password_is_a_readable_error(client, people):
    person = people.customer()
    response = client.post("/signin", {"email": person.email, "password": "wrong password"})
    assert response.status_code == 401
    assert "Email or password is incorrect." in html(response)


def test_pages_need_sign_in_and_come_back_after(app, client, chat):
    _, store, conversation_id = chat
    response = client.get(f"/c/{conversation_id}")
    assert response.status_code == 302 and "/signin?next=" in response.headers["Location"]
    signed = client.post("/signin", {"email": store.email, "password": PASSWORD,
                                     "next": f"/c/{conversation_id}"})
    assert signed.headers["Location"].endswith(f"/c/{conversation_id}")
    offsite = PageClient(app).post("/signin", {"email": store.email, "password": PASSWORD,
                                              "next": "https://evil.example/"})
    assert "evil.example" not in offsite.headers["Location"]


def test_customer_finds_a_store_and_starts_a_conversation(people):
    customer = people.customer()
    store = people.store(name="Kusina ni Mang Tonyo")
    directory = customer.page.get("/stores?q=kusina")
    assert "Kusina ni Mang Tonyo" in html(directory)
    started = customer.page.post(f"/stores/{store.id}/chat")
    assert started.status_code == 303
    thread = customer.page.get(started.headers["Location"])
    assert thread.status_code == 200
    assert "Kusina ni Mang Tonyo" in html(thread) and "Say hello" in html(thread)
    assert re.search(r'<textarea[^>]*name="body"', html(thread))


def test_a_store_opening_the_store_directory_gets_its_inbox(people):
    """Issue 16: the directory listed every store, the store itself too, and its Message buttons
    ended in "Customer was not found"."""
    store = people.store()
    answer = store.page.get("/stores")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/inbox")


def test_send_without_javascript_redirects_back_to_the_thread(chat):
    customer, store, conversation_id = chat
    response = customer.page.post(f"/c/{conversation_id}/messages",
                                  {"body": "Pwede po pa-deliver?", "client_id": "nojs-1"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/c/{conversation_id}#composer")
    thread = html(customer.page.get(f"/c/{conversation_id}"))
    assert "Pwede po pa-deliver?" in thread and 'class="msg out"' in thread
    assert 'role="log"' in thread and 'aria-live="polite"' in thread
    # Posting the same form twice (a double tap) stores one message.
    customer.page.post(f"/c/{conversation_id}/messages",
                       {"body": "Pwede po pa-deliver?", "client_id": "nojs-1"})
    assert Message.objects(conversation_id=conversation_id).count() == 1
    store_view = html(store.page.get(f"/c/{conversation_id}"))
    assert 'class="msg in"' in store_view and "Pwede po pa-deliver?" in store_view


def test_send_error_without_javascript_redirects_and_keeps_the_draft(chat):
    """Post/Redirect/Get (issue 16): the URL must not stay on .../messages, where a reload would
    post the form again; the page it redirects to shows the error and the text typed, once."""
    customer, _, conversation_id = chat
    response = customer.page.post(f"/c/{conversation_id}/messages", {"body": "x" * 4001})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/c/{conversation_id}#composer")
    page = html(customer.page.get(f"/c/{conversation_id}"))
    assert "at most 4,000 characters" in page
    assert "x" * 4001 in page  # the draft is kept in the textarea
    again = html(customer.page.get(f"/c/{conversation_id}"))  # a reload: the error is over
    assert "at most 4,000 characters" not in again and "x" * 4001 not in again


def test_send_with_htmx_answers_with_the_sent_fragment(chat):
    customer, _, conversation_id = chat
    response = customer.page.post(f"/c/{conversation_id}/messages", {"body": "Salamat po!"},
                                  htmx=True)
    assert response.status_code == 200
    fragment = html(response)
    assert "<html" not in fragment and "Salamat po!" in fragment
    assert "hx-swap-oob" in fragment and "data-message-id" in fragment


def test_htmx_send_error_goes_to_the_composer_error_slot(chat):
    customer, _, conversation_id = chat
    response = customer.page.post(f"/c/{conversation_id}/messages", {"body": "  "}, htmx=True,
                                  headers={"X-Error-Target": "#composer-error"})
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#composer-error"
    assert "Write a message first." in html(response) and "<html" not in html(response)


def test_opening_a_thread_marks_it_read(chat):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "one")
    customer.send(conversation_id, "two")
    inbox = html(store.page.get("/inbox"))
    assert "<title>(2) Inbox · ELako Chat</title>" in inbox and 'class="badge"' in inbox
    store.page.get(f"/c/{conversation_id}")
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 0}
    assert "(2)" not in html(store.page.get("/inbox")).split("</title>")[0]


def test_prefetch_does_not_mark_read(chat):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "one")
    store.page.get(f"/c/{conversation_id}", headers={"Sec-Purpose": "prefetch"})
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 1}


def test_mark_read_form_for_no_javascript(chat):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "one")
    response = store.page.post(f"/c/{conversation_id}/read")
    assert response.status_code == 303
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 0}


@pytest.mark.settings(HISTORY_PAGE_SIZE=3)
def test_older_history_pages_by_link_and_by_htmx(chat):
    customer, store, conversation_id = chat
    for i in range(7):
        customer.send(conversation_id, f"message {i}")
    first = html(store.page.get(f"/c/{conversation_id}"))
    assert "message 6" in first and "message 4" in first and "message 3" not in first
    older = re.search(r'href="(/c/[^"]+before=[^"]+)"', first).group(1).replace("&amp;", "&")
    no_js = html(store.page.get(older))  # a full page without JavaScript
    assert "message 1" in no_js and "<html" in no_js
    fragment = html(store.page.get(older, headers={"HX-Request": "true"}))
    assert "<html" not in fragment
    assert re.findall(r"message (\d)", fragment) == ["1", "2", "3"]
    # And there is a still older page, loaded when it scrolls into the log's view (or is tapped).
    assert f'hx-trigger="intersect once root:#log-{conversation_id}, click"' in fragment
    # A page of older messages leads back to the newest, without JavaScript too.
    assert f'<p class="newer"><a href="/c/{conversation_id}">Newer messages' in no_js


def test_inbox_filters_and_search(people):
    store = people.store()
    maria, juan = people.customer(name="Maria Santos"), people.customer(name="Juan Dela Cruz")
    maria_conversation = maria.open_conversation(store)
    maria.send(maria_conversation, "hi from maria")
    juan.send(juan.open_conversation(store), "hi from juan")
    store.page.get(f"/c/{maria_conversation}")  # read maria's
    unread = html(store.page.get("/inbox?filter=unread"))
    assert "Juan Dela Cruz" in unread and "Maria Santos" not in unread
    found = html(store.page.get("/inbox?q=santos"))
    assert "Maria Santos" in found and "Juan Dela Cruz" not in found
    store.page.post(f"/c/{maria_conversation}/archive")
    assert "Maria Santos" not in html(store.page.get("/inbox"))
    assert "Maria Santos" in html(store.page.get("/inbox?filter=archived"))
    fragment = store.page.get("/inbox?q=juan", headers={"HX-Request": "true"})
    assert "<html" not in html(fragment) and "Juan Dela Cruz" in html(fragment)
    assert "HX-Request" in fragment.headers["Vary"]


def test_page_renders_the_stream_position_in_the_connect_url(app, chat):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "hello")
    latest = app.extensions["bus"].latest_id(store.id)
    page = html(store.page.get("/inbox"))
    assert f"/events?last_event_id={latest}" in page


def test_other_peoples_conversation_page_is_not_found(chat, people):
    _, _, conversation_id = chat
    outsider = people.store(name="Other store")
    response = outsider.page.get(f"/c/{conversation_id}")
    assert response.status_code == 404 and "was not found" in html(response)
    assert outsider.page.get("/c/not-an-id").status_code == 404


def test_settings_change_name_and_timezone(people):
    store = people.store(name="Old Name")
    response = store.page.post("/settings", {"name": "New Name", "description": "Fresh bread",
                                             "timezone": "Asia/Tokyo"})
    # Post/Redirect/Get (issue 16): a reload of the page after saving does not post again.
    assert response.status_code == 303 and response.headers["Location"].endswith("/settings?saved=1")
    page = html(store.page.get(response.headers["Location"]))
    assert "New Name" in page and "Saved." in page
    assert "Saved." not in html(store.page.get("/settings"))
    assert store.api.get("/api/me").json["timezone"] == "Asia/Tokyo"
    bad = store.page.post("/settings", {"name": "New Name", "timezone": "Mars/Olympus"})
    assert bad.status_code == 422


def test_health_reports_both_backends(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"mongodb": "ok", "redis": "ok"}}


def test_health_is_503_when_redis_is_down(app, client, monkeypatch):
    import redis

    def down(*args, **kwargs):
        raise redis.ConnectionError("connection refused")

    monkeypatch.setattr(app.extensions["redis"], "ping", down)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"] != "ok" and response.json["status"] != "ok"


def test_unknown_page_is_a_readable_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "<html" in html(response)


def test_seed_demo_creates_accounts_that_can_sign_in(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0 and "elako-demo-2026" in result.output
    again = app.test_cli_runner().invoke(args=["seed-demo"])
    assert "exists" in again.output
    browser = PageClient(app)
    assert browser.post("/signin", {"email": "nena@demo.elako.ph",
                                    "password": "elako-demo-2026"}).status_code == 303


def test_the_open_conversation_beside_a_search_is_only_ever_an_id(chat):
    """`active` goes into the search form's hx-vals JSON: a crafted one must not break out."""
    customer, store, conversation_id = chat
    customer.send(conversation_id, "hi")
    page = store.page
    for crafted in ['x"}\' autofocus onfocus=alert(1) x=\'', '"}, {"a": "', "<script>"]:
        fragment = html(page.get("/inbox", query_string={"active": crafted},
                                 headers={"HX-Request": "true"}))
        assert "hx-vals" not in fragment and "onfocus" not in fragment
        assert "<script>" not in fragment
    fragment = html(page.get("/inbox", query_string={"active": conversation_id},
                             headers={"HX-Request": "true"}))
    assert f"hx-vals='{{\"active\": \"{conversation_id}\"}}'" in fragment
