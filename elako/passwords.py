"""Password hashing off the event loop.

werkzeug's scrypt takes about 73 ms per hash or check. On a gevent worker that would freeze every
open event stream of the worker for as long (a morning rush of sign-ins stops live chat for
everyone), so under gevent each hash runs in a thread of its own: hashlib.scrypt releases the GIL,
so the loop keeps serving streams meanwhile. One thread per worker, not gevent's pool of ten: eight
hashes at once would take the CPU from the loop just the same, while one leaves the loop (at
least) a core; sign-ins wait their turn instead, a fraction of a second in a rush. Without gevent
(tests, CLI) it runs inline.
"""

from werkzeug.security import check_password_hash, generate_password_hash

from .offload import Lane

_lane = Lane()  # this process's hashing thread (elako/offload.py)


def _off_loop(function, *args):
    return _lane.run(function, *args)


def hash_password(password):
    return _off_loop(generate_password_hash, password)


def verify_password(password_hash, password):
    return _off_loop(check_password_hash, password_hash, password)


# Checked against when the email is unknown, so a wrong email costs as long as a wrong password and
# response times do not reveal which emails have accounts.
DUMMY_HASH = generate_password_hash("not a real password")
