"""Live fan-out inside one worker process: one Redis pub/sub connection for all its event streams.

flask-sse opens a pub/sub connection per client. Here each worker process holds exactly one: it
SUBSCRIBEs to a user's live channel while at least one of that user's streams is open on this
worker, and copies each announcement into the in-memory queue of every local stream of that user.
With 1,000 clients this is 1 Redis connection instead of 1,000, and an order of magnitude faster
(../shared/TECH-NOTES.md has the measurements).

Pub/sub may drop messages (a reconnect, a client too slow to keep up). That is safe because every
durable event is also in the user's Redis stream: when a subscription might have missed something
the hub puts CATCH_UP into its queue, and the stream reads what it missed with XRANGE.

Nothing here is shared between processes, so any number of workers on any number of hosts work.
"""

import logging
import time
from collections import defaultdict

import gevent
import gevent.event
import gevent.lock
import gevent.queue
import redis

from .bus import Event

log = logging.getLogger(__name__)

CATCH_UP = object()  # queue marker: "read the stream, you may have missed events"

# A stream that falls this far behind (a phone on 2G) stops getting copies; it catches up from
# Redis once it drains its queue, instead of growing memory without bound.
QUEUE_LIMIT = 500
SUBSCRIBE_TIMEOUT = 10


class Subscription:
    """One open event stream's view of the hub."""

    def __init__(self, channel):
        self.channel = channel
        self._queue = gevent.queue.Queue()
        self._lagging = False

    def deliver(self, item):
        if self._lagging:
            return
        if self._queue.qsize() >= QUEUE_LIMIT:
            self._lagging = True
            self._queue.put(CATCH_UP)
            return
        self._queue.put(item)

    def get(self, timeout):
        """The next Event or CATCH_UP, or None after `timeout` seconds of quiet."""
        try:
            item = self._queue.get(timeout=timeout)
        except gevent.queue.Empty:
            return None
        if item is CATCH_UP:
            self._lagging = False
        return item


