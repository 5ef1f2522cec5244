"""Per-user event streams in Redis: the one log that live delivery and replay both read.

The protocol (docs/events.md has the long version):

* Every durable event for user U is appended to the stream `<prefix>:{U}:events` (exact MAXLEN
  cap, the key expires EVENT_STREAM_TTL_SECONDS after its newest event) and, in the same Lua call,
  announced on the pub/sub channel `<prefix>:{U}:live` as "<id> <type> <json>". The stream entry id
  is the SSE event id. The `{U}` hash tag keeps a user's keys in one Redis Cluster slot.
* Ephemeral events (typing, presence) are only announced, never stored. They carry no id, so a
  reconnect can never replay a stale "is typing".
* Replay: a client that comes back with Last-Event-ID L gets every entry after L, in order. If L is
  no longer in the stream (trimmed, expired, lost) the client gets a `resync` event instead and
  reloads its state from MongoDB. "0-0" means "everything you still have".
* At rest: with MESSAGE_ENCRYPTION_KEYS set, each stored entry's data is encrypted like message
  bodies in MongoDB (crypto.py); the pub/sub announcement, which is never stored, is not. An entry
  no configured key can read is a gap like a trimmed one (`HistoryGap`): the client resyncs.
* Unsending a message `scrub`s every stored entry that carries its text from both participants'
  streams, so deleted text does not live on in Redis either. Deleting an account also `revise`s
  the entries that name it in the other parties' streams (ids and order kept).
"""

import json
import re
import time
from dataclasses import dataclass


from .. import crypto, metrics
from ..extensions import run_pipeline, script_sha

# Append + cap + keep-alive + announce, atomically, so a listener never sees an id that XRANGE
# cannot find, and the stream never grows past its caps: ARGV[1] entries and ARGV[7] bytes of
# stored data (KEYS[2] keeps the running total; the newest entry always stays). With a KEYS[3]
# (the user's claims: name -> until when, at ARGV[9] = now), only once per name ARGV[10]: the
# first call claims it for ARGV[8] seconds, later ones append nothing.
PUBLISH_SCRIPT = """
if #KEYS > 2 then
  local claimed_until = redis.call('ZSCORE', KEYS[3], ARGV[10])
  if claimed_until and tonumber(claimed_until) > tonumber(ARGV[9]) then return false end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[9])
  redis.call('ZADD', KEYS[3], tonumber(ARGV[9]) + tonumber(ARGV[8]), ARGV[10])
  redis.call('EXPIRE', KEYS[3], ARGV[8])
end
local id = redis.call('XADD', KEYS[1], '*', 'type', ARGV[3], 'data', ARGV[6])
local total = redis.call('INCRBY', KEYS[2], string.len(ARGV[6]))
local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[1])
while excess > 0 or total > tonumber(ARGV[7]) do
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', math.max(excess, 1) + 1)
  if #oldest < 2 then break end
  local keep = oldest[#oldest][1]
  for i = 1, #oldest - 1 do
    local fields = oldest[i][2]
    for j = 1, #fields, 2 do
      if fields[j] == 'data' then total = total - string.len(fields[j + 1]) end
    end
    excess = excess - 1
    if excess <= 0 and total <= tonumber(ARGV[7]) then keep = oldest[i + 1][1] break end
  end
  redis.call('XTRIM', KEYS[1], 'MINID', keep)
end
redis.call('SET', KEYS[2], total, 'EX', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[5], id .. ' ' .. ARGV[3] .. ' ' .. ARGV[4])
return id
"""
PUBLISH_SHA = script_sha(PUBLISH_SCRIPT)

# One message to many channels in one round trip. It touches no key, so a cluster runs it on any
# node, and PUBLISH reaches subscribers on every node.
ANNOUNCE_SCRIPT = """
for i = 2, #ARGV do redis.call('PUBLISH', ARGV[i], ARGV[1]) end
"""

