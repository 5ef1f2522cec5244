"""Slowing password guessing down without letting anyone lock the owner out.

* Failures are counted per (email, where from): a device that signed in to this account before
  (its signed device token), else the client's network (an IPv4 address, or an IPv6 /64, so one
  network cannot take a fresh count per address). After SIGN_IN_FREE_FAILURES each further one
  doubles the wait before the next try, up to SIGN_IN_MAX_DELAY_SECONDS; a success clears it.
  A stranger's guesses therefore slow only the stranger.
* Guessing one email from many networks meets a far higher ceiling per email
  (RATE_LIMIT_SIGN_IN_EMAIL, failures only), and from one network many emails meets
  RATE_LIMIT_SIGN_IN. Both refuse only devices that never signed in to the account: the owner's
  phone still signs in with the right password while the account is under attack.
* The device token is given on every successful sign-in (a cookie for browsers, `device_token` in
  the answer for integrations). It names the device and the accounts (hashed emails) that signed
  in on it; it is signed, so it cannot be made up, and grants nothing but a count of its own.
"""

import hashlib
import math
import time
import uuid

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .. import metrics
from ..errors import RateLimited
from ..extensions import get_redis
from . import ratelimit

DEVICE_TOKEN_MAX_AGE = 365 * 24 * 3600
ACCOUNTS_PER_DEVICE = 5  # a shared family phone signs in to a few accounts
FAILURES_KEPT_SECONDS = 24 * 3600  # a count is forgotten a day after its last attempt

# Count one attempt before the password is checked (a burst of parallel guesses gets no more
# tries than a sequence), or answer the seconds to wait. A success deletes the key.
BEGIN_ATTEMPT = """
local now = tonumber(ARGV[1])
local wait_until = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if wait_until > now then return tostring(wait_until - now) end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local beyond = failures - tonumber(ARGV[2])
if beyond > 0 then
  local delay = math.min(2 ^ (beyond - 1), tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'until', tostring(now + delay))
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return '0'
"""


def _email_hash(email):
    return hashlib.sha256(email.encode()).hexdigest()[:16]


def _serializer():
    keys = [*current_app.config["SECRET_KEY_FALLBACKS"], current_app.secret_key]
    return URLSafeTimedSerializer(keys, salt="elako-device")


def _device(token):
    """(device id, hashed emails) from a device token, or None if it is not one of ours."""
    if not isinstance(token, str) or not token:
        return None
    try:
        data = _serializer().loads(token, max_age=DEVICE_TOKEN_MAX_AGE)
        return str(data["id"]), list(data["accounts"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def known_device(token, email):
    """The id of the device `token` stands for if `email` signed in on it before, else None."""
    device = _device(token)
    return device[0] if device and _email_hash(email) in device[1] else None


def device_token(token, email):
    """The device token to give after `email` signed in: the same device, this account first."""
    device_id, accounts = _device(token) or (uuid.uuid4().hex, [])
    accounts = [_email_hash(email)] + [a for a in accounts if a != _email_hash(email)]
    return _serializer().dumps({"id": device_id, "accounts": accounts[:ACCOUNTS_PER_DEVICE]})


def _key(email, source):
    digest = hashlib.sha256(f"{email}\n{source}".encode()).hexdigest()
    return f"{current_app.config['REDIS_KEY_PREFIX']}:signin:{digest}"


def _source(client_ip, device_id):
    return f"device:{device_id}" if device_id else f"net:{ratelimit.client_network(client_ip)}"


def begin_attempt(email, *, client_ip, device_id):
    """Count a sign-in attempt for `email` before its password is checked; RateLimited while
    earlier failures make it wait, or past the shared ceilings. `device_id` names a device that
    signed in to the account before (or a signed-in session confirming its password); None means
    a stranger's device, counted by its network."""
    if device_id is None:
        ratelimit.hit("sign_in", ratelimit.client_network(client_ip))
        ratelimit.check("sign_in_email", email)
    cfg = current_app.config
    scripts = current_app.extensions.setdefault("sign_in_scripts", {})
    if "begin" not in scripts:
        scripts["begin"] = get_redis().register_script(BEGIN_ATTEMPT)
    wait = float(scripts["begin"](
        keys=[_key(email, _source(client_ip, device_id))],
        args=[time.time(), cfg["SIGN_IN_FREE_FAILURES"], cfg["SIGN_IN_MAX_DELAY_SECONDS"],
              FAILURES_KEPT_SECONDS]))
    if wait > 0:
        metrics.RATE_LIMITED.labels("sign_in").inc()
        raise RateLimited(ratelimit.MESSAGES["sign_in"], retry_after=max(1, math.ceil(wait)))


def failed(email, *, device_id):
    """A wrong password (the attempt itself was counted by `begin_attempt`)."""
    if device_id is None:
        ratelimit.count("sign_in_email", email)


def succeeded(email, *, client_ip, device_id):
    get_redis().delete(_key(email, _source(client_ip, device_id)))
