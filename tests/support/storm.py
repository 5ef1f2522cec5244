"""A reconnect storm (issue 17): many `/api/events` streams opened at once, as every browser
reconnects after a deploy, with messages sent during and after it; returns what went wrong.

Each stream acts as a well-made client: it starts from a known id ("0-0": everything the user's
stream holds), resumes with `Last-Event-ID` whenever it has to reconnect, waits as long as a
503's `Retry-After` (or a 429's) says, and reconnects after the `retry:` the server sent when a
stream breaks. Messages go from customers to their stores over
`POST /api/conversations/<id>/messages`, each carrying its send time, and each must reach every
stream of both participants exactly once.

It runs on asyncio in one thread, so a pytest test can call it directly:

    result = storm(server, streams=1000, messages=50)      # a LiveServer; at most 45 s
    assert result.failed_5xx == 0 and result.lost == 0 and result.duplicated == 0

and bench/run.py runs it in a process of its own at 10,000 streams:

    python -m tests.support.storm --url URL --spec spec.json [--redis-url URL --mongo-uri URI]
"""

import argparse
import asyncio
import json
import random
import re
import resource
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import requests

MARKER = re.compile(r"storm:(\d+):(\d+)")
START_ID = "0-0"
DEFAULT_RETRY_SECONDS = 3.0  # what a browser waits before the server has sent a `retry:`
ERROR_RETRY_SECONDS = 1.0  # after a refused connection or an answer that says nothing better
HEAD_TIMEOUT_SECONDS = 30


@dataclass
class StormResult:
    streams: int
    open_seconds: float
    all_open_after: float | None = None  # seconds until every stream had been answered 200
    opens_per_second: float = 0.0
    open_attempts: int = 0
    opened: int = 0  # 200 answers, first opens and reopens
    honoured_503: int = 0  # 503 with Retry-After, waited for and retried
    failed_5xx: int = 0  # any other 5xx (a 503 without Retry-After included)
    honoured_429: int = 0
    other_statuses: dict = field(default_factory=dict)
    connect_errors: int = 0  # refused, reset or no answer before the response head
    broken_streams: int = 0  # a stream answered 200 that ended while the storm ran
    never_opened: int = 0  # streams still without a 200 when the storm ended
    timed_out: bool = False  # `time_limit` cut the storm short
    messages_sent: int = 0  # accepted by the server
    send_failures: int = 0  # given up after `send_tries` tries, or unanswered at the time limit
    refused_sends: dict = field(default_factory=dict)  # non-2xx answers to sends, by status
    refused_sends_without_retry_after: int = 0  # of those, 5xx that did not say when to retry
    expected_receipts: int = 0
    received: int = 0
    lost: int = 0
    lost_never_opened: int = 0  # of `lost`, those due to streams that never opened
    duplicated: int = 0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    client_cpu_seconds: float = 0.0
    counters: dict = field(default_factory=dict)  # snapshots: start, all_open, end


@dataclass
class Account:
    id: str
    token: str


class Stream:
    """One client's stream: reconnects until stopped, recording every storm message it sees."""

    def __init__(self, storm, account):
        self.storm, self.account = storm, account
        self.last_id = START_ID
        self.retry_seconds = DEFAULT_RETRY_SECONDS
        self.seen = Counter()  # message number -> times received
        self.ever_open = False

    async def run(self, first_open_at):
        await asyncio.sleep(max(0, first_open_at - time.monotonic()))
        while not self.storm.stopping.is_set():
            wait = await self.connect_once()
            if wait and not self.storm.stopping.is_set():
                try:
                    await asyncio.wait_for(self.storm.stopping.wait(), wait)
                except asyncio.TimeoutError:
                    pass

    async def connect_once(self):
        """Open, read until the stream ends; return how long to wait before trying again."""
        storm, result = self.storm, self.storm.result
        result.open_attempts += 1
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(storm.host, storm.port), HEAD_TIMEOUT_SECONDS)
            writer.write(
                f"GET /api/events HTTP/1.1\r\nHost: {storm.host}:{storm.port}\r\n"
                f"Authorization: Bearer {self.account.token}\r\nAccept: text/event-stream\r\n"
                f"Last-Event-ID: {self.last_id}\r\n\r\n".encode())
            status, headers = await asyncio.wait_for(read_head(reader), HEAD_TIMEOUT_SECONDS)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            result.connect_errors += 1
            close(writer)
            return ERROR_RETRY_SECONDS
        if status != 200:
            close(writer)
            return self.refused(status, headers)
        result.opened += 1
        if not self.ever_open:
            self.ever_open = True
            storm.stream_opened()
        try:
            body = read_chunked(reader) if "chunked" in headers.get("transfer-encoding", "") \
                else read_raw(reader)
            async for event in sse_events(body):
                self.handle(event)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            close(writer)
        if storm.stopping.is_set():
            return 0
        result.broken_streams += 1
        return self.retry_seconds

    def refused(self, status, headers):
        result = self.storm.result
        retry_after = headers.get("retry-after", "")
        waits = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else None
        if status == 503 and waits is not None:
            result.honoured_503 += 1
            return waits
        if status >= 500:
            result.failed_5xx += 1
            return ERROR_RETRY_SECONDS
        if status == 429:
            result.honoured_429 += 1
            return waits if waits is not None else ERROR_RETRY_SECONDS
        result.other_statuses[str(status)] = result.other_statuses.get(str(status), 0) + 1
        return ERROR_RETRY_SECONDS

    def handle(self, event):
        if event.get("retry", "").isdigit():
            self.retry_seconds = int(event["retry"]) / 1000
        if event.get("id"):
            self.last_id = event["id"]
        if event.get("event") != "message":
            return
        marker = MARKER.search(event.get("data", ""))
        if marker:
            number = int(marker[1])
            self.seen[number] += 1
            if self.seen[number] == 1:
                self.storm.latencies.append(time.time() * 1000 - int(marker[2]))


