"""A stream that falls behind (a phone on 2G) does not make its worker hold an ever-growing queue:
past QUEUE_LIMIT it stops getting copies, and catches up from its Redis stream once it has sent what
it holds. These test one stream's subscription to the worker's hub directly."""

import functools
import threading
import time

import gevent

from elako.realtime.hub import CATCH_UP, QUEUE_LIMIT, SHUTDOWN, Subscription


def in_a_thread_of_its_own(test):
    """Run `test` on a fresh gevent hub: the main thread's may hold greenlets that earlier
    in-process tests left behind, blocked on sockets gevent does not patch here."""
    @functools.wraps(test)
    def run():
        failure = []

        def body():
            try:
                test()
            except BaseException as exc:  # noqa: BLE001 - handed to the test's own thread
                failure.append(exc)

        thread = threading.Thread(target=body, daemon=True)
        thread.start()
        thread.join(30)
        assert not thread.is_alive(), "the subscription never answered"
        if failure:
            raise failure[0]
    return run


@in_a_thread_of_its_own
def test_events_come_out_in_the_order_they_were_delivered():
    subscription = Subscription("user-1")
    for n in range(5):
        subscription.deliver(n)
    assert [subscription.get(timeout=1) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert subscription.idle()


@in_a_thread_of_its_own
def test_a_quiet_subscription_answers_none_after_its_timeout():
    subscription = Subscription("user-1")
    started = time.monotonic()
    assert subscription.get(timeout=0.05) is None
    assert time.monotonic() - started >= 0.04
    assert subscription.get(timeout=0) is None


@in_a_thread_of_its_own
def test_a_waiting_stream_wakes_when_an_event_is_delivered():
    subscription = Subscription("user-1")
    gevent.spawn_later(0.02, subscription.deliver, "event")
    assert subscription.get(timeout=5) == "event"


@in_a_thread_of_its_own
def test_a_stream_that_falls_behind_holds_no_more_than_the_limit_then_catches_up():
    subscription = Subscription("user-1")
    for n in range(QUEUE_LIMIT + 100):
        subscription.deliver(n)
    held = [subscription.get(timeout=0) for _ in range(QUEUE_LIMIT + 1)]
    assert held == [*range(QUEUE_LIMIT), CATCH_UP]  # the rest is read from Redis
    assert subscription.get(timeout=0) is None
    subscription.deliver("after catching up")
    assert subscription.get(timeout=0) == "after catching up"


@in_a_thread_of_its_own
def test_a_lagging_stream_still_hears_that_the_worker_stops():
    subscription = Subscription("user-1")
    for n in range(QUEUE_LIMIT + 1):
        subscription.deliver(n)
    subscription.stop()
    items = [subscription.get(timeout=0) for _ in range(QUEUE_LIMIT + 2)]
    assert items[-2:] == [CATCH_UP, SHUTDOWN]
