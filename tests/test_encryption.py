"""Encryption at rest: with MESSAGE_ENCRYPTION_KEYS set (comma-separated Fernet keys, the first
encrypts, all decrypt), message bodies, the inbox preview kept on each conversation and the stored
event-stream entries in Redis hold no plain text, yet participants read everything as before:
history, pages, inbox previews, live events and replay. Keys rotate with `rotate-message-keys`.
Off by default. Each test looks at the stored bytes directly (pymongo, Redis XRANGE)."""

import json
import subprocess
import sys
from pathlib import Path

import mongoengine
import pytest
import redis as redis_py
from bson import ObjectId
from cryptography.fernet import Fernet, InvalidToken

from elako import crypto
from elako.realtime.bus import HistoryGap
from tests.support.credentials import cookie_header
from tests.support.html import parse

ROOT = Path(__file__).resolve().parent.parent

CUSTOMER_TEXT = "Ang PIN ng GCash ko ay 482913"
STORE_TEXT = "Padala na po bukas ng umaga sa Blk 7 Lot 22"
LATER_TEXT = "Magkano po ang delivery fee papuntang Marikina"
# Short fragments that must not survive anywhere either (a preview is a prefix of the body).
FRAGMENTS = ("482913", "Blk 7 Lot 22", "Marikina")


def new_key():
    return Fernet.generate_key().decode()


KEY_A, KEY_B = new_key(), new_key()


@pytest.fixture(autouse=True)
def no_leaked_encryption(monkeypatch):
    """`crypto.configure` (run by every create_app, and by `use_keys` below) sets module-global
    state: put back whatever was configured before this test, so no key outlives it."""
    monkeypatch.setattr(crypto, "_cipher", crypto._cipher)


def use_keys(app, keys):
    """What restarting the app with MESSAGE_ENCRYPTION_KEYS=`keys` does (create_app configures
    crypto from it). A second create_app is not an option: with mongomock a new connection is a
    new, empty database."""
    app.config["MESSAGE_ENCRYPTION_KEYS"] = keys
    crypto.configure(keys)


# -- looking at the stored bytes -------------------------------------------------------------------

def everything_in_mongodb(db):
    """Every stored document of every collection, as text."""
    return "\n".join(repr(doc) for name in db.list_collection_names() for doc in db[name].find())


def stream_key(prefix, user_id):
    return f"{prefix}:{{{user_id}}}:events"


def stored_events(redis, prefix, *user_ids):
    """[(type, stored data)] of the users' event streams, read with XRANGE."""
    return [(fields["type"], fields["data"])
            for user_id in user_ids for _, fields in redis.xrange(stream_key(prefix, user_id))]


def assert_no_plain_text(text, *plain):
    for value in (*plain, *FRAGMENTS):
        assert value not in text


def opened(key, stored):
    """The plain text of a stored value, decrypted here with `key` alone (InvalidToken if that key
    did not encrypt it). Proves the value is a Fernet token under that key, not merely scrambled."""
    assert stored.startswith(crypto.PREFIX), repr(stored[:40])
    return Fernet(key).decrypt(stored[len(crypto.PREFIX):].encode()).decode()


def stored_bodies(db, cid):
    return [m["body"] for m in db.messages.find({"conversation_id": ObjectId(cid)}).sort("seq", 1)]


def stored_preview(db, cid):
    return db.conversations.find_one({"_id": ObjectId(cid)})["last_message"]["body"]


# -- what participants see -------------------------------------------------------------------------

def history(person, cid):
    response = person.api.get(f"/api/conversations/{cid}/messages")
    assert response.status_code == 200, response.get_data(as_text=True)
    return [m["body"] for m in response.json["items"]]


def inbox_preview(person, cid):
    response = person.api.get(f"/api/users/{person.id}/conversations")
    assert response.status_code == 200, response.get_data(as_text=True)
    [row] = [c for c in response.json["items"] if c["id"] == cid]
    return row["last_message"]["preview"]


def page_bodies(person, cid):
    response = person.page.get(f"/c/{cid}")
    assert response.status_code == 200
    return [p.text.strip() for p in parse(response.get_data(as_text=True)).with_class("body")]


def inbox_page_preview(person, cid):
    response = person.page.get("/inbox")
    assert response.status_code == 200
    row = parse(response.get_data(as_text=True)).by_id(f"row-{cid}")
    return row.with_class("preview")[0].text.strip()