class Storm:
    def __init__(self, base_url, pairs, conversation_ids, *, streams_per_account, open_seconds,
                 messages, message_rate, settle_seconds, time_limit, counters, send_tries=3,
                 during=None):
        parts = urlsplit(base_url)
        self.base_url, self.host, self.port = base_url.rstrip("/"), parts.hostname, parts.port
        self.pairs = [(Account(c.id, c.token), Account(s.id, s.token)) for c, s in pairs]
        self.conversation_ids = list(conversation_ids)
        self.streams = {account.id: [Stream(self, account) for _ in range(streams_per_account)]
                        for pair in self.pairs for account in pair}
        self.open_seconds, self.messages, self.message_rate = open_seconds, messages, message_rate
        self.settle_seconds, self.time_limit = settle_seconds, time_limit
        self.counters = counters
        self.send_tries, self.during = send_tries, during
        every_stream = [s for streams in self.streams.values() for s in streams]
        self.result = StormResult(streams=len(every_stream), open_seconds=open_seconds)
        self.latencies = []
        self.sent = {}  # message number -> the pair it went through
        self.not_yet_open = len(every_stream)
        self.all_open = None  # an asyncio.Event, made inside the loop
        self.stopping = None

    def stream_opened(self):
        self.not_yet_open -= 1
        if self.not_yet_open == 0:
            self.result.all_open_after = round(time.monotonic() - self.started, 3)
            self.snapshot("all_open")
            self.all_open.set()

    def snapshot(self, name):
        if self.counters:
            self.result.counters[name] = self.counters()

    async def run(self):
        self.all_open, self.stopping = asyncio.Event(), asyncio.Event()
        cpu_before = cpu_seconds()
        self.snapshot("start")
        self.started = time.monotonic()
        self.deadline = self.started + self.time_limit
        every_stream = [s for streams in self.streams.values() for s in streams]
        random.shuffle(every_stream)  # accounts' streams come back interleaved, as after a deploy
        spacing = self.open_seconds / max(1, len(every_stream))
        tasks = [asyncio.create_task(stream.run(self.started + i * spacing))
                 for i, stream in enumerate(every_stream)]
        pool = ThreadPoolExecutor(8, thread_name_prefix="storm-send")
        chaos = asyncio.create_task(self.run_during())
        await self.send_messages(pool)
        pool.shutdown(wait=False, cancel_futures=True)  # sends still hanging count as failed
        await chaos
        await self.settle()
        self.result.timed_out = time.monotonic() >= self.deadline
        self.snapshot("end")
        self.stopping.set()
        for task in tasks:  # a stream blocked reading learns of the end only this way
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tally(cpu_seconds() - cpu_before)
        return self.result

    async def run_during(self):
        """Call `during()` in a thread of its own once every stream is open (a restart, an
        outage), while messages go on being sent; the storm settles only after it returned."""
        if self.during is None:
            return
        try:
            await asyncio.wait_for(self.all_open.wait(), max(0, self.deadline - time.monotonic()))
        except asyncio.TimeoutError:
            return
        with ThreadPoolExecutor(1, thread_name_prefix="storm-during") as runner:
            await asyncio.get_running_loop().run_in_executor(runner, self.during)

    def refused_send(self, response):
        status = str(response.status_code)
        self.result.refused_sends[status] = self.result.refused_sends.get(status, 0) + 1
        if response.status_code >= 500 and "Retry-After" not in response.headers:
            self.result.refused_sends_without_retry_after += 1
        retry_after = response.headers.get("Retry-After", "")
        return float(retry_after) if retry_after.isdigit() else 1.0

    async def send_messages(self, pool):
        loop = asyncio.get_running_loop()
        sessions = {}

        def post(number):
            # One keep-alive session per sending thread; a retry keeps its client_id, so the
            # server stores the message once however many tries it takes.
            session = sessions.setdefault(threading.get_ident(), requests.Session())
            pair_index = number % len(self.pairs)
            customer = self.pairs[pair_index][0]
            url = f"{self.base_url}/api/conversations/{self.conversation_ids[pair_index]}/messages"
            for _ in range(self.send_tries):
                body = {"body": f"storm:{number}:{int(time.time() * 1000)}",
                        "client_id": f"storm-{number}"}
                patience = min(10, self.deadline - time.monotonic())
                if patience <= 0:
                    break
                try:
                    response = session.post(url, json=body, timeout=patience, headers={
                        "Authorization": f"Bearer {customer.token}"})
                except requests.RequestException:
                    time.sleep(ERROR_RETRY_SECONDS)  # a restarting server: not in a tight loop
                    continue
                if response.status_code in (200, 201):
                    return number, pair_index
                time.sleep(self.refused_send(response))  # as long as the server asked
            return number, None

        pending = []
        for number in range(self.messages):
            await asyncio.sleep(max(0, self.started + number / self.message_rate
                                    - time.monotonic()))
            if time.monotonic() >= self.deadline:
                break
            pending.append(loop.run_in_executor(pool, post, number))
        self.result.send_failures = self.messages - len(pending)
        done, _ = await asyncio.wait(pending, timeout=max(0, self.deadline - time.monotonic()))
        for session in list(sessions.values()):  # idle keep-alives would hold a stopping worker
            session.close()
        for future in pending:
            number, pair_index = future.result() if future in done else (None, None)
            if pair_index is None:
                self.result.send_failures += 1
            else:
                self.sent[number] = pair_index

    async def settle(self):
        """Wait until every stream was open and every sent message reached all its streams."""
        deadline = min(self.deadline, time.monotonic() + self.settle_seconds)
        while time.monotonic() < deadline:
            if self.all_open.is_set() and self.missing() == 0:
                return
            await asyncio.sleep(0.2)

    def expected(self):
        for number, pair_index in self.sent.items():
            for account in self.pairs[pair_index]:
                for stream in self.streams[account.id]:
                    yield number, stream

    def missing(self):
        return sum(1 for number, stream in self.expected() if not stream.seen[number])

    def tally(self, cpu):
        result = self.result
        result.client_cpu_seconds = round(cpu, 2)
        if result.all_open_after:
            result.opens_per_second = round(result.streams / result.all_open_after, 1)
        result.messages_sent = len(self.sent)
        result.never_opened = sum(1 for streams in self.streams.values() for stream in streams
                                  if not stream.ever_open)
        expected = list(self.expected())
        result.expected_receipts = len(expected)
        result.received = sum(1 for number, stream in expected if stream.seen[number])
        result.lost = result.expected_receipts - result.received
        result.lost_never_opened = sum(1 for number, stream in expected
                                       if not stream.ever_open and not stream.seen[number])
        result.duplicated = sum(times - 1 for streams in self.streams.values()
                                for stream in streams for times in stream.seen.values() if times > 1)
        if self.latencies:
            ordered = sorted(self.latencies)
            result.latency_p50_ms = round(statistics.median(ordered), 1)
            result.latency_p99_ms = round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 1)


