"""Page weight budget: a conversation page costs at most 34 KB over the wire on a first visit, all
assets included, and at most 8 KB on a later visit. bench/page_weight.py prints the same
measurement (tests/support/page_weight.py) as a table; docs/page-weight.md has the figures."""

import http.client
import io

import pytest

from tests.support.page_weight import (
    FIRST_VISIT_BUDGET, REPEAT_VISIT_BUDGET, Download, cache_decision, cookie_header, measure,
    seed_conversation, table)


@pytest.fixture(scope="module")
def conversation_page(server):
    """A customer's conversation page with a page's worth of history: (path, cookies)."""
    customer, _store, conversation_id = seed_conversation(server)
    return f"/c/{conversation_id}", cookie_header(customer.browser())


@pytest.fixture(scope="module")
def visits(server, conversation_page):
    """(first visit, later visit), measured once for the tests below."""
    return measure(server.url, *conversation_page)


@pytest.mark.e2e
def test_the_page_and_everything_it_references_is_counted_compressed(visits):
    first, _ = visits
    resources = [row.resource for row in first.rows]
    assert resources[0].startswith("/c/")
    for asset in ("elako.css", "icon.svg", "vendor/htmx.min.js", "vendor/sse.min.js", "elako.js"):
        assert any(r.startswith(f"/static/{asset}?v=") for r in resources), (asset, resources)
    # Counted as sent, compressed: htmx alone is 51 KB before brotli.
    assert all(row.encoding == "br" for row in first.rows), table(first)
    assert 0 < first.row("/static/vendor/htmx.min.js").body_bytes < 20 * 1024
    assert all(row.header_bytes > 100 for row in first.rows)


@pytest.mark.e2e
def test_first_visit_is_within_budget(visits):
    first, _ = visits
    total = first.total
    assert total <= FIRST_VISIT_BUDGET, f"{total:,} bytes:\n{table(first)}"


@pytest.mark.e2e
def test_later_visit_is_within_8_kb(visits):
    _, later = visits
    assert later.rows[0].resource.startswith("/c/") and later.rows[0].body_bytes > 0  # fresh HTML
    total = later.total
    assert total <= REPEAT_VISIT_BUDGET, f"{total:,} bytes:\n{table(later)}"


@pytest.mark.e2e
def test_the_measure_would_notice_an_uncompressed_page(server, conversation_page):
    """The budget tests above can fail: the same page and assets sent uncompressed exceed it."""
    first, _ = measure(server.url, *conversation_page, accept_encoding="identity")
    assert all(row.encoding == "identity" for row in first.rows)
    assert first.total > FIRST_VISIT_BUDGET


def stored(headers, request_headers=None):
    """A cached 200 response with these header lines, requested with `request_headers`."""
    message = http.client.parse_headers(io.BytesIO(headers.encode("latin-1") + b"\r\n"))
    return Download("http://x/static/a.js", request_headers or {}, 200, message, 100, 1000, b"")


def test_cache_decision_follows_cache_control_and_vary():
    """A later visit counts an asset as cached only when a browser's cache really may reuse it."""
    immutable = "Cache-Control: public, max-age=31536000, immutable\r\nETag: \"v1\"\r\n"
    assert cache_decision(stored(immutable), {})[0] == "hit"
    assert cache_decision(stored(immutable + "Vary: Accept-Encoding\r\n",
                                 {"Accept-Encoding": "br"}), {"Accept-Encoding": "br"})[0] == "hit"
    # A Vary-named header that changed since (a re-issued cookie) means asking the server again.
    varies = stored(immutable + "Vary: Accept-Encoding, Cookie\r\n",
                    {"Accept-Encoding": "br", "Cookie": "s=1"})
    assert cache_decision(varies, {"Accept-Encoding": "br", "Cookie": "s=2"}) == (
        "revalidate", "Vary: cookie differs")
    assert cache_decision(stored("Cache-Control: public, max-age=300\r\nETag: \"v1\"\r\n"),
                          {})[0] == "revalidate"  # stale by tomorrow
    assert cache_decision(stored("Cache-Control: no-cache\r\nETag: \"v1\"\r\n"), {})[0] == "revalidate"
    assert cache_decision(stored("Cache-Control: no-store\r\n"), {})[0] == "miss"
    assert cache_decision(stored("Content-Type: text/html\r\n"), {})[0] == "miss"  # no validator
