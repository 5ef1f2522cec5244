"""Per-worker gates that take work a few at a time, in order of arrival.

A gevent worker starts every request at once. When a crowd comes in together (500 customers
writing to one store within a second), all of their sends advance a step at a time, each waiting
behind every other at each database round trip, so all finish near the end: each customer waits
about as long as the whole burst takes. Taken a few at a time, first come first served, the
first sends are done in milliseconds and only the last wait for the whole burst; with enough at
once to keep the CPU busy while some wait on the database, the burst takes no longer
(bench/run.py's burst, 500 sends in a second: p99 1.4-1.5 s without the gate, 0.5-0.8 s with 16
at a time).
"""

import collections
import math
import os
from contextlib import contextmanager

import gevent
import gevent.event
from flask import current_app

from ..errors import Unavailable

BUSY = "This server is busy. Please try again in a moment."


class TurnGate:
    """At most `concurrency` holders at once; others wait their turn, strictly in order of arrival
    (a turn given back goes to the longest waiting, never to a newcomer), for at most
    `wait_seconds`, then get 503 with a Retry-After. A greenlet that already holds a turn passes
    straight through (a send that sends an away message in reply)."""

    def __init__(self, concurrency, wait_seconds):
        self._free = concurrency
        self._waiting = collections.deque()  # one Event per waiter, set when handed a turn
        self._wait_seconds = wait_seconds
        self._holders = set()

    @contextmanager
    def turn(self):
        me = gevent.getcurrent()
        if me in self._holders:
            yield
            return
        self._take()
        self._holders.add(me)
        try:
            yield
        finally:
            self._holders.discard(me)
            self._give_back()

    def _take(self):
        if self._free and not self._waiting:
            self._free -= 1
            return
        handed = gevent.event.Event()
        self._waiting.append(handed)
        try:
            handed.wait(self._wait_seconds)
        except BaseException:  # killed while waiting: leave the line, or pass on a turn just handed
            if handed.is_set():
                self._give_back()
            else:
                self._waiting.remove(handed)
            raise
        if not handed.is_set():
            self._waiting.remove(handed)
            raise Unavailable(BUSY, code="busy", retry_after=max(1, math.ceil(self._wait_seconds)))

    def _give_back(self):
        if self._waiting:
            self._waiting.popleft().set()  # handed on: the turn stays taken
        else:
            self._free += 1


def per_worker(name, make):
    """The app's object `name` for this process, made by `make(config)` on first use: a gate
    must not be shared with a forked worker, whose greenlets it could never wake."""
    app = current_app._get_current_object()
    made = app.extensions.get(name)
    if made is None or made[0] != os.getpid():
        made = app.extensions[name] = (os.getpid(), make(app.config))
    return made[1]
