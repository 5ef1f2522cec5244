"""Redis or MongoDB going away and coming back (issue 13): sends are refused with 503 and
Retry-After and leave nothing half-done, /healthz says so, and once the backend is back every
stream resumes and every accepted message arrives exactly once, without restarting the app. The
background tasks log an outage when it starts and when it ends, not every round."""

import logging
import re
import time
import uuid

import gevent
import pymongo
import pytest
import requests

from tests.support.fresh_hub import in_a_thread_of_its_own
from tests.support.outages import Cable, RedisServer, wait_until
from tests.support.storm import storm

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = 10
# Streams notice a dead Redis connection within a few seconds, and come back spread out.
OUTAGE_SETTINGS = {"SSE_RETRY_MS": "500", "SSE_RETRY_JITTER_MS": "1500",
                   "SSE_HEARTBEAT_SECONDS": "2", "REDIS_PUBSUB_PING_SECONDS": "2",
                   "MAX_STREAMS_PER_USER": "20"}


def health(server):
    try:
        return requests.get(server.url + "/healthz", timeout=20)
    except requests.RequestException:
        return None


def healthy(server):
    answer = health(server)
    return answer is not None and answer.status_code == 200


def refused_send(user, conversation_id, body):
    """A send made while a backend is away: answered 503 with Retry-After, as JSON."""
    started = time.monotonic()
    response = user.call("POST", f"/api/conversations/{conversation_id}/messages",
                         json={"body": body, "client_id": uuid.uuid4().hex})
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "unavailable"
    return time.monotonic() - started


def test_a_redis_gone_silent_is_a_503_within_the_command_timeout_not_a_hung_send(redis_server,
                                                                                 live_server):
    """Not refused, not closed: silent, as when its host is gone. Without a command timeout the
    send would wait for TCP to give up (many minutes), holding one of the worker's send turns."""
    cable = Cable(("127.0.0.1", redis_server.port)).plug()
    server = live_server(redis=f"redis://127.0.0.1:{cable.port}/0", COMMAND_TIMEOUT_SECONDS="1")
    customer = server.register("customer", "Maria Santos")
    conversation_id = customer.open_conversation(server.register("store", "Aling Nena's Store"))
    cable.mute()
    try:
        assert refused_send(customer, conversation_id, "Andiyan pa po kayo?") < 8
    finally:
        cable.pull()


@pytest.mark.over_the_wire
@pytest.mark.settings(COMMAND_TIMEOUT_SECONDS=1.5)
def test_mongodb_commands_wait_at_most_the_command_timeout_for_an_answer(app):
    import mongoengine

    assert mongoengine.get_connection().options.pool_options.socket_timeout == 1.5


def assert_every_accepted_message_arrived_once(result, messages):
    assert not result.timed_out, result
    assert result.never_opened == 0 and result.failed_5xx == 0, result
    assert result.refused_sends.get("503"), result  # the outage was felt, and said so ...
    assert result.refused_sends_without_retry_after == 0, result  # ... with when to come back
    assert result.messages_sent == messages, result
    assert result.lost == 0 and result.duplicated == 0, result


def assert_nothing_half_done(server, mongo_uri, refused, messages):
    """The sends refused for good were never stored; each storm message was, once."""
    with pymongo.MongoClient(mongo_uri) as client:
        bodies = [m["body"] for m in client[server.env["MONGODB_DB"]].messages.find()]
    assert not set(refused) & set(bodies)
    numbers = [int(m[1]) for m in map(re.compile(r"storm:(\d+):").match, bodies) if m]
    assert sorted(numbers) == list(range(messages))


@pytest.fixture
def redis_server(tmp_path):
    """A redis-server of the test's own, to stop and start (stopped after the app servers)."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def mongo_cable(shared_mongo_uri):
    """A Cable to the run's MongoDB, to pull out and plug in (pulled after the app servers)."""
    nodes = pymongo.uri_parser.parse_uri(shared_mongo_uri)
    if len(nodes["nodelist"]) != 1 or nodes["options"].get("replicaSet"):
        pytest.skip("cuts the connection to one MongoDB host; MONGODB_URI names a replica set")
    cable = Cable(nodes["nodelist"][0]).plug()
    yield cable
    cable.pull()


