"""The scenarios of bench/run.py (issues 14 and 17). Each starts its own server(s) on the run's
shared Redis and MongoDB, drives them with the one load generator, and returns a dict of figures.

Latency is always arrival time minus the send time carried in the event's own payload, so every
figure includes the whole path: publisher or HTTP send, Redis, the server, the socket.
"""

import asyncio
import json
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace

from werkzeug.security import generate_password_hash

from harness import (
    GEVENT_MONITOR, ROOT, Elako, blocking_reports, cpu_seconds, redis_commands, redis_connections,
    rss_bytes)
from elako.services.streams import MAX_RETRY_AFTER
from tests.support.storm import read_chunked, read_head, sse_events

WARM_UP_BATCH = 500


def open_timeout(streams):
    """How long `streams` may take to open and warm up: a worker under admission control was seen
    taking 20-60 opens/s on this machine."""
    return max(60, streams / 20)


def marker(n, key):
    """What the load generator looks for: message number, send time (ms), the stream it is for."""
    return f"bench:{n}:{time.time() * 1000:.3f}:{key}"


def open_and_warm(loadgen, target, streams, rate, timeout):
    """Open `streams` and publish warm-up events to each until it has seen one: a stream counts as
    ready only once it demonstrably receives. Returns the load generator's status."""
    loadgen.call("open", kind=target.kind, base=target.url, streams=streams, rate=rate)
    deadline = time.monotonic() + timeout
    while True:
        status = loadgen.call("status")
        if not status["notReady"] or time.monotonic() > deadline:
            return status
        keys = status["notReady"]
        for i in range(0, len(keys), WARM_UP_BATCH):
            target.publish([(key, marker(-1, key)) for key in keys[i:i + WARM_UP_BATCH]])
        time.sleep(1)


def drain(loadgen, expected, patience):
    """The load generator's window once `expected` events arrived, or after `patience` seconds."""
    deadline = time.monotonic() + patience
    while True:
        window = loadgen.call("window")
        if window["received"] >= expected or time.monotonic() > deadline:
            return window
        time.sleep(0.5)


def ready_keys(status, keys):
    not_ready = set(status["notReady"])
    return [key for key in keys if key not in not_ready]


def cpu_share(pid, seconds, since):
    return round(100 * (cpu_seconds(pid) - since) / seconds, 1)


# -- relay: ELako, flask-sse and Socket.IO side by side ---------------------------------------------

def relay(run, target, streams, steps, rate, seconds):
    """Open `streams` in `steps`; at each, publish `rate` events/s for `seconds`, each to one
    stream's key, round the streams that are ready."""
    if isinstance(target, Elako):
        users = target.accounts.users("customer", streams)
    else:
        users = [SimpleNamespace(id=f"u{i}") for i in range(streams)]
    loadgen = run.loadgen()
    target.start()
    try:
        idle_rss = rss_bytes(target.pid)
        rows, opened, number = [], 0, 0
        for step in range(1, steps + 1):
            upto = round(streams * step / steps)
            batch = users[opened:upto]
            status = open_and_warm(loadgen, target, [target.stream(u) for u in batch],
                                   rate=run.open_rate, timeout=open_timeout(len(batch)))
            opened = upto
            keys = ready_keys(status, [u.id for u in users[:opened]])
            row = {"streams": opened, "ready": len(keys), "refused": dict(status["statuses"]),
                   "rss_bytes": rss_bytes(target.pid),
                   "redis_connections": redis_connections(target.pid, run.redis_url)}
            row["kb_per_stream"] = round((row["rss_bytes"] - idle_rss) / 1024 / max(1, len(keys)), 1)
            row.update(publish_window(loadgen, target, keys, rate, seconds, number))
            number += row["published"]
            rows.append(row)
            print(f"  {target.name}: {row['ready']}/{opened} ready, p50 {row['p50']} ms, "
                  f"p99 {row['p99']} ms, lost {row['lost']}", flush=True)
        return {"target": target.name, "steps": rows}
    finally:
        loadgen.close()
        target.stop()


