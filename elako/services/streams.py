"""The rules of one open event stream. The wire format lives in `elako.blueprints.events`.

On connect:
1. Subscribe to the user's live channel and wait for Redis to confirm, *then* read the stream, so
   nothing published in between is missed (duplicates are dropped by id).
2. Without Last-Event-ID start from the newest event. With one that the stream still holds, replay
   everything after it in order. With one it no longer holds (trimmed, expired, malformed), send a
   single `resync` event carrying the newest id: the client reloads its state from MongoDB.
3. Register the connection for presence and mark what was waiting for the user as delivered.

Then forward live events, skipping any id at or below the last one sent; re-read the stream when
the hub says the subscription may have lost something. Every SSE_HEARTBEAT_SECONDS send a comment
(it finds dead clients: only a write can), refresh presence, and now and then re-check that the
session still exists. A `session_revoked` signal for this session ends the stream at once.
"""

import time

from flask import current_app

from ..errors import RateLimited
from ..models import AuthSession, utcnow
from ..realtime import get_bus, get_hub
from ..realtime.bus import Event, HistoryGap, parse_id
from ..realtime.hub import CATCH_UP
from . import messages, presence

KEEPALIVE = Event("keepalive", {})
SESSION_RECHECK_SECONDS = 60


def reserve(user):
    """Take a slot for a new stream of `user`, or refuse past the per-user cap (a runaway script,
    or a hundred tabs) with 429. Returns the connection id to pass to `events`."""
    connection_id = presence.reserve(user, current_app.config["MAX_STREAMS_PER_USER"])
    if connection_id is None:
        raise RateLimited("Too many open connections for this account. Close some tabs.",
                          code="too_many_streams",
                          retry_after=max(1, round(current_app.config["PRESENCE_TTL_SECONDS"])))
    return connection_id


def _session_alive(session_id):
    return bool(AuthSession.objects(id=session_id, expires_at__gt=utcnow()).count())


def _signed_out(reason):
    return Event("signed_out", {"reason": reason})


def events(user, session, last_event_id, connection_id):
    """Yield the Events this user's stream sends, until the session ends, and KEEPALIVE when idle.

    `session` is the AuthSession the stream was opened with, `connection_id` the slot `reserve`
    gave. The caller writes each event to the client before asking for the next, so code after a
    `yield` runs only once the event went out.
    """
    bus = get_bus()
    hub = get_hub()
    heartbeat = current_app.config["SSE_HEARTBEAT_SECONDS"]
    session_id = session.id
    expires_in = (session.expires_at - utcnow()).total_seconds()
    deadline = time.monotonic() + expires_in
    connected = False
    try:
        subscription = hub.subscribe(bus.channel(user.id))
    except BaseException:
        presence.release(user, connection_id)
        raise
    try:
        # Subscribed: a sign-out from now on reaches this stream. One that came just before is
        # caught here.
        if not _session_alive(session_id):
            yield _signed_out("signed_out")
            return
        if last_event_id is None:
            cursor = bus.latest_id(user.id)
        elif parse_id(last_event_id) is None or not bus.can_resume(user.id, last_event_id):
            cursor = bus.latest_id(user.id)
            # Carries the newest id (or "0-0" for an empty stream) so the next reconnect resumes.
            yield Event("resync", {"reason": "history_gap", "last_event_id": cursor}, cursor)
        else:
            cursor = last_event_id
            for event in _read_after(bus, user, cursor):
                yield event
                cursor = event.id
        presence.connect(user, connection_id)
        connected = True
        messages.mark_delivered(user)  # what was replayed, and whatever else waited for them

        next_beat = time.monotonic() + heartbeat
        next_session_check = time.monotonic() + SESSION_RECHECK_SECONDS
        while True:
            wake = min(next_beat, deadline)
            item = subscription.get(timeout=max(0, wake - time.monotonic()))
            if item is CATCH_UP:
                for event in _read_after(bus, user, cursor):
                    yield event
                    cursor = event.id
                    _after_sent(user, event)
            elif item is not None and item.id is None:
                if item.type == "session_revoked":
                    if item.data["session_id"] == str(session_id):
                        yield _signed_out("signed_out")
                        return
                else:
                    yield item
            elif item is not None and parse_id(item.id) > parse_id(cursor):
                yield item
                cursor = item.id
                _after_sent(user, item)
            now = time.monotonic()
            if now >= deadline:
                yield _signed_out("expired")
                return
            if now >= next_beat:
                yield KEEPALIVE
                presence.heartbeat(user, connection_id)
                next_beat = now + heartbeat
                if now >= next_session_check:
                    if not _session_alive(session_id):
                        yield _signed_out("signed_out")
                        return
                    next_session_check = now + SESSION_RECHECK_SECONDS
    finally:
        hub.unsubscribe(subscription)
        if connected:
            presence.disconnect(user, connection_id)
        else:
            presence.release(user, connection_id)


def _read_after(bus, user, cursor):
    """Stored events after `cursor`; where they cannot be read, a resync to the newest instead."""
    try:
        yield from bus.read_after(user.id, cursor)
    except HistoryGap:
        newest = bus.latest_id(user.id)
        yield Event("resync", {"reason": "history_gap", "last_event_id": newest}, newest)


def _after_sent(user, event):
    """A message that just went out on the receiver's own stream is now delivered."""
    if event.type == "message" and event.data["message"]["receiver_id"] == str(user.id):
        messages.mark_delivered(user, [event.data["message"]["id"]])
