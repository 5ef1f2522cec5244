"""Who is online, kept in Redis so every worker on every host agrees.

* Each open event stream is a member of `{U}:conns`, scored with the time it expires. Its heartbeat
  pushes that time forward; a stream on a crashed worker simply stops being pushed and expires.
* A user is online while they have a live stream, and for PRESENCE_GRACE_SECONDS after the last one
  closed (`{U}:linger`), so a page reload is not an offline flicker.
* `online` (one sorted set) scores each user with the time they stop counting as online. Every
  worker's hub sweeps it: a user whose time passed with no live stream goes offline once — the
  `{U}:presence` state decides the single transition — and "last seen" is recorded.
* Someone without a live stream (JavaScript off, or a browser that cannot keep one open) still
  counts as active while they load pages and post forms: `{U}:page_seen` holds the time of their
  last page request, and pages (not the API) show "Active now" / "Active 2 min ago" from it when
  it is newer than their last seen.
* A transition is announced (ephemeral, no write per counterpart) only to the user's most recent
  counterparts who are online right now, so a store with thousands of customers coming back causes
  no storm, and a reload within the grace period causes nothing at all.
"""

import time
import uuid
from datetime import datetime, timezone

from flask import current_app

from .. import realtime
from ..extensions import get_redis, run_pipeline, script_sha
from ..models import utcnow
from .payloads import iso

LAST_SEEN_TTL = 90 * 24 * 3600
SWEEP_BATCH = 500

# Take one of a user's stream slots and count the user online, or answer 0 if all slots are taken:
# counting and adding in one step, so many streams opened at the same moment cannot all slip under
# the cap. Answers 2 if the user was offline until now, else 1.
OPEN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
local before = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], 'online', 'EX', ARGV[5])
if before == 'online' then return 1 end
return 2
"""
OPEN_SHA = script_sha(OPEN)

# Decide whether a user whose online time passed is really gone. Answers the expiry to keep them
# online until, 0 if they already were offline, or -1 if they just went offline.
SETTLE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if newest[2] then return newest[2] end
local linger = redis.call('PTTL', KEYS[3])
if linger > 0 then return tostring(tonumber(ARGV[1]) + linger / 1000) end
if redis.call('GET', KEYS[2]) ~= 'online' then return 0 end
redis.call('SET', KEYS[2], 'offline', 'EX', ARGV[3])
redis.call('SET', KEYS[4], ARGV[2], 'EX', ARGV[3])
return -1
"""

