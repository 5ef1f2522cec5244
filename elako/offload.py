"""CPU-heavy work off the gevent event loop, on one thread of its own per worker process.

A gevent worker serves every open event stream from one loop: 73 ms of password hashing or a
second of decoding a photo on it would freeze them all. `Lane` runs such a call on a dedicated
thread instead (hashlib's scrypt and Pillow's decoders and encoders release the GIL, so the loop
keeps going meanwhile). One thread per lane, not gevent's pool of ten: many at once would take the
CPU from the loop just the same, while one leaves the loop (at least) a core; work waits its turn
instead. Without gevent (tests, CLI) the call runs inline.
"""

import os


class Lane:
    """One thread of this process for one kind of heavy work (made on first use, after fork)."""

    def __init__(self):
        self._pool = None
        self._pid = None

    def run(self, function, *args):
        from gevent import monkey

        if not monkey.is_module_patched("socket"):
            return function(*args)
        if self._pool is None or self._pid != os.getpid():
            from gevent.threadpool import ThreadPool

            self._pool, self._pid = ThreadPool(1), os.getpid()
        return self._pool.apply(function, args)
