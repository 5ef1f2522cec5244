"""The rules of one open event stream (and of a long poll). The wire format lives in
`elako.blueprints.events`; docs/events.md describes the protocol.

Opening, all before the response's first byte, so a client that has the headers misses nothing
published after them:
1. Admission: at most STREAM_OPEN_CONCURRENCY streams of this worker do their opening work at once
   and STREAM_OPEN_QUEUE more wait their turn; anything beyond gets 503 with a jittered Retry-After.
   After a deploy every client comes back within seconds, and streams already open must keep their
   latency meanwhile.
2. Authenticate, take one of the user's stream slots and count them online (one Redis round trip).
3. Register with the worker's hub, *then* fix the cursor (one round trip): events published after
   the cursor arrive live, or, if the subscription was not yet confirmed by Redis, through the
   catch-up read the hub triggers when it is.
4. Without Last-Event-ID start from the newest event. With one that the stream still holds, replay
   everything after it in order. With one it no longer holds (trimmed, expired, malformed), send a
   single `resync` event carrying the newest id: the client reloads its state from MongoDB.

Then: mark what waited for the user as delivered, and forward live events, skipping any id at or
below the last one sent; re-read the stream when the hub says the subscription may have lost
something. Messages that reached the user are marked delivered in one write per burst, not one per
event. Every SSE_HEARTBEAT_SECONDS send a comment (it finds dead clients: only a write can), keep
presence alive, and now and then re-check that the session still exists. A `session_revoked`
signal for this session ends the stream at once; so does the worker shutting down, with a jittered
reconnect delay so its clients do not all come back in the same second.
"""

import logging
import math
import random
import time
from contextlib import contextmanager

import gevent.lock
import pymongo.errors
import redis
from flask import current_app

from .. import metrics
from ..errors import RateLimited, Unauthorized, Unavailable
from ..models import utcnow
from ..realtime import get_bus, get_hub, session_cache
from ..realtime.bus import Event, HistoryGap, parse_id
from ..realtime.hub import CATCH_UP, SHUTDOWN
from . import accounts, messages, presence, ratelimit
from .gates import per_worker

log = logging.getLogger(__name__)

KEEPALIVE = Event("keepalive", {})
SESSION_RECHECK_SECONDS = 60
BUSY = "This server is busy. Your connection will be retried in a moment."
# Messages a stream sent are marked delivered when it has nothing more to send right now, or
# after this many in an unbroken burst.
DELIVERED_BATCH = 100
# Events one long poll answers with at most; the next poll carries on from the last one.
POLL_LIMIT = 200


class Reconnect:
    """The last thing a stream sends when its worker stops: come back after `retry_ms`."""

    def __init__(self, retry_ms):
        self.retry_ms = retry_ms


def retry_ms():
    """A reconnect delay for one client, spread over SSE_RETRY_MS + [0, SSE_RETRY_JITTER_MS), so a
    crowd of clients cut off together does not come back together."""
    cfg = current_app.config
    return cfg["SSE_RETRY_MS"] + random.randrange(cfg["SSE_RETRY_JITTER_MS"] + 1)


def _busy(expected_wait=0.0):
    """503 for an open the worker cannot take now. Retry-After is the usual jittered delay, or,
    when a backlog is ahead, the time it takes to drain stretched by a random factor of 1-2:
    a crowd told to come back at once would only be turned away again, costing the worker more
    in refusals than it spends opening streams."""
    seconds = max(retry_ms() / 1000, expected_wait * random.uniform(1.0, 2.0))
    return Unavailable(BUSY, code="busy", retry_after=math.ceil(min(seconds, MAX_RETRY_AFTER)))


# The longest Retry-After a busy worker gives.
MAX_RETRY_AFTER = 120


