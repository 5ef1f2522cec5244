"""Server-sent event streams: `/api/events` (JSON, bearer token) for integrations and `/events`
(HTML fragments, session cookie) for browsers. Both run `services.streams.events`; they differ only
in how an event is written. The protocol is described there and in docs/events.md.

`sse` keeps flask-sse's interface (`sse.publish(data, type=..., channel=...)`, `sse.stream`, its
`Message` wire format) on our transport: per-user Redis streams with replay, a heartbeat, and one
pub/sub connection per worker instead of one per client.
"""

import contextlib
import logging
import re
import socket

from flask import current_app, g, jsonify, render_template, request, stream_with_context
from flask_sse import Message as FlaskSSEMessage
from flask_sse import ServerSentEventsBlueprint

from .. import logs, realtime
from ..errors import Unauthorized
from ..extensions import get_redis
from ..identity import load_from_bearer, load_from_cookie
from ..realtime.bus import dumps
from ..services import inputs, privacy, streams

log = logging.getLogger(__name__)

# An event the page has nothing to show for still goes out, so its id moves the page's cursor.
NOTHING = "<!-- -->"

# The fragment template for each event type a browser receives; see templates/events/.
HTML_TEMPLATES = {
    "message": "events/message.html",
    "message_deleted": "events/message.html",
    "read": "events/receipt.html",
    "delivered": "events/receipt.html",
    "conversation": "events/conversation.html",
    "typing": "events/typing.html",
    "presence": "events/presence.html",
    "resync": "events/resync.html",
    "signed_out": "events/resync.html",
    "order": "events/order.html",
}


RESERVED_TYPES = {*HTML_TEMPLATES, "session_revoked", "keepalive"}

# The only line endings of the SSE format. str.splitlines() (which flask-sse uses) also splits on
# U+2028, U+2029, NEL, form feed and more, so a message containing one would reach the browser with
# a newline in its place instead of exactly as typed.
SSE_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class Message(FlaskSSEMessage):
    """flask-sse's wire format, with `data` split into `data:` lines only where SSE splits it."""

    def __str__(self):
        data = self.data if isinstance(self.data, str) else dumps(self.data)
        lines = [f"data:{line}" for line in SSE_LINE_BREAK.split(data)]
        if self.type:
            lines.insert(0, f"event:{self.type}")
        if self.id:
            lines.append(f"id:{self.id}")
        if self.retry:
            lines.append(f"retry:{self.retry}")
        return "\n".join(lines) + "\n\n"


class Comment:
    """An SSE comment line: keeps the connection alive and finds dead clients."""

    def __str__(self):
        return ": keepalive\n\n"


class Retry:
    """The reconnect delay alone, sent just before the server ends a stream on purpose."""

    def __init__(self, retry_ms):
        self.retry_ms = retry_ms

    def __str__(self):
        return f"retry:{self.retry_ms}\n\n"


class EventStreamBlueprint(ServerSentEventsBlueprint):
    @property
    def redis(self):
        return get_redis()

    def publish(self, data, type=None, id=None, retry=None, channel="sse"):
        """Send `data` as an event of `type` (default "notice") to the user whose id is `channel`;
        returns the event id. Ids are assigned by the user's stream, so `id` must be left out,
        and the app's own event types are reserved: their data has a shape clients rely on."""
        if id is not None:
            raise ValueError("event ids are assigned by the user's stream")
        if type in RESERVED_TYPES:
            raise ValueError(f"the event type {type!r} is reserved for ELako's own events")
        user_id = inputs.object_id(channel, "User")
        return realtime.notify(type or "notice", {user_id: data})[user_id]

    def stream(self):
        """GET /api/events: the caller's events as JSON, for integrations."""
        return self.respond(_bearer_user)

    def respond(self, authenticate, render=None):
        """Open the stream of whoever `authenticate()` returns (user, session) for, then answer.

        Everything up to a fixed cursor happens before the first byte, so a client that got the
        headers misses nothing sent after them, and a refusal is a proper status (429, 503 with
        Retry-After), never a stream that breaks."""
        with streams.admission():
            user, session = authenticate()
            # Only a browser's own reconnect sends the header: the query parameter may be the
            # page's cursor from when it was drawn, before whatever waited was delivered.
            stream = streams.EventStream(user, session, _last_event_id(),
                                         resuming="Last-Event-ID" in request.headers)
        retry = streams.retry_ms()
        client = request.environ.get("gunicorn.socket")

        # One generator over the stream's own: each level of nesting is kept in every idle stream's
        # saved greenlet stack (about 0.6 KB), thousands of times over.
        def generate(context):
            with context:
                yield f"retry:{retry}\n\n".encode()
                for event in stream.events():
                    yield str(_message(event, render, client)).encode()
                    del event  # not kept while the stream waits for the next

        app = current_app._get_current_object()
        if render is None:
            # JSON needs only the app. The request's context (its objects, the signed-in user's and
            # session's documents) would otherwise stay in memory for as long as the stream is open.
            context = app.app_context()
            context.g.log_fields = logs.request_fields()  # the stream's log lines name its request
            chunks = generate(context)
        else:
            chunks = stream_with_context(generate(contextlib.nullcontext()))  # fragments build URLs
        response = current_app.response_class(StreamBody(chunks, stream, app),
                                              mimetype="text/event-stream", direct_passthrough=True)
        response.headers["Cache-Control"] = "no-cache, no-transform"
        response.headers["X-Accel-Buffering"] = "no"  # nginx: pass events through unbuffered
        return response


