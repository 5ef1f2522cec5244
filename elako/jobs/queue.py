"""A durable job queue on Redis Streams, shared by every web worker, job worker and host.

* Ready jobs are entries of the stream `<prefix>:{jobs}:ready`, read through one consumer group.
  A worker that takes an entry owns it until it acknowledges it; if the worker dies (SIGKILL, a
  lost host) the entry stays pending, and once it has been idle for JOB_CLAIM_TIMEOUT_SECONDS
  another worker takes it over with XAUTOCLAIM and runs it again. Jobs are therefore written to be
  idempotent: any of them may run twice.
* Jobs due later (a delay, a retry's backoff) wait in the sorted set `<prefix>:{jobs}:scheduled`,
  scored with the time they are due, and workers move them into the stream when that time comes.
  Times come from Redis's clock, so hosts with drifting clocks agree.
* A job that keeps failing ends in the stream `<prefix>:{jobs}:dead` with its last error, for
  `flask --app app jobs dead` to show and `flask --app app jobs retry` to run again.
* Every key carries the `{jobs}` hash tag: on a Redis Cluster they share one slot, so each Lua
  script below touches one node.
"""

import json
import os
import socket
import uuid
from dataclasses import dataclass, field

from redis.exceptions import ResponseError

from .. import crypto

GROUP = "workers"
DEAD_MAXLEN = 10000  # dead letters kept, newest last

# Add a job, now or after ARGV[2] seconds. With a uniqueness key (ARGV[3] > 0 milliseconds), a
# second job with the same key is dropped while the key lives.
ENQUEUE = """
if tonumber(ARGV[3]) > 0 and not redis.call('SET', KEYS[3], 1, 'NX', 'PX', ARGV[3]) then
  return 0
end
local delay = tonumber(ARGV[2])
if delay > 0 then
  local now = redis.call('TIME')
  redis.call('ZADD', KEYS[2], tonumber(now[1]) + tonumber(now[2]) / 1000000 + delay, ARGV[1])
else
  redis.call('XADD', KEYS[1], '*', 'job', ARGV[1])
end
return 1
"""

# Move up to ARGV[1] jobs whose time has come from the schedule into the ready stream.
PROMOTE = """
local now = redis.call('TIME')
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', tonumber(now[1]) + tonumber(now[2]) / 1000000,
                       'LIMIT', 0, tonumber(ARGV[1]))
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'job', job)
  redis.call('ZREM', KEYS[2], job)
end
return #due
"""

# Settle a ready entry: acknowledge and delete it, and put the job (ARGV[4]) back on the schedule
# (ARGV[3] = 'later', after ARGV[5] seconds) or into the dead letters (ARGV[3] = 'dead').
SETTLE = """
if ARGV[3] == 'later' then
  local now = redis.call('TIME')
  redis.call('ZADD', KEYS[2], tonumber(now[1]) + tonumber(now[2]) / 1000000 + tonumber(ARGV[5]), ARGV[4])
elseif ARGV[3] == 'dead' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'job', ARGV[4])
end
redis.call('XACK', KEYS[1], ARGV[2], ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
"""


@dataclass
class Job:
    """One unit of work: the registered function `name` called with `args`."""

    name: str
    args: list
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    failures: int = 0  # failed runs so far (a worker dying mid-job counts too)
    error: str | None = None  # the last failure's error
    failed_at: float | None = None

    def dumps(self):
        """As stored in Redis: encrypted like message text when MESSAGE_ENCRYPTION_KEYS is set,
        because jobs carry message text and whole emails."""
        # vars, not dataclasses.asdict: that deep-copies the arguments (a message's whole payload,
        # on every send) only for json to walk them again.
        return crypto.encrypt(json.dumps(vars(self), separators=(",", ":"), ensure_ascii=False))

    @classmethod
    def loads(cls, stored):
        try:
            return cls(**json.loads(crypto.decrypt(stored)))
        except crypto.UnreadableMessage:  # no worker can run it: it ends as a dead letter
            return cls(UNREADABLE, [])


