"""Browser hardening: the Content-Security-Policy and the usual headers on every kind of answer,
pages the policy can actually serve (no inline script, handler or style), and cookie flags."""

import pytest
import requests

from tests.support.html import active_content_problems, parse


def csp(response):
    """The policy as {directive: [sources]}."""
    policy = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        policy[name] = sources
    return policy


def assert_hardened(response):
    policy = csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', 'unsafe-eval', hosts or nonces
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin",
                                                   "no-referrer")
    assert response.headers["X-Frame-Options"] == "DENY"


def test_every_kind_of_answer_is_hardened(app, chat, client):
    customer, _, conversation_id = chat
    customer.send(conversation_id, "hello")
    answers = {
        "sign-in page": client.get("/signin"),
        "page": customer.page.get(f"/c/{conversation_id}"),
        "htmx fragment": customer.page.get("/inbox", headers={"HX-Request": "true"}),
        "error page": customer.page.get("/c/6b0000000000000000000000"),
        "htmx error": customer.page.post(f"/c/{conversation_id}/messages", {"body": ""}, htmx=True),
        "redirect": client.get("/inbox"),
        "JSON": customer.api.get("/api/me"),
        "JSON error": customer.api.get("/api/conversations/nope"),
        "health": client.get("/healthz"),
    }
    for name, response in answers.items():
        try:
            assert_hardened(response)
        except (AssertionError, KeyError) as exc:
            raise AssertionError(f"{name}: {exc!r} in {dict(response.headers)}") from None
    assert answers["JSON"].mimetype == "application/json"
    # Signed-in answers carry someone's messages: no cache keeps a copy.
    for name in ("page", "htmx fragment", "JSON"):
        assert answers[name].headers["Cache-Control"] == "no-store", name


def test_static_files_carry_only_what_applies_to_them(chat):
    """Our own scripts and styles: no sniffing; the policy headers govern documents, and would
    cost a phone some 400 bytes per file. No cookie either, so caches keep them."""
    customer, _, _ = chat
    response = customer.page.get("/static/elako.js")  # signed in: a permanent session
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "Content-Security-Policy" not in response.headers
    assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get("Vary", "")


def test_pages_work_under_the_policy(app, chat, client):
    """Nothing the policy forbids is on any page: the pages work with CSP on, and an injected
    inline script would stand out."""
    customer, store, conversation_id = chat
    customer.send(conversation_id, "See https://example.com/item?id=1&x=2")
    pages = {
        "/signin": client.get("/signin"), "/signup": client.get("/signup"),
        "/inbox": customer.page.get("/inbox"), "/stores": customer.page.get("/stores"),
        "/settings": store.page.get("/settings"), "/c": store.page.get(f"/c/{conversation_id}"),
        "404": store.page.get("/nothing-here"),
    }
    for name, response in pages.items():
        assert response.mimetype == "text/html", name
        document = parse(response.get_data(as_text=True))
        assert active_content_problems(document) == [], name
        scripts = document.find_all("script")
        assert scripts and all(s.attrs["src"].startswith("/static/") for s in scripts), name


def test_the_checker_would_notice_inline_script():
    """The page check above can fail: each kind of problem is reported."""
    document = parse('<p onclick="x()">a</p><script>alert(1)</script><a href=" javascript:x">'
                     '</a><div style="color:red"></div><svg><script href="data:x"></script></svg>')
    problems = " ".join(active_content_problems(document))
    for expected in ("event handler", "inline or foreign <script>", "non-http URL",
                     "inline style", "<svg> element"):
        assert expected in problems


def session_cookie(response):
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("elako_session=")]
    return [part.strip().lower() for part in cookie.split(";")]


def sign_in(people, client):
    person = people.customer()
    return client.post("/signin", {"email": person.email, "password": "correct horse battery"})


def test_session_cookie_is_httponly_and_samesite(people, client):
    response = sign_in(people, client)
    assert response.status_code == 303
    flags = session_cookie(response)
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags  # plain HTTP in development: a Secure cookie would never return
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.settings(SESSION_COOKIE_SECURE=True)
def test_secure_cookie_when_configured(people, client):
    assert "secure" in session_cookie(sign_in(people, client))


def test_secure_cookie_and_hsts_whenever_served_over_https(app, people):
    """Served over HTTPS, the cookie is Secure even if SESSION_COOKIE_SECURE was left off."""
    person = people.customer()
    http = app.test_client()
    page = http.get("/signin", base_url="https://chat.example.ph").get_data(as_text=True)
    token = parse(page).find_all("input", name="csrf_token")[0].attrs["value"]
    # Over HTTPS the CSRF check also wants a same-origin Referer, as browsers send it.
    response = http.post("/signin", base_url="https://chat.example.ph", data={
        "email": person.email, "password": "correct horse battery", "csrf_token": token},
        headers={"Referer": "https://chat.example.ph/signin"})
    assert response.status_code == 303
    flags = session_cookie(response)
    assert "secure" in flags and "httponly" in flags
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.e2e
def test_secure_cookie_behind_a_tls_proxy(live_server):
    """gunicorn behind one trusted proxy that terminates TLS: X-Forwarded-Proto decides."""
    server = live_server(PROXY_FIX_HOPS="1")
    user = server.register("customer", "Maria")
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    page = requests.get(server.url + "/signin", headers=https, timeout=10)
    token = parse(page.text).find_all("input", name="csrf_token")[0].attrs["value"]
    assert "secure" in page.headers["Set-Cookie"].lower()
    # The cookie is Secure, so an HTTP client keeps it to itself: hand it over as the proxy would.
    cookie = page.headers["Set-Cookie"].split(";", 1)[0]
    referer = server.url.replace("http:", "https:") + "/signin"
    response = requests.post(server.url + "/signin", allow_redirects=False, timeout=10,
                             headers={**https, "Referer": referer, "Cookie": cookie},
                             data={"email": user.email, "password": "correct horse battery",
                                   "csrf_token": token})
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert response.headers["Location"].startswith(("/", "https://"))


@pytest.mark.e2e
def test_forwarded_headers_are_ignored_without_a_trusted_proxy(server):
    """gunicorn's own default trusts X-Forwarded-Proto from 127.0.0.1: anything on the host (or a
    proxy passing the header through) could claim HTTPS, pinning browsers to it by HSTS."""
    claimed = requests.get(server.url + "/signin", timeout=10, headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on", "X-Forwarded-Protocol": "ssl"})
    assert claimed.status_code == 200
    assert "Strict-Transport-Security" not in claimed.headers
    assert "secure" not in claimed.headers["Set-Cookie"].lower()


@pytest.mark.e2e
def test_event_streams_are_hardened_too(server, sse):
    user = server.register("store", "Sari-Sari")
    json_stream = sse(user.events_url(), headers=user.headers)
    assert json_stream.status == 200
    browser = user.browser()
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    html_stream = sse(server.url + "/events", headers={"Cookie": cookie})
    assert html_stream.status == 200
    for stream in (json_stream, html_stream):
        headers = {k.lower(): v for k, v in stream.headers.items()}
        assert headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["cache-control"].startswith("no-cache")
