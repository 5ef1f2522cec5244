"""Live fan-out inside one worker process: one Redis pub/sub connection for all its event streams.

flask-sse opens a pub/sub connection per client. Here each worker process holds exactly one: it
SUBSCRIBEs to a user's live channel while at least one of that user's streams is open on this
worker, and copies each announcement into the in-memory queue of every local stream of that user.
With 1,000 clients this is 1 Redis connection instead of 1,000, and an order of magnitude faster
(../shared/TECH-NOTES.md has the measurements).

Opening a stream never waits for Redis. `subscribe` registers the stream at once and queues the
channel; one writer greenlet sends every queued channel in a single SUBSCRIBE (thousands of streams
coming back after a deploy cost a handful of commands, not one each). Whenever Redis confirms a
subscription, every stream of that channel gets CATCH_UP and reads its Redis stream from its cursor:
whatever was published before the subscription took effect is found there. So a stream is safe
from the moment its cursor is fixed, however far behind the worker's loop is, and pub/sub dropping
messages (a reconnect, a slow client) is safe for the same reason.

The hub also listens on the deployment's control channel, where sign-outs are broadcast so every
worker's session cache forgets them (see `elako.sessions`).

Nothing here is shared between processes, so any number of workers on any number of hosts work.
"""

import logging
import math
import time
import weakref
from collections import defaultdict

import gevent
import gevent.event
import gevent.lock
import redis

from .. import metrics
from .bus import Event

log = logging.getLogger(__name__)

CATCH_UP = object()  # queue marker: "read the stream, you may have missed events"
SHUTDOWN = object()  # queue marker: "this worker is stopping: tell the client when to come back"

# A stream that falls this far behind (a phone on 2G) stops getting copies; it catches up from
# Redis once it drains its queue, instead of growing memory without bound.
QUEUE_LIMIT = 500
# Channels per SUBSCRIBE or UNSUBSCRIBE command, so one command never grows without bound.
CHANNELS_PER_COMMAND = 1000
# Redis not answering (stopped, restarting, unreachable): expected now and then, and said briefly.
REDIS_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, OSError)
# While Redis stays away, a periodic task says so again this often, not every round.
OUTAGE_REMINDER_SECONDS = 60


class WakeUps:
    """Wakes waiting subscriptions when their time comes, with one timer per tenth of a second
    for all of them.

    A wait with a timeout would make a gevent Timeout and six more objects that live until it
    ends. An idle stream waits out a whole heartbeat, so at 10,000 streams about 5,000 such objects
    a second outlived two garbage collections, and made Python run a full collection (0.4-0.8 s of
    walking every stream's objects) every few seconds."""

    RESOLUTION = 0.1  # seconds: a wake-up comes at most this late

    _per_loop = weakref.WeakKeyDictionary()  # each thread has its own gevent hub and loop

    @classmethod
    def of_this_thread(cls):
        hub = gevent.get_hub()
        wake_ups = cls._per_loop.get(hub)
        if wake_ups is None:
            wake_ups = cls._per_loop[hub] = cls(hub.loop)
        return wake_ups

    def __init__(self, loop):
        self._loop = loop
        self._due = {}  # tenth of a second -> the subscriptions to wake then

    def schedule(self, subscription, when):
        """Wake `subscription` at `when` (time.monotonic()), unless it is already due then."""
        tick = math.ceil(when / self.RESOLUTION)
        if subscription._wake_tick == tick:
            return
        subscription._wake_tick = tick
        waiting = self._due.get(tick)
        if waiting is None:
            waiting = self._due[tick] = []
            timer = self._loop.timer(max(0.0, tick * self.RESOLUTION - time.monotonic()))
            timer.start(self._wake, tick, timer, update=True)
        waiting.append(subscription)

    def _wake(self, tick, timer):
        timer.close()
        for subscription in self._due.pop(tick):
            if subscription._wake_tick == tick:  # not since rescheduled
                subscription._wake_tick = None
                subscription._wake()