def publish_window(loadgen, target, keys, rate, seconds, first):
    if not keys:
        return {"published": 0, "received": 0, "lost": 0, "p50": None, "p99": None}
    mark = loadgen.call("mark")
    server_cpu, started = cpu_seconds(target.pid), time.monotonic()
    count = int(rate * seconds)
    for i in range(count):
        time.sleep(max(0, started + i / rate - time.monotonic()))
        key = keys[i % len(keys)]
        target.publish([(key, marker(first + i, key))])
    window = drain(loadgen, count, patience=max(10, seconds))
    elapsed = time.monotonic() - started
    return {"published": count, "received": window["received"],
            "lost": count - window["received"], "duplicates": window["duplicates"],
            "p50": rounded(window["p50"]), "p90": rounded(window["p90"]),
            "p99": rounded(window["p99"]), "max": rounded(window["max"]),
            "server_cpu_percent": cpu_share(target.pid, elapsed, server_cpu),
            "loadgen_cpu_percent": round((window["cpuMs"] - mark["cpuMs"]) / 10 / elapsed, 1)}


def rounded(ms):
    return None if ms is None else round(ms, 1)


# -- ELako only ------------------------------------------------------------------------------------

def new_elako(run, name, env=None, embedded=False):
    """`embedded`: the `make run` default, its data in the worker's own memory."""
    return Elako(run.data_dir / name, run.redis_url, None if embedded else run.mongo_uri, env=env)


def pairs_of(elako, count):
    customers = elako.accounts.users("customer", count)
    stores = elako.accounts.users("store", count)
    conversations = elako.accounts.conversations(zip(customers, stores))
    return customers, stores, conversations


def message_posts(customers, stores, conversations):
    return [{"path": f"/api/conversations/{conversation}/messages", "token": customer.token,
             "target": store.id}
            for customer, store, conversation in zip(customers, stores, conversations)]


def send_window(run, loadgen, elako, posts, rate, seconds, first=0):
    """Customers send `rate` messages/s over the API for `seconds`; each counts on its store's
    stream."""
    # An embedded store serves the worker in-process: no commands to count.
    mongo_commands = (lambda: None) if elako.embedded else run.mongo_commands
    mongo_before, redis_before = mongo_commands(), redis_commands(run.redis_url)
    mark = loadgen.call("mark")
    server_cpu, started = cpu_seconds(elako.pid), time.monotonic()
    count = int(rate * seconds)
    sent = loadgen.call("send", base=elako.url, posts=posts, rate=rate, count=count, first=first)
    accepted = sum(n for status, n in sent["statuses"].items() if status in ("200", "201"))
    window = drain(loadgen, accepted, patience=max(15, seconds))
    elapsed = time.monotonic() - started
    mongo_after = mongo_commands()
    return {"sent": count, "accepted": accepted, "statuses": sent["statuses"],
            "sent_per_second": round(count / sent["seconds"], 1),
            "received": window["received"], "lost": accepted - window["received"],
            "duplicates": window["duplicates"], "out_of_order": window["outOfOrder"],
            "p50": rounded(window["p50"]), "p99": rounded(window["p99"]),
            "max": rounded(window["max"]),
            "response_p50": rounded(sent["responseP50"]), "response_p99": rounded(sent["responseP99"]),
            "mongo_commands_per_message": None if mongo_after is None else
            round((mongo_after - mongo_before) / max(1, accepted), 1),
            "redis_commands_per_message": round(
                (redis_commands(run.redis_url) - redis_before) / max(1, accepted), 1),
            "server_cpu_percent": cpu_share(elako.pid, elapsed, server_cpu),
            "loadgen_cpu_percent": round((window["cpuMs"] - mark["cpuMs"]) / 10 / elapsed, 1)}


def end_to_end(run, pairs, rate, seconds):
    """`pairs` customers and stores, each with one stream; customers send over the API."""
    return send_to_stores(run, new_elako(run, "end-to-end"), pairs, rate, seconds)


def end_to_end_embedded(run, pairs, rate, seconds):
    """The same on the `make run` default: MongoDB is mongomock inside the worker."""
    return send_to_stores(run, new_elako(run, "end-to-end-embedded", embedded=True), pairs, rate,
                          seconds)