# Drop the entries ARGV[2 .. ARGV[1] + 1] of the stream KEYS[1] and give the entries of the
# (id, data) pairs after them new data, keeping KEYS[2] (the stored bytes) in step. An entry
# cannot change in place, so then the stream is rebuilt with the same ids, its last generated id
# (newer events keep newer ids) and its time to live. Entries trimmed meanwhile are skipped.
REVISE_SCRIPT = """
local function data_size(fields)
  for j = 1, #fields, 2 do
    if fields[j] == 'data' then return string.len(fields[j + 1]) end
  end
  return 0
end
local change = 0
local dropped = tonumber(ARGV[1])
for i = 2, dropped + 1 do
  local entry = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])[1]
  if entry then
    change = change - data_size(entry[2])
    redis.call('XDEL', KEYS[1], ARGV[i])
  end
end
local replaced = {}
for i = dropped + 2, #ARGV, 2 do replaced[ARGV[i]] = ARGV[i + 1] end
local entries = next(replaced) and redis.call('XRANGE', KEYS[1], '-', '+') or {}
if #entries > 0 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  local last_id
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last_id = info[i + 1] end
  end
  local ttl = redis.call('PTTL', KEYS[1])
  redis.call('DEL', KEYS[1])
  for _, entry in ipairs(entries) do
    local fields, new = entry[2], replaced[entry[1]]
    for j = 1, #fields, 2 do
      if new and fields[j] == 'data' then
        change = change + string.len(new) - string.len(fields[j + 1])
        fields[j + 1] = new
      end
    end
    redis.call('XADD', KEYS[1], entry[1], unpack(fields))
  end
  redis.call('XSETID', KEYS[1], last_id)
  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
end
if change ~= 0 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('INCRBY', KEYS[2], change) end
return change
"""

NO_EVENTS = "0-0"


class HistoryGap(Exception):
    """Stored events after the cursor are gone (trimmed, expired) or cannot be read (encrypted
    with a key no longer configured)."""


@dataclass(frozen=True)
class Event:
    type: str
    data: dict
    id: str | None = None  # None for ephemeral events
    size: int = 0  # bytes it takes in the user's Redis stream (0 for ephemeral events)

    @classmethod
    def from_announcement(cls, text):
        """Parse what the Lua script (or `announce`) published: "<id or -> <type> <json>"."""
        event_id, event_type, data = text.split(" ", 2)
        return cls(event_type, json.loads(data), None if event_id == "-" else event_id)


STREAM_ID = re.compile(r"\A(\d{1,20})-(\d{1,20})\Z")


MAX_ID_PART = 2**64 - 1  # each half of a stream id is an unsigned 64-bit number


def parse_id(event_id):
    """A full stream id ("<ms>-<seq>") as a comparable tuple, or None if it is not one."""
    match = STREAM_ID.match(event_id) if isinstance(event_id, str) else None
    if not match:
        return None
    parts = (int(match[1]), int(match[2]))
    return parts if max(parts) <= MAX_ID_PART else None


