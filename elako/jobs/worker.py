"""The job worker loop: `flask --app app worker` in production; under `make run`, a greenlet in
the web worker (gunicorn.conf.py), since mongomock's data lives only in that process.

Each round moves due jobs from the schedule into the ready stream, takes over jobs whose worker
died (idle for JOB_CLAIM_TIMEOUT_SECONDS), then waits up to JOB_POLL_SECONDS for a new one.
"""

import logging
import time

from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from .. import metrics
from . import REGISTRY, RetryLater, get_queue, retry_schedule
from .queue import consumer_name

log = logging.getLogger(__name__)

DIED = "its worker stopped while running it (killed, or its host was lost)"


class Worker:
    def __init__(self, app):
        self.app = app
        self.queue = get_queue(app)
        self.consumer = consumer_name()
        cfg = app.config
        self.claim_timeout = cfg["JOB_CLAIM_TIMEOUT_SECONDS"]
        self.poll_ms = int(cfg["JOB_POLL_SECONDS"] * 1000)
        self.schedule = retry_schedule(cfg["JOB_RETRY_SCHEDULE"])
        self._next_reclaim = 0.0

    def run(self, stopping=lambda: False):
        """Work until `stopping()` is true; the job in hand is always finished first."""
        log.info("job worker %s started", self.consumer)
        while not stopping():
            try:
                self.step()
            except (ConnectionError, TimeoutError) as exc:
                log.warning("job worker: Redis unavailable (%s); trying again in 1s", exc)
                time.sleep(1)
            except Exception:  # a worker that stopped here would stop every email and webhook
                log.exception("job worker: unexpected error; going on in 1s")
                time.sleep(1)
        log.info("job worker %s stopped", self.consumer)

    def step(self):
        """One round; returns how many jobs ran."""
        try:
            return self._step()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream went with its group (a Redis restarted without persistence): new ones.
            self.queue.forget_group()
            return 0

    def _step(self):
        self.queue.ensure_group()
        self.queue.promote_due()
        ran = 0
        if time.monotonic() >= self._next_reclaim:
            # A quarter of the timeout: a dead worker's job waits at most 1.25 timeouts.
            self._next_reclaim = time.monotonic() + self.claim_timeout / 4
            for entry_id, job in self.queue.reclaim(self.consumer, self.claim_timeout):
                self._failed(entry_id, job, DIED, rerun_now=True)
                ran += 1
        taken = self.queue.take(self.consumer, self.poll_ms)
        if taken:
            self._run(*taken)
            ran += 1
        return ran

    def _run(self, entry_id, job):
        function = REGISTRY.get(job.name)
        if function is None:
            job.error = f"no job named {job.name!r} (from a newer or older release?)"
            job.failed_at = time.time()
            self.queue.bury(entry_id, job)
            log.error("job %s %s: %s", job.name, job.id, job.error)
            return
        try:
            with self.app.app_context():
                function(*job.args)
        except RetryLater as later:
            self.queue.later(entry_id, job, later.seconds)
            metrics.JOBS.labels("retried").inc()
        except Exception as exc:
            log.warning("job %s %s failed", job.name, job.id, exc_info=True)
            self._failed(entry_id, job, f"{type(exc).__name__}: {exc}")
        else:
            self.queue.done(entry_id)
            metrics.JOBS.labels("done").inc()

    def _failed(self, entry_id, job, error, *, rerun_now=False):
        """Count a failure: retry after the schedule's next delay, or bury the job once the
        schedule is used up. A job whose worker died runs again at once (it is already late)."""
        job.failures += 1
        job.error, job.failed_at = error, time.time()
        metrics.JOBS.labels("failed").inc()
        if job.failures > len(self.schedule):
            self.queue.bury(entry_id, job)
            metrics.JOBS.labels("dead").inc()
            log.error("job %s %s is a dead letter after %d failures: %s",
                      job.name, job.id, job.failures, error)
        elif rerun_now:
            self._run(entry_id, job)
        else:
            self.queue.later(entry_id, job, self.schedule[job.failures - 1])
