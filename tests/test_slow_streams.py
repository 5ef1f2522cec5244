"""A stream that falls behind (a phone on 2G) does not make its worker hold an ever-growing queue:
past QUEUE_LIMIT it stops getting copies, and catches up from its Redis stream once it has sent what
it holds. An idle stream waits for its next heartbeat without an object of its own that lives as
long (what made Python's full garbage collections frequent at 10,000 streams). These test one
stream's subscription to the worker's hub directly."""

import gc
import time

import gevent

from elako.realtime.hub import (
    CATCH_UP, QUEUE_LIMIT, SHUTDOWN, LiveHub, Subscription, WakeUps,
)
from tests.support.fresh_hub import in_a_thread_of_its_own


def in_seconds(seconds):
    return time.monotonic() + seconds


@in_a_thread_of_its_own
def test_events_come_out_in_the_order_they_were_delivered():
    subscription = Subscription("user-1")
    for n in range(5):
        subscription.deliver(n)
    assert [subscription.get(until=in_seconds(1)) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert subscription.idle()


@in_a_thread_of_its_own
def test_a_quiet_subscription_answers_none_once_its_time_came():
    subscription = Subscription("user-1")
    until = in_seconds(0.05)
    assert subscription.get(until=until) is None
    assert time.monotonic() >= until
    assert subscription.get(until=time.monotonic()) is None


@in_a_thread_of_its_own
def test_a_waiting_stream_wakes_when_an_event_is_delivered():
    subscription = Subscription("user-1")
    gevent.spawn_later(0.02, subscription.deliver, "event")
    assert subscription.get(until=in_seconds(5)) == "event"


@in_a_thread_of_its_own
def test_a_stream_that_falls_behind_holds_no_more_than_the_limit_then_catches_up():
    subscription = Subscription("user-1")
    for n in range(QUEUE_LIMIT + 100):
        subscription.deliver(n)
    held = [subscription.get(until=time.monotonic()) for _ in range(QUEUE_LIMIT + 1)]
    assert held == [*range(QUEUE_LIMIT), CATCH_UP]  # the rest is read from Redis
    assert subscription.get(until=time.monotonic()) is None
    subscription.deliver("after catching up")
    assert subscription.get(until=time.monotonic()) == "after catching up"


@in_a_thread_of_its_own
def test_a_lagging_stream_still_hears_that_the_worker_stops():
    subscription = Subscription("user-1")
    for n in range(QUEUE_LIMIT + 1):
        subscription.deliver(n)
    subscription.stop()
    items = [subscription.get(until=time.monotonic()) for _ in range(QUEUE_LIMIT + 2)]
    assert items[-2:] == [CATCH_UP, SHUTDOWN]


@in_a_thread_of_its_own
def test_a_stream_still_opening_when_its_worker_stops_hears_it_at_once():
    hub = LiveHub("redis://127.0.0.1:1/0", "test:hub")
    hub.shut_down()  # while the stream waited its turn to open (a SIGTERM after a deploy)
    try:
        assert hub.subscribe("user-1").get(until=in_seconds(1)) is SHUTDOWN
    finally:
        hub.stop()


@in_a_thread_of_its_own
def test_each_waiting_stream_wakes_at_its_own_time_never_before():
    subscriptions = [Subscription(f"user-{n}") for n in range(50)]
    due = [in_seconds(0.05 + n * 0.01) for n in range(50)]
    woke = {}

    def wait(n):
        assert subscriptions[n].get(until=due[n]) is None
        woke[n] = time.monotonic()

    gevent.joinall([gevent.spawn(wait, n) for n in range(50)], timeout=10)
    assert len(woke) == 50
    assert all(woke[n] >= due[n] for n in range(50))


@in_a_thread_of_its_own
def test_a_stream_woken_by_an_event_still_wakes_at_its_time():
    subscription = Subscription("user-1")
    heartbeat = in_seconds(0.2)
    gevent.spawn_later(0.02, subscription.deliver, "event")
    assert subscription.get(until=heartbeat) == "event"
    assert subscription.get(until=heartbeat) is None  # the same wake-up, still scheduled
    assert time.monotonic() >= heartbeat


@in_a_thread_of_its_own
def test_waiting_streams_share_their_timers_and_hold_no_timeout():
    def alive(kind):
        return sum(1 for thing in gc.get_objects() if type(thing).__name__ == kind)

    subscriptions = [Subscription(f"user-{n}") for n in range(200)]
    heartbeat = in_seconds(5)
    timers, timeouts = alive("timer"), alive("Timeout")  # other tests' may still be around
    waiting = [gevent.spawn(subscription.get, until=heartbeat) for subscription in subscriptions]
    gevent.idle()  # every waiter is waiting
    # A timeout or a timer each would be 200 more (a few may come and go on other threads).
    assert alive("Timeout") <= timeouts + 5
    assert alive("timer") <= timers + 5  # one tick for all 200
    for subscription in subscriptions:
        subscription.deliver("event")
    assert [greenlet.get(timeout=5) for greenlet in waiting] == ["event"] * 200
    assert WakeUps.of_this_thread()._due  # still due at the heartbeat, when nobody minds


@in_a_thread_of_its_own
def test_a_stream_ended_while_waiting_is_not_woken_again():
    """Ending a stream still waits (it tells Redis it is gone): a wake-up that was already on its
    way must not switch into that wait."""
    subscription = Subscription("user-1")

    def wait_then_close():
        try:
            subscription.get(until=in_seconds(5))
        except gevent.GreenletExit:
            started = time.monotonic()
            gevent.sleep(0.05)  # closing: a Redis call, say
            return time.monotonic() - started

    waiting = gevent.spawn(wait_then_close)
    gevent.idle()
    waiting.kill(block=False)  # the stream is ending (the client went away) ...
    subscription.deliver("event")  # ... when its wake-up is scheduled
    waiting.join(5)
    assert waiting.successful() and waiting.value >= 0.05  # its closing wait was not cut short
    assert subscription.get(until=time.monotonic()) == "event"
