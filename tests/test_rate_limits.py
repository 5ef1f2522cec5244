"""Abuse limits on a two-worker gunicorn server: sending, typing, sign-in and sign-up limits are
counted in Redis, so they hold across workers; refusals are 429 with a Retry-After, as JSON for the
API and as a readable message in the page or the composer. Open event streams are capped per user,
and the message length and request size are limited on the server."""

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import ROOT
from tests.support.html import parse
from tests.support.servers import LiveServer, RemoteUser

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
LIMITS = {
    "RATE_LIMIT_SEND": "5 per minute",
    "RATE_LIMIT_TYPING": "5 per minute",
    "RATE_LIMIT_SIGN_IN": "5 per minute",
    "RATE_LIMIT_SIGN_IN_EMAIL": "5 per minute",
    "RATE_LIMIT_SIGN_UP": "3 per minute",
    "MAX_STREAMS_PER_USER": "3",
    "PROXY_FIX_HOPS": "1",  # so each test can come from addresses of its own
    # Each request's worker in the log, to show that both workers took part.
    "GUNICORN_CMD_ARGS": "--access-logfile - --access-logformat 'worker=%(p)s %(m)s %(U)s %(s)s'",
}


@pytest.fixture(scope="module")
def server(redis_url, shared_mongo_uri, tmp_path_factory):
    """One two-worker server for the module; each test uses accounts and addresses of its own."""
    live = LiveServer(ROOT, tmp_path_factory.mktemp("limits"), redis_url=redis_url,
                      mongo_uri=shared_mongo_uri, workers=2, env=LIMITS)
    yield live.start()
    live.stop()


def new_ip():
    return f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def register(server, role, name):
    """An account made from an address of its own, so set-up spends no one else's limits."""
    email = f"{uuid.uuid4().hex[:10]}@{role}.ph"
    ip = {"X-Forwarded-For": new_ip()}
    made = requests.post(server.url + "/api/auth/register", headers=ip, timeout=10, json={
        "role": role, "name": name, "email": email, "password": PASSWORD})
    assert made.status_code == 201, made.text
    tokens = requests.post(server.url + "/api/auth/token", headers=ip, timeout=10,
                           json={"email": email, "password": PASSWORD}).json()
    user = RemoteUser(server, made.json()["id"], role, email, tokens["access_token"])
    user.device_token = tokens["device_token"]
    return user


def workers_that_served(server, path):
    return set(re.findall(rf"worker=<?(\d+)>? \w+ {re.escape(path)} ", server.log()))


def one_session_per_worker(server, headers):
    """Two keep-alive HTTP sessions, each held by a different worker process."""
    sessions = {}
    for _ in range(60):
        session = requests.Session()
        session.headers.update(headers)
        probe = f"/static/probe-{uuid.uuid4().hex}"
        session.get(server.url + probe, timeout=10)
        deadline = time.monotonic() + 5
        while not (pids := workers_that_served(server, probe)) and time.monotonic() < deadline:
            time.sleep(0.02)
        sessions.setdefault(pids.pop(), session)
        if len(sessions) == 2:
            return list(sessions.values())
    pytest.fail("every connection went to the same worker")


def assert_429(response, *, json=True):
    assert response.status_code == 429, response.text[:300]
    assert int(response.headers["Retry-After"]) >= 1
    if json:
        assert response.json()["error"]["code"] in ("rate_limited", "too_many_streams")
        assert response.json()["error"]["message"]


def test_send_limit_is_shared_by_both_workers(server):
    customer, store = register(server, "customer", "Maria"), register(server, "store", "Sari")
    cid = customer.open_conversation(store)
    path = f"/api/conversations/{cid}/messages"
    first, second = one_session_per_worker(server, customer.headers)
    answers = [(first if i % 2 else second).post(server.url + path, json={"body": f"m{i}"},
                                                 timeout=10) for i in range(8)]
    assert [a.status_code for a in answers] == [201] * 5 + [429] * 3
    assert_429(answers[-1])
    assert "too quickly" in answers[-1].json()["error"]["message"]
    assert len(workers_that_served(server, path)) == 2  # both workers counted against one limit
    # The limit is per sender: the store still answers.
    assert store.call("POST", path, json={"body": "Yes po"}).status_code == 201
    history = customer.call("GET", path).json()["items"]
    assert [m["body"] for m in history] == ["m0", "m1", "m2", "m3", "m4", "Yes po"]


def page_token(server, session, cid):
    html = session.get(f"{server.url}/c/{cid}", timeout=10).text
    return parse(html).find_all("input", name="csrf_token")[0].attrs["value"]