class StreamBody:
    """An event stream's response body. Iterating it iterates `chunks` itself: werkzeug's
    ClosingIterator would add a level of its own to every idle stream's saved stack. The server
    closes it however the response ended, and that closes `stream`, even one never iterated (a
    HEAD request, a client gone before the first byte)."""

    def __init__(self, chunks, stream, app):
        self._chunks, self._stream, self._app = chunks, stream, app

    def __iter__(self):
        return self._chunks

    def close(self):
        try:
            self._chunks.close()
        finally:
            with self._app.app_context():
                self._stream.close()


def _message(event, render, client):
    """What goes out for one of a stream's events: `render(event)` gives its data, by default the
    event's JSON payload. `client` is the connection's socket, where the server gives it."""
    if event is streams.KEEPALIVE:
        return Comment()
    if isinstance(event, streams.Reconnect):
        _close_connection_after_response(client)
        return Retry(event.retry_ms)
    return Message(render(event) if render else event.data, type=event.type, id=event.id)


def _close_connection_after_response(client):
    """Let the client's connection end with this response. gunicorn decided on keep-alive when the
    stream began; a stopping worker must not keep idle connections that a reconnecting browser
    would reuse (only to be turned away), nor wait for them until its graceful timeout. Shutting
    the socket's reading side makes gunicorn's wait for a next request end at once; the response
    itself still goes out whole."""
    if client is not None:
        try:
            client.shutdown(socket.SHUT_RD)
        except OSError:
            pass


def _last_event_id():
    """The header is what browsers send on their own reconnects; the query parameter is for
    clients that cannot set headers, and for the page's first connection."""
    return request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or None


def _bearer_user(*, remember=False):
    """An event stream's user: the stream reads its session once, so it is not cached (see
    accounts.session_user)."""
    load_from_bearer(remember=remember)
    return g.user, g.auth_session


def _cookie_user():
    load_from_cookie(remember=False)
    if g.user is None:
        raise Unauthorized("Sign in to receive live updates.")
    return g.user, g.auth_session


sse = EventStreamBlueprint("events", __name__)
sse.add_url_rule("/api/events", endpoint="stream", view_func=sse.stream)


@sse.get("/api/events/poll")
def poll():
    """Long poll, for clients that cannot hold a stream open or sit behind a buffering proxy."""
    timeout = inputs.integer(request.args.get("timeout"), "timeout", label="timeout", minimum=0,
                             maximum=30, default=25)
    with streams.admission():
        user, session = _bearer_user(remember=True)  # the next poll comes within seconds
        # An id here is the one the previous poll answered, after marking what it delivered.
        stream = streams.EventStream(user, session, _last_event_id(), resuming=True)
    events, last_event_id = streams.poll(stream, timeout)
    return jsonify(events=[{"id": e.id, "type": e.type, "data": e.data} for e in events],
                   last_event_id=last_event_id)


@sse.get("/events")
def browser_stream():
    """The page's stream: each event rendered into HTML fragments for this viewer."""
    def render(event):
        template = HTML_TEMPLATES.get(event.type)
        if template is None:  # an integration's own event (sse.publish): the page has no use for it
            return NOTHING
        viewer = g.user
        try:
            html = render_template(template, event=event, data=event.data, viewer=viewer,
                                   viewer_id=str(viewer.id), presence=_row_presence(event.data))
        except Exception:  # one bad stored event must not end this stream, and every replay of it
            log.exception("could not render %s event %s for %s", event.type, event.id, viewer.id)
            return NOTHING
        return html.strip() or NOTHING

    return sse.respond(_cookie_user, render)


def _row_presence(data):
    """The other party's presence for an event that re-renders an inbox row, so the row keeps its
    online dot; read now, since presence changes are never stored in the stream."""
    row = data.get("conversation")
    return privacy.shown_presence([row], pages=True) if row else None
