"""What operators watch, in the Prometheus text format at GET /metrics.

Under gunicorn every worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR
(gunicorn.conf.py empties the folder at start and drops a dead worker's live gauges), and a
scrape adds up all the workers' files, whichever worker answers it. Elsewhere (tests, the CLI)
the process's own registry answers.
"""

import hmac
import os

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge,
                               Histogram, generate_latest, multiprocess)

OPEN_STREAMS = Gauge("elako_open_streams", "Event streams open now.",
                     multiprocess_mode="livesum")
MESSAGES_SENT = Counter("elako_messages_sent", "Messages stored and announced.")
EVENTS_PUBLISHED = Counter("elako_events_published",
                           "Durable events appended to users' Redis streams.")
REPLAYS = Counter("elako_replays", "Streams resumed from a Last-Event-ID.")
RESYNCS = Counter("elako_resyncs",
                  "Streams told to reload their state (id gone or unknown, replay too long).")
HUB_RECONNECTS = Counter("elako_hub_reconnects",
                         "Times a worker's pub/sub connection to Redis was lost and made again.")
RATE_LIMITED = Counter("elako_rate_limit_refusals", "Requests refused by a rate limit.",
                       ["limit"])
JOBS = Counter("elako_jobs", "Background jobs: queued, done, retried, failed, dead (given up).",
               ["outcome"])
REQUEST_SECONDS = Histogram(
    "elako_request_duration_seconds",
    "Time to answer a request (an event stream: to open it), by route.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def authorised(header, token):
    """Whether an Authorization header carries the metrics token."""
    scheme, _, given = (header or "").partition(" ")
    return (scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode(), token.encode()))


def exposition():
    """(body, content type) of every metric of this server."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST
