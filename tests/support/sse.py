"""A small threaded Server-Sent Events client that records everything a stream sends."""

import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class ReceivedEvent:
    id: str
    type: str
    data: str
    received_at: float = field(default_factory=time.time, compare=False)  # wall clock, as Redis ids

    @property
    def json(self):
        return json.loads(self.data)


class SSEClient:
    """Connects at once; a background thread parses the stream into `events` and `comments`."""

    def __init__(self, url, headers=None, timeout=10, ssl_context=None):
        parts = urlsplit(url)
        if parts.scheme == "https":  # through a TLS front (tests/test_nginx_front.py)
            self.connection = http.client.HTTPSConnection(parts.hostname, parts.port,
                                                          timeout=timeout, context=ssl_context)
        else:
            self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.connection.request("GET", path, headers={"Accept": "text/event-stream",
                                                      **(headers or {})})
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = dict(self.response.getheaders())
        self.events = []
        self.comments = 0
        self.retry = None
        self.retries = []  # every `retry:` the server sent, in order
        self.closed = threading.Event()  # the server ended the stream (or we closed it)
        self._changed = threading.Condition()
        if self.status == 200:
            self.connection.sock.settimeout(None)
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        else:
            self.body = self.response.read()
            self.closed.set()

    def _read(self):
        fields = {}
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\r\n")
                if line == "":
                    if "data" in fields or "event" in fields:
                        self._add(ReceivedEvent(fields.get("id"), fields.get("event", "message"),
                                                fields.get("data", "")))
                    fields = {}
                elif line.startswith(":"):
                    with self._changed:
                        self.comments += 1
                        self._changed.notify_all()
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "retry":
                        self.retry = int(value)
                        self.retries.append(self.retry)
                    elif name == "data" and "data" in fields:
                        fields["data"] += "\n" + value
                    else:
                        fields[name] = value
        except (OSError, ValueError, AttributeError, http.client.HTTPException):  # closed under us
            pass
        finally:
            self.closed.set()
            with self._changed:
                self._changed.notify_all()

    def _add(self, event):
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of_type(self, event_type):
        return [e for e in list(self.events) if e.type == event_type]

    def wait_for(self, predicate, timeout=10, count=1):
        """Wait until `count` events satisfy `predicate` (an event type or a function)."""
        if isinstance(predicate, str):
            event_type = predicate
            predicate = lambda e: e.type == event_type  # noqa: E731
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [e for e in self.events if predicate(e)]
                if len(found) >= count:
                    return found[count - 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.closed.is_set() and len(found) < count):
                    raise AssertionError(
                        f"expected {count} matching events within {timeout}s; got "
                        f"{[(e.type, e.data[:80]) for e in self.events]}")
                self._changed.wait(remaining)

    def wait_for_comments(self, count, timeout=10):
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.comments < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed.is_set():
                    raise AssertionError(f"only {self.comments} comments within {timeout}s")
                self._changed.wait(remaining)

    def wait_closed(self, timeout=10):
        assert self.closed.wait(timeout), "the server did not end the stream"

    @property
    def last_id(self):
        ids = [e.id for e in self.events if e.id]
        return ids[-1] if ids else None

    def close(self):
        try:
            self.connection.sock and self.connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()
        self.closed.set()
