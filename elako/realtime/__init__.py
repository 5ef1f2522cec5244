"""Real-time delivery: per-user Redis streams (`bus`), the per-process fan-out (`hub`) and the SSE
connection loop (`stream`). `notify` is the one way services send events: it makes the caller name
the recipients, so nothing reaches a user it was not addressed to.
"""

import os

from flask import current_app

from ..extensions import get_redis
from ..session_cache import SessionCache
from .bus import EventBus
from .hub import LiveHub


def init_app(app):
    cfg = app.config
    app.extensions["bus"] = EventBus(
        get_redis(app), prefix=cfg["REDIS_KEY_PREFIX"], maxlen=cfg["EVENT_STREAM_MAXLEN"],
        ttl_seconds=cfg["EVENT_STREAM_TTL_SECONDS"], max_bytes=cfg["EVENT_STREAM_MAX_BYTES"])

    def listening():
        hub = app.extensions.get("hub")
        return hub is not None and hub.pid == os.getpid() and hub.listening

    app.extensions["session_cache"] = SessionCache(cfg["AUTH_CACHE_SECONDS"], listening)


def _control_channel(app):
    return f"{app.config['REDIS_KEY_PREFIX']}:hub"


def get_bus():
    return current_app.extensions["bus"]


def get_hub():
    """This process's hub, started on first use (after gunicorn forked the worker)."""
    app = current_app._get_current_object()
    hub = app.extensions.get("hub")
    if hub is None or hub.pid != os.getpid():
        cache = app.extensions["session_cache"]
        hub = LiveHub(app.config["REDIS_URL"], _control_channel(app),
                      ping_seconds=app.config["REDIS_PUBSUB_PING_SECONDS"],
                      on_control=cache.handle, on_reconnect=cache.clear)
        hub.pid = os.getpid()
        app.extensions["hub"] = hub
        from ..services import presence

        def sweep_presence():
            with app.app_context():
                presence.sweep()

        def flush_heartbeats():
            with app.app_context():
                presence.flush_heartbeats()

        hub.spawn_periodic(app.config["PRESENCE_SWEEP_SECONDS"], sweep_presence)
        hub.spawn_periodic(presence.HEARTBEAT_FLUSH_SECONDS, flush_heartbeats)
    return hub


def shut_down(app):
    """The worker is stopping: end its streams, each telling its client when to come back."""
    hub = app.extensions.get("hub")
    if hub is not None and hub.pid == os.getpid():
        hub.shut_down()


def start_listening():
    """Under gevent, start this worker's hub (if it is not running yet), so it hears sign-outs and
    its session cache can be trusted. Elsewhere (tests, CLI) there is no loop to run it on."""
    from gevent import monkey

    if monkey.is_module_patched("socket"):
        get_hub().start()


def session_cache():
    return current_app.extensions["session_cache"]


def broadcast(kind, subject):
    """Tell every worker of the deployment (their hubs, then their session caches) about a change:
    "signed_out" with a session id, "user_changed" with a user id. This process hears it at once."""
    session_cache().handle(f"{kind} {subject}")
    get_redis().publish(_control_channel(current_app), f"{kind} {subject}")


def notify(event_type, payloads, *, once=None, once_seconds=None):
    """Store and announce one durable event per recipient: `payloads` maps user id -> data.

    Each recipient gets data shaped for them (their unread count, the other party's name), so the
    stream renders without another database read. Returns {user_id: event id}. `once`,
    `once_seconds`: see `EventBus.publish` (an id is None for a recipient who had the event).
    """
    recipients = list(payloads)
    ids = get_bus().publish([(str(user), event_type, payloads[user]) for user in recipients],
                            once=once, once_seconds=once_seconds)
    return dict(zip(recipients, ids))


def signal(event_type, user_ids, data):
    """Announce an ephemeral event (typing, presence) to whichever of `user_ids` are connected."""
    if user_ids:
        get_bus().announce([str(u) for u in user_ids], event_type, data)


def scrub(user_ids, carries):
    """Erase the stored events of `user_ids` for which `carries(type, data)` is true."""
    get_bus().scrub([str(u) for u in user_ids], carries)


def revise(user_ids, revised):
    """Rewrite the stored events of `user_ids` (see `EventBus.revise`)."""
    get_bus().revise([str(u) for u in user_ids], revised)