def run_storm(base_url, pairs, conversation_ids, *, streams_per_account=10, open_seconds=10,
              messages=100, message_rate=10, settle_seconds=30, time_limit=600, counters=None,
              send_tries=3, during=None):
    """Run a storm against the server at `base_url`.

    `pairs` are (customer, store) users with `id` and `token` (tests.support.bulk_accounts), and
    `conversation_ids` their conversations, in the same order. Every account opens
    `streams_per_account` streams, all of them spread over `open_seconds`; from the start,
    `messages` go out at `message_rate` per second, customer to store, round the pairs. It ends
    once everything arrived or `settle_seconds` after the last send, and in any case after
    `time_limit` seconds (then `timed_out`; what had not happened yet counts as failed or lost,
    and streams never answered 200 as `never_opened`). `counters()`, if given, is
    called at the start, once every stream was open, and at the end; its results land in
    `result.counters`. A refused send is tried again after its Retry-After (else 1 s), with the
    same client_id, up to `send_tries` times. `during()`, if given, runs in a thread once every
    stream is open (a restart, an outage: tests/test_restarts.py), while sending goes on.
    """
    storm = Storm(base_url, pairs, conversation_ids, streams_per_account=streams_per_account,
                  open_seconds=open_seconds, messages=messages, message_rate=message_rate,
                  settle_seconds=settle_seconds, time_limit=time_limit, counters=counters,
                  send_tries=send_tries, during=during)
    # In a thread of its own: the caller's thread may already run an event loop (Playwright's
    # sync API keeps one going in a test session that drove a browser).
    with ThreadPoolExecutor(1, thread_name_prefix="storm") as runner:
        return runner.submit(asyncio.run, storm.run()).result()


