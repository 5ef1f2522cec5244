"""What the hot paths cost in MongoDB round trips, counted with pymongo's command monitoring: counts
are deterministic where times are not (and mongomock's times say nothing about MongoDB)."""

import pytest
from pymongo import monitoring

from elako.services import messages, privacy

pytestmark = pytest.mark.over_the_wire


class CommandLog(monitoring.CommandListener):
    """The names of the commands sent to one database while recording."""

    def __init__(self):
        self.database = None
        self.commands = None
        self.collections = []  # what each recorded command was about

    def started(self, event):
        if self.commands is not None and event.database_name == self.database:
            self.commands.append(event.command_name)
            self.collections.append(event.command.get(event.command_name))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def during(self, action):
        """The commands `action()` sent."""
        self.commands, self.collections = [], []
        try:
            action()
            return self.commands
        finally:
            self.commands = None


_log = CommandLog()
monitoring.register(_log)  # before any client exists: pymongo attaches listeners at creation


@pytest.fixture
def database_commands(app):
    """`database_commands(action)`: the commands `action()` sent to the app's database. The
    worker's session cache is on, as it is while a gunicorn worker's hub hears sign-outs."""
    _log.database = app.config["MONGODB_DB"]
    app.extensions["session_cache"]._is_listening = lambda: True
    return _log.during


def test_a_send_costs_three_round_trips(chat, database_commands):
    customer, _, cid = chat
    customer.send(cid, "warm-up")  # the first request of a session reads it once

    def send():
        response = customer.api.post(f"/api/conversations/{cid}/messages",
                                     json={"body": "May Milo pa po?", "client_id": "q-1"})
        assert response.status_code == 201

    # Record in the conversation (authorises, numbers, counts), store, count the receiver's unread.
    assert database_commands(send) == ["findAndModify", "insert", "aggregate"]


def test_a_signed_in_request_reads_nothing_to_authenticate(chat, database_commands):
    customer, store, cid = chat
    customer.api.get("/api/me")
    assert database_commands(lambda: customer.api.get("/api/me")) == []
    page = store.page
    page.get("/inbox")  # (not /settings: it lists the sessions, so it reads them to show them)
    database_commands(lambda: page.get("/inbox"))
    assert not {"auth_sessions", "users"} & set(_log.collections)  # only what the page shows


def test_a_session_not_cached_yet_is_read_in_one_round_trip(app, chat, database_commands):
    customer, _, _ = chat
    app.extensions["session_cache"].clear()  # as on a worker that just started
    assert database_commands(lambda: customer.api.get("/api/me")) == ["aggregate"]
    assert database_commands(lambda: customer.api.get("/api/me")) == []


def test_an_event_stream_reads_its_session_without_keeping_it_cached(app, chat, database_commands):
    customer, store, _ = chat
    cache = app.extensions["session_cache"]
    page = store.page
    for open_stream in (lambda: page.http.get("/events", buffered=False).close(),
                        lambda: customer.api.get("/api/events", buffered=False).close()):
        cache.clear()
        assert "aggregate" in database_commands(open_stream)  # the stream read its session...
        assert len(cache) == 0  # ...and holds its documents itself, for as long as it is open
    # An ordinary request caches it: the next one reads nothing.
    assert database_commands(lambda: customer.api.get("/api/me")) == ["aggregate"]
    assert database_commands(lambda: customer.api.get("/api/me")) == []


def test_a_cached_session_signed_out_is_refused_at_once(chat, database_commands):
    customer, _, _ = chat
    assert customer.api.get("/api/me").status_code == 200  # cached now
    assert customer.api.delete("/api/auth/token").status_code == 204
    assert customer.api.get("/api/me").status_code == 401


def test_a_burst_delivered_to_a_stream_is_marked_in_one_write(app, chat, database_commands):
    customer, store, cid = chat
    sent = [customer.send(cid, f"Item {n}") for n in range(5)]
    with app.app_context():
        commands = database_commands(lambda: messages.mark_delivered(store.id, sent))
    assert commands == ["update"]
    receipts = _events(app, customer.id, "delivered")
    assert len(receipts) == 1 and receipts[0]["message_ids"] == [m["id"] for m in sent]
    assert receipts[0]["up_to_seq"] == sent[-1]["seq"]


def test_coming_online_marks_what_waited_in_two_round_trips(app, chat, database_commands):
    customer, store, cid = chat
    for n in range(3):
        customer.send(cid, f"Item {n}")
    with app.app_context():
        assert database_commands(lambda: messages.mark_delivered(store.id)) == ["find", "update"]
        assert database_commands(lambda: messages.mark_delivered(store.id)) == ["find"]


def _events(app, user_id, kind):
    import json

    redis = app.extensions["redis"]
    key = app.extensions["bus"].stream_key(user_id)
    return [json.loads(f["data"]) for _, f in redis.xrange(key) if f["type"] == kind]


def test_a_live_row_shows_presence_without_reading_users(app, chat, database_commands):
    customer, store, cid = chat
    customer.send(cid, "May Milo pa po?")
    row = store.api.get(f"/api/conversations/{cid}").json  # the row as the store's events carry it
    with app.app_context():
        assert customer.id in privacy.shown_presence([row])  # reads who hides it, once
        assert database_commands(lambda: privacy.shown_presence([row])) == []

    assert customer.api.patch("/api/me", json={"hide_presence": True}).status_code == 200
    with app.app_context():
        assert privacy.shown_presence([row]) == {}  # the change reached the cache at once
