"""Real-time delivery: per-user Redis streams (`bus`), the per-process fan-out (`hub`) and the SSE
connection loop (`stream`). `notify` is the one way services send events: it makes the caller name
the recipients, so nothing reaches a user it was not addressed to.
"""

import os

from flask import current_app

from ..extensions import get_redis
from .bus import EventBus
from .hub import LiveHub


def init_app(app):
    cfg = app.config
    app.extensions["bus"] = EventBus(
        get_redis(app), prefix=cfg["REDIS_KEY_PREFIX"], maxlen=cfg["EVENT_STREAM_MAXLEN"],
        ttl_seconds=cfg["EVENT_STREAM_TTL_SECONDS"])


def get_bus():
    return current_app.extensions["bus"]


def get_hub():
    """This process's hub, started on first use (after gunicorn forked the worker)."""
    app = current_app._get_current_object()
    hub = app.extensions.get("hub")
    if hub is None or hub.pid != os.getpid():
        hub = LiveHub(app.config["REDIS_URL"], f"{app.config['REDIS_KEY_PREFIX']}:hub",
                      ping_seconds=app.config["REDIS_PUBSUB_PING_SECONDS"])
        hub.pid = os.getpid()
        app.extensions["hub"] = hub
        from ..services import presence

        def sweep_presence():
            with app.app_context():
                presence.sweep()

        hub.spawn_periodic(app.config["PRESENCE_SWEEP_SECONDS"], sweep_presence)
    return hub


def notify(event_type, payloads):
    """Store and announce one durable event per recipient: `payloads` maps user id -> data.

    Each recipient gets data shaped for them (their unread count, the other party's name), so the
    stream renders without another database read. Returns {user_id: event id}.
    """
    recipients = list(payloads)
    ids = get_bus().publish([(str(user), event_type, payloads[user]) for user in recipients])
    return dict(zip(recipients, ids))


def signal(event_type, user_ids, data):
    """Announce an ephemeral event (typing, presence) to whichever of `user_ids` are connected."""
    if user_ids:
        get_bus().announce([str(u) for u in user_ids], event_type, data)


def scrub(user_ids, carries):
    """Erase the stored events of `user_ids` for which `carries(type, data)` is true."""
    get_bus().scrub([str(u) for u in user_ids], carries)
