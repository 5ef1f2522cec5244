"""deploy/nginx.conf, run by Debian's nginx in front of gunicorn (issue 13, "A real front").

One gunicorn server with PROXY_FIX_HOPS=1 behind one nginx for the module: events pass through
unbuffered and resume with Last-Event-ID, static files come from disk precompressed and cached
for a year, the rate limiter sees each client's own address, and the body limits are the app's.
"""

import gzip
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys

import brotli
import pytest
import requests

from tests.conftest import PASSWORD, ROOT
from tests.support.deploy import command, unit
from tests.support.nginx import BROTLI_STATIC, NGINX, NginxFront
from tests.support.servers import LiveServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which(NGINX) or not os.path.exists(BROTLI_STATIC),
                       reason="needs Debian's nginx and its brotli_static module (make test installs them)"),
]

SIGN_IN_LIMIT = 4  # per network and minute; 127.0.0.1 signs in three times (`chat`, a browser)


@pytest.fixture(scope="module")
def front(redis_url, shared_mongo_uri, tmp_path_factory):
    folder = tmp_path_factory.mktemp("front")
    app = LiveServer(ROOT, folder / "app", redis_url=redis_url, mongo_uri=shared_mongo_uri,
                     env={"PROXY_FIX_HOPS": "1", "RATE_LIMIT_SIGN_IN": f"{SIGN_IN_LIMIT} per minute"})
    static_dir = folder / "static"
    nginx = NginxFront(folder / "nginx", app.port, static_dir)
    nginx.app = app
    try:
        # What deploy/elako.service runs before gunicorn, into the test's folder.
        export = command(unit("elako.service")["Service"]["ExecStartPre"][0])
        subprocess.run([sys.executable, *export[1:-1], str(static_dir)], cwd=ROOT, check=True)
        app.start()
        nginx.start()
        nginx.tls = ssl.create_default_context(cafile=str(nginx.cert))
        yield nginx
    finally:
        nginx.stop()
        app.stop()


@pytest.fixture(scope="module")
def chat(front):
    """A customer and a store (registered straight at gunicorn), talking through nginx."""
    customer = front.app.register("customer", "Maria Santos")
    store = front.app.register("store", "Aling Nena's Store")
    return customer, store, customer.open_conversation(store)


def through(front, user, method, path, headers=None, **kwargs):
    return requests.request(method, front.url + path, headers={**user.headers, **(headers or {})},
                            timeout=10, verify=str(front.cert), **kwargs)


def test_events_pass_through_within_100_ms(front, chat, sse):
    customer, store, conversation = chat
    stream = sse(front.url + "/api/events", headers=store.headers, ssl_context=front.tls)
    assert stream.status == 200, stream.body
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    sender = requests.Session()
    sender.headers.update(customer.headers)
    delays = []
    for n in range(7):
        response = sender.post(f"{front.url}/api/conversations/{conversation}/messages",
                               json={"body": f"latency {n}"}, verify=str(front.cert), timeout=10)
        assert response.status_code == 201, response.text
        event = stream.wait_for(lambda e, n=n: e.type == "message" and f'"latency {n}"' in e.data,
                                timeout=5)
        # An event's id is the Redis stream entry's: the server's clock (this machine's) in ms
        # when the event was appended and announced, i.e. sent.
        delays.append(event.received_at - int(event.id.split("-")[0]) / 1000)
    # A buffering proxy would hold events until its buffer filled or the stream ended.
    assert statistics.median(delays) < 0.100, [round(d * 1000) for d in delays]
    stream.wait_for_comments(1, timeout=5)  # heartbeats (every second here) pass through too


