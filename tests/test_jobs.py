"""The job queue: jobs run once, later when delayed, retried with backoff, then dead letters that
the CLI lists and runs again; a worker killed mid-job is replaced (test_webhooks.py kills one
mid-delivery); `make run`'s web worker runs jobs too."""

import time
from datetime import datetime, timezone

import pytest
import requests
from cryptography.fernet import Fernet

from elako import jobs
from tests.conftest import FAST_JOBS

pytestmark = pytest.mark.settings(**FAST_JOBS)


@jobs.job
def note_run(key, failures_first=0):
    """A test job: records each run's time in Redis, failing its first `failures_first` runs."""
    from elako.extensions import get_redis

    runs = get_redis().rpush(key, repr(time.time()))
    if runs <= failures_first:
        raise RuntimeError(f"failure number {runs}")


def runs(redis, key):
    return [float(t) for t in redis.lrange(key, 0, -1)]


def test_a_job_runs_once(app, redis, run_jobs):
    with app.app_context():
        jobs.enqueue("note_run", "k:once")
    run_jobs()
    assert len(runs(redis, "k:once")) == 1
    run_jobs()
    assert len(runs(redis, "k:once")) == 1


def test_a_delayed_job_waits_its_time(app, redis, run_jobs):
    with app.app_context():
        queued_at = time.time()
        jobs.enqueue("note_run", "k:later", delay=0.5)
    run_jobs()
    [ran_at] = runs(redis, "k:later")
    assert ran_at - queued_at >= 0.45


def test_a_unique_job_is_queued_once_while_its_key_lives(app, redis, run_jobs):
    with app.app_context():
        added = [jobs.enqueue("note_run", "k:unique", unique_key="u1", unique_for=0.3)
                 for _ in range(3)]
        run_jobs()
        assert added == [True, False, False] and len(runs(redis, "k:unique")) == 1
        time.sleep(0.3)
        assert jobs.enqueue("note_run", "k:unique", unique_key="u1", unique_for=0.3)


def test_failures_are_retried_with_backoff_until_one_succeeds(app, redis, run_jobs):
    with app.app_context():
        jobs.enqueue("note_run", "k:flaky", 2)
    run_jobs()
    first, second, third = runs(redis, "k:flaky")
    assert second - first >= 0.18 and third - second >= 0.18  # JOB_RETRY_SCHEDULE 0.2,0.2
    assert jobs.get_queue(app).counts() == {"ready": 0, "scheduled": 0, "dead": 0}


def test_a_job_that_keeps_failing_is_a_dead_letter_the_cli_lists_and_reruns(app, redis, run_jobs):
    with app.app_context():
        jobs.enqueue("note_run", "k:doomed", 3)
    run_jobs()
    assert len(runs(redis, "k:doomed")) == 3  # the first run and two retries
    cli = app.test_cli_runner()
    assert cli.invoke(args=["jobs", "status"]).output.strip() == "ready=0 scheduled=0 dead=1"
    listing = cli.invoke(args=["jobs", "dead"]).output
    assert "note_run('k:doomed', 3)" in listing and "failures=3" in listing
    assert "RuntimeError: failure number 3" in listing

    dead_id = listing.split()[0]
    assert cli.invoke(args=["jobs", "retry", dead_id]).output.strip() == "re-queued 1 job(s)"
    run_jobs()
    assert len(runs(redis, "k:doomed")) == 4  # the fourth run succeeds
    assert cli.invoke(args=["jobs", "dead"]).output.strip() == "no dead letters"


def test_retry_all_reruns_every_dead_letter(app, redis, run_jobs):
    with app.app_context():
        jobs.enqueue("note_run", "k:a", 3)
        jobs.enqueue("note_run", "k:b", 3)
    run_jobs()
    cli = app.test_cli_runner()
    assert cli.invoke(args=["jobs", "retry", "--all"]).output.strip() == "re-queued 2 job(s)"
    run_jobs()
    assert len(runs(redis, "k:a")) == len(runs(redis, "k:b")) == 4


