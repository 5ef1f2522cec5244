"""gunicorn settings for benchmarking the `make run` default: gunicorn.conf.py as it is, plus one
thing for the benchmark's set-up. With MONGODB_URI unset the worker's data lives in its own memory
(mongomock), where no other process can write accounts; so the worker also serves that store over
the MongoDB wire protocol on BENCH_STORE_PORT, and the benchmark creates its accounts through it
(tests/support/bulk_accounts.py) without a password hash each. The app itself keeps using its
store in-process, as under `make run`.

    BENCH_STORE_PORT=27999 gunicorn -c bench/gunicorn_embedded.py app:app
"""

import os
import runpy
from pathlib import Path

globals().update({name: value for name, value in
                  runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
                  .items() if not name.startswith("__")})
_serve_worker = post_worker_init  # noqa: F821 (gunicorn.conf.py's, just loaded)


def post_worker_init(worker):
    _serve_worker(worker)
    import mongoengine

    from tests.support.mongowire import MongoWireServer

    # A greenlet under gevent; mongomock never yields mid-command, so the app's own reads and
    # writes see each command whole.
    MongoWireServer(port=int(os.environ["BENCH_STORE_PORT"]),
                    client=mongoengine.get_connection()).start()