class EventBus:
    def __init__(self, redis, prefix="elako", maxlen=1000, ttl_seconds=7 * 86400,
                 max_bytes=2 * 1024 * 1024):
        self.redis = redis
        self.prefix = prefix
        self.maxlen = maxlen
        self.ttl_seconds = ttl_seconds
        self.max_bytes = max_bytes
        self._announce = redis.register_script(ANNOUNCE_SCRIPT)
        self._revise = redis.register_script(REVISE_SCRIPT)

    def stream_key(self, user_id):
        return f"{self.prefix}:{{{user_id}}}:events"

    def _bytes_key(self, user_id):
        """The running size of the stored data of the user's stream (for its byte cap)."""
        return f"{self.prefix}:{{{user_id}}}:events:bytes"

    def _claims_key(self, user_id):
        """What the user's stream took `once` (see `publish`), each until when."""
        return f"{self.prefix}:{{{user_id}}}:once"

    def channel(self, user_id):
        return f"{self.prefix}:{{{user_id}}}:live"

    def publish(self, events, *, once=None, once_seconds=None):
        """Store and announce durable events, given as (user_id, type, data) triples.

        One round trip for all recipients (one per recipient on a cluster). Returns the new stream
        ids, in order. `once`: a name for what the events announce; a user's stream takes an event
        of that name once within `once_seconds`, however many requests publish it (None in the
        result where it already had it).
        """
        calls = []
        for user_id, event_type, data in events:
            text = dumps(data)
            keys = [self.stream_key(user_id), self._bytes_key(user_id)]
            args = [self.maxlen, self.ttl_seconds, event_type, text, self.channel(user_id),
                    crypto.encrypt(text), self.max_bytes]
            if once:
                keys.append(self._claims_key(user_id))
                args += [once_seconds, time.time(), once]
            calls.append({"keys": keys, "args": args})

        def fill(pipe):
            for call in calls:
                pipe.evalsha(PUBLISH_SHA, len(call["keys"]), *call["keys"], *call["args"])

        ids = run_pipeline(self.redis, fill, [PUBLISH_SCRIPT])
        metrics.EVENTS_PUBLISHED.inc(sum(1 for event_id in ids if event_id))
        return ids

    def announce(self, user_ids, event_type, data):
        """Send an ephemeral event to whoever of `user_ids` is connected right now."""
        self._announce(args=[f"- {event_type} {dumps(data)}",
                             *(self.channel(user_id) for user_id in user_ids)])

    def latest_id(self, user_id):
        """The id of the user's newest event: render it into a page so its stream resumes there."""
        newest = self.redis.xrevrange(self.stream_key(user_id), count=1)
        return newest[0][0] if newest else NO_EVENTS

    def position(self, user_id, last_id=None):
        """(the newest id, whether everything after `last_id` is still kept), in one round trip."""
        key = self.stream_key(user_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.xrevrange(key, count=1)
        if last_id not in (None, NO_EVENTS):
            pipe.xrange(key, last_id, last_id, count=1)
        newest, *found = pipe.execute()
        return (newest[0][0] if newest else NO_EVENTS,
                last_id in (None, NO_EVENTS) or bool(found and found[0]))

    def newest(self, user_id, count):
        """The user's last `count` stored events, newest first (unreadable ones left out)."""
        events = []
        for entry_id, fields in self.redis.xrevrange(self.stream_key(user_id), count=count):
            try:
                events.append(Event(fields["type"], _load(fields["data"]), entry_id))
            except HistoryGap:
                continue
        return events

    def read_after(self, user_id, last_id, page_size=200):
        """Yield the user's events after `last_id`, oldest first, a page at a time.

        Raises HistoryGap when events after `last_id` were trimmed (the stream moved on while a
        slow reader caught up) or cannot be decrypted: the reader must resync, not skip them."""
        key = self.stream_key(user_id)
        cursor = last_id
        while True:
            # The page, then the oldest entry still kept, in this order on one connection: the
            # stream is trimmed from its oldest end, so if nothing after the cursor had been
            # trimmed when the oldest entry was read, the page read before it was whole.
            pipe = self.redis.pipeline(transaction=False)
            pipe.xrange(key, f"({cursor}", "+", count=page_size)
            pipe.xrange(key, "-", "+", count=1)
            entries, oldest = pipe.execute()
            if cursor != NO_EVENTS and (not oldest or parse_id(oldest[0][0]) > parse_id(cursor)):
                raise HistoryGap(f"events after {cursor} are no longer kept")
            for entry_id, fields in entries:
                yield Event(fields["type"], _load(fields["data"]), entry_id, len(fields["data"]))
            if len(entries) < page_size:
                return
            cursor = entries[-1][0]

    def scrub(self, user_ids, carries):
        """Delete every stored event of `user_ids` for which `carries(type, data)` is true.

        For erasing text that must not outlive its deletion. A client whose Last-Event-ID was
        scrubbed gets a resync."""
        self.revise(user_ids, lambda event_type, data: None if carries(event_type, data) else data)

    def revise(self, user_ids, revised):
        """Rewrite the stored events of `user_ids`: `revised(type, data)` returns the data to keep
        (`data` itself, changed or not) or None to delete the event. A changed event keeps its id
        and place, so replay after any id still gives every event, in order.

        For erasing what must not outlive its deletion; scans each whole stream (at most
        EVENT_STREAM_MAXLEN entries)."""
        for user_id in user_ids:
            doomed, replaced = [], []
            for entry_id, fields in self._entries(user_id, "-", 500):
                try:
                    text = _plain(fields["data"])
                except HistoryGap:
                    continue  # unreadable by anyone with the current keys
                kept = revised(fields["type"], json.loads(text))
                if kept is None:
                    doomed.append(entry_id)
                elif dumps(kept) != text:
                    replaced += [entry_id, crypto.encrypt(dumps(kept))]
            if doomed or replaced:
                self._revise(keys=[self.stream_key(user_id), self._bytes_key(user_id)],
                             args=[len(doomed), *doomed, *replaced])

    def forget(self, user_id):
        """Delete the user's stored events (their account is being deleted)."""
        self.redis.delete(self.stream_key(user_id), self._bytes_key(user_id),
                          self._claims_key(user_id))

    def _entries(self, user_id, start, page_size):
        key = self.stream_key(user_id)
        while True:
            entries = self.redis.xrange(key, start, "+", count=page_size)
            yield from entries
            if len(entries) < page_size:
                return
            start = f"({entries[-1][0]}"


def dumps(data):
    """Compact JSON, as stored and as sent: every byte counts on 2G."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _load(stored):
    return json.loads(_plain(stored))


def _plain(stored):
    """A stored entry's data as the JSON text it was published as."""
    try:
        return crypto.decrypt(stored)
    except crypto.UnreadableMessage as exc:
        raise HistoryGap(str(exc)) from exc
