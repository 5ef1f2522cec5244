"""Users' data rights: a copy of their data (`GET /api/me/export`, Settings, `flask export-user`)
and deleting their account (`DELETE /api/me`, Settings, `flask delete-user`). See
elako/services/data_rights.py and docs/security.md."""

import io
import json
import zipfile

import pytest
from cryptography.fernet import Fernet

from elako.models import AuthSession, Conversation, Message, User, WebhookEndpoint
from tests.conftest import PASSWORD
from tests.test_attachments import png, stored_files, upload

KEY = Fernet.generate_key().decode()


def archive(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="elako-export-')
    assert response.headers["Cache-Control"] == "no-store"
    assert response.is_streamed and "Content-Length" not in response.headers  # never whole in memory
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def everything(zipped):
    return "\n".join(zipped.read(name).decode() for name in zipped.namelist())


def user_keys(redis, app, user_id):
    return sorted(redis.scan_iter(f"{app.config['REDIS_KEY_PREFIX']}:{{{user_id}}}:*"))


# -- export ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("keys", ["", KEY], ids=["plain", "encrypted"])
def test_export_holds_what_the_user_saw_and_nothing_else(app, people, chat, keys):
    from elako import crypto

    crypto.configure(keys)
    customer, store, cid = chat
    customer.send(cid, "May Milo pa po ba?", client_id="q-1")
    store.send(cid, "Meron po, 3 na lang")
    rival = people.customer(name="Rival Customer")
    rival.send(rival.open_conversation(store), "Secret order for the rival")

    zipped = archive(customer.api.get("/api/me/export"))
    names = set(zipped.namelist())
    assert {"README.txt", "account.json", "sessions.json", "conversations.json",
            f"messages/{cid}.json"} <= names
    account = json.loads(zipped.read("account.json"))
    assert account["email"] == customer.email and account["name"] == customer.name
    [conversation] = json.loads(zipped.read("conversations.json"))["conversations"]
    assert conversation["other"]["name"] == store.name
    history = json.loads(zipped.read(f"messages/{cid}.json"))["messages"]
    assert [(m["body"], m["from_me"]) for m in history] == [
        ("May Milo pa po ba?", True), ("Meron po, 3 na lang", False)]
    sessions = json.loads(zipped.read("sessions.json"))["sessions"]
    assert sessions and all(s["kind"] in ("web", "api") for s in sessions)

    text = everything(zipped)
    stored = User.objects.get(id=customer.id)
    assert stored.password_hash not in text and "scrypt" not in text
    for session in AuthSession.objects(user_id=customer.id):
        assert not session.refresh_hash or session.refresh_hash not in text
    # Nothing of the store's beyond what the customer sees, nor of its other customers.
    for private in (store.email, "Secret order", rival.name, rival.email, rival.id):
        assert private not in text
    assert "\x00fernet:" not in text  # bodies decrypted when encryption at rest is on


@pytest.mark.settings(RATE_LIMIT_EXPORT="2 per hour")
def test_export_from_settings_is_a_download_and_is_rate_limited(chat):
    customer, store, cid = chat
    customer.send(cid, "Pabili po")
    page = customer.page
    settings = page.get("/settings").get_data(as_text=True)
    assert 'action="/settings/export"' in settings and "Download my data" in settings
    assert "Pabili po" in everything(archive(page.get("/settings/export")))

    assert customer.api.get("/api/me/export").status_code == 200
    refused = customer.api.get("/api/me/export")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json["error"]["code"] == "rate_limited"
    assert store.api.get("/api/me/export").status_code == 200  # counted per user


def test_the_archive_holds_the_photos_of_the_conversation(chat):
    customer, store, cid = chat
    sent = upload(customer, cid, png(), "item.png", body="Ito po").json
    attachment = sent["attachment"]
    photo = customer.api.get(f"/api/attachments/{attachment['id']}").get_data()
    for person in (customer, store):  # the sender's photo, and the photo the store received
        zipped = archive(person.api.get("/api/me/export"))
        assert zipped.read(f"files/{sent['id']}/{attachment['name']}") == photo
        [exported] = json.loads(zipped.read(f"messages/{cid}.json"))["messages"]
        assert exported["files"] == [f"files/{sent['id']}/{attachment['name']}"]


# -- deletion --------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, status, code", [
    ({"password": "not my password"}, 403, "wrong_password"),
    ({}, 422, "invalid_input"),
], ids=["wrong", "missing"])
def test_a_wrong_password_deletes_nothing(chat, body, status, code):
    customer, store, cid = chat
    customer.send(cid, "still here")
    response = customer.api.delete("/api/me", json=body)
    assert response.status_code == status and response.json["error"]["code"] == code
    assert response.json["error"]["field"] == "password"
    assert customer.api.get("/api/me").status_code == 200
    assert Message.objects.get(conversation_id=cid).body == "still here"
    assert Conversation.objects.get(id=cid).customer_name == customer.name


