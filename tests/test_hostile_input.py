"""Input that slips past naive checks: it gets a clear answer, never a 500, and changes nothing it
should not. (Ordinary bad input is covered where each feature is tested.)"""

import pytest

from elako.models import Conversation, Message, User
from tests.conftest import PASSWORD, PageClient


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example", "/\\evil.example", "/\t/evil.example",
    "/\n/evil.example", "/\r\n/x", "/\x00/x", "javascript:alert(1)",
])
def test_sign_in_never_sends_anyone_off_site(app, people, target):
    store = people.store()
    page = PageClient(app)
    signed = page.post("/signin", {"email": store.email, "password": PASSWORD, "next": target})
    assert signed.status_code == 303
    assert signed.headers["Location"] == "/inbox"
    # Already signed in, the same link goes straight on: it must not go off site either.
    again = page.get("/signin", query_string={"next": target})
    assert again.status_code == 302 and again.headers["Location"] == "/inbox"


def test_a_path_on_this_site_is_still_honoured(app, chat):
    _, store, conversation_id = chat
    page = PageClient(app)
    signed = page.post("/signin", {"email": store.email, "password": PASSWORD,
                                   "next": f"/c/{conversation_id}?before=x#composer"})
    assert signed.headers["Location"] == f"/c/{conversation_id}?before=x#composer"


def test_control_characters_in_searches_are_ignored(people, chat):
    """A NUL cannot go into a MongoDB regex (a real server refuses the query)."""
    customer, store, conversation_id = chat
    customer.send(conversation_id, "hello")
    found = customer.api.get("/api/stores", query_string={"q": "Aling\x00 Nena"}).json["items"]
    assert [s["id"] for s in found] == [store.id]
    listed = store.api.get(f"/api/users/{store.id}/conversations",
                           query_string={"q": "Mar\x00ia"}).json["items"]
    assert [c["id"] for c in listed] == [conversation_id]
    for url in ("/inbox?q=Mar%00ia", "/stores?q=Ne%00na"):
        response = (store if url.startswith("/inbox") else customer).page.get(url)
        assert response.status_code == 200, url
    assert "Maria Santos" in store.page.get("/inbox?q=Mar%00ia").get_data(as_text=True)


@pytest.mark.parametrize("raw", ['{"up_to_seq": Infinity}', '{"up_to_seq": 1e400}',
                                 '{"up_to_seq": -Infinity}', '{"up_to_seq": NaN}'])
def test_numbers_json_cannot_hold_are_invalid_input(chat, raw):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "hello")
    response = store.api.http.patch(
        f"/api/conversations/{conversation_id}/read", data=raw,
        headers={"Authorization": f"Bearer {store.token}", "Content-Type": "application/json"})
    assert response.status_code == 422 and response.json["error"]["field"] == "up_to_seq"


def test_half_a_surrogate_pair_in_text_is_replaced_not_a_crash(people, chat):
    customer, _, conversation_id = chat
    response = customer.api.http.post(
        f"/api/conversations/{conversation_id}/messages",
        data='{"body": "Salamat \\ud800 po"}',
        headers={"Authorization": f"Bearer {customer.token}", "Content-Type": "application/json"})
    assert response.status_code == 201, response.json
    assert response.json["body"] == "Salamat \ufffd po"
    assert Conversation.objects.get(id=conversation_id).last_seq == 1
    registered = customer.api.http.post(
        "/api/auth/register", data='{"role": "customer", "name": "Ana \\udc00", '
        '"email": "ana@example.ph", "password": "correct horse battery"}',
        content_type="application/json")
    assert registered.status_code == 201 and registered.json["name"] == "Ana \ufffd"


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/token"])
def test_half_a_surrogate_pair_in_a_password_is_refused(api, people, path):
    person = people.customer()
    response = api.http.post(path, content_type="application/json", data=(
        '{"role": "customer", "name": "Ana", "email": "%s", "password": "pass\\ud800word"}'
        % (person.email if path.endswith("token") else "new@example.ph")))
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "invalid_input"


def test_deeply_nested_json_is_malformed_not_a_crash(api):
    response = api.http.post("/api/auth/token", data="[" * 20_000,
                             content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed_json"


SURROGATE = "\\ud800"  # as JSON spells it: half a UTF-16 pair, which UTF-8 cannot encode


@pytest.mark.parametrize("path, body, status", [
    ("/api/auth/token", '{"email": "ana%s@example.ph", "password": "correct horse battery"}', 401),
    ("/api/auth/token", '{"email": "%s", "password": "x"}', 401),
    ("/api/auth/register", '{"role": "store", "name": "Ana", "email": "ana@example.ph", '
                           '"password": "correct horse battery", "description": "Tinda %s"}', 201),
    ("/api/auth/register", '{"role": "customer", "name": "Ana", "email": "a%s@example.ph", '
                           '"password": "correct horse battery"}', 201),
    ("/api/auth/register", '{"role": "c%s", "name": "Ana", "email": "b@example.ph", '
                           '"password": "correct horse battery"}', 422),
])
def test_half_a_surrogate_pair_never_reaches_a_rate_limit_key_or_the_store(api, path, body,
                                                                           status):
    """Found by the hostile-input run: a lone surrogate in the sign-in email became a Redis key
    that could not be encoded (500). Every text is cleaned (U+FFFD) or refused before it is used."""
    response = api.http.post(path, data=body % SURROGATE, content_type="application/json")
    assert response.status_code == status, response.json
    if status == 201:
        stored = str(User.objects.get(id=response.json["id"]).to_mongo())
        assert "\ud800" not in stored and "\ufffd" in stored


@pytest.mark.parametrize("field, value, status", [
    ("store_id", SURROGATE, 404), ("store_id", SURROGATE * 24, 404),
])
def test_half_a_surrogate_pair_in_an_id_is_simply_not_found(people, field, value, status):
    customer = people.customer()
    response = customer.api.http.post(
        "/api/conversations", data='{"%s": "%s"}' % (field, value),
        headers={"Authorization": f"Bearer {customer.token}", "Content-Type": "application/json"})
    assert response.status_code == status, response.json


@pytest.mark.parametrize("body", [
    '{"body": "hi", "client_id": "id%s"}', '{"body": "hi", "type": "text%s"}',
    '{"body": "%s"}',
])
def test_half_a_surrogate_pair_in_a_message_field_is_cleaned_or_refused(chat, body):
    customer, store, conversation_id = chat
    response = customer.api.http.post(
        f"/api/conversations/{conversation_id}/messages", data=body % SURROGATE,
        headers={"Authorization": f"Bearer {customer.token}", "Content-Type": "application/json"})
    assert response.status_code in (201, 422), response.json
    if response.status_code == 201:
        assert response.json["body"] == "\ufffd"
    assert all("\ud800" not in str(m.to_mongo()) for m in Message.objects)


@pytest.mark.parametrize("method", ["TRACE", "PUT", "CONNECT"])
def test_a_method_a_route_lacks_is_405_with_the_allowed_ones(people, method):
    """Found by fuzzing: RFC 9110 requires `Allow` on a 405, and our JSON error page dropped it."""
    customer = people.customer()
    response = customer.api.http.open("/api/me", method=method,
                                      headers={"Authorization": f"Bearer {customer.token}"})
    assert response.status_code == 405 and response.json["error"]["code"] == "method_not_allowed"
    allowed = {"GET", "HEAD", "OPTIONS", "PATCH", "DELETE"}  # DELETE: deleting one's account
    assert set(response.headers["Allow"].split(", ")) == allowed