def storm(server, *, streams=1000, streams_per_account=1, messages=50, open_seconds=5,
          message_rate=10, settle_seconds=20, time_limit=45, send_tries=3, during=None):
    """A storm of `streams` streams against a tests.support.servers.LiveServer, with its accounts
    written straight into its database (tests.support.bulk_accounts)."""
    from tests.support.bulk_accounts import BulkAccounts

    accounts = BulkAccounts.for_server(server)
    try:
        pair_count = max(1, streams // (2 * streams_per_account))
        customers = accounts.users("customer", pair_count)
        stores = accounts.users("store", pair_count)
        pairs = list(zip(customers, stores))
        conversation_ids = accounts.conversations(pairs)
    finally:
        accounts.close()
    return run_storm(server.url, pairs, conversation_ids, streams_per_account=streams_per_account,
                     open_seconds=open_seconds, messages=messages, message_rate=message_rate,
                     settle_seconds=settle_seconds, time_limit=time_limit,
                     send_tries=send_tries, during=during)


# -- HTTP and SSE, just enough ---------------------------------------------------------------------

async def read_head(reader):
    """The status code and lower-cased headers of a response."""
    status_line = await reader.readuntil(b"\r\n")
    status = int(status_line.split()[1])
    headers = {}
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


async def read_chunked(reader):
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            return
        chunk = await reader.readexactly(size + 2)
        yield chunk[:-2]


async def read_raw(reader):
    while data := await reader.read(65536):
        yield data


async def sse_events(body):
    """Events as dicts of their fields (`data` lines joined), from a body's byte chunks."""
    buffer = b""
    async for chunk in body:
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            event = {}
            for line in block.decode().split("\n"):
                if not line or line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data" and "data" in event:
                    event["data"] += "\n" + value
                else:
                    event[name] = value
            if event:
                yield event


def close(writer):
    if writer is not None:
        writer.close()


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def counters_from(redis_url, mongo_uri):
    """Redis's commands processed and the test wire server's command counts, for `counters`."""
    import pymongo
    import redis

    redis_client = redis.Redis.from_url(redis_url)
    mongo_client = pymongo.MongoClient(mongo_uri) if mongo_uri else None

    def read():
        snapshot = {"redis_commands": redis_client.info("stats")["total_commands_processed"]}
        if mongo_client is not None:
            counts = mongo_client.admin.command("mongowireCommandCounts")["counts"]
            snapshot["mongo_commands"] = sum(n for name, n in counts.items()
                                             if name not in MONGO_MONITORING)
        return snapshot
    return read


# The driver's own heartbeats: not work the storm caused.
MONGO_MONITORING = {"hello", "isMaster", "ismaster", "ping"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--spec", required=True, help="JSON: pairs, conversation_ids and options")
    parser.add_argument("--redis-url")
    parser.add_argument("--mongo-uri")
    args = parser.parse_args()
    with open(args.spec) as spec_file:
        spec = json.load(spec_file)
    pairs = [(Account(**customer), Account(**store)) for customer, store in spec.pop("pairs")]
    conversation_ids = spec.pop("conversation_ids")
    counters = counters_from(args.redis_url, args.mongo_uri) if args.redis_url else None
    result = run_storm(args.url, pairs, conversation_ids, counters=counters, **spec)
    json.dump(asdict(result), sys.stdout)


if __name__ == "__main__":
    main()
