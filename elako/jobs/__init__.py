"""Background work: email and webhook deliveries that must neither slow a request nor be lost.

Services enqueue a job by name after their data is stored; a job worker runs it. The queue is
Redis Streams with a consumer group (`queue.py`: why and how), the worker loop is `worker.py`, and
the jobs themselves are the small functions in `tasks.py`. Every job may run more than once (a
worker killed mid-job is replaced and the job runs again), so each is idempotent.

Failures are retried after JOB_RETRY_SCHEDULE (seconds, one per retry), then the job is a dead
letter: `flask --app app jobs dead` lists them, `flask --app app jobs retry` runs them again. A job
with a retry policy of its own (webhook deliveries) raises `RetryLater` instead.
"""

from flask import current_app

from .. import metrics
from ..extensions import get_redis
from .queue import Job, JobQueue

REGISTRY = {}


class RetryLater(Exception):
    """Run this job again after `seconds`; not a failure (it never becomes a dead letter)."""

    def __init__(self, seconds, reason=""):
        super().__init__(reason or f"again in {seconds}s")
        self.seconds = seconds


def job(function):
    """Register `function` as a job, under its own name."""
    REGISTRY[function.__name__] = function
    return function


def get_queue(app=None):
    return (app or current_app).extensions["jobs"]


def enqueue(name, *args, delay=0, unique_key=None, unique_for=0):
    """Run job `name` with JSON-able `args` in the background, after `delay` seconds. With
    `unique_key`, only the first of the jobs enqueued with it within `unique_for` seconds runs.
    One Redis round trip. Returns whether the job was added."""
    if name not in REGISTRY:
        raise KeyError(f"no job named {name!r}")
    added = get_queue().enqueue(Job(name, list(args)), delay=delay, unique_key=unique_key,
                                unique_for=unique_for)
    if added:
        metrics.JOBS.labels("queued").inc()
    return added


def retry_schedule(text):
    """'5,300,1800' -> [5, 300, 1800]: seconds before each retry."""
    return [float(part) for part in str(text).split(",") if part.strip()]


def init_app(app):
    from . import cli, tasks  # noqa: F401  (tasks registers the jobs)

    app.extensions["jobs"] = JobQueue(get_redis(app), app.config["REDIS_KEY_PREFIX"])
    cli.init_app(app)
