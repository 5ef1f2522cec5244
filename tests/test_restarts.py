"""Restarts lose nothing (issue 13): a rolling restart, a worker killed outright and a full stop,
each with clients reading real event streams while messages are sent, every message that got a
201 counted, and every stream resuming with its Last-Event-ID."""

import os
import signal
import threading
import time
import uuid

import pytest
import requests

from tests.support.bulk_accounts import BulkAccounts
from tests.support.outages import wait_until
from tests.support.storm import storm

pytestmark = pytest.mark.e2e

# Streams spread their reconnects over a couple of seconds, as in production (over ten).
RESTART_SETTINGS = {"SSE_RETRY_MS": "500", "SSE_RETRY_JITTER_MS": "2000",
                    "SSE_HEARTBEAT_SECONDS": "5", "MAX_STREAMS_PER_USER": "20"}


def assert_nothing_lost(result, streams, messages):
    assert not result.timed_out, result
    assert result.never_opened == 0 and result.failed_5xx == 0, result
    assert result.messages_sent == messages, result  # each send was accepted in the end ...
    assert result.lost == 0 and result.duplicated == 0, result  # ... and reached every stream once
    assert result.broken_streams >= streams, result  # every stream was cut, and came back


def test_a_rolling_restart_resumes_every_stream_with_nothing_lost_or_repeated(live_server):
    # Streams leave a stopping worker at once; GRACEFUL_TIMEOUT only bounds idle keep-alives.
    server = live_server(workers=2, GRACEFUL_TIMEOUT="5", **RESTART_SETTINGS)
    old_workers = set(server.worker_pids())

    def rolling_restart():
        server.process.send_signal(signal.SIGHUP)  # new workers start, the old ones stop
        wait_until(lambda: not old_workers & set(server.worker_pids())
                   and len(server.worker_pids()) == 2, 30, "the old workers never went away")

    result = storm(server, streams=200, messages=48, message_rate=4, open_seconds=3,
                   settle_seconds=30, time_limit=90, send_tries=20, during=rolling_restart)
    assert_nothing_lost(result, 200, 48)


def test_a_worker_killed_outright_has_its_streams_resume_on_the_others(live_server):
    server = live_server(workers=2, **RESTART_SETTINGS)
    killed = {}

    def kill_the_busiest_worker():
        held = server.connections_by_worker()
        pid = max(held, key=held.get)
        killed.update(pid=pid, streams=held[pid])
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: pid not in server.worker_pids() and len(server.worker_pids()) == 2,
                   30, "gunicorn did not replace the killed worker")

    result = storm(server, streams=200, messages=50, message_rate=4, open_seconds=3,
                   settle_seconds=30, time_limit=90, send_tries=20, during=kill_the_busiest_worker)
    assert killed["streams"] >= 100, killed  # of 200 streams on two workers, it held half or more
    assert not result.timed_out, result
    assert result.never_opened == 0 and result.failed_5xx == 0, result
    assert result.messages_sent == 50 and result.lost == 0 and result.duplicated == 0, result
    assert result.broken_streams >= killed["streams"] - 10, result  # its streams came back


def test_sigterm_ends_streams_with_a_retry_hint_in_time_and_loses_nothing_accepted(
        live_server, sse):
    graceful = 10
    server = live_server(GRACEFUL_TIMEOUT=str(graceful), SSE_RETRY_MS="1000",
                         SSE_RETRY_JITTER_MS="4000")
    accounts = BulkAccounts.for_server(server)
    try:
        customers, stores = accounts.users("customer", 4), accounts.users("store", 4)
        conversation_ids = accounts.conversations(list(zip(customers, stores)))
    finally:
        accounts.close()
    pairs = list(zip(customers, stores, conversation_ids))
    events_url = server.url + "/api/events"
    readers = [(person, sse(events_url, headers=person.headers))
               for customer, store, _ in pairs for person in (customer, store, store)]
    for _, stream in readers:
        stream.wait_for_comments(1)
    accepted = []  # (conversation, message id) of every send answered 201
    stop_sending = threading.Event()

    def keep_sending():
        session = requests.Session()
        for n in range(10_000):
            if stop_sending.is_set():
                return
            customer, _, conversation_id = pairs[n % len(pairs)]
            try:
                response = session.post(
                    f"{server.url}/api/conversations/{conversation_id}/messages",
                    headers=customer.headers, timeout=5,
                    json={"body": f"Order {n}", "client_id": uuid.uuid4().hex})
            except requests.RequestException:  # the server has stopped listening
                time.sleep(0.05)
                continue
            if response.status_code == 201:
                accepted.append((conversation_id, response.json()["id"]))
            time.sleep(0.02)

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        wait_until(lambda: len(accepted) >= 10, 20, "no message was accepted before the stop")
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for _, stream in readers:
            stream.wait_closed(timeout=graceful + 5)
        closed_after = time.monotonic() - stopped_at
        server.process.wait(graceful + 10)
    finally:
        stop_sending.set()
        sender.join()
    assert closed_after < graceful, closed_after  # ended on purpose, not cut at the timeout
    for _, stream in readers:  # told when to come back: a retry of its own after the first
        assert len(stream.retries) >= 2 and 1000 <= stream.retries[-1] <= 5000, stream.retries

    server.start()  # the same port, database and Redis: the next deploy
    participants = {conversation_id: {customer.id, store.id}
                    for customer, store, conversation_id in pairs}
    for person, stream in readers:
        resumed = sse(events_url,
                      headers={**person.headers, "Last-Event-ID": stream.last_id or "0-0"})
        theirs = {message_id for conversation_id, message_id in accepted
                  if person.id in participants[conversation_id]}
        wait_until(lambda: theirs <= received_ids(stream, resumed), 20,
                   f"{len(theirs - received_ids(stream, resumed))} accepted messages never came")
        every = [e.json["message"]["id"] for s in (stream, resumed) for e in s.of_type("message")]
        assert len(every) == len(set(every)), "a message arrived twice"


def received_ids(*streams):
    return {e.json["message"]["id"] for s in streams for e in s.of_type("message")}


def test_sigterm_after_a_rolling_restart_ends_every_stream_at_once_even_those_still_opening(
        live_server, sse):
    graceful = 30  # far above what a prompt stop takes
    # One open at a time, so that the clients coming back after the HUP are still opening (queued
    # or half-way) when the SIGTERM comes, as after a deploy with thousands of them.
    server = live_server(GRACEFUL_TIMEOUT=str(graceful), SSE_RETRY_MS="500",
                         SSE_RETRY_JITTER_MS="1000", STREAM_OPEN_CONCURRENCY="1")
    accounts = BulkAccounts.for_server(server)
    try:
        users = accounts.users("customer", 30)
    finally:
        accounts.close()
    events_url = server.url + "/api/events"
    first = [sse(events_url, headers=user.headers) for user in users]
    for stream in first:
        stream.wait_for_comments(1)
    old_workers = set(server.worker_pids())
    server.process.send_signal(signal.SIGHUP)
    for stream in first:  # the old worker tells each to come back
        stream.wait_closed(timeout=20)
        assert stream.retries and 500 <= stream.retries[-1] <= 1500, stream.retries
    wait_until(lambda: not old_workers & set(server.worker_pids())
               and len(server.worker_pids()) == 1, 30, "the old worker never went away")

    resumed, opened = [], threading.Event()

    def come_back(user):  # every client at once, as their browsers do
        try:
            resumed.append(sse(events_url, headers=user.headers, timeout=graceful + 10))
        except OSError:  # the stopping server no longer listens: the browser tries again later
            pass
        opened.set()

    openers = [threading.Thread(target=come_back, args=(user,)) for user in users]
    for opener in openers:
        opener.start()
    assert opened.wait(60), "no stream reopened on the new worker"
    stopped_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    for opener in openers:
        opener.join(graceful + 15)
    streams = [stream for stream in resumed if stream.status == 200]
    assert streams, [stream.status for stream in resumed]
    for stream in streams:
        stream.wait_closed(timeout=graceful + 5)
    closed_after = time.monotonic() - stopped_at
    server.process.wait(graceful + 10)
    stopped_after = time.monotonic() - stopped_at
    # Each told when to come back (a retry of its own after the first), none cut at the timeout.
    assert all(len(stream.retries) >= 2 for stream in streams), [s.retries for s in streams]
    # Far from the graceful timeout, with room for a slow machine (CI has two cores).
    assert closed_after < graceful / 2 and stopped_after < graceful * 2 / 3, (closed_after,
                                                                                stopped_after)