def test_a_job_its_worker_never_finished_is_taken_over(app, redis, run_jobs):
    """A worker that took a job and died (no ack) loses it to another after the claim timeout."""
    queue = jobs.get_queue(app)
    with app.app_context():
        jobs.enqueue("note_run", "k:orphan")
    queue.ensure_group()
    assert queue.take("a-worker-that-dies", 100) is not None
    started = time.monotonic()
    run_jobs(until=lambda: runs(redis, "k:orphan"))
    assert time.monotonic() - started >= FAST_JOBS["JOB_CLAIM_TIMEOUT_SECONDS"] - 0.1
    run_jobs()
    assert len(runs(redis, "k:orphan")) == 1


@pytest.mark.e2e
@pytest.mark.parametrize("cluster", [False, True], ids=["redis", "redis-cluster"])
def test_make_runs_web_workers_run_jobs_too(live_server, server_db, request, cluster):
    """`make run` sets START_JOB_WORKER=1: the gunicorn workers themselves send the alert email
    (without MONGODB_URI no other process could read the message), once between them; on a
    Redis Cluster too (every job key shares one slot)."""
    where = {}
    if cluster:
        where = {"redis": request.getfixturevalue("redis_cluster").url, "REDIS_CLUSTER": "1"}
    server = live_server(workers=2, START_JOB_WORKER="1", EMAIL_ALERT_DELAY_SECONDS="0.5",
                         JOB_POLL_SECONDS="0.1", **where)
    customer, store = server.register("customer", "Maria Santos"), server.register("store", "Nena")
    # Alerts go to verified addresses only (the link in the verification email does this).
    server_db(server).users.update_one({"email": store.email},
                                       {"$set": {"email_verified_at": datetime.now(timezone.utc)}})
    customer.send(customer.open_conversation(store), "May Milo po ba?")
    outbox = server.data_dir / "outbox"

    def alerts():  # the outbox has the verification emails of the sign-ups too
        return [path for path in outbox.glob("*.eml") if "May Milo po ba?" in path.read_text()]

    deadline = time.monotonic() + 15
    while not (outbox.exists() and alerts()):
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)
    time.sleep(1)  # a second email would be written by now
    [written] = alerts()
    assert f"wrote the email to {written}" in server.log()
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def test_the_worker_recreates_its_group_when_the_stream_is_gone(app, redis, run_jobs):
    """After a Redis restart without persistence the stream and its group are gone."""
    with app.app_context():
        jobs.enqueue("note_run", "k:before")
    run_jobs()
    redis.delete(jobs.get_queue(app).ready)
    with app.app_context():
        jobs.enqueue("note_run", "k:after")
    run_jobs()
    assert len(runs(redis, "k:after")) == 1


@pytest.mark.settings(MESSAGE_ENCRYPTION_KEYS=Fernet.generate_key().decode(), **FAST_JOBS)
def test_queued_jobs_are_encrypted_at_rest_like_messages(app, redis, run_jobs):
    """Jobs carry message text and whole emails; with encryption on, Redis holds none of it."""
    with app.app_context():
        jobs.enqueue("note_run", "k:secret Milo order", delay=30)
        jobs.enqueue("note_run", "k:secret Milo order", 3)
    queue = jobs.get_queue(app)
    stored = [fields["job"] for _id, fields in redis.xrange(queue.ready)]
    stored += redis.zrange(queue.scheduled, 0, -1)
    assert len(stored) == 2 and not any("Milo" in value for value in stored)
    redis.delete(queue.scheduled)
    run_jobs()
    assert len(runs(redis, "k:secret Milo order")) == 3  # it ran: the worker reads them
    [(_id, job)] = queue.dead_letters()
    assert job.args == ["k:secret Milo order", 3]
    assert "Milo" not in str(redis.xrange(queue.dead))