class Admission:
    """A worker's gate for stream opens: `concurrency` at a time; more wait their turn, as many
    as `queue`, and only if the opens ahead of them should be done within `wait_seconds` at the
    rate the worker has been opening streams. Anyone else is refused at once (503, Retry-After
    from the backlog), so waiting never ends in a refusal after all."""

    def __init__(self, concurrency, queue, wait_seconds):
        self._slots = gevent.lock.BoundedSemaphore(concurrency)
        self._queue = queue
        self._wait_seconds = wait_seconds
        self.waiting = 0
        # Opens done per second while others queued (what the worker can take), smoothed; None
        # until it has been measured.
        self.rate = None
        self._done, self._since = 0, time.monotonic()

    def _expected_wait(self):
        return (self.waiting + 1) / self.rate if self.rate else 0.0

    @contextmanager
    def slot(self):
        if get_hub().stopping:
            raise _busy()
        if not self._slots.acquire(blocking=False):
            expected = self._expected_wait()
            if self.waiting >= self._queue or expected > self._wait_seconds:
                raise _busy(expected)
            self.waiting += 1
            try:
                admitted = self._slots.acquire(timeout=self._wait_seconds)
            finally:
                self.waiting -= 1
            if not admitted:
                raise _busy(self._expected_wait())
        try:
            yield
        finally:
            self._slots.release()
            self._count_done()

    def _count_done(self):
        if not self.waiting:  # nobody queued: the gate was not the limit, so no measure of it
            self._done, self._since = 0, time.monotonic()
            return
        self._done += 1
        elapsed = time.monotonic() - self._since
        if elapsed >= 1.0:
            measured = self._done / elapsed
            self.rate = measured if self.rate is None else (self.rate + measured) / 2
            self._done, self._since = 0, time.monotonic()


def admission():
    """This worker's admission gate (`with admission(): ...` around a stream's opening work)."""
    return per_worker("stream_admission", lambda cfg: Admission(
        cfg["STREAM_OPEN_CONCURRENCY"], cfg["STREAM_OPEN_QUEUE"], cfg["STREAM_OPEN_WAIT_SECONDS"],
    )).slot()


