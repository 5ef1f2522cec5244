"""The per-worker session cache forgets what nobody asks for again: a worker that saw many
sessions come and go (one-off integrations, users who left) must not hold them all for its life."""

from types import SimpleNamespace

import pytest

from elako import session_cache


class Clock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(session_cache, "time", clock)
    return clock


def _user(n):
    return SimpleNamespace(id=f"user-{n}")


def test_sessions_nobody_reads_again_are_dropped_once_expired(clock):
    cache = session_cache.SessionCache(5, is_listening=lambda: True)
    for n in range(100):
        cache.put(f"session-{n}", object(), _user(n), cache.generation)
    assert len(cache) == 100
    clock.now += 6
    cache.put("session-new", object(), _user("new"), cache.generation)
    assert len(cache) == 1
    assert cache.get("session-new") is not None and cache.get("session-0") is None


def test_live_entries_survive_the_sweep(clock):
    cache = session_cache.SessionCache(5, is_listening=lambda: True)
    cache.put("old", object(), _user(1), cache.generation)
    clock.now += 3
    cache.put("recent", object(), _user(2), cache.generation)
    clock.now += 3  # "old" expired, "recent" has 2 s left
    cache.put("newest", object(), _user(3), cache.generation)
    assert cache.get("old") is None
    assert cache.get("recent") is not None and cache.get("newest") is not None


def test_presence_settings_nobody_reads_again_are_dropped_once_expired(clock):
    cache = session_cache.SessionCache(5, is_listening=lambda: True)
    assert cache.presence_hidden([f"u{n}" for n in range(50)], load=lambda ids: {"u1"}) == {"u1"}
    assert len(cache) == 50
    clock.now += 6
    assert cache.presence_hidden(["u-new"], load=lambda ids: set()) == set()
    assert len(cache) == 1