def test_the_page_asks_for_the_password_again_when_it_is_wrong(chat):
    customer, _store, _cid = chat
    page = customer.page
    assert "Delete my account for good" in page.get("/settings/delete").get_data(as_text=True)
    response = page.post("/settings/delete", {"password": "nope nope nope"})
    assert response.status_code == 403
    assert "That is not your password" in response.get_data(as_text=True)
    assert page.get("/settings").status_code == 200  # still signed in


@pytest.mark.parametrize("keys", ["", KEY], ids=["plain", "encrypted"])
def test_deleting_an_account_erases_it_and_leaves_the_other_party_theirs(app, redis, api, chat,
                                                                        keys):
    from elako import crypto

    crypto.configure(keys)
    customer, store, cid = chat
    customer.send(cid, "Ang address ko ay 12 Mabini St", client_id="addr-1")
    store.send(cid, "Salamat po, ihahatid namin")
    customer.send(cid, "Cellphone ko 0917 555 0101")
    customer.page.get("/inbox")  # a browser session too, and activity in Redis
    assert user_keys(redis, app, customer.id)

    assert customer.api.delete("/api/me", json={"password": PASSWORD}).status_code == 204

    # Signed out everywhere; the account and its personal data are gone.
    assert customer.api.get("/api/me").json["error"]["code"] == "token_revoked"
    assert customer.page.get("/inbox").status_code == 302
    assert User.objects(id=customer.id).count() == 0
    assert AuthSession.objects(user_id=customer.id).count() == 0
    assert user_keys(redis, app, customer.id) == []

    # The text of what the customer sent is gone from MongoDB, raw documents included.
    raw = "\n".join(str(doc) for coll in ("messages", "conversations", "users", "auth_sessions")
                    for doc in Message._get_db()[coll].find())
    for text in ("Mabini", "0917", "addr-1", customer.name, customer.email):
        assert text not in raw
    # ... and from the store's stored events in Redis.
    stream = json.dumps([e.data for e in app.extensions["bus"].newest(store.id, 1000)])
    assert "Salamat" in stream and "Mabini" not in stream and "0917" not in stream

    # The store sees "Deleted user", keeps its own message, and can no longer write there.
    view = store.api.get(f"/api/conversations/{cid}").json
    assert view["other"]["name"] == "Deleted user" and view["blocked_by_other"]
    history = store.api.get(f"/api/conversations/{cid}/messages").json["items"]
    assert [(m["body"], m["deleted"]) for m in history] == [
        ("", True), ("Salamat po, ihahatid namin", False), ("", True)]
    assert store.api.get(f"/api/users/{store.id}/unread-count").json["count"] == 0
    assert store.api.post(f"/api/conversations/{cid}/messages",
                          json={"body": "Hello?"}).status_code == 403
    for url in ("/inbox", f"/c/{cid}"):
        html = store.page.get(url).get_data(as_text=True)
        assert "Deleted user" in html and customer.name not in html and "Mabini" not in html
    assert "Salamat po, ihahatid namin" in html

    # The email is free for a new account.
    again = api.post("/api/auth/register", json={"role": "customer", "name": "Maria Again",
                                                 "email": customer.email, "password": PASSWORD})
    assert again.status_code == 201 and again.json["id"] != customer.id


def test_deleting_an_account_removes_the_files_it_sent_and_leaves_the_other_partys(chat):
    customer, store, cid = chat
    customer.send(cid, "Magkano po?")  # a store writes only where it was written to
    theirs = upload(store, cid, png(color=(200, 0, 0, 255)), "price-list.png").json
    mine = upload(customer, cid, png(), "address.png", body="Dito po kami").json
    files_before = stored_files()

    assert customer.api.delete("/api/me", json={"password": PASSWORD}).status_code == 204

    assert stored_files() < files_before  # the photo and its thumbnail are gone from GridFS
    assert store.api.get(f"/api/attachments/{mine['attachment']['id']}").status_code == 404
    assert Message.objects.get(id=mine["id"]).attachment is None
    assert store.api.get(f"/api/attachments/{theirs['attachment']['id']}").status_code == 200
    view = store.api.get(f"/api/conversations/{cid}").json
    assert "Dito po kami" not in json.dumps(view)  # nor in the inbox preview