def test_a_browser_signs_in_and_streams_through_nginx(front, chat, sse):
    """The page's own stream (/events, HTML fragments) with a Secure cookie over HTTPS: the app
    knows it is behind TLS (X-Forwarded-Proto) and its CSRF check sees the host the browser saw."""
    customer, store, conversation = chat
    browser = requests.Session()
    page = browser.get(front.url + "/signin", verify=str(front.cert), timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = browser.post(front.url + "/signin", allow_redirects=False, timeout=10,
                            verify=str(front.cert),
                            headers={"Referer": front.url + "/signin", "Origin": front.url},
                            data={"email": store.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303, response.text
    assert "Secure" in response.headers["Set-Cookie"]
    cookies = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    stream = sse(front.url + "/events", headers={"Cookie": cookies}, ssl_context=front.tls)
    assert stream.status == 200, stream.body
    customer.send(conversation, "seen on the page")
    stream.wait_for(lambda e: "seen on the page" in e.data, timeout=5)


def test_last_event_id_resumes_through_nginx(front, chat, sse):
    customer, store, conversation = chat
    first = sse(front.url + "/api/events", headers=store.headers, ssl_context=front.tls)
    customer.send(conversation, "before the tunnel")
    seen = first.wait_for(lambda e: e.type == "message" and "before the tunnel" in e.data)
    first.close()
    for body in ("in the tunnel 1", "in the tunnel 2"):
        customer.send(conversation, body)
    resumed = sse(front.url + "/api/events", ssl_context=front.tls,
                  headers={**store.headers, "Last-Event-ID": seen.id})
    resumed.wait_for("message", count=2, timeout=5)
    bodies = [e.json["message"]["body"] for e in resumed.of_type("message")]
    assert bodies == ["in the tunnel 1", "in the tunnel 2"]


def test_static_files_from_disk_precompressed_and_cached(front):
    page = requests.get(front.url + "/signin", verify=str(front.cert), timeout=10).text
    urls = re.findall(r'(/static/[^"?]+\?v=[0-9a-f]{12})', page)
    assert any(u.startswith("/static/elako.css") for u in urls), urls
    url = next(u for u in urls if u.startswith("/static/vendor/htmx"))
    # The app's own answer, straight from gunicorn: what the bytes must be.
    expected = requests.get(front.app.url + url, headers={"Accept-Encoding": "identity"},
                            timeout=10).content
    for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress),
                             ("identity", lambda body: body)):
        response = requests.get(front.url + url, headers={"Accept-Encoding": encoding},
                                verify=str(front.cert), timeout=10, stream=True)
        body = response.raw.read()  # as sent, not decoded by requests
        assert response.status_code == 200
        assert response.headers.get("Content-Encoding", "identity") == encoding
        assert decode(body) == expected
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "Accept-Encoding" in response.headers.get("Vary", "") or encoding == "identity"
        # nginx's ETag ("<mtime>-<size>" in hex), not the app's ("<version>-<encoding>"): from disk.
        assert url.rsplit("=", 1)[1] not in response.headers["ETag"]
    # No version, or one that was never exported: the app answers, with its short cache.
    for other in (url.split("?")[0], url[:-12] + "0" * 12):
        response = requests.get(front.url + other, verify=str(front.cert), timeout=10)
        assert response.status_code == 200 and response.content == expected
        assert response.headers["Cache-Control"] == "public, max-age=300"


def sign_in_from(front, address, email, headers=None):
    """A wrong-password sign-in over TLS from `address` (any 127.0.0.0/8 address is loopback)."""
    connection = http.client.HTTPSConnection("127.0.0.1", front.port, timeout=10,
                                             context=front.tls, source_address=(address, 0))
    try:
        connection.request("POST", "/api/auth/token", headers={
            "Content-Type": "application/json", **(headers or {})},
            body=json.dumps({"email": email, "password": "not the password"}))
        return connection.getresponse().status
    finally:
        connection.close()


def test_client_address_reaches_the_rate_limiter(front):
    # A new email each time: only the per-network count (RATE_LIMIT_SIGN_IN) adds up.
    emails = (f"nobody-{n}@front.ph" for n in range(100))
    statuses = [sign_in_from(front, "127.0.0.2", next(emails)) for _ in range(SIGN_IN_LIMIT + 1)]
    assert statuses == [401] * SIGN_IN_LIMIT + [429]
    # Claiming another address does not buy a fresh count: nginx passes on the one it saw.
    assert sign_in_from(front, "127.0.0.2", next(emails), {"X-Forwarded-For": "203.0.113.7"}) == 429
    # Another client has a count of its own (without the proxy fix both would be nginx's 127.0.0.1).
    assert sign_in_from(front, "127.0.0.3", next(emails)) == 401


def test_body_limits(front, chat):
    customer, _, conversation = chat
    # Above MAX_CONTENT_LENGTH (64 KB) and below nginx's ceiling: the app's own JSON answer.
    response = through(front, customer, "POST", f"/api/conversations/{conversation}/messages",
                       data=b"{" + b" " * 70_000 + b"}", headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    # Beyond client_max_body_size (11 MB, room for 10 MB attachments): nginx refuses at the headers.
    connection = http.client.HTTPSConnection("127.0.0.1", front.port, timeout=10, context=front.tls)
    connection.putrequest("POST", f"/api/conversations/{conversation}/messages")
    connection.putheader("Content-Length", str(12 * 1024 * 1024))
    connection.endheaders()
    assert connection.getresponse().status == 413
    connection.close()


def test_tls_with_http2_and_a_redirect_from_http(front):
    context = ssl.create_default_context(cafile=str(front.cert))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.selected_alpn_protocol() == "h2"
    response = requests.get(front.http_url + "/inbox?x=1", allow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["Location"] == "https://127.0.0.1/inbox?x=1"
