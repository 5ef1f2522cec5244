"""Customers' privacy from stores, tried as a nosy store would: walking ids finds nobody, a store
cannot write first, and presence reaches only people someone has messages with, or nobody."""

import time

import pytest
from bson import ObjectId

from elako.services import presence
from tests.support.answers import error_of


def open_as_store(store, customer_id):
    return store.api.post("/api/conversations", json={"customer_id": customer_id})


def near(object_id, steps):
    """Ids a walker would try around a known one (the counter part of an ObjectId)."""
    value = int(object_id, 16)
    return [f"{value + step:024x}" for step in steps]


@pytest.mark.settings(RATE_LIMIT_OPEN_CONVERSATION="500 per hour")
def test_a_store_walking_ids_finds_nobody(people):
    store, rival = people.store(), people.store(name="Rival")
    maria = people.customer(name="Maria Santos")  # has never written to this store
    maria.send(maria.open_conversation(rival), "Hello rival")
    walk = ([maria.id, "not-an-id", str(ObjectId())] + near(store.id, range(-40, 41))
            + near(rival.id, range(-40, 41)))
    answers = [open_as_store(store, candidate) for candidate in walk]
    assert {a.status_code for a in answers} == {404}
    # Nothing tells them apart.
    assert {str(error_of(a.json)) for a in answers} == {str(error_of(answers[-1].json))}
    assert "Maria" not in str([a.json for a in answers])


def test_ids_others_see_are_random(people):
    """ObjectIds made by one process count up from a timestamp: the next id is guessable."""
    first, second = people.customer(), people.customer()
    cid = first.open_conversation(people.store())
    now = time.time()
    for made in (first.id, second.id, cid):
        assert abs(ObjectId(made).generation_time.timestamp() - now) > 3600
    assert first.id[:16] != second.id[:16]


def test_a_store_cannot_write_first_even_with_the_conversation_id(people, chat):
    customer, store, cid = chat  # the customer opened it, but has not written yet
    missing = str(ObjectId())
    for method, path, body in (("get", "/api/conversations/{}", None),
                               ("post", "/api/conversations/{}/messages", {"body": "Sale!"}),
                               ("post", "/api/conversations/{}/typing", {"state": "start"})):
        tried = getattr(store.api, method)(path.format(cid), **({"json": body} if body else {}))
        ghost = getattr(store.api, method)(path.format(missing), **({"json": body} if body else {}))
        assert tried.status_code == ghost.status_code == 404 and error_of(tried.json) == error_of(ghost.json)
    assert store.page.get(f"/c/{cid}").status_code == 404
    assert open_as_store(store, customer.id).status_code == 404
    customer.send(cid, "May Milo po kayo?")
    assert open_as_store(store, customer.id).json["id"] == cid
    assert store.api.post(f"/api/conversations/{cid}/messages", json={"body": "Meron po"}
                          ).status_code == 201


@pytest.mark.settings(RATE_LIMIT_OPEN_CONVERSATION="3 per hour")
def test_opening_conversations_is_limited_per_user(people):
    store = people.store()
    answers = [open_as_store(store, str(ObjectId())) for _ in range(4)]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    customer = people.customer()
    assert customer.api.post("/api/conversations", json={"store_id": store.id}).status_code == 201


def come_online(app, person):
    from elako.models import User

    with app.app_context():
        presence.open_connection(User.objects.get(id=person.id), 10)


def shown_presence(viewer, cid):
    return viewer.api.get(f"/api/conversations/{cid}").json["other"].get("presence")


def test_presence_only_between_people_with_messages(app, chat):
    customer, store, cid = chat
    come_online(app, store)
    come_online(app, customer)
    assert shown_presence(customer, cid) is None  # an empty conversation shows nobody
    assert f"presence-{store.id}" not in customer.page.get(f"/c/{cid}").get_data(as_text=True)
    customer.send(cid, "Hello po")
    assert shown_presence(customer, cid)["online"] is True
    assert shown_presence(store, cid)["online"] is True
    assert f"presence-{customer.id}" in store.page.get("/inbox").get_data(as_text=True)


def test_hidden_presence_is_shown_to_nobody_and_announced_as_offline(app, chat, monkeypatch):
    customer, store, cid = chat
    customer.send(cid, "Hello po")
    come_online(app, customer)
    come_online(app, store)
    announced = []
    monkeypatch.setattr(presence.realtime, "signal",
                        lambda kind, users, data: announced.append((kind, users, data)))
    hidden = customer.api.patch("/api/me", json={"hide_presence": True})
    assert hidden.status_code == 200 and hidden.json["hide_presence"] is True
    assert [(k, [str(u) for u in users], d) for k, users, d in announced] == [
        ("presence", [store.id], {"user_id": customer.id, "online": False, "last_seen_at": None})]
    assert shown_presence(store, cid) is None
    for page in ("/inbox", f"/c/{cid}"):
        assert f"presence-{customer.id}" not in store.page.get(page).get_data(as_text=True)
    # Coming online again while hidden tells nobody.
    announced.clear()
    come_online(app, customer)
    assert not announced
    # Hiding goes both ways only by choice: she still sees the store.
    assert shown_presence(customer, cid)["online"] is True


def test_the_settings_form_hides_presence_without_javascript(app, chat):
    customer, store, cid = chat
    customer.send(cid, "Hello po")
    form = {"name": customer.name, "timezone": "Asia/Manila"}
    saved = customer.page.post("/settings", {**form, "hide_presence": "on"})
    assert saved.status_code == 303
    assert customer.api.get("/api/me").json["hide_presence"] is True
    assert shown_presence(store, cid) is None
    customer.page.post("/settings", form)  # unticked: a browser sends nothing for it
    assert customer.api.get("/api/me").json["hide_presence"] is False
    assert shown_presence(store, cid) is not None


@pytest.mark.parametrize("body, field", [({"hide_presence": "yes"}, "hide_presence"),
                                         ({"name": ""}, "name"),
                                         ({"timezone": "Mars/Olympus"}, "timezone")])
def test_changing_settings_over_the_api_checks_each_field(people, body, field):
    person = people.customer()
    refused = person.api.patch("/api/me", json=body)
    assert refused.status_code == 422 and refused.json["error"]["field"] == field
    me = person.api.get("/api/me").json
    assert me["hide_presence"] is False and me["name"] == person.name