def replayed(app, person, last_event_id="0-0"):
    """What a reconnect with Last-Event-ID gets replayed (the stream reads the user's log with
    this), as {type: [data, ...]}."""
    found = {}
    for event in app.extensions["bus"].read_after(person.id, last_event_id):
        found.setdefault(event.type, []).append(event.data)
    return found


def assert_everyone_reads_everything(chat, bodies, last_sender):
    """Both participants read `bodies` in history (API and page) and the last one as the inbox
    preview (API and page, where the sender's own reads "You: ...")."""
    customer, store, cid = chat
    for person in (customer, store):
        assert history(person, cid) == bodies
        assert inbox_preview(person, cid) == bodies[-1]
        assert page_bodies(person, cid) == bodies
        mine = "You: " if person is last_sender else ""
        assert inbox_page_preview(person, cid) == mine + bodies[-1]


def converse(chat):
    """Both sides write, the store reads, each archives and unarchives: events of every kind
    that carries text (messages, conversation snapshots with the preview, receipts)."""
    customer, store, cid = chat
    customer.send(cid, CUSTOMER_TEXT)
    store.api.patch(f"/api/conversations/{cid}/read", json={})
    store.send(cid, STORE_TEXT)
    for person in (customer, store):
        person.api.post(f"/api/conversations/{cid}/archive")
        person.api.delete(f"/api/conversations/{cid}/archive")


# -- off by default --------------------------------------------------------------------------------

def test_off_by_default_text_is_stored_as_written(app, redis, chat):
    customer, store, cid = chat
    assert app.config["MESSAGE_ENCRYPTION_KEYS"] == ""
    converse(chat)
    db = mongoengine.get_db()
    assert stored_bodies(db, cid) == [CUSTOMER_TEXT, STORE_TEXT]
    assert stored_preview(db, cid) == STORE_TEXT
    prefix = app.config["REDIS_KEY_PREFIX"]
    stored = stored_events(redis, prefix, customer.id, store.id)
    assert stored and all(not data.startswith(crypto.PREFIX) for _, data in stored)
    assert [json.loads(d)["message"]["body"] for t, d in stored_events(redis, prefix, store.id)
            if t == "message"] == [CUSTOMER_TEXT, STORE_TEXT]
    assert_everyone_reads_everything(chat, [CUSTOMER_TEXT, STORE_TEXT], store)
    assert [e["message"]["body"] for e in replayed(app, store)["message"]] == [
        CUSTOMER_TEXT, STORE_TEXT]


# -- on --------------------------------------------------------------------------------------------

@pytest.mark.settings(MESSAGE_ENCRYPTION_KEYS=KEY_A)
def test_bodies_previews_and_stored_events_hold_no_plain_text(app, redis, chat):
    customer, store, cid = chat
    converse(chat)

    db = mongoengine.get_db()
    assert_no_plain_text(everything_in_mongodb(db), CUSTOMER_TEXT, STORE_TEXT)
    assert [opened(KEY_A, b) for b in stored_bodies(db, cid)] == [CUSTOMER_TEXT, STORE_TEXT]
    assert opened(KEY_A, stored_preview(db, cid)) == STORE_TEXT

    prefix = app.config["REDIS_KEY_PREFIX"]
    for user_id in (customer.id, store.id):
        stored = stored_events(redis, prefix, user_id)
        assert {t for t, _ in stored} >= {"message", "read", "conversation"}
        assert_no_plain_text(repr(stored), CUSTOMER_TEXT, STORE_TEXT)
        plain = [json.loads(opened(KEY_A, data)) for _, data in stored]  # every entry, encrypted
        bodies = [e["message"]["body"] for e in plain if "message" in e]
        assert bodies == [CUSTOMER_TEXT, STORE_TEXT]
        previews = [e["conversation"]["last_message"]["preview"] for e in plain
                    if e.get("conversation", {}).get("last_message")]
        assert STORE_TEXT in previews

    # Participants read it all as before: history (API and page), inbox previews, replay.
    assert_everyone_reads_everything(chat, [CUSTOMER_TEXT, STORE_TEXT], store)
    for person in (customer, store):
        events = replayed(app, person)
        assert [e["message"]["body"] for e in events["message"]] == [CUSTOMER_TEXT, STORE_TEXT]
        assert events["conversation"][-1]["conversation"]["last_message"]["preview"] == STORE_TEXT
    # A reconnect after the first message replays exactly the rest.
    first_id = redis.xrange(stream_key(prefix, store.id), count=1)[0][0]
    rest = replayed(app, store, first_id)
    assert [e["message"]["body"] for e in rest["message"]] == [STORE_TEXT]