class Subscription:
    """One open event stream's view of the hub.

    A worker holds thousands of these, and each waits most of its life, so neither holding nor
    waiting makes objects: a list, not a gevent Queue (2.5 KB: three deques of 64 slots each), and
    the waiting greenlet parked on the loop and switched back to, not a gevent Event (whose every
    wait links two objects that live as long as it: at 10,000 streams, thousands a second outlived
    two garbage collections and brought the next full one closer)."""

    __slots__ = ("channel", "_items", "_lagging", "_wake_tick", "_waiter", "_waking")

    def __init__(self, channel):
        self.channel = channel
        self._items = []  # at most QUEUE_LIMIT + 1, so taking from the front stays cheap
        self._lagging = False
        self._wake_tick = None  # WakeUps' tick this is due to wake at
        self._waiter = None  # the greenlet waiting in `get`
        self._waking = False  # a switch back to it is scheduled

    def deliver(self, item):
        if self._lagging:
            return
        if len(self._items) >= QUEUE_LIMIT:
            self._lagging = True
            item = CATCH_UP
        self._items.append(item)
        self._wake()

    def stop(self):
        self._items.append(SHUTDOWN)
        self._wake()

    def idle(self):
        """Whether nothing is waiting to be sent right now."""
        return not self._items

    def get(self, until):
        """The next Event, CATCH_UP or SHUTDOWN, or None if none came by `until`
        (time.monotonic(); None once woken early, rarely: the caller checks the time)."""
        if not self._items:
            WakeUps.of_this_thread().schedule(self, until)
            self._waiter = gevent.getcurrent()
            try:
                gevent.get_hub().switch()
            finally:
                self._waiter = None  # also when killed while waiting: nothing switches back then
            if not self._items:
                return None
        item = self._items.pop(0)
        if item is CATCH_UP:
            self._lagging = False
        return item

    def _wake(self):
        # Greenlets are switched to from the loop, never from another greenlet.
        if self._waiter is not None and not self._waking:
            self._waking = True
            gevent.get_hub().loop.run_callback(self._resume)

    def _resume(self):
        self._waking = False
        waiter = self._waiter
        if waiter is not None:
            waiter.switch()


