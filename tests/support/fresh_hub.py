"""In-process tests that switch greenlets run on a gevent hub of their own."""

import functools
import threading


def in_a_thread_of_its_own(test):
    """Run `test` (with its fixtures) on a fresh gevent hub: the main thread's may hold greenlets
    that earlier in-process tests left behind, blocked on sockets gevent does not patch here."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        failure = []

        def body():
            try:
                test(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the test's own thread
                failure.append(exc)

        thread = threading.Thread(target=body, daemon=True)
        thread.start()
        thread.join(30)
        assert not thread.is_alive(), "the test did not finish within 30 s"
        if failure:
            raise failure[0]
    return run