@pytest.mark.settings(MESSAGE_ENCRYPTION_KEYS=KEY_A)
def test_each_value_is_encrypted_on_its_own(app, chat):
    """Fernet tokens carry a random IV: the same text twice is stored as two different tokens,
    so equal messages cannot be spotted in the database."""
    customer, store, cid = chat
    customer.send(cid, CUSTOMER_TEXT)
    customer.send(cid, CUSTOMER_TEXT)
    first, second = stored_bodies(mongoengine.get_db(), cid)
    assert first != second
    assert opened(KEY_A, first) == opened(KEY_A, second) == CUSTOMER_TEXT


# -- rotation --------------------------------------------------------------------------------------

@pytest.mark.settings(MESSAGE_ENCRYPTION_KEYS=KEY_A)
def test_key_rotation(app, redis, chat):
    customer, store, cid = chat
    converse(chat)
    db = mongoengine.get_db()
    under_a = stored_bodies(db, cid)
    assert [opened(KEY_A, b) for b in under_a] == [CUSTOMER_TEXT, STORE_TEXT]

    # The new key first, the old one still there: everything stays readable, new text uses B.
    use_keys(app, f"{KEY_B},{KEY_A}")
    assert_everyone_reads_everything(chat, [CUSTOMER_TEXT, STORE_TEXT], store)
    assert [e["message"]["body"] for e in replayed(app, store)["message"]] == [
        CUSTOMER_TEXT, STORE_TEXT]
    customer.send(cid, LATER_TEXT)
    assert opened(KEY_B, stored_bodies(db, cid)[2]) == LATER_TEXT
    assert opened(KEY_B, stored_preview(db, cid)) == LATER_TEXT
    assert stored_bodies(db, cid)[:2] == under_a  # nothing re-encrypted behind our back

    result = app.test_cli_runner().invoke(args=["rotate-message-keys"])
    assert result.exit_code == 0, result.output
    assert "rewrote 3 message(s) and 1 inbox preview(s)" in result.output
    rotated = stored_bodies(db, cid)
    assert [opened(KEY_B, b) for b in rotated] == [CUSTOMER_TEXT, STORE_TEXT, LATER_TEXT]
    for body in rotated:
        with pytest.raises(InvalidToken):
            opened(KEY_A, body)
    assert opened(KEY_B, stored_preview(db, cid)) == LATER_TEXT
    assert_no_plain_text(everything_in_mongodb(db), CUSTOMER_TEXT, STORE_TEXT, LATER_TEXT)

    # The old key dropped: MongoDB is still all readable, and new text still uses B.
    use_keys(app, KEY_B)
    bodies = [CUSTOMER_TEXT, STORE_TEXT, LATER_TEXT]
    assert_everyone_reads_everything(chat, bodies, customer)
    # Stored events are not re-encrypted by the command; the ones written under the old key are
    # now a gap, which a reconnect turns into a resync (reload from MongoDB), not an error.
    with pytest.raises(HistoryGap):
        replayed(app, store)
    # From here on events are under B alone, and replay after them works.
    latest = app.extensions["bus"].latest_id(customer.id)
    store.send(cid, "Mga 60 pesos po")
    assert opened(KEY_B, stored_bodies(db, cid)[3]) == "Mga 60 pesos po"
    assert history(customer, cid) == [*bodies, "Mga 60 pesos po"]
    assert [e["message"]["body"] for e in replayed(app, customer, latest)["message"]] == [
        "Mga 60 pesos po"]