class LiveHub:
    def __init__(self, redis_url, control_channel, ping_seconds=15, on_control=None,
                 on_reconnect=None):
        # socket_timeout=None: the listener blocks on reads for as long as it takes (a short timeout
        # with redis-py's automatic retries turns quiet periods into errors).
        tcp_options = {} if redis_url.startswith("unix:") else {"socket_keepalive": True}
        self._redis = redis.Redis.from_url(
            redis_url, socket_timeout=None, socket_connect_timeout=5, decode_responses=True,
            retry=None, client_name=control_channel, **tcp_options)
        self.control_channel = control_channel
        # `on_control(text)` gets each control-channel message; `on_reconnect()` runs whenever the
        # connection is new, since anything sent while it was down was missed.
        self._on_control = on_control or (lambda text: None)
        self._on_reconnect = on_reconnect or (lambda: None)
        # The listener pings Redis through the pub/sub connection this often, and reconnects when
        # nothing comes back: a half-open TCP connection would otherwise go silent forever.
        self._ping_seconds = ping_seconds
        self._subscriptions = defaultdict(set)  # channel -> {Subscription}
        self._confirmed = set()  # channels Redis last confirmed as subscribed on this connection
        self._sent = set()  # channels whose SUBSCRIBE was sent on the current connection
        self._changed = set()  # channels whose wanted state changed since the writer last ran
        self._wake_writer = gevent.event.Event()
        self._write_lock = gevent.lock.BoundedSemaphore()
        self._pubsub = None
        self._connected = gevent.event.Event()
        self._last_pong = time.monotonic()
        self._greenlets = []
        self._started = False
        self.stopping = False

    # -- public API -------------------------------------------------------------------------------

    def start(self):
        if not self._started:
            self._started = True
            self._greenlets += [gevent.spawn(self._listen_forever), gevent.spawn(self._keep_alive),
                                gevent.spawn(self._write_changes)]

    @property
    def listening(self):
        """Whether control-channel messages reach this process right now."""
        return self._control_confirmed

    def subscribe(self, channel):
        """Register a stream on `channel`. Returns at once: the stream gets CATCH_UP when Redis
        confirms the subscription, so it must fix its cursor *after* this call. On a stopping
        worker it gets SHUTDOWN at once: it was still opening (admitted, or waiting its turn) when
        `shut_down` told the others, and would otherwise hold the worker until its graceful
        timeout (after a deploy every client is reopening at once)."""
        self.start()
        subscription = Subscription(channel)
        if self.stopping:
            subscription.stop()
        first = channel not in self._subscriptions
        self._subscriptions[channel].add(subscription)
        if first:
            self._queue_change(channel)
        return subscription

    def unsubscribe(self, subscription):
        channel = subscription.channel
        subscribers = self._subscriptions.get(channel)
        if subscribers and subscription in subscribers:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscriptions[channel]
                self._queue_change(channel)

    def has_subscribers(self, channel):
        return bool(self._subscriptions.get(channel))

    def channel_count(self):
        return len(self._subscriptions)

    def shut_down(self):
        """The worker is stopping: tell every open stream, and let no new one in."""
        self.stopping = True
        for subscribers in list(self._subscriptions.values()):
            for subscription in list(subscribers):
                subscription.stop()

    def stop(self):
        gevent.killall(self._greenlets)
        self._greenlets = []
        self._started = False
        if self._pubsub is not None:
            self._pubsub.close()
        self._redis.close()

    def spawn_periodic(self, seconds, task):
        """Run `task()` every `seconds` for the life of the hub (the presence sweeper uses this).
        A Redis outage is logged when it starts and when it ends (see `OutageLog`); any other
        failure with its traceback, every time."""
        name = getattr(task, "__name__", task)

        def loop():
            outage = OutageLog(name)
            while True:
                gevent.sleep(seconds)
                try:
                    task()
                except REDIS_UNAVAILABLE as exc:
                    outage.failed(exc)
                except Exception:
                    log.exception("periodic task %s failed", name)
                else:
                    outage.ended()

        self._greenlets.append(gevent.spawn(loop))

    # -- subscribing, in batches ------------------------------------------------------------------

    def _queue_change(self, channel):
        self._changed.add(channel)
        self._wake_writer.set()

    def _write_changes(self):
        """Send queued SUBSCRIBEs and UNSUBSCRIBEs, as few commands as there are batches."""
        while True:
            self._wake_writer.wait()
            self._wake_writer.clear()
            self._connected.wait()
            changed, self._changed = self._changed, set()
            try:
                self._send_changes(changed)
            except (redis.ConnectionError, OSError) as exc:
                # The listener notices the broken connection too; it reconnects and subscribes
                # to every wanted channel then.
                log.warning("pub/sub update failed: %s", exc)
            except Exception:  # the writer must outlive any surprise, or no stream goes live
                log.exception("pub/sub update failed")

    def _send_changes(self, changed):
        with self._write_lock:
            if not self._connected.is_set():
                return  # _connect subscribes to every wanted channel, and only those
            wanted = [c for c in changed if c in self._subscriptions and c not in self._sent]
            unwanted = [c for c in changed if c not in self._subscriptions and c in self._sent]
            self._sent.update(wanted)
            self._sent.difference_update(unwanted)
            for batch in _batches(unwanted):
                self._pubsub.unsubscribe(*batch)
            for batch in _batches(wanted):
                self._pubsub.subscribe(*batch)

    # -- the listener -----------------------------------------------------------------------------

    def _connect(self):
        pubsub = self._redis.pubsub()
        with self._write_lock:
            self._sent = set(self._subscriptions)
            self._changed.clear()
            # The control channel first: it is confirmed before any stream's channel.
            pubsub.subscribe(self.control_channel)
            for batch in _batches(self._sent):
                pubsub.subscribe(*batch)
            self._pubsub = pubsub
            self._last_pong = time.monotonic()
            self._connected.set()

    @property
    def _control_confirmed(self):
        return self._connected.is_set() and self.control_channel in self._confirmed

    def _listen_forever(self):
        backoff = 0.1
        while True:
            try:
                self._connect()
                backoff = 0.1
                self._listen()
            except REDIS_UNAVAILABLE as exc:
                log.warning("pub/sub connection lost (%s); reconnecting in %.1fs", exc, backoff)
            except Exception:  # the listener must outlive any surprise, or live delivery stops
                log.exception("pub/sub listener failed; reconnecting in %.1fs", backoff)
            metrics.HUB_RECONNECTS.inc()
            self._connected.clear()
            self._confirmed.clear()
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
                if channel == self.control_channel:
                    self._on_control(message["data"])
                else:
                    self._fan_out(channel, message["data"])
            elif kind == "subscribe":
                self._confirmed.add(channel)
                if channel == self.control_channel:
                    self._on_reconnect()
                # Whatever was published before this took effect is in the stream: read it.
                for subscription in list(self._subscriptions.get(channel, ())):
                    subscription.deliver(CATCH_UP)
            elif kind == "unsubscribe":
                self._confirmed.discard(channel)

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


class OutageLog:
    """What a periodic task says of a Redis outage: a warning when it starts, a short reminder every
    OUTAGE_REMINDER_SECONDS while it lasts, a line when Redis answers again. A task that runs every
    half second would otherwise log a traceback every half second for as long as Redis is away."""

    def __init__(self, task_name):
        self.task_name = task_name
        self._since = None  # time.monotonic() of the outage's first failed round
        self._said_at = None

    def failed(self, exc):
        now = time.monotonic()
        if self._since is None:
            self._since = self._said_at = now
            log.warning("periodic task %s: Redis unavailable (%s); retrying quietly until it "
                        "answers", self.task_name, exc)
        elif now - self._said_at >= OUTAGE_REMINDER_SECONDS:
            self._said_at = now
            log.warning("periodic task %s: Redis still unavailable after %.0fs (%s)",
                        self.task_name, now - self._since, exc)

    def ended(self):
        if self._since is not None:
            log.info("periodic task %s: Redis answers again after %.0fs", self.task_name,
                     time.monotonic() - self._since)
            self._since = self._said_at = None


def _batches(channels):
    channels = list(channels)
    for start in range(0, len(channels), CHANNELS_PER_COMMAND):
        yield channels[start:start + CHANNELS_PER_COMMAND]