class EventStream:
    """One open stream of `user`'s events, opened (subscribed, cursor fixed) on construction.
    `resuming`: `last_event_id` is where an earlier stream of the same client stopped (a
    reconnect), not a cursor from some other source (a page drawn before the stream opened)."""

    # A worker holds thousands of these: slots rather than a dict each, and the user's id rather
    # than their document.
    __slots__ = ("user_id", "session_id", "deadline", "bus", "hub", "subscription", "undelivered",
                 "mark_again_at", "heard_since", "connection_id", "first_here", "opening",
                 "replaying", "replayed_all", "cursor")

    def __init__(self, user, session, last_event_id, *, resuming=False):
        self.user_id = user.id
        self.session_id = str(session.id)
        self.deadline = time.monotonic() + (session.expires_at - utcnow()).total_seconds()
        self.bus, self.hub = get_bus(), get_hub()
        self.subscription = None
        self.undelivered = []  # messages sent to the user, not yet marked delivered
        self.mark_again_at = 0.0  # after MongoDB failed to mark them, not before this
        # The session cache's generation when the session was last known to stand (it changes
        # whenever the hub reconnects: sign-outs may have gone unheard in between).
        self.heard_since = session_cache().generation
        self.connection_id = None
        ratelimit.hit("stream_open", user.id)
        self.connection_id = presence.open_connection(
            user, current_app.config["MAX_STREAMS_PER_USER"])
        if self.connection_id is None:
            raise RateLimited("Too many open connections for this account. Close some tabs.",
                              code="too_many_streams",
                              retry_after=max(1, round(current_app.config["PRESENCE_TTL_SECONDS"])))
        metrics.OPEN_STREAMS.inc()
        try:
            channel = self.bus.channel(user.id)
            # Another stream of the user on this worker is (or will be) live and marks what
            # reaches the user; it also marks what waited, so this one need not read for it again.
            self.first_here = not self.hub.has_subscribers(channel)
            self.subscription = self.hub.subscribe(channel)
            if session_cache().signed_out(self.session_id):
                # Signed out after the authentication, before the subscription could hear it.
                raise Unauthorized("This session was signed out.", code="token_revoked")
            valid = last_event_id is not None and parse_id(last_event_id) is not None
            newest, resumable = self.bus.position(user.id, last_event_id if valid else None)
        except BaseException:
            self.close()
            raise
        self.opening = []  # what goes out before any replay
        self.replaying = valid and resumable
        if self.replaying:
            metrics.REPLAYS.inc()
        # Resuming (`last_event_id` is where an earlier stream of this client stopped, and that
        # stream marked what it delivered), a whole replay carries every message that reached the
        # user since: a reconnect storm needs no search for what waited. A first connection, or a
        # partial replay, leaves the search to do.
        self.replayed_all = self.replaying and resuming
        if self.replaying:
            self.cursor = last_event_id
        else:
            self.cursor = newest
            if last_event_id is not None:
                # Carries the newest id (or "0-0" for an empty stream) so the next reconnect
                # resumes from there.
                self.opening.append(_resync(newest))

    def events(self):
        """Yield the Events this stream sends until the session ends, and KEEPALIVE when idle.

        The caller writes each event to the client before asking for the next, so code after a
        `yield` runs only once the event went out."""
        try:
            yield from self.opening
            if self.replaying:
                yield from self._stored()
            if self.first_here and not self.replayed_all:
                self.undelivered = []
                messages.mark_delivered(self.user_id)  # what was replayed, and whatever else waited
            # The live loop is here rather than a generator of its own: every idle stream keeps
            # each level of nesting in its saved greenlet stack.
            heartbeat = current_app.config["SSE_HEARTBEAT_SECONDS"]
            next_beat = time.monotonic() + heartbeat
            next_session_check = time.monotonic() + SESSION_RECHECK_SECONDS
            while True:
                if self.undelivered and (self.subscription.idle()
                                         or len(self.undelivered) >= DELIVERED_BATCH):
                    self._mark_delivered()
                item = None  # a waiting stream keeps no event (a whole message) from before
                item = self.subscription.get(until=min(next_beat, self.deadline))
                if item is SHUTDOWN:
                    yield Reconnect(retry_ms())
                    return
                if item is CATCH_UP:
                    # Also where a sign-out that came before the subscription took effect is caught.
                    if not self._session_stored():
                        yield _signed_out("signed_out")
                        return
                    yield from self._stored()
                elif item is not None and item.id is None:
                    if item.type == "session_revoked":
                        if item.data["session_id"] == self.session_id:
                            yield _signed_out("signed_out")
                            return
                    else:
                        yield item
                elif item is not None and parse_id(item.id) > parse_id(self.cursor):
                    yield item
                    self._sent(item)
                now = time.monotonic()
                if now >= self.deadline:
                    yield _signed_out("expired")
                    return
                if now >= next_beat:
                    yield KEEPALIVE
                    presence.heartbeat(self.user_id, self.connection_id)
                    next_beat = now + heartbeat
                    if now >= next_session_check:
                        if not self._session_alive():
                            yield _signed_out("signed_out")
                            return
                        next_session_check = now + SESSION_RECHECK_SECONDS
        finally:
            self.close()

    def _session_alive(self):
        """Whether the stream's session still stands. A sign-out reaches every worker's hub, so
        while the hub stayed connected this process knows without reading the database; only
        after a reconnect (sign-outs may have gone unheard meanwhile) is the session read again."""
        cache = session_cache()
        if cache.signed_out(self.session_id):
            return False
        if cache.enabled and cache.generation == self.heard_since:
            return True
        self.heard_since = cache.generation
        return self._session_stored()

    def _session_stored(self):
        """Whether MongoDB still holds the stream's session. With MongoDB away the stream goes on
        (its events come from Redis): the session stood when it opened, and no sign-out can end
        it meanwhile, since ending a session is a write to MongoDB."""
        try:
            return accounts.session_alive(self.session_id)
        except pymongo.errors.ConnectionFailure as exc:
            log.warning("could not check session %s: %s", self.session_id, exc)
            return True

    def _stored(self, limit=None):
        """Stored events after the cursor (at most `limit`), each followed by moving the cursor;
        where they cannot be read, or are more than STREAM_REPLAY_MAX_BYTES, a resync to the
        newest instead: past that, reloading the page's state costs less than the events."""
        budget = current_app.config["STREAM_REPLAY_MAX_BYTES"]
        try:
            for count, event in enumerate(self.bus.read_after(self.user_id, self.cursor), 1):
                budget -= event.size
                if budget < 0:
                    raise HistoryGap("more to replay than one replay sends")
                yield event
                self._sent(event)
                if count == limit:
                    return
        except HistoryGap:
            self.replayed_all = False
            newest = self.bus.latest_id(self.user_id)
            yield _resync(newest)
            self.cursor = newest

    def _sent(self, event):
        self.cursor = event.id
        if event.type == "message" and event.data["message"]["receiver_id"] == str(self.user_id):
            self.undelivered.append(event.data["message"])

    def _mark_delivered(self):
        """Mark what the stream sent as delivered. A backend going away does not end the stream:
        with MongoDB away the messages wait for a try a heartbeat later; with Redis away (they
        are marked, only the senders' receipt could not be announced) the receipt shows when
        the senders next load the conversation."""
        if time.monotonic() < self.mark_again_at:
            return
        sent, self.undelivered = self.undelivered, []
        try:
            messages.mark_delivered(self.user_id, sent)
        except pymongo.errors.ConnectionFailure as exc:
            self.undelivered = sent + self.undelivered
            self.mark_again_at = time.monotonic() + current_app.config["SSE_HEARTBEAT_SECONDS"]
            log.warning("could not mark %d messages to %s delivered: %s",
                        len(sent), self.user_id, exc)
        except redis.RedisError as exc:
            log.warning("could not announce the delivery of %d messages to %s: %s",
                        len(sent), self.user_id, exc)

    def close(self):
        """Give back what the stream holds. Safe to call again (the response body closes it after
        `events` did); only the first call does anything."""
        connection_id, self.connection_id = self.connection_id, None
        if connection_id is None:
            return
        if self.subscription is not None:
            self.hub.unsubscribe(self.subscription)
        metrics.OPEN_STREAMS.dec()
        try:
            presence.disconnect(self.user_id, connection_id)
        except redis.RedisError as exc:
            # Redis is away: the connection's presence entry expires by itself (its TTL).
            log.warning("stream %s of %s closed without Redis: %s",
                        connection_id, self.user_id, exc)


def poll(stream, timeout):
    """Long poll on a just opened `stream`: the events after its Last-Event-ID at once if any are
    waiting, else the first to come within `timeout` seconds (maybe none). Returns (events, the id
    to poll after next)."""
    try:
        events = list(stream.opening)
        if stream.replaying:
            events += stream._stored(limit=POLL_LIMIT)
        deadline = time.monotonic() + timeout
        while not events and time.monotonic() < deadline:
            item = stream.subscription.get(until=deadline)
            if item is CATCH_UP:
                events += stream._stored(limit=POLL_LIMIT)
            elif item is SHUTDOWN:
                break
            elif item is not None and item.id is None:
                if item.type != "session_revoked":
                    events.append(item)
            elif item is not None and parse_id(item.id) > parse_id(stream.cursor):
                events.append(item)
                stream._sent(item)
        if stream.undelivered:
            stream._mark_delivered()
        return events, stream.cursor
    finally:
        stream.close()


def _signed_out(reason):
    return Event("signed_out", {"reason": reason})


def _resync(newest):
    metrics.RESYNCS.inc()
    return Event("resync", {"reason": "history_gap", "last_event_id": newest}, newest)