@pytest.mark.settings(MESSAGE_ENCRYPTION_KEYS=KEY_A)
def test_rotated_data_with_only_the_old_key_is_unreadable_but_the_app_still_answers(app, chat):
    """After rotating to B, a deployment that still (or again) has only A configured cannot read
    the text. Participants must get their conversation and its history without an error and
    without ciphertext or text: every message is still listed (id, seq, sender), its body empty,
    and the inbox keeps the row. Nothing may answer 500."""
    customer, store, cid = chat
    converse(chat)
    ids = [m["id"] for m in customer.api.get(f"/api/conversations/{cid}/messages").json["items"]]
    use_keys(app, f"{KEY_B},{KEY_A}")
    assert app.test_cli_runner().invoke(args=["rotate-message-keys"]).exit_code == 0
    db = mongoengine.get_db()
    for body in stored_bodies(db, cid):
        with pytest.raises(InvalidToken):
            opened(KEY_A, body)

    use_keys(app, KEY_A)
    for person in (customer, store):
        response = person.api.get(f"/api/conversations/{cid}/messages")
        assert response.status_code == 200, (response.status_code, response.get_data(as_text=True))
        assert [m["id"] for m in response.json["items"]] == ids
        for item in response.json["items"]:
            assert item["body"] == ""
        text = response.get_data(as_text=True)
        assert "fernet" not in text and CUSTOMER_TEXT not in text and STORE_TEXT not in text
        view = person.api.get(f"/api/conversations/{cid}")
        assert view.status_code == 200, view.get_data(as_text=True)
        assert view.json["last_message"]["preview"] == ""
        listed = person.api.get(f"/api/users/{person.id}/conversations")
        assert listed.status_code == 200 and [c["id"] for c in listed.json["items"]] == [cid]
        for url in (f"/c/{cid}", "/inbox"):
            page = person.page.get(url)
            assert page.status_code == 200, (url, page.status_code)
            assert "fernet" not in page.get_data(as_text=True)
        assert page_bodies(person, cid) == ["This message can’t be shown"] * 2

    # A rotation run with the wrong keys says so and leaves the text for the right key.
    result = app.test_cli_runner().invoke(args=["rotate-message-keys"])
    assert result.exit_code != 0
    assert "3 could not be read with any configured key" in result.output  # 2 bodies, 1 preview
    use_keys(app, KEY_B)
    assert history(customer, cid) == [CUSTOMER_TEXT, STORE_TEXT]


@pytest.mark.settings(MESSAGE_ENCRYPTION_KEYS=KEY_A)
def test_a_document_read_without_its_key_keeps_its_ciphertext_when_saved(app, chat):
    """Loading a document whose text no configured key reads, then saving it, must not replace
    the ciphertext with the empty text it reads as."""
    from elako.models import Message

    customer, _, cid = chat
    customer.send(cid, CUSTOMER_TEXT)
    db = mongoengine.get_db()
    [stored] = stored_bodies(db, cid)
    use_keys(app, KEY_B)
    message = Message.objects.get(conversation_id=ObjectId(cid))
    assert message.body == ""
    message.save()
    assert stored_bodies(db, cid) == [stored]
    use_keys(app, KEY_A)
    assert history(customer, cid) == [CUSTOMER_TEXT]


@pytest.mark.settings(MESSAGE_ENCRYPTION_KEYS=KEY_A)
def test_switching_off(app, chat):
    """`plain` first: new text is stored plain while the key after it still reads the old; the
    command rewrites the old text plain; then the key can go."""
    customer, store, cid = chat
    converse(chat)
    db = mongoengine.get_db()
    use_keys(app, f"plain,{KEY_A}")
    customer.send(cid, LATER_TEXT)
    assert stored_bodies(db, cid)[2] == LATER_TEXT
    bodies = [CUSTOMER_TEXT, STORE_TEXT, LATER_TEXT]
    assert_everyone_reads_everything(chat, bodies, customer)

    result = app.test_cli_runner().invoke(args=["rotate-message-keys"])
    assert result.exit_code == 0, result.output
    assert stored_bodies(db, cid) == bodies and stored_preview(db, cid) == LATER_TEXT
    use_keys(app, "")
    assert_everyone_reads_everything(chat, bodies, customer)


# -- switching on over plain text ------------------------------------------------------------------