class LiveHub:
    def __init__(self, redis_url, control_channel, ping_seconds=15):
        # socket_timeout=None: the listener blocks on reads for as long as it takes (a short timeout
        # with redis-py's automatic retries turns quiet periods into errors).
        tcp_options = {} if redis_url.startswith("unix:") else {"socket_keepalive": True}
        self._redis = redis.Redis.from_url(
            redis_url, socket_timeout=None, socket_connect_timeout=5, decode_responses=True,
            retry=None, client_name=control_channel, **tcp_options)
        self._control = control_channel
        # The listener pings Redis through the pub/sub connection this often, and reconnects when
        # nothing comes back: a half-open TCP connection would otherwise go silent forever.
        self._ping_seconds = ping_seconds
        self._subscriptions = defaultdict(set)  # channel -> {Subscription}
        self._confirmed = {}  # channel -> gevent Event set once Redis confirmed SUBSCRIBE
        self._sent = set()  # channels subscribed on the current connection
        self._write_lock = gevent.lock.BoundedSemaphore()
        self._pubsub = None
        self._connected = gevent.event.Event()
        self._last_pong = time.monotonic()
        self._greenlets = []
        self._started = False

    # -- public API -------------------------------------------------------------------------------

    def subscribe(self, channel):
        """Register a stream on `channel`; returns once Redis confirmed the subscription."""
        self._start()
        subscription = Subscription(channel)
        self._subscriptions[channel].add(subscription)
        confirmed = self._confirmed.setdefault(channel, gevent.event.Event())
        self._sync(channel)
        if not confirmed.wait(SUBSCRIBE_TIMEOUT):
            self.unsubscribe(subscription)
            raise redis.ConnectionError(f"no subscription to {channel} within {SUBSCRIBE_TIMEOUT}s")
        return subscription

    def unsubscribe(self, subscription):
        channel = subscription.channel
        subscribers = self._subscriptions.get(channel)
        if subscribers and subscription in subscribers:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscriptions[channel]
            self._sync(channel)

    def channel_count(self):
        return len(self._subscriptions)

    def stop(self):
        gevent.killall(self._greenlets)
        self._greenlets = []
        self._started = False
        if self._pubsub is not None:
            self._pubsub.close()
        self._redis.close()

    def spawn_periodic(self, seconds, task):
        """Run `task()` every `seconds` for the life of the hub (the presence sweeper uses this)."""
        def loop():
            while True:
                gevent.sleep(seconds)
                try:
                    task()
                except Exception:
                    log.exception("periodic task %s failed", getattr(task, "__name__", task))

        self._greenlets.append(gevent.spawn(loop))

    # -- the listener -----------------------------------------------------------------------------

    def _start(self):
        if not self._started:
            self._started = True
            self._greenlets += [gevent.spawn(self._listen_forever), gevent.spawn(self._keep_alive)]

    def _sync(self, channel):
        """Make the connection's subscription to `channel` match whether any stream wants it.

        Decided under the write lock from the state at that moment, so a stream closing and another
        opening on the same channel cannot leave Redis unsubscribed while a stream waits.
        """
        with self._write_lock:
            wanted = channel in self._subscriptions
            if not self._connected.is_set():
                if not wanted:  # _connect subscribes to every wanted channel, and only those
                    self._sent.discard(channel)
                    self._confirmed.pop(channel, None)
                return
            try:
                if wanted and channel not in self._sent:
                    self._pubsub.subscribe(channel)
                    self._sent.add(channel)
                elif not wanted and channel in self._sent:
                    self._sent.discard(channel)
                    self._confirmed.pop(channel, None)
                    self._pubsub.unsubscribe(channel)
            except (redis.ConnectionError, OSError) as exc:
                # The listener notices the broken connection too; it reconnects and resubscribes.
                log.warning("pub/sub update for %s failed: %s", channel, exc)

    def _connect(self):
        pubsub = self._redis.pubsub()
        with self._write_lock:
            # Every channel any stream here wants, in one command; confirmations come to _listen.
            self._sent = set(self._subscriptions)
            pubsub.subscribe(self._control, *self._sent)
            self._pubsub = pubsub
            self._last_pong = time.monotonic()
            self._connected.set()

    def _listen_forever(self):
        backoff = 0.1
        while True:
            try:
                self._connect()
                backoff = 0.1
                self._listen()
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                log.warning("pub/sub connection lost (%s); reconnecting in %.1fs", exc, backoff)
            except Exception:  # the listener must outlive any surprise, or live delivery stops
                log.exception("pub/sub listener failed; reconnecting in %.1fs", backoff)
            self._connected.clear()
            if self._pubsub is not None:
                self._pubsub.close()
            gevent.sleep(backoff)
            backoff = min(backoff * 2, 5)

    def _listen(self):
        while True:
            message = self._pubsub.get_message(timeout=None)
            if message is None:
                continue
            # Anything from Redis shows the connection lives, the answers to our pings included
            # (which redis-py, decoding responses, mangles into a message of type "P").
            self._last_pong = time.monotonic()
            kind, channel = message["type"], message["channel"]
            if kind == "message":
                if channel != self._control:
                    self._fan_out(channel, message["data"])
            elif kind == "subscribe":
                confirmed = self._confirmed.get(channel)
                if confirmed is not None:
                    if confirmed.is_set():
                        # A resubscription after a reconnect: announcements may have been lost.
                        for subscription in list(self._subscriptions.get(channel, ())):
                            subscription.deliver(CATCH_UP)
                    confirmed.set()

    def _fan_out(self, channel, text):
        subscribers = self._subscriptions.get(channel)
        if not subscribers:
            return
        try:
            event = Event.from_announcement(text)
        except ValueError:
            log.error("ignoring malformed announcement on %s", channel)
            return
        for subscription in list(subscribers):
            subscription.deliver(event)

    def _keep_alive(self):
        while True:
            gevent.sleep(self._ping_seconds)
            try:
                self._check_connection()
            except Exception:  # half-open connections must go on being found
                log.exception("pub/sub keep-alive check failed")

    def _check_connection(self):
        if not self._connected.is_set():
            return
        silent = time.monotonic() - self._last_pong
        if silent > 3 * self._ping_seconds:
            log.warning("nothing from Redis pub/sub for %.0fs; reconnecting", silent)
            self._pubsub.connection.disconnect()
            return
        with self._write_lock:
            try:
                self._pubsub.ping()
            except (redis.ConnectionError, OSError):
                pass  # the listener sees the broken connection and reconnects