def send_to_stores(run, elako, pairs, rate, seconds):
    loadgen = run.loadgen()
    elako.start()
    try:
        customers, stores, conversations = pairs_of(elako, pairs)
        idle_rss = rss_bytes(elako.pid)
        status = open_and_warm(loadgen, elako, [elako.stream(u) for u in customers + stores],
                               rate=run.open_rate, timeout=open_timeout(2 * pairs))
        open_rss = rss_bytes(elako.pid)
        result = {"streams": 2 * pairs, "ready": status["ready"], "refused": status["statuses"],
                  "redis_connections": redis_connections(elako.pid, run.redis_url),
                  "kb_per_stream": round((open_rss - idle_rss) / 1024 / max(1, status["ready"]), 1)}
        result.update(send_window(run, loadgen, elako, message_posts(customers, stores, conversations),
                                  rate, seconds))
        # What the worker keeps per message sent: caches, and with the embedded store the messages.
        result["kb_per_message"] = round(
            (rss_bytes(elako.pid) - open_rss) / 1024 / max(1, result["accepted"]), 1)
        return result
    finally:
        loadgen.close()
        elako.stop()


def replay(run, count):
    """`count` messages sent while the store is away, then one reconnect with Last-Event-ID."""
    elako = new_elako(run, "replay")
    customers, stores, conversations = pairs_of(elako, 1)
    loadgen = run.loadgen()
    elako.start()
    try:
        last_seen = elako.bus.latest_id(stores[0].id)
        loadgen.call("send", base=elako.url, posts=message_posts(customers, stores, conversations),
                     rate=200, count=count)
        replayed, seconds, event_bytes = asyncio.run(asyncio.wait_for(
            read_replay(elako.url, stores[0], last_seen, count), timeout=60))
        return {"missed": count, "replayed": replayed, "replayed_in_seconds": seconds,
                "message_event_bytes": event_bytes}
    finally:
        loadgen.close()
        elako.stop()