def test_switching_on_keeps_old_plain_messages_readable(app, redis, chat):
    customer, store, cid = chat
    customer.send(cid, CUSTOMER_TEXT)
    db = mongoengine.get_db()
    assert stored_bodies(db, cid) == [CUSTOMER_TEXT]

    use_keys(app, KEY_A)
    store.send(cid, STORE_TEXT)
    old, new = stored_bodies(db, cid)
    assert old == CUSTOMER_TEXT  # untouched: the database now mixes both
    assert opened(KEY_A, new) == STORE_TEXT and opened(KEY_A, stored_preview(db, cid)) == STORE_TEXT
    [plain, encrypted] = [d for t, d in stored_events(redis, app.config["REDIS_KEY_PREFIX"],
                                                      store.id) if t == "message"]
    assert CUSTOMER_TEXT in plain and STORE_TEXT in opened(KEY_A, encrypted)
    assert_everyone_reads_everything(chat, [CUSTOMER_TEXT, STORE_TEXT], store)
    # The plain event written before is replayed as is, the encrypted one after it too.
    assert [e["message"]["body"] for e in replayed(app, store)["message"]] == [
        CUSTOMER_TEXT, STORE_TEXT]

    # Rotating encrypts what was still plain.
    assert app.test_cli_runner().invoke(args=["rotate-message-keys"]).exit_code == 0
    assert [opened(KEY_A, b) for b in stored_bodies(db, cid)] == [CUSTOMER_TEXT, STORE_TEXT]
    assert CUSTOMER_TEXT not in everything_in_mongodb(db)
    assert_everyone_reads_everything(chat, [CUSTOMER_TEXT, STORE_TEXT], store)


# -- through gunicorn ------------------------------------------------------------------------------


def remote_history(person, cid):
    response = person.call("GET", f"/api/conversations/{cid}/messages")
    assert response.status_code == 200, response.text
    return [m["body"] for m in response.json()["items"]]


def redis_at(redis_url):
    return redis_py.Redis.from_url(redis_url, decode_responses=True)


@pytest.mark.e2e
def test_a_real_server_stores_ciphertext_and_delivers_text(live_server, sse, server_db, redis_url):
    key = new_key()
    live = live_server(MESSAGE_ENCRYPTION_KEYS=key)
    customer = live.register("customer", "Maria Santos")
    store = live.register("store", "Aling Nena's Store")
    cid = customer.open_conversation(store)
    store_json = sse(store.events_url(), headers=store.headers)
    customer_json = sse(customer.events_url(), headers=customer.headers)
    store_browser = store.browser()
    store_tab = sse(live.url + "/events", headers=cookie_header(store_browser))
    for stream in (store_json, customer_json, store_tab):
        stream.wait_for_comments(1)

    sent = customer.send(cid, CUSTOMER_TEXT)
    assert sent["body"] == CUSTOMER_TEXT
    received = store_json.wait_for("message")
    assert received.json["message"]["body"] == CUSTOMER_TEXT
    assert received.json["conversation"]["last_message"]["preview"] == CUSTOMER_TEXT
    assert customer_json.wait_for("message").json["message"]["body"] == CUSTOMER_TEXT
    fragment = parse(store_tab.wait_for("message").data)
    assert fragment.by_id(f"msg-{sent['id']}").with_class("body")[0].text.strip() == CUSTOMER_TEXT
    mark = received.id
    store_json.close()

    # While the store's device is away: a reply from another of its devices and a new question.
    store.send(cid, STORE_TEXT)
    customer.send(cid, LATER_TEXT)
    back = sse(store.events_url(), headers={**store.headers, "Last-Event-ID": mark})
    back.wait_for("message", count=2)
    back.wait_for_comments(1)
    assert [e.json["message"]["body"] for e in back.of_type("message")] == [STORE_TEXT, LATER_TEXT]

    bodies = [CUSTOMER_TEXT, STORE_TEXT, LATER_TEXT]
    for person in (customer, store):
        assert remote_history(person, cid) == bodies
        listed = person.call("GET", f"/api/users/{person.id}/conversations").json()["items"]
        assert [c["last_message"]["preview"] for c in listed] == [LATER_TEXT]
    page = store_browser.get(f"{live.url}/c/{cid}", timeout=10)
    assert [p.text.strip() for p in parse(page.text).with_class("body")] == bodies

    db = server_db(live)
    assert_no_plain_text(everything_in_mongodb(db), *bodies)
    assert [opened(key, b) for b in stored_bodies(db, cid)] == bodies
    assert opened(key, stored_preview(db, cid)) == LATER_TEXT
    redis = redis_at(redis_url)
    for user_id in (customer.id, store.id):
        stored = stored_events(redis, live.prefix, user_id)
        assert len([t for t, _ in stored if t == "message"]) == 3
        assert_no_plain_text(repr(stored), *bodies)
        assert [json.loads(opened(key, data))["message"]["body"]
                for kind, data in stored if kind == "message"] == bodies


