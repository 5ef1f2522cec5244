"""Quick replies: a store's saved replies, through the API, the settings page (plain forms) and the
composer's list, which sends one as a message like any other."""

import io
import json
import re
import threading
import zipfile
from datetime import timedelta

import pytest
from bson import ObjectId
from cryptography.fernet import Fernet

from elako import crypto
from elako.errors import InvalidInput
from elako.models import QuickReply, User, utcnow
from elako.services import quick_replies
from elako.services.quick_replies import MAX_QUICK_REPLIES
from tests.conftest import PASSWORD
from tests.support.credentials import cookie_header
from tests.support.html import parse


def html(response):
    return response.get_data(as_text=True)


def add(person, shortcut, text="Salamat po!"):
    return person.api.post("/api/quick-replies", json={"shortcut": shortcut, "text": text})


# -- the API ---------------------------------------------------------------------------------------

def test_a_store_adds_lists_edits_and_deletes_its_replies(people):
    store = people.store()
    created = add(store, "salamat", "Salamat po! Babalik po kayo ulit.\nIngat!")
    assert created.status_code == 201
    reply = created.json
    assert reply["shortcut"] == "salamat" and reply["text"] == "Salamat po! Babalik po kayo ulit.\nIngat!"
    assert set(reply) == {"id", "shortcut", "text", "created_at"}
    assert add(store, "Hours", "Bukas po kami 7AM-7PM.").status_code == 201
    listed = store.api.get("/api/quick-replies")
    assert listed.status_code == 200
    assert [r["shortcut"] for r in listed.json["items"]] == ["Hours", "salamat"]  # by shortcut

    changed = store.api.patch(f"/api/quick-replies/{reply['id']}", json={"text": "Salamat!"})
    assert changed.status_code == 200 and changed.json["text"] == "Salamat!"
    assert changed.json["shortcut"] == "salamat"  # left out: unchanged
    renamed = store.api.patch(f"/api/quick-replies/{reply['id']}", json={"shortcut": "ty"})
    assert renamed.json == {**changed.json, "shortcut": "ty"}

    assert store.api.delete(f"/api/quick-replies/{reply['id']}").status_code == 204
    assert [r["shortcut"] for r in store.api.get("/api/quick-replies").json["items"]] == ["Hours"]
    assert store.api.delete(f"/api/quick-replies/{reply['id']}").status_code == 404


def test_a_shortcut_is_unique_in_a_store_whatever_its_case(people):
    store, other = people.store(), people.store("Kusina ni Mang Tonyo")
    first = add(store, "Presyo").json
    taken = add(store, "presyo")
    assert taken.status_code == 409
    assert taken.json["error"]["code"] == "shortcut_taken"
    assert taken.json["error"]["field"] == "shortcut"
    assert "/presyo" in taken.json["error"]["message"]
    assert add(other, "presyo").status_code == 201  # another store's shortcuts are its own
    second = add(store, "hours").json
    renamed = store.api.patch(f"/api/quick-replies/{second['id']}", json={"shortcut": "PRESYO"})
    assert renamed.status_code == 409
    # A reply may change the case of its own shortcut.
    assert store.api.patch(f"/api/quick-replies/{first['id']}",
                           json={"shortcut": "presyo"}).json["shortcut"] == "presyo"


@pytest.mark.parametrize("shortcut, message", [
    ("/salamat", 'leave the "/" out'),
    ("two words", "no spaces"),
    ("-dash-first", "starting with a letter or digit"),
    ("a" * 33, "at most 32"),
    ("ñ", "letters, digits"),
    ("", "Choose a shortcut."),
    ("   ", "Choose a shortcut."),
])
def test_a_shortcut_is_one_short_word_without_the_slash(people, shortcut, message):
    response = add(people.store(), shortcut)
    assert response.status_code == 422
    assert response.json["error"]["field"] == "shortcut"
    assert message in response.json["error"]["message"]


@pytest.mark.settings(MESSAGE_MAX_LENGTH=100)
def test_the_text_is_one_to_a_messages_length(people):
    store = people.store()
    assert add(store, "long", "x" * 100).status_code == 201
    too_long = add(store, "longer", "x" * 101)
    assert too_long.status_code == 422 and too_long.json["error"]["field"] == "text"
    assert "at most 100 characters" in too_long.json["error"]["message"]
    blank = add(store, "blank", " \n ")
    assert blank.status_code == 422 and blank.json["error"]["message"] == "Write the reply."
    reply = store.api.get("/api/quick-replies").json["items"][0]
    edited = store.api.patch(f"/api/quick-replies/{reply['id']}", json={"text": "y" * 101})
    assert edited.status_code == 422
    assert store.api.get("/api/quick-replies").json["items"][0]["text"] == "x" * 100


