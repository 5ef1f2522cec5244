"""A per-worker cache of signed-in sessions, so most requests authenticate without a database read,
and of who hides their presence, so a live event that shows someone's online dot reads nothing.

An entry lives AUTH_CACHE_SECONDS. A sign-out anywhere (`accounts.end_session`) is broadcast on the
deployment's control channel, and every worker's hub evicts the session at once; a profile change
(the presence setting too) evicts the user's entries the same way. The cache is trusted only while
this worker's hub hears the control channel: while the pub/sub connection is down a sign-out could
be missed, so nothing is cached or served from the cache then, and the cache starts empty on every
reconnect.
"""

import time

# A signed-out session is remembered this much longer than an entry lives, so a request that read
# the session from the database just before the sign-out cannot put it back afterwards.
TOMBSTONE_MARGIN_SECONDS = 60


class SessionCache:
    def __init__(self, seconds, is_listening):
        self.seconds = seconds
        self._is_listening = is_listening  # whether sign-outs reach this process right now
        self._entries = {}  # session id -> (session, user, cached until)
        self._signed_out = {}  # session id -> forget the tombstone at
        self.generation = 0  # bumped by `clear`: a read that started before it must not be cached
        self._hides_presence = {}  # user id -> (bool, cached until)
        self._user_changes = 0  # bumped by every user change heard: the same rule, for user reads
        self._next_sweep = 0.0

    @property
    def enabled(self):
        return self.seconds > 0 and self._is_listening()

    def get(self, session_id):
        """The cached (session, user) for `session_id`, or None."""
        if not self.enabled:
            return None
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        if entry[2] < time.monotonic():
            del self._entries[session_id]
            return None
        return entry[0], entry[1]

    def put(self, session_id, session, user, generation):
        """Remember a session read from the database when the read began at `generation`."""
        if not self.enabled or generation != self.generation or self.signed_out(session_id):
            return
        now = time.monotonic()
        self._drop_expired(now)
        self._entries[session_id] = (session, user, now + self.seconds)

    def signed_out(self, session_id):
        """Whether this process heard that the session was signed out (recently)."""
        forget_at = self._signed_out.get(session_id)
        return forget_at is not None and forget_at > time.monotonic()

    def sign_out(self, session_id):
        now = time.monotonic()
        self._entries.pop(session_id, None)
        self._signed_out = {sid: at for sid, at in self._signed_out.items() if at > now}
        self._signed_out[session_id] = now + self.seconds + TOMBSTONE_MARGIN_SECONDS

    def forget_user(self, user_id):
        """Drop the entries of `user_id` (their profile changed)."""
        self._user_changes += 1
        self._hides_presence.pop(user_id, None)
        for session_id, (_, user, _) in list(self._entries.items()):
            if str(user.id) == user_id:
                self._entries.pop(session_id, None)

    def presence_hidden(self, user_ids, load):
        """Which of `user_ids` (strings) hide their presence; `load(ids)` answers (as a set) for
        those not cached, and is not called when all are."""
        now = time.monotonic()
        hidden, unknown = set(), []
        for user_id in user_ids:
            entry = self._hides_presence.get(user_id) if self.enabled else None
            if entry is None or entry[1] < now:
                unknown.append(user_id)
            elif entry[0]:
                hidden.add(user_id)
        if not unknown:
            return hidden
        began = (self.generation, self._user_changes)
        loaded = load(unknown)
        if self.enabled and began == (self.generation, self._user_changes):
            now = time.monotonic()
            self._drop_expired(now)
            until = now + self.seconds
            self._hides_presence.update((uid, (uid in loaded, until)) for uid in unknown)
        return hidden | loaded

    def _drop_expired(self, now):
        """An entry read after it expired is dropped then; this drops those nobody reads again (a
        one-off integration's token, a user who left), which would otherwise stay for the life of
        the worker, each holding a session's and a user's documents. At most once an entry's
        lifetime, so its cost is spread over the puts of that time."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.seconds
        self._entries = {sid: entry for sid, entry in self._entries.items() if entry[2] >= now}
        self._hides_presence = {uid: entry for uid, entry in self._hides_presence.items()
                                if entry[1] >= now}

    def __len__(self):
        """How many sessions and presence settings it holds."""
        return len(self._entries) + len(self._hides_presence)

    def clear(self):
        self._entries.clear()
        self._hides_presence.clear()
        self.generation += 1

    def handle(self, text):
        """A control-channel message: "signed_out <session id>" or "user_changed <user id>"."""
        kind, _, subject = text.partition(" ")
        if kind == "signed_out":
            self.sign_out(subject)
        elif kind == "user_changed":
            self.forget_user(subject)