@pytest.mark.e2e
def test_rotating_keys_on_a_real_deployment(live_server, server_db, redis_url, sse):
    """The documented procedure: put the new key first and restart, run
    `flask --app app rotate-message-keys`, drop the old key and restart."""
    key_a, key_b = new_key(), new_key()
    live = live_server(MESSAGE_ENCRYPTION_KEYS=key_a)
    customer = live.register("customer", "Maria Santos")
    store = live.register("store", "Aling Nena's Store")
    cid = customer.open_conversation(store)
    customer.send(cid, CUSTOMER_TEXT)
    store.send(cid, STORE_TEXT)
    db = server_db(live)
    assert [opened(key_a, b) for b in stored_bodies(db, cid)] == [CUSTOMER_TEXT, STORE_TEXT]
    redis = redis_at(redis_url)
    # The id a store device last saw before the rotation (its first event, stored under A).
    seen_before = redis.xrange(stream_key(live.prefix, store.id), count=1)[0][0]

    live.env["MESSAGE_ENCRYPTION_KEYS"] = f"{key_b},{key_a}"
    live.restart()
    assert remote_history(store, cid) == [CUSTOMER_TEXT, STORE_TEXT]
    command = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "rotate-message-keys"],
                             cwd=ROOT, env=live.env, capture_output=True, text=True, timeout=60)
    assert command.returncode == 0, command.stderr
    assert "rewrote 2 message(s) and 1 inbox preview(s)" in command.stdout
    assert [opened(key_b, b) for b in stored_bodies(db, cid)] == [CUSTOMER_TEXT, STORE_TEXT]
    assert opened(key_b, stored_preview(db, cid)) == STORE_TEXT

    live.env["MESSAGE_ENCRYPTION_KEYS"] = key_b
    live.restart()
    for person in (customer, store):
        assert remote_history(person, cid) == [CUSTOMER_TEXT, STORE_TEXT]
        listed = person.call("GET", f"/api/users/{person.id}/conversations").json()["items"]
        assert [c["last_message"]["preview"] for c in listed] == [STORE_TEXT]
    # Stored events are not rotated: a device coming back from before the rotation finds them
    # unreadable under B alone and is told to resync (reload over the API), not left hanging.
    back = sse(store.events_url(), headers={**store.headers, "Last-Event-ID": seen_before})
    resync = back.wait_for("resync")
    assert back.events[0] is resync and resync.json["reason"] == "history_gap"
    back.close()
    # Live delivery works under the new key alone, and what it stores is under the new key.
    stream = sse(store.events_url(), headers=store.headers)
    stream.wait_for_comments(1)
    customer.send(cid, LATER_TEXT)
    assert stream.wait_for("message").json["message"]["body"] == LATER_TEXT
    [(_, newest)] = stored_events(redis, live.prefix, store.id)[-1:]
    assert json.loads(opened(key_b, newest))["message"]["body"] == LATER_TEXT
    assert opened(key_b, stored_bodies(db, cid)[-1]) == LATER_TEXT


@pytest.mark.settings(MESSAGE_ENCRYPTION_KEYS=KEY_A)
def test_rotation_never_undoes_what_happens_while_it_runs(app, chat, monkeypatch):
    """The command runs beside the live app: an unsend, or a newer preview, that lands between
    its read and its write stays as it is."""
    customer, store, cid = chat
    doomed = customer.send(cid, CUSTOMER_TEXT)
    customer.send(cid, LATER_TEXT)
    use_keys(app, f"{KEY_B},{KEY_A}")
    original = crypto.rotate
    calls = []
    during = {0: lambda: customer.api.delete(f"/api/messages/{doomed['id']}"),  # 1st body read
              2: lambda: store.send(cid, STORE_TEXT)}  # after the command read the preview

    def rotate_while_the_app_runs(value):
        calls.append(value)
        during.get(len(calls) - 1, lambda: None)()
        return original(value)

    monkeypatch.setattr(crypto, "rotate", rotate_while_the_app_runs)
    assert app.test_cli_runner().invoke(args=["rotate-message-keys"]).exit_code == 0
    assert len(calls) == 3  # two bodies, then the preview
    db = mongoengine.get_db()
    erased, later, reply = stored_bodies(db, cid)
    assert erased == ""  # the unsent text stays erased
    assert opened(KEY_B, later) == LATER_TEXT
    assert opened(KEY_B, stored_preview(db, cid)) == STORE_TEXT  # the newer preview stays
    assert history(store, cid) == ["", LATER_TEXT, STORE_TEXT]