def test_redis_stopped_for_ten_seconds_then_everything_resumes_without_a_restart(
        redis_server, live_server, sse):
    server = live_server(redis=redis_server.url, **OUTAGE_SETTINGS)
    customer = server.register("customer", "Maria Santos")
    store = server.register("store", "Aling Nena's Store")
    conversation_id = customer.open_conversation(store)
    leaving = sse(store.events_url(), headers=store.headers)  # a tab closed during the outage
    leaving.wait_for_comments(1)
    probes = []

    def outage():
        redis_server.stop()
        stopped_at = time.monotonic()
        during = health(server)
        assert during.status_code == 503 and "redis" in during.json()["checks"], during.text
        assert during.json()["checks"]["redis"] != "ok"
        probes.append(f"Refused {uuid.uuid4().hex}")
        assert refused_send(customer, conversation_id, probes[-1]) < 15  # answered, not hung
        leaving.close()
        time.sleep(max(0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
        redis_server.start()
        wait_until(lambda: healthy(server), 20, "/healthz stayed 503 after Redis came back")

    result = storm(server, streams=100, messages=40, message_rate=2, open_seconds=2,
                   settle_seconds=40, time_limit=110, send_tries=40, during=outage)
    assert_every_accepted_message_arrived_once(result, 40)
    assert_nothing_half_done(server, server.env["MONGODB_URI"], probes, 40)
    assert_no_crashed_request(server)  # no request, no stream ended in a crash
    after = customer.send(conversation_id, "Nandito na po ulit")  # and live again
    assert after["body"] == "Nandito na po ulit"


def test_mongodb_unreachable_answers_503_and_recovers_without_a_restart(
        mongo_cable, live_server, shared_mongo_uri):
    cable = mongo_cable
    # Each request waits MONGODB_TIMEOUT_SECONDS for MongoDB before its 503.
    server = live_server(mongo=f"mongodb://127.0.0.1:{cable.port}/", **OUTAGE_SETTINGS,
                         AUTH_CACHE_SECONDS="0", MONGODB_TIMEOUT_SECONDS="2")
    customer = server.register("customer", "Maria Santos")
    store = server.register("store", "Aling Nena's Store")
    conversation_id = customer.open_conversation(store)
    page = store.browser()
    probes = []

    def outage():
        cable.pull()
        pulled_at = time.monotonic()
        during = health(server)
        assert during.status_code == 503 and during.json()["checks"]["mongodb"] != "ok"
        assert during.json()["checks"]["redis"] == "ok"
        probes.append(f"Refused {uuid.uuid4().hex}")
        assert refused_send(customer, conversation_id, probes[-1]) < 15
        listing = customer.call("GET", f"/api/conversations/{conversation_id}/messages")
        assert listing.status_code == 503 and listing.json()["error"]["code"] == "unavailable"
        inbox = page.get(server.url + "/inbox", timeout=10)
        assert inbox.status_code == 503 and inbox.headers["Content-Type"].startswith("text/html")
        assert "try again" in inbox.text and "Traceback" not in inbox.text
        time.sleep(max(0, OUTAGE_SECONDS / 2 - (time.monotonic() - pulled_at)))
        cable.plug()
        wait_until(lambda: healthy(server), 20, "/healthz stayed 503 after MongoDB came back")
        assert page.get(server.url + "/inbox", timeout=10).status_code == 200

    result = storm(server, streams=40, messages=24, message_rate=2, open_seconds=2,
                   settle_seconds=30, time_limit=90, send_tries=40, during=outage)
    page.close()  # an idle keep-alive would hold the stopping worker
    assert_every_accepted_message_arrived_once(result, 24)
    assert_nothing_half_done(server, shared_mongo_uri, probes, 24)
    # Events come from Redis: the open streams went on through the outage, none ended in a crash.
    assert result.broken_streams == 0, result
    assert_no_crashed_request(server)


@in_a_thread_of_its_own
def test_a_redis_outage_is_logged_when_it_starts_and_ends_not_every_round_of_the_presence_tasks(
        redis_server, tmp_path, caplog, monkeypatch):
    import mongoengine

    from elako import create_app, realtime
    from elako.services import presence
    from tests.conftest import make_config

    monkeypatch.setattr(presence, "HEARTBEAT_FLUSH_SECONDS", 0.05)
    app = create_app(make_config(redis_server.url, tmp_path, PRESENCE_SWEEP_SECONDS=0.05))
    caplog.set_level(logging.INFO, logger="elako.realtime.hub")
    try:
        with app.app_context():
            hub = realtime.get_hub()  # runs the sweep and the heartbeat flush every 0.05 s
            gevent.sleep(0.3)
            redis_server.stop()
            presence.heartbeat("user-1", "tab-1")  # a stream beats during the outage
            gevent.sleep(1.5)  # some 30 failed rounds of each
            during = [r for r in caplog.records if r.name == "elako.realtime.hub"]
            redis_server.start()
            deadline = time.monotonic() + 10
            while len(answered_again(caplog)) < 2 and time.monotonic() < deadline:
                gevent.sleep(0.05)
            hub.stop()
            beat = app.extensions["redis"].zscore(presence._key("user-1", "conns"), "tab-1")
    finally:
        mongoengine.get_connection().drop_database(app.config["MONGODB_DB"])
        mongoengine.disconnect()
    assert sorted((r.levelno, r.getMessage().split(":")[0]) for r in during) == [
        (logging.WARNING, "periodic task flush_heartbeats"),
        (logging.WARNING, "periodic task sweep_presence")], [r.getMessage() for r in during]
    assert all("Redis unavailable" in r.getMessage() and not r.exc_info for r in during)
    assert sorted(answered_again(caplog)) == ["flush_heartbeats", "sweep_presence"], caplog.text
    assert beat is not None  # the beat Redis missed went with the first flush after


def answered_again(caplog):
    """The periodic tasks that logged Redis answering again."""
    return [re.match(r"periodic task (\w+)", r.getMessage()).group(1) for r in caplog.records
            if r.name == "elako.realtime.hub" and "Redis answers again" in r.getMessage()]


@in_a_thread_of_its_own
def test_a_periodic_task_failing_for_another_reason_logs_its_traceback_every_round(caplog):
    from elako.realtime.hub import LiveHub

    def sweep_presence():
        raise ValueError("a bug, not an outage")

    hub = LiveHub("redis://127.0.0.1:1/0", "test:hub")
    hub.spawn_periodic(0.01, sweep_presence)
    gevent.sleep(0.2)
    hub.stop()
    failures = [r for r in caplog.records if r.name == "elako.realtime.hub"]
    assert len(failures) >= 3, caplog.text
    assert all(r.levelno == logging.ERROR and r.exc_info[0] is ValueError for r in failures)


def assert_no_crashed_request(server):
    log = server.log()
    crash = log.find("Error handling request")
    assert crash == -1, log[max(0, crash - 2000):crash + 3000]