def test_the_composer_shows_a_readable_message_when_sending_too_fast(server):
    customer, store = register(server, "customer", "Maria"), register(server, "store", "Sari")
    cid = customer.open_conversation(store)
    browser = customer.browser()
    token = page_token(server, browser, cid)
    url = f"{server.url}/c/{cid}/messages"
    for i in range(5):
        assert browser.post(url, data={"body": f"m{i}", "csrf_token": token},
                            allow_redirects=False, timeout=10).status_code == 303
    # htmx: a fragment for the composer's error slot.
    htmx = browser.post(url, data={"body": "one more"}, timeout=10, headers={
        "HX-Request": "true", "X-CSRFToken": token, "X-Error-Target": "#composer-error"})
    assert_429(htmx, json=False)
    assert htmx.headers["HX-Retarget"] == "#composer-error"
    assert parse(htmx.text).with_class("error-note")[0].text.startswith(
        "You are sending messages too quickly.")
    # No JavaScript: back to the conversation (a reload must not post again), the message in the
    # composer and the text kept.
    plain = browser.post(url, data={"body": "please keep this", "csrf_token": token},
                         allow_redirects=False, timeout=10)
    assert plain.status_code == 303
    page = parse(browser.get(server.url + plain.headers["Location"], timeout=10).text)
    assert page.by_id("composer-error").text.startswith("You are sending messages too quickly.")
    assert page.by_id("composer-body").text == "please keep this"


def test_typing_signals_are_limited(server, sse):
    customer, store = register(server, "customer", "Maria"), register(server, "store", "Sari")
    cid = customer.open_conversation(store)
    path = f"/api/conversations/{cid}/typing"
    watching = sse(store.events_url(), headers=store.headers)
    watching.wait_for_comments(1)
    first, second = one_session_per_worker(server, customer.headers)
    answers = [(first if i % 2 else second).post(server.url + path, json={"state": "start"},
                                                 timeout=10) for i in range(7)]
    assert [a.status_code for a in answers] == [204] * 5 + [429] * 2
    assert_429(answers[-1])
    # The page's composer is not told (a typing line is a courtesy, not worth an error under
    # what is being written), but nothing more is sent either.
    browser = customer.browser()
    htmx = browser.post(f"{server.url}/c/{cid}/typing", data={"state": "start"}, timeout=10,
                        headers={"HX-Request": "true", "X-CSRFToken": page_token(server, browser,
                                                                                cid)})
    assert htmx.status_code == 204
    customer.send(cid, "sentinel")
    watching.wait_for("message")
    assert len(watching.of_type("typing")) == 5
    assert store.call("POST", path, json={"state": "start"}).status_code == 204


def test_sign_in_is_throttled_per_address(server):
    user = register(server, "customer", "Maria")
    ip = {"X-Forwarded-For": new_ip()}
    first, second = one_session_per_worker(server, ip)
    guesses = [(first if i % 2 else second).post(
        server.url + "/api/auth/token", timeout=10,
        json={"email": f"guess{i}@example.ph", "password": "wrong password"}) for i in range(5)]
    assert [g.status_code for g in guesses] == [401] * 5
    # Even the right password is refused now, from this address...
    blocked = first.post(server.url + "/api/auth/token", timeout=10,
                         json={"email": user.email, "password": PASSWORD})
    assert_429(blocked)
    assert "sign-in attempts" in blocked.json()["error"]["message"]
    # ...and the sign-in form says so in words.
    page = second.get(server.url + "/signin", timeout=10)
    form_token = parse(page.text).find_all("input", name="csrf_token")[0].attrs["value"]
    refused = second.post(server.url + "/signin", timeout=10, allow_redirects=False,
                          data={"email": user.email, "password": PASSWORD,
                                "csrf_token": form_token})
    assert_429(refused, json=False)
    assert "Too many sign-in attempts" in refused.text  # said on the form, which stays
    # Other addresses are not affected.
    assert requests.post(server.url + "/api/auth/token", timeout=10,
                         headers={"X-Forwarded-For": new_ip()},
                         json={"email": user.email, "password": PASSWORD}).status_code == 200


def sign_in_from_anywhere(server, email, password):
    return requests.post(server.url + "/api/auth/token", timeout=10,
                         headers={"X-Forwarded-For": new_ip()},
                         json={"email": email, "password": password})


def test_sign_in_is_throttled_per_account_from_many_addresses(server):
    """Guessing one account's password from a botnet still hits the per-account limit, for
    devices new to the account: the owner's own device signs in all the same."""
    user = register(server, "customer", "Maria")
    answers = [sign_in_from_anywhere(server, user.email.upper(), f"guess {i}") for i in range(7)]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 2
    assert_429(answers[-1])
    assert_429(sign_in_from_anywhere(server, user.email, PASSWORD))  # the guessing must stop
    owners = [requests.post(server.url + "/api/auth/token", timeout=10,
                            headers={"X-Forwarded-For": new_ip()},
                            json={"email": user.email, "password": PASSWORD,
                                  "device_token": user.device_token}) for _ in range(2)]
    assert [o.status_code for o in owners] == [200, 200]  # on either worker