def test_deleting_a_store_removes_its_webhooks_and_its_side_of_each_conversation(chat):
    customer, store, cid = chat
    customer.send(cid, "Open po kayo bukas?")
    store.send(cid, "Opo, 6am")
    assert store.api.post("/api/webhooks", json={
        "url": "https://hooks.example.ph/x", "events": ["message.created"]}).status_code == 201
    page = store.page
    page.get("/settings/delete")
    response = page.post("/settings/delete", {"password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/account-deleted"
    assert "Your account was deleted" in page.get("/account-deleted").get_data(as_text=True)
    assert page.get("/inbox").status_code == 302
    assert WebhookEndpoint.objects(store_id=store.id).count() == 0
    view = customer.api.get(f"/api/conversations/{cid}").json
    assert view["other"]["name"] == "Deleted user"
    assert [m["body"] for m in customer.api.get(
        f"/api/conversations/{cid}/messages").json["items"]] == ["Open po kayo bukas?", ""]
    assert customer.api.get(f"/api/stores?q={store.name}").json["items"] == []


def replay(person, last_event_id="0-0"):
    """The events a client of `person` gets replayed after `last_event_id` (the long poll)."""
    answer = person.api.get(f"/api/events/poll?timeout=0&last_event_id={last_event_id}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert not [e for e in answer.json["events"] if e["type"] == "resync"]
    return answer.json["events"]


@pytest.mark.parametrize("deleted, keys", [("customer", ""), ("store", KEY)],
                         ids=["customer-plain", "store-encrypted"])
def test_the_other_partys_stored_events_forget_the_deleted_users_name(app, redis, people, deleted,
                                                                      keys):
    """Snapshots in the other party's stream named the deleted user: they now say "Deleted user",
    and every event the other party keeps keeps its id and place, so replay from any id works."""
    from elako import crypto

    crypto.configure(keys)
    customer = people.customer(name="Rosalinda Bituin")
    store = people.store(name="Tindahan ni Lorna Pacquing")
    gone, other = (customer, store) if deleted == "customer" else (store, customer)
    cid = customer.open_conversation(store)
    customer.send(cid, "Pabili po ng kape")
    store.send(cid, "Sige po, ihahanda ko")
    other.send(cid, "Salamat po")  # the preview is the other party's own: its snapshots stay
    for person in (customer, store):
        person.api.patch(f"/api/conversations/{cid}/read", json={})
        person.api.post(f"/api/conversations/{cid}/archive")
    before = replay(other)
    assert gone.name in json.dumps(before)
    own = [e["id"] for e in before
           if e["type"] == "message" and e["data"]["message"]["sender_id"] == other.id][-1]

    assert gone.api.delete("/api/me", json={"password": PASSWORD}).status_code == 204

    after = replay(other)
    for trace in (gone.name, gone.email, "Bituin" if deleted == "customer" else "Pacquing"):
        assert trace not in json.dumps(after)
    named = [e["data"]["conversation"]["other"]["name"]
             for e in after if "conversation" in e["data"]]
    assert len(named) > 2 and set(named) == {"Deleted user"}
    stream_key = f"{app.config['REDIS_KEY_PREFIX']}:{{{other.id}}}:events"
    stored = redis.xrange(stream_key)
    assert gone.name not in repr(stored)
    # The other party's own message and everything else kept: same ids, same order.
    kept = [e["id"] for e in after]
    assert own in kept and kept == sorted(kept, key=lambda i: tuple(map(int, i.split("-"))))
    assert set(kept) - {e["id"] for e in before} == {kept[-1]}  # only the "conversation" event
    assert [e["id"] for e in replay(other, own)] == kept[kept.index(own) + 1:]
    # The stream's byte count (for its cap) still adds up, and it keeps its time to live.
    assert int(redis.get(f"{stream_key}:bytes")) == sum(len(f["data"].encode()) for _, f in stored)
    assert redis.ttl(stream_key) > 0


@pytest.mark.e2e
def test_the_deleted_users_open_stream_ends_and_the_other_party_hears(pair, sse):
    customer, store, cid = pair
    customer.send(cid, "Ako si Maria")
    doomed = sse(customer.events_url(), headers=customer.headers)
    watching = sse(store.events_url(), headers=store.headers)
    for stream in (doomed, watching):
        stream.wait_for_comments(1)
    assert customer.call("DELETE", "/api/me", json={"password": PASSWORD}).status_code == 204
    assert doomed.wait_for("signed_out").json == {"reason": "signed_out"}
    doomed.wait_closed()
    changed = watching.wait_for("conversation").json["conversation"]
    assert changed["other"]["name"] == "Deleted user" and changed["blocked_by_other"]


# -- operators -------------------------------------------------------------------------------------

def test_operators_export_and_delete_from_the_command_line(app, chat, tmp_path):
    customer, store, cid = chat
    customer.send(cid, "Para sa operator")
    runner = app.test_cli_runner()
    out = tmp_path / "export.zip"
    result = runner.invoke(args=["export-user", customer.email.upper(), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Para sa operator" in everything(zipfile.ZipFile(out))

    assert runner.invoke(args=["delete-user", customer.email], input="n\n").exit_code == 1
    assert User.objects(id=customer.id).count() == 1  # not confirmed: nothing happened
    result = runner.invoke(args=["delete-user", customer.email], input="y\n")
    assert result.exit_code == 0, result.output
    assert User.objects(id=customer.id).count() == 0
    assert Message.objects.get(conversation_id=cid).body == ""
    assert customer.api.get("/api/me").status_code == 401

    missing = runner.invoke(args=["delete-user", customer.email, "--yes"])
    assert missing.exit_code == 1 and "no account has the email" in missing.output