def test_a_store_keeps_at_most_fifty(people):
    store = people.store()
    for n in range(MAX_QUICK_REPLIES):
        assert add(store, f"r{n}", f"Reply {n}").status_code == 201
    refused = add(store, "one-more")
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "too_many_quick_replies"
    assert "at most 50 quick replies" in refused.json["error"]["message"]
    assert len(store.api.get("/api/quick-replies").json["items"]) == MAX_QUICK_REPLIES
    # Deleting one makes room again.
    first = store.api.get("/api/quick-replies").json["items"][0]
    store.api.delete(f"/api/quick-replies/{first['id']}")
    assert add(store, "one-more").status_code == 201


def test_replies_added_at_once_never_pass_the_limit(app, people):
    """Tabs adding the last few at the same moment all pass the count; those beyond it go back."""
    store = people.store()
    for n in range(MAX_QUICK_REPLIES - 2):
        add(store, f"r{n}")
    with app.app_context():
        user = User.objects.get(id=store.id)
    outcomes, start = [], threading.Barrier(4)

    def add_one(n):
        with app.app_context():
            start.wait()
            try:
                quick_replies.create(user, {"shortcut": f"late{n}", "text": "Late"})
                outcomes.append("added")
            except InvalidInput:
                outcomes.append("refused")

    threads = [threading.Thread(target=add_one, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        assert QuickReply.objects(store_id=user.id).count() <= MAX_QUICK_REPLIES
        assert outcomes.count("added") == QuickReply.objects(store_id=user.id,
                                                             shortcut__startswith="late").count()


def test_the_limit_check_takes_back_the_latest_beyond_it(app, people):
    """As when two adds passed the count together: the store ends with the limit, the earlier
    replies kept, and the one beyond it refused."""
    store = people.store()
    for n in range(MAX_QUICK_REPLIES):
        add(store, f"r{n}")
    with app.app_context():
        user = User.objects.get(id=store.id)
        # As if it had passed the count with the 50th, a moment after it (in the same millisecond
        # the order between the two would fall to their random ids).
        latest = QuickReply.objects(store_id=user.id).order_by("-created_at").first().created_at
        extra = QuickReply(store_id=user.id, shortcut="extra", shortcut_key="extra", text="Extra",
                           created_at=latest + timedelta(milliseconds=1))
        extra.save(force_insert=True)
        with pytest.raises(InvalidInput):
            quick_replies._undo_beyond_limit(extra)
        assert QuickReply.objects(store_id=user.id).count() == MAX_QUICK_REPLIES
        assert not QuickReply.objects(id=extra.id).first()


def test_customers_are_refused(chat):
    customer, store, _ = chat
    reply = add(store, "salamat").json
    assert customer.api.get("/api/quick-replies").status_code == 403
    refused = add(customer, "hi")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert customer.api.patch(f"/api/quick-replies/{reply['id']}",
                              json={"text": "x"}).status_code == 403
    assert customer.api.delete(f"/api/quick-replies/{reply['id']}").status_code == 403
    assert customer.page.get("/settings/quick-replies").status_code == 403


def test_another_stores_reply_is_not_found(people):
    store, other = people.store(), people.store("Kusina ni Mang Tonyo")
    reply = add(store, "salamat").json
    for response in (other.api.delete(f"/api/quick-replies/{reply['id']}"),
                     other.api.patch(f"/api/quick-replies/{reply['id']}", json={"text": "x"}),
                     other.api.delete("/api/quick-replies/not-an-id")):
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert store.api.get("/api/quick-replies").json["items"][0]["text"] == "Salamat po!"


def test_the_routes_are_in_the_api_reference(api):
    paths = api.get("/api/openapi.json").json["paths"]
    assert set(paths["/api/quick-replies"]) == {"get", "post"}
    assert set(paths["/api/quick-replies/{reply_id}"]) == {"patch", "delete"}


# -- the settings page, without JavaScript ---------------------------------------------------------

def test_the_settings_page_adds_edits_and_deletes_with_plain_forms(people):
    store = people.store()
    page = store.page
    assert 'href="/settings/quick-replies"' in html(page.get("/settings"))
    empty = page.get("/settings/quick-replies")
    assert empty.status_code == 200 and "None yet." in html(empty)

    added = page.post("/settings/quick-replies", {"shortcut": "hours", "text": "Bukas po 7AM."})
    assert added.status_code == 303 and "done=added" in added.headers["Location"]
    reply_id = store.api.get("/api/quick-replies").json["items"][0]["id"]
    assert added.headers["Location"].endswith(f"#reply-{reply_id}")
    listed = html(page.get(added.headers["Location"]))
    assert "Added." in listed and "/hours" in listed and "Bukas po 7AM." in listed

    saved = page.post(f"/settings/quick-replies/{reply_id}",
                      {"shortcut": "oras", "text": "Bukas po 7AM hanggang 7PM."})
    assert saved.status_code == 303
    assert "Bukas po 7AM hanggang 7PM." in html(page.get(saved.headers["Location"]))

    deleted = page.post(f"/settings/quick-replies/{reply_id}/delete")
    assert deleted.status_code == 303
    assert "None yet." in html(page.get(deleted.headers["Location"]))
    assert store.api.get("/api/quick-replies").json["items"] == []


def test_the_settings_page_shows_errors_and_keeps_what_was_typed(people):
    store = people.store()
    page = store.page
    refused = page.post("/settings/quick-replies", {"shortcut": "/hours", "text": "Bukas po <b>7AM</b>."})
    assert refused.status_code == 422
    body = html(refused)
    assert 'leave the &#34;/&#34; out' in body or 'leave the "/" out' in body
    assert 'value="/hours"' in body and "Bukas po &lt;b&gt;7AM&lt;/b&gt;." in body

    page.post("/settings/quick-replies", {"shortcut": "hours", "text": "Bukas po."})
    page.post("/settings/quick-replies", {"shortcut": "presyo", "text": "₱25 po."})
    taken = page.post("/settings/quick-replies", {"shortcut": "HOURS", "text": "Again"})
    assert taken.status_code == 409 and "/HOURS" in html(taken)
    presyo = next(r for r in store.api.get("/api/quick-replies").json["items"]
                  if r["shortcut"] == "presyo")
    clash = page.post(f"/settings/quick-replies/{presyo['id']}", {"shortcut": "hours", "text": "₱30 po."})
    assert clash.status_code == 409
    # The edited reply's form is open again, with its message and the text typed.
    edited = re.search(rf'<li id="reply-{presyo["id"]}">.*?</li>', html(clash), re.S).group(0)
    assert "<details open>" in edited and "role=\"alert\"" in edited and "₱30 po." in edited


def test_a_form_without_its_csrf_token_is_refused(people):
    store = people.store()
    page = store.page
    refused = page.post("/settings/quick-replies", {"shortcut": "hours", "text": "Bukas po."},
                        csrf=False)
    assert refused.status_code == 400
    assert store.api.get("/api/quick-replies").json["items"] == []


# -- the composer ----------------------------------------------------------------------------------

def test_the_composer_lists_a_stores_replies_and_a_button_sends_one(chat):
    customer, store, cid = chat
    customer.send(cid, "Magkano po ang kape?")
    assert "quick-replies" not in html(store.page.get(f"/c/{cid}"))  # none saved: no markup
    add(store, "salamat", "Salamat po! <Ingat>")
    page = html(store.page.get(f"/c/{cid}"))
    assert 'id="quick-replies"' in page and "quick_replies.js" in page
    form = re.search(r'<form method="post" action="([^"]+)" data-quick-reply>(.*?)</form>', page, re.S)
    assert form.group(1) == f"/c/{cid}/messages"  # the composer's own route
    assert 'value="Salamat po! &lt;Ingat&gt;"' in form.group(2)
    client_id = re.search(r'name="client_id" value="([^"]+)"', form.group(2)).group(1)

    sent = store.page.post(f"/c/{cid}/messages", {"body": "Salamat po! <Ingat>", "client_id": client_id})
    assert sent.status_code == 303
    again = store.page.post(f"/c/{cid}/messages", {"body": "Salamat po! <Ingat>", "client_id": client_id})
    assert again.status_code == 303  # a double tap: still one message
    items = customer.api.get(f"/api/conversations/{cid}/messages").json["items"]
    assert [(m["body"], m["client_id"]) for m in items][1:] == [("Salamat po! <Ingat>", client_id)]


def test_customers_pages_carry_no_quick_replies(chat):
    customer, store, cid = chat
    add(store, "salamat")
    assert "quick" not in html(customer.page.get(f"/c/{cid}")).lower()


# -- encryption at rest ----------------------------------------------------------------------------

KEY = Fernet.generate_key().decode()


def stored_reply(app, reply_id):
    """The reply's document as MongoDB holds it."""
    with app.app_context():
        return QuickReply._get_collection().find_one({"_id": ObjectId(reply_id)})


@pytest.mark.settings(MESSAGE_ENCRYPTION_KEYS=KEY)
def test_the_text_is_stored_encrypted_and_reads_as_written(app, chat):
    customer, store, cid = chat
    customer.send(cid, "Paano po magbayad?")  # a store's composer opens once it was written to
    text = "GCash po: 0917 555 0101, Juan Dela Cruz"
    reply = add(store, "bayad", text).json
    stored = stored_reply(app, reply["id"])
    assert stored["text"].startswith(crypto.PREFIX)
    assert "0917" not in repr(stored) and "Dela Cruz" not in repr(stored)
    assert stored["shortcut"] == "bayad"  # plain: its lower-cased copy is the store's unique key
    assert add(store, "BAYAD").status_code == 409
    assert store.api.get("/api/quick-replies").json["items"][0]["text"] == text
    assert f'value="{text}"' in html(store.page.get(f"/c/{cid}"))  # the composer offers it


@pytest.mark.settings(MESSAGE_ENCRYPTION_KEYS=KEY)
def test_replies_stored_in_plain_text_still_work_and_get_encrypted(app, people):
    """Replies the version before stored in plain text are listed and edited as before; an edited
    text is stored encrypted, and `rotate-message-keys` encrypts the rest."""
    store = people.store()
    with app.app_context():
        QuickReply._get_collection().insert_many([
            {"_id": ObjectId(), "store_id": ObjectId(store.id), "shortcut": shortcut,
             "shortcut_key": shortcut.lower(), "text": text, "created_at": utcnow()}
            for shortcut, text in (("Oras", "Bukas po kami 7AM-7PM"),
                                   ("bayad", "GCash po: 0917 555 0101"))])
    listed = store.api.get("/api/quick-replies").json["items"]
    assert [(r["shortcut"], r["text"]) for r in listed] == [
        ("bayad", "GCash po: 0917 555 0101"), ("Oras", "Bukas po kami 7AM-7PM")]
    assert add(store, "oras").status_code == 409  # the old replies' shortcuts still count
    bayad, oras = listed

    edited = store.api.patch(f"/api/quick-replies/{oras['id']}", json={"text": "Bukas po 6AM-8PM"})
    assert edited.status_code == 200 and edited.json["text"] == "Bukas po 6AM-8PM"
    assert crypto.decrypt(stored_reply(app, oras["id"])["text"]) == "Bukas po 6AM-8PM"
    assert "6AM" not in repr(stored_reply(app, oras["id"]))
    renamed = store.api.patch(f"/api/quick-replies/{bayad['id']}", json={"shortcut": "gcash"})
    assert renamed.json == {**bayad, "shortcut": "gcash"}

    result = app.test_cli_runner().invoke(args=["rotate-message-keys"])
    assert result.exit_code == 0, result.output
    assert "rewrote 2 quick reply text(s)" in result.output
    assert "0917" not in repr(stored_reply(app, bayad["id"]))
    listed = store.api.get("/api/quick-replies").json["items"]
    assert [(r["shortcut"], r["text"]) for r in listed] == [
        ("gcash", "GCash po: 0917 555 0101"), ("Oras", "Bukas po 6AM-8PM")]


# -- data rights -----------------------------------------------------------------------------------

def test_a_stores_export_has_its_replies_and_deleting_it_erases_them(app, people):
    store = people.store()
    add(store, "salamat", "Salamat po!")
    exported = zipfile.ZipFile(io.BytesIO(store.api.get("/api/me/export").get_data()))
    replies = json.loads(exported.read("quick_replies.json"))["quick_replies"]
    assert [(r["shortcut"], r["text"]) for r in replies] == [("salamat", "Salamat po!")]
    assert "quick_replies.json" in exported.read("README.txt").decode()

    assert store.api.delete("/api/me", json={"password": PASSWORD}).status_code == 204
    with app.app_context():
        assert QuickReply.objects.count() == 0


@pytest.mark.e2e
def test_a_composer_drawn_by_a_live_event_lists_the_replies_too(server, sse):
    """Unblocked while the store's page is open: the composer the event draws has the list."""
    customer = server.register("customer", "Maria Santos")
    store = server.register("store", "Aling Nena's Sari-Sari")
    cid = customer.open_conversation(store)
    customer.send(cid, "Pabili po")
    assert store.call("POST", "/api/quick-replies",
                      json={"shortcut": "salamat", "text": "Salamat po!"}).status_code == 201
    store_tab = sse(server.url + "/events", headers=cookie_header(store.browser()))
    store_tab.wait_for_comments(1)
    assert customer.call("POST", f"/api/conversations/{cid}/block").status_code == 200
    assert customer.call("DELETE", f"/api/conversations/{cid}/block").status_code == 200
    unblocked = parse(store_tab.wait_for("conversation", count=2).data)
    slot = unblocked.by_id(f"composer-slot-{cid}")
    assert slot.find_all("form", id="composer")
    [button] = slot.by_id("quick-replies").find_all("button")
    assert button.attrs["value"] == "Salamat po!"
    # No client_id is known to an event: none is given, so no two sends share one.
    assert not slot.by_id("quick-replies").find_all("input", name="client_id")