def test_signing_in_often_never_locks_the_account(server):
    """Only failed attempts count against an account: its owner on many devices is never
    refused, and nobody can spend the account's limit by signing in correctly."""
    user = register(server, "customer", "Maria")
    answers = [sign_in_from_anywhere(server, user.email, PASSWORD) for _ in range(8)]
    assert [a.status_code for a in answers] == [200] * 8


def test_sign_up_is_limited_per_address(server):
    ip = {"X-Forwarded-For": new_ip()}
    first, second = one_session_per_worker(server, ip)

    def sign_up(session):
        return session.post(server.url + "/api/auth/register", timeout=10, json={
            "role": "customer", "name": "Bot", "email": f"{uuid.uuid4().hex}@bot.ph",
            "password": PASSWORD})

    assert [sign_up(first).status_code, sign_up(second).status_code,
            sign_up(first).status_code] == [201, 201, 201]
    assert_429(sign_up(second))
    page = first.get(server.url + "/signup", timeout=10)
    form_token = parse(page.text).find_all("input", name="csrf_token")[0].attrs["value"]
    refused = first.post(server.url + "/signup", timeout=10, allow_redirects=False, data={
        "role": "customer", "name": "Bot", "email": f"{uuid.uuid4().hex}@bot.ph",
        "password": PASSWORD, "csrf_token": form_token})
    assert_429(refused, json=False)
    assert "Too many new accounts" in parse(refused.text).with_class("error-page")[0].text


def test_open_streams_are_capped_per_user(server, sse):
    user = register(server, "store", "Sari")
    browser = user.browser()
    cookie = {"Cookie": "; ".join(f"{c.name}={c.value}" for c in browser.cookies)}
    open_streams = [sse(user.events_url(), headers=user.headers),
                    sse(user.events_url(), headers=user.headers),
                    sse(server.url + "/events", headers=cookie)]
    assert [s.status for s in open_streams] == [200, 200, 200]
    over = sse(user.events_url(), headers=user.headers)
    assert over.status == 429 and b"too_many_streams" in over.body
    assert int(over.headers["Retry-After"]) >= 1
    assert sse(server.url + "/events", headers=cookie).status == 429
    # Someone else is not affected.
    other = register(server, "store", "Other")
    assert sse(other.events_url(), headers=other.headers).status == 200

    # Closing a tab frees its place (once the server notices, at its next heartbeat).
    open_streams[0].close()
    deadline = time.monotonic() + 20
    while True:
        again = sse(user.events_url(), headers=user.headers)
        if again.status == 200 or time.monotonic() > deadline:
            break
        again.close()
        time.sleep(0.2)
    assert again.status == 200


def test_stream_cap_holds_when_many_open_at_once(server):
    """Counting and taking a place is one step: a burst cannot slip past the cap."""
    user = register(server, "customer", "Burst")

    def open_stream(_):
        response = requests.get(user.events_url(), headers=user.headers, stream=True, timeout=10)
        return response

    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(open_stream, range(12)))
    try:
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 3 + [429] * 9
    finally:
        for response in responses:
            response.close()


def test_message_length_and_request_size_are_limited(server):
    customer, store = register(server, "customer", "Maria"), register(server, "store", "Sari")
    cid = customer.open_conversation(store)
    too_long = customer.call("POST", f"/api/conversations/{cid}/messages",
                             json={"body": "x" * 4001})
    assert too_long.status_code == 413 and too_long.json()["error"]["code"] == "message_too_long"
    browser = customer.browser()
    token = page_token(server, browser, cid)
    form = browser.post(f"{server.url}/c/{cid}/messages", allow_redirects=False, timeout=10,
                        data={"body": "y" * 4001, "csrf_token": token})
    assert form.status_code == 303
    page = parse(browser.get(server.url + form.headers["Location"], timeout=10).text)
    assert "at most 4,000 characters" in page.by_id("composer-error").text
    assert page.by_id("composer-body").text == "y" * 4001  # the draft is kept to shorten
    huge = browser.post(f"{server.url}/c/{cid}/messages", allow_redirects=False, timeout=10,
                        data={"body": "z" * 100_000, "csrf_token": token})
    assert huge.status_code == 413 and "too large" in huge.text
    assert customer.call("GET", f"/api/conversations/{cid}/messages").json()["items"] == []


def test_archive_and_block_changes_are_limited(live_server):
    """Each change is an event in someone's stream: flipping them in a loop could flood the other
    side's stream (and push what they have not seen out of its replay window)."""
    server = live_server(RATE_LIMIT_CHANGES="4 per minute")
    customer, store = server.register("customer", "Maria"), server.register("store", "Sari")
    cid = customer.open_conversation(store)
    customer.send(cid, "Hello po")
    codes = [customer.call(method, f"/api/conversations/{cid}/{what}").status_code
             for what in ("archive", "block") for method in ("POST", "DELETE")]
    assert codes == [200] * 4
    assert_429(customer.call("POST", f"/api/conversations/{cid}/block"))
    # The limit is per user: the store may still change its own view.
    assert store.call("POST", f"/api/conversations/{cid}/archive").status_code == 200