async def read_replay(base_url, user, last_event_id, count):
    """How many of `count` message events came back before the stream sent them all or told the
    client to resync, in how many seconds, and the median bytes one of them takes on the wire (its
    HTTP chunk framing included)."""
    host, port = base_url.split("//")[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    started = time.monotonic()
    writer.write(f"GET /api/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {user.token}\r\n"
                 f"Last-Event-ID: {last_event_id}\r\n\r\n".encode())
    status, _ = await read_head(reader)
    assert status == 200, status
    sizes = []

    async def message_chunks():
        async for chunk in read_chunked(reader):
            if b"event:message" in chunk:
                sizes.append(len(chunk) + len(f"{len(chunk):x}") + 4)
            yield chunk

    replayed = 0
    async for event in sse_events(message_chunks()):
        replayed += event.get("event") == "message"
        if replayed >= count or event.get("event") == "resync":
            break
    seconds = round(time.monotonic() - started, 3)
    writer.close()
    return replayed, seconds, statistics.median(sizes) if sizes else None


def burst(run, customers_count):
    """`customers_count` customers each write to one store within one second."""
    elako = new_elako(run, "burst")
    accounts = elako.accounts
    store = accounts.users("store", 1)[0]
    customers = accounts.users("customer", customers_count)
    conversations = accounts.conversations((customer, store) for customer in customers)
    loadgen = run.loadgen()
    elako.start()
    try:
        open_and_warm(loadgen, elako, [elako.stream(store)], rate=10, timeout=30)
        posts = message_posts(customers, [store] * customers_count, conversations)
        result = send_window(run, loadgen, elako, posts, rate=customers_count, seconds=1)
        result["in_order"] = result["out_of_order"] == 0
        return result
    finally:
        loadgen.close()
        elako.stop()


SIGN_IN_PASSWORD = "correct horse battery"


def sign_in_storm(run, pairs, rate, seconds, signing_in=8):
    """Delivery with `signing_in` clients signing in over and over, against a quiet run; then the
    same again on a worker running gevent's monitor thread, for its blocking reports (the
    monitor's own cost would distort the ratio, so the ratio comes from the first worker)."""
    plain = sign_in_runs(run, "sign-in-storm", pairs, rate, seconds, signing_in)
    monitored = sign_in_runs(run, "sign-in-storm-monitored", pairs, rate, seconds, signing_in,
                             env=GEVENT_MONITOR)
    return {**plain, "monitored": monitored,
            "p99_ratio": round(plain["storm"]["p99"] / plain["quiet"]["p99"], 2)
            if plain["storm"]["p99"] and plain["quiet"]["p99"] else None}


def sign_in_runs(run, name, pairs, rate, seconds, signing_in, env=None):
    elako = new_elako(run, name, env=env)
    customers, stores, conversations = pairs_of(elako, pairs)
    signers = elako.accounts.users("customer", signing_in,
                                   password_hash=generate_password_hash(SIGN_IN_PASSWORD))
    loadgen = run.loadgen()
    elako.start()
    try:
        open_and_warm(loadgen, elako, [elako.stream(u) for u in customers + stores],
                      rate=run.open_rate, timeout=open_timeout(2 * pairs))
        posts = message_posts(customers, stores, conversations)
        log_at = len(elako.log())
        quiet = send_window(run, loadgen, elako, posts, rate, seconds)
        quiet["blocking"] = blocking_reports(elako.log()[log_at:])
        log_at = len(elako.log())
        storm_done = loadgen.start("signins", base=elako.url, concurrency=signing_in,
                                   seconds=seconds + 2, credentials=[
                                       {"email": u.email, "password": SIGN_IN_PASSWORD}
                                       for u in signers])
        time.sleep(1)
        storm = send_window(run, loadgen, elako, posts, rate, seconds, first=int(rate * seconds))
        storm["sign_ins"] = storm_done(seconds + 60)["statuses"]
        storm["blocking"] = blocking_reports(elako.log()[log_at:])
        return {"quiet": quiet, "storm": storm}
    finally:
        loadgen.close()
        elako.stop()


def reconnect_storm(run, accounts, streams_per_account, open_seconds, rate, messages):
    """Issue 17: every stream of `accounts` accounts opened within `open_seconds`, messages sent
    meanwhile and after; run by tests.support.storm in a process of its own."""
    elako = new_elako(run, "reconnect-storm",
                      env={"MAX_STREAMS_PER_USER": str(streams_per_account + 2)})
    customers, stores, conversations = pairs_of(elako, accounts // 2)
    spec = {"pairs": [[{"id": c.id, "token": c.token}, {"id": s.id, "token": s.token}]
                      for c, s in zip(customers, stores)],
            "conversation_ids": conversations, "streams_per_account": streams_per_account,
            "open_seconds": open_seconds, "messages": messages, "message_rate": rate,
            # Longer than the longest Retry-After a busy worker gives (MAX_RETRY_AFTER): a
            # stream told to come back later is counted as late, not as never opened.
            "settle_seconds": MAX_RETRY_AFTER + 30}
    spec_path = run.data_dir / "storm-spec.json"
    spec_path.write_text(json.dumps(spec))
    elako.start()
    try:
        server_cpu, idle_rss = cpu_seconds(elako.pid), rss_bytes(elako.pid)
        command = [sys.executable, "-m", "tests.support.storm", "--url", elako.url,
                   "--spec", str(spec_path), "--redis-url", run.redis_url]
        if run.counts_mongo:
            command += ["--mongo-uri", run.mongo_uri]
        started = time.monotonic()
        result = json.loads(subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                           check=True).stdout)
        elapsed = time.monotonic() - started
        counters = result.pop("counters")
        opened_at = counters.get("all_open") or counters["end"]
        for name in ("redis_commands", "mongo_commands"):
            if name in opened_at:
                result[f"{name}_per_open"] = round(
                    (opened_at[name] - counters["start"][name]) / max(1, result["opened"]), 1)
        result["server_cpu_percent"] = cpu_share(elako.pid, elapsed, server_cpu)
        result["kb_per_stream"] = round((rss_bytes(elako.pid) - idle_rss) / 1024 / result["streams"], 1)
        return result
    finally:
        elako.stop()