# Forget a user in the sweep index only if nothing renewed them meanwhile.
FORGET = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
"""


def _key(user_id, name):
    return f"{current_app.config['REDIS_KEY_PREFIX']}:{{{user_id}}}:{name}"


def _online_key():
    return f"{current_app.config['REDIS_KEY_PREFIX']}:online"


def _script(source):
    scripts = current_app.extensions.setdefault("presence_scripts", {})
    if source not in scripts:
        scripts[source] = get_redis().register_script(source)
    return scripts[source]


def live_stream_count(user_id):
    return get_redis().zcount(_key(user_id, "conns"), time.time(), "+inf")


def open_connection(user, limit):
    """Register a new event stream of `user` if fewer than `limit` are open, and count the user
    online; returns the connection's id, or None when all `limit` are taken. One round trip (two
    more, and a database read, when the user just came online)."""
    connection_id = uuid.uuid4().hex
    now = time.time()
    expires = now + current_app.config["PRESENCE_TTL_SECONDS"]
    conns, state = _key(user.id, "conns"), _key(user.id, "presence")

    def fill(pipe):
        pipe.evalsha(OPEN_SHA, 2, conns, state, now, expires, connection_id, limit, LAST_SEEN_TTL)
        pipe.zadd(_online_key(), {str(user.id): expires}, gt=True)

    opened, _ = run_pipeline(get_redis(), fill, [OPEN])
    if not opened:
        return None
    if opened == 2:
        _announce(user, online=True)
    return connection_id


def forget(user_id):
    """Remove every trace of `user_id`'s presence (their account is being deleted): their streams
    are ended first, and with no `presence` state left the sweep records no last seen."""
    redis = get_redis()
    redis.delete(*(_key(user_id, name)
                   for name in ("conns", "presence", "linger", "last_seen", "page_seen")))
    redis.zrem(_online_key(), str(user_id))


def heartbeat(user_id, connection_id):
    """Keep a stream counted as live. Heartbeats are sent in one batch per HEARTBEAT_FLUSH_SECONDS
    for the whole worker (`flush_heartbeats`), not a round trip each."""
    _pending_heartbeats()[connection_id] = str(user_id)


HEARTBEAT_FLUSH_SECONDS = 1.0


def _pending_heartbeats():
    return current_app.extensions.setdefault("presence_heartbeats", {})


# Streams per pipeline: one pipeline for a worker's 10,000 streams (667 beats a second) kept the
# loop busy for 25 ms at a time, and every stream's events waited; between these slices they go.
HEARTBEAT_BATCH = 100


def flush_heartbeats():
    """Push the expiry of every stream that beat since the last flush forward, a pipeline per
    HEARTBEAT_BATCH streams. A beat stays pending until it is sent: beats that Redis did not take
    (an outage) go with the next flush, unless their stream closed meanwhile."""
    pending = _pending_heartbeats()
    beats = list(pending.items())
    if not beats:
        return
    expires = time.time() + current_app.config["PRESENCE_TTL_SECONDS"]
    for start in range(0, len(beats), HEARTBEAT_BATCH):
        batch = beats[start:start + HEARTBEAT_BATCH]
        pipe = get_redis().pipeline(transaction=False)
        for connection_id, user_id in batch:
            pipe.zadd(_key(user_id, "conns"), {connection_id: expires})
            pipe.expire(_key(user_id, "conns"), LAST_SEEN_TTL)
        pipe.zadd(_online_key(), {user_id: expires for _, user_id in batch}, gt=True)
        pipe.execute()
        for connection_id, _ in batch:
            pending.pop(connection_id, None)


def disconnect(user_id, connection_id):
    grace = current_app.config["PRESENCE_GRACE_SECONDS"]
    now = time.time()
    redis = get_redis()
    _pending_heartbeats().pop(connection_id, None)
    pipe = redis.pipeline(transaction=False)
    pipe.zrem(_key(user_id, "conns"), connection_id)
    pipe.set(_key(user_id, "linger"), 1, px=int(grace * 1000))
    pipe.zcount(_key(user_id, "conns"), now, "+inf")
    *_, still_live = pipe.execute()
    if not still_live:
        # The last stream closed: settle the user after the grace period, not when this stream's
        # heartbeat would have run out. (A stream opening meanwhile is found by the settling.)
        redis.zadd(_online_key(), {str(user_id): now + grace})


def sweep():
    """Settle everyone whose online time has passed. Every worker's hub calls this every
    PRESENCE_SWEEP_SECONDS; a short lease lets one of them do the work each time."""
    redis = get_redis()
    lease_ms = int(current_app.config["PRESENCE_SWEEP_SECONDS"] * 900)
    if not redis.set(f"{current_app.config['REDIS_KEY_PREFIX']}:sweeping", 1, nx=True, px=lease_ms):
        return
    now = time.time()
    for user_id in redis.zrangebyscore(_online_key(), "-inf", now, start=0, num=SWEEP_BATCH):
        result = float(_script(SETTLE)(
            keys=[_key(user_id, "conns"), _key(user_id, "presence"), _key(user_id, "linger"),
                  _key(user_id, "last_seen")],
            args=[now, iso(utcnow()), LAST_SEEN_TTL]))
        if result > 0:
            redis.zadd(_online_key(), {user_id: result}, gt=True)
            continue
        _script(FORGET)(keys=[_online_key()], args=[user_id, now])
        if result < 0:
            from ..models import User  # late: only this rare path needs the document

            user = User.objects(id=user_id).only("id", "role", "hide_presence").first()
            if user is not None:
                _announce(user, online=False)


def note_page_seen(user_id, redis):
    """A page request of `user_id`: activity even without an event stream (JavaScript off).
    `redis`: the client or pipeline to write with (activity.record sends it with its own)."""
    redis.set(_key(user_id, "page_seen"), repr(time.time()), ex=LAST_SEEN_TTL)


def status(user_ids, *, pages=False):
    """{user_id: {"online": bool, "last_seen_at": iso or None}} for the given ids. With `pages`,
    someone offline whose last page request came after their last seen also has "active_at" (iso):
    they use the app without a live stream."""
    user_ids = [str(u) for u in user_ids]
    if not user_ids:
        return {}
    # One round trip; a GET per user rather than one MGET, whose keys would span cluster slots.
    pipe = get_redis().pipeline(transaction=False)
    pipe.zmscore(_online_key(), user_ids)
    for user_id in user_ids:
        pipe.get(_key(user_id, "last_seen"))
        if pages:
            pipe.get(_key(user_id, "page_seen"))
    scores, *rest = pipe.execute()
    step = 2 if pages else 1
    now = time.time()
    states = {}
    for user_id, score, seen, page_seen in zip(user_ids, scores, rest[::step],
                                                rest[1::step] if pages else [None] * len(user_ids)):
        online = bool(score and score > now)
        states[user_id] = state = {"online": online, "last_seen_at": None if online else seen}
        if not online and page_seen:
            active_at = iso(datetime.fromtimestamp(float(page_seen), timezone.utc).replace(tzinfo=None))
            if not seen or active_at > seen:
                state["active_at"] = active_at
    return states


def _announce(user, *, online):
    """Tell the user's recent counterparts who are online now about the change."""
    from .privacy import presence_audience  # late: privacy reads presence through this module

    candidates = presence_audience(user, limit=current_app.config["PRESENCE_FANOUT_LIMIT"])
    watching = [uid for uid, state in status(candidates).items() if state["online"]]
    realtime.signal("presence", watching, {
        "user_id": str(user.id), "online": online,
        "last_seen_at": None if online else iso(utcnow())})
