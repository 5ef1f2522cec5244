"""gunicorn settings for the benchmark's workers: gunicorn.conf.py as it is, plus two things the
benchmark needs, each only when asked.

- BENCH_STORE_PORT: the `make run` default's store served over the MongoDB wire protocol. With
  MONGODB_URI unset the worker's data lives in its own memory (mongomock), where no other process
  can write accounts; the benchmark creates them through this port
  (tests/support/bulk_accounts.py) without a password hash each. The app itself keeps using its
  store in-process, as under `make run`. For one worker that is never restarted (a HUP's new
  worker would find the port still taken).
- GEVENT_MONITOR_THREAD_ENABLE: gevent's monitor thread reports the blocked stack only. Its
  report adds a tree of every greenlet, found by walking every object in the process
  (gc.get_objects()): at 2,000 open streams that walk holds the GIL for longer than the 10 ms the
  monitor looks for, so each report made the next one, and nearly all named the monitor itself.

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
    if os.environ.get("GEVENT_MONITOR_THREAD_ENABLE"):
        from gevent import _tracer

        _tracer.format_run_info = lambda **_: [
            "(gevent's greenlet tree left out: bench/gunicorn_bench.py says why)"]