UNREADABLE = "(encrypted with a key no longer in MESSAGE_ENCRYPTION_KEYS)"


class JobQueue:
    def __init__(self, redis, prefix):
        self.redis = redis
        self.ready = f"{prefix}:{{jobs}}:ready"
        self.scheduled = f"{prefix}:{{jobs}}:scheduled"
        self.dead = f"{prefix}:{{jobs}}:dead"
        self._unique_prefix = f"{prefix}:{{jobs}}:unique:"
        self._enqueue = redis.register_script(ENQUEUE)
        self._promote = redis.register_script(PROMOTE)
        self._settle = redis.register_script(SETTLE)
        self._group_ready = False

    def enqueue(self, job, *, delay=0, unique_key=None, unique_for=0):
        """Add `job`, due in `delay` seconds. With `unique_key`, nothing is added if a job with
        that key was added in the last `unique_for` seconds. Returns whether it was added."""
        key = self._unique_prefix + unique_key if unique_key else self.ready
        return bool(self._enqueue(keys=[self.ready, self.scheduled, key],
                                  args=[job.dumps(), max(0, delay),
                                        int(unique_for * 1000) if unique_key else 0]))

    def ensure_group(self):
        if self._group_ready:
            return
        try:  # from id 0: entries added before the group existed are work too
            self.redis.xgroup_create(self.ready, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def forget_group(self):
        self._group_ready = False

    def promote_due(self, limit=100):
        return self._promote(keys=[self.ready, self.scheduled], args=[limit])

    def take(self, consumer, block_ms):
        """The next new entry for `consumer`, waiting up to `block_ms`: (entry id, Job) or None."""
        answer = self.redis.xreadgroup(GROUP, consumer, {self.ready: ">"}, count=1, block=block_ms)
        for _stream, entries in answer or ():
            for entry_id, fields in entries:
                return entry_id, Job.loads(fields["job"])
        return None

    def reclaim(self, consumer, idle_seconds, count=10):
        """Entries whose worker took them over `idle_seconds` ago and never settled them (it died):
        now `consumer`'s, as (entry id, Job) pairs."""
        # [next start, entries] (Redis 7 adds the ids of entries deleted meanwhile).
        entries = self.redis.xautoclaim(self.ready, GROUP, consumer, int(idle_seconds * 1000),
                                        start_id="0-0", count=count)[1]
        return [(entry_id, Job.loads(fields["job"])) for entry_id, fields in entries if fields]

    def done(self, entry_id):
        self._settle(keys=[self.ready, self.scheduled, self.dead], args=[entry_id, GROUP, "done"])

    def later(self, entry_id, job, delay):
        self._settle(keys=[self.ready, self.scheduled, self.dead],
                     args=[entry_id, GROUP, "later", job.dumps(), delay])

    def bury(self, entry_id, job):
        self._settle(keys=[self.ready, self.scheduled, self.dead],
                     args=[entry_id, GROUP, "dead", job.dumps(), 0, DEAD_MAXLEN])

    def dead_letters(self, count=100):
        """The newest dead jobs, newest first, as (dead-letter id, Job) pairs."""
        return [(entry_id, Job.loads(fields["job"]))
                for entry_id, fields in self.redis.xrevrange(self.dead, count=count)]

    def revive(self, dead_ids):
        """Run dead jobs again from a clean slate; returns how many were found."""
        revived = 0
        for dead_id in dead_ids:
            entries = self.redis.xrange(self.dead, dead_id, dead_id)
            if not entries:
                continue
            job = Job.loads(entries[0][1]["job"])
            job.failures, job.error, job.failed_at = 0, None, None
            self.enqueue(job)
            self.redis.xdel(self.dead, dead_id)
            revived += 1
        return revived

    def counts(self):
        pipe = self.redis.pipeline(transaction=False)
        pipe.xlen(self.ready)
        pipe.zcard(self.scheduled)
        pipe.xlen(self.dead)
        ready, scheduled, dead = pipe.execute()
        return {"ready": ready, "scheduled": scheduled, "dead": dead}


def consumer_name():
    """Unique per worker; the host and pid say who held a job that got stuck."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
