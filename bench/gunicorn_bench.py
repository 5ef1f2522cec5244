"""gunicorn settings for the benchmark's workers: gunicorn.conf.py as it is, plus two things the
benchmark needs, each only when asked.

- BENCH_STORE_PORT: the `make run` default's store served over the MongoDB wire protocol. With
  MONGODB_URI unset the worker's data lives in its own memory (mongomock), where no other process
  can write accounts; the benchmark creates them through this port
  (tests/support/bulk_accounts.py) without a password hash each. The app itself keeps using its
  store in-process, as under `make run`. For one worker that is never restarted (a HUP's new
  worker would find the port still taken).
- GEVENT_MONITOR_THREAD_ENABLE: gevent's monitor thread watches the worker's event loop (the
  main thread's hub) only, and reports the blocked stack only. gevent starts a monitor for every
  hub, and a hub is made in any thread that touches a gevent primitive: the monitor thread's own
  (printing a report takes a lock), the worker's thread pools. Those threads run no requests,
  and their monitors reported each one's native sleep as a blocked loop, every 10 ms: thousands
  of reports, all naming `_monitor.py`. And gevent's report adds a tree of every greenlet, found
  by walking every object in the process (gc.get_objects()), which at 2,000 open streams holds
  the GIL for longer than the 10 ms the monitor looks for.

    BENCH_STORE_PORT=27999 gunicorn -c bench/gunicorn_bench.py app:app
"""

import os
import runpy
from pathlib import Path

globals().update({name: value for name, value in
                  runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
                  .items() if not name.startswith("__")})
_configured_post_worker_init = post_worker_init  # noqa: F821 (gunicorn.conf.py's, just loaded)


def post_worker_init(worker):
    _configured_post_worker_init(worker)
    if os.environ.get("BENCH_STORE_PORT"):
        import mongoengine

        from tests.support.mongowire import MongoWireServer

        # A greenlet under gevent; mongomock never yields mid-command, so the app's own reads and
        # writes see each command whole.
        MongoWireServer(port=int(os.environ["BENCH_STORE_PORT"]),
                        client=mongoengine.get_connection()).start()


def post_fork(server, worker):
    """In the new worker, before gevent's hub first runs (and starts its monitor)."""
    if os.environ.get("GEVENT_MONITOR_THREAD_ENABLE"):
        _monitor_the_event_loop_only()


def _monitor_the_event_loop_only():
    import sys
    import traceback

    from gevent._monitor import PeriodicMonitoringThread
    from gevent.hub import Hub

    start_monitor = Hub.start_periodic_monitoring_thread
    Hub.start_periodic_monitoring_thread = (
        lambda hub: start_monitor(hub) if hub.main_hub else None)

    def monitor_blocking(monitor, hub):
        blocked = monitor._greenlet_tracer.did_block_hub(hub)
        if not blocked:
            return None
        frame = sys._current_frames().get(hub.thread_ident)
        report = ["=" * 80, f"Greenlet {blocked[1]} appears to be blocked", "Blocked Stack:",
                  "".join(traceback.format_stack(frame)) if frame else "(no frame)", "Info:",
                  "(gevent's greenlet tree left out: bench/gunicorn_bench.py says why)"]
        return monitor._show_blocking_report(hub, report, blocked[1])

    PeriodicMonitoringThread.monitor_blocking = monitor_blocking
