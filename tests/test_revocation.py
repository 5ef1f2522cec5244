"""Sessions end when they should, everywhere at once: an expired token, a signed-out browser
session or a revoked token stops working for the next request, and an event stream that is already
open (the browser's /events or an integration's /api/events) is ended with `signed_out`."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from elako.models import AuthSession
from tests.support.credentials import cookie_header, expired_token, session_cookie, session_data
from tests.support.servers import JWT_SECRET

SECRET = "e2e-secret-" + "y" * 40  # what tests/support/servers.py gives every live server


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def sid_of(page):
    with page.http.session_transaction() as session:
        return session["sid"]


# -- in process ------------------------------------------------------------------------------------

def test_expired_token_is_refused_with_its_own_code(app, api, people):
    person = people.customer()
    stale = expired_token(person.token, app.config["JWT_SECRET_KEY"])
    for url in ("/api/me", "/api/events", f"/api/users/{person.id}/conversations"):
        response = api.get(url, headers=bearer(stale))
        assert response.status_code == 401, url
        assert response.json["error"]["code"] == "token_expired"
        assert 'error="token_expired"' in response.headers["WWW-Authenticate"]
    assert person.api.get("/api/me").status_code == 200  # the live token still works


def test_tokens_carry_the_configured_lifetime(app, people):
    import jwt

    person = people.customer()
    claims = jwt.decode(person.token, app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == app.config["JWT_EXPIRES_SECONDS"] == 3600
    session = AuthSession.objects.get(id=claims["sid"])
    assert session.kind == "api"
    # The session lives as long as its refresh token; each access token an hour.
    lifetime = app.config["REFRESH_TOKEN_DAYS"] * 86400
    assert int(session.expires_at.timestamp()) == claims["iat"] + lifetime  # naive UTC, stored


def test_revoking_a_token_ends_it_at_once_and_only_it(api, people):
    person = people.customer()
    second = api.post("/api/auth/token", json={"email": person.email,
                                               "password": "correct horse battery"}).json
    page = person.page
    assert person.api.delete("/api/auth/token").status_code == 204
    gone = person.api.get("/api/me")
    assert gone.status_code == 401 and gone.json["error"]["code"] == "token_revoked"
    assert api.get("/api/events", headers=bearer(person.token)).status_code == 401
    assert api.get("/api/me", headers=bearer(second["access_token"])).status_code == 200
    assert page.get("/inbox").status_code == 200


def test_sign_out_kills_the_cookie_at_once(app, people):
    person = people.customer()
    page = person.page
    stolen = page.http.get_cookie("elako_session").value
    sid = sid_of(page)

    response = page.post("/signout", {})
    assert response.status_code == 303 and response.headers["Location"] == "/signin"
    [cleared] = [c for c in response.headers.getlist("Set-Cookie")
                 if c.startswith("elako_session=")]
    assert "Expires=Thu, 01 Jan 1970" in cleared or "Max-Age=0" in cleared
    assert AuthSession.objects(id=sid).count() == 0
    assert page.get("/inbox").status_code == 302

    # Someone who copied the cookie before the sign-out gets nothing with it.
    thief = app.test_client()
    thief.set_cookie("elako_session", stolen)
    assert thief.get("/inbox").headers["Location"].startswith("/signin")
    assert thief.get("/events").status_code == 401
    fragment = thief.get("/inbox", headers={"HX-Request": "true"})
    assert fragment.status_code == 204 and fragment.headers["HX-Redirect"] == "/signin"


def test_sign_out_ends_only_that_browser_session(people):
    person = people.customer()
    laptop, phone = person.page, type(person.page)(person._app)
    phone.sign_in(person.email)
    assert laptop.post("/signout", {}).status_code == 303
    assert laptop.get("/inbox").status_code == 302
    assert phone.get("/inbox").status_code == 200
    assert person.api.get("/api/me").status_code == 200


def test_expired_browser_session_is_signed_out(app, people):
    person = people.customer()
    page = person.page
    sid = sid_of(page)
    AuthSession.objects(id=sid).update(set__expires_at=AuthSession.objects.get(id=sid).created_at)
    assert page.get("/inbox").headers["Location"].startswith("/signin")
    # The stale cookie was dropped on that answer, so the browser holds nothing reusable.
    assert page.http.get_cookie("elako_session") is None
    thief = app.test_client()
    thief.set_cookie("elako_session", session_cookie(app.config["SECRET_KEY"], {"sid": sid})
                     .split("=", 1)[1])
    assert thief.get("/events").status_code == 401


# -- open streams, through gunicorn ---------------------------------------------------------------

def page_token(server, session):
    html = session.get(server.url + "/inbox", timeout=10).text
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


@pytest.mark.e2e
def test_sign_out_ends_the_open_page_stream_of_that_session_only(server, sse):
    user = server.register("customer", "Maria")
    laptop, phone = user.browser(), user.browser()
    laptop_cookie = cookie_header(laptop)
    laptop_tab = sse(server.url + "/events", headers=laptop_cookie)
    phone_tab = sse(server.url + "/events", headers=cookie_header(phone))
    integration = sse(user.events_url(), headers=user.headers)
    for stream in (laptop_tab, phone_tab, integration):
        assert stream.status == 200
        stream.wait_for_comments(1)

    signed_out = laptop.post(server.url + "/signout", allow_redirects=False, timeout=10,
                             data={"csrf_token": page_token(server, laptop)})
    assert signed_out.status_code == 303
    assert laptop_tab.wait_for("signed_out").data == "signed_out"  # the page goes to /session-ended
    laptop_tab.wait_closed()

    for stream in (phone_tab, integration):  # other sessions keep streaming
        stream.wait_for_comments(stream.comments + 2)
        assert not stream.closed.is_set() and not stream.of_type("signed_out")

    # The old cookie no longer opens a stream or a page.
    assert sse(server.url + "/events", headers=laptop_cookie).status == 401
    page = requests.get(server.url + "/inbox", headers=laptop_cookie, allow_redirects=False,
                        timeout=10)
    assert page.status_code == 302 and page.headers["Location"].startswith("/signin")


@pytest.mark.e2e
def test_revoking_a_token_ends_its_open_json_stream(server, sse):
    user = server.register("store", "Sari-Sari")
    other = requests.post(server.url + "/api/auth/token", timeout=10, json={
        "email": user.email, "password": "correct horse battery"}).json()["access_token"]
    doomed = sse(user.events_url(), headers=user.headers)
    kept = sse(user.events_url(), headers=bearer(other))
    doomed.wait_for_comments(1)
    kept.wait_for_comments(1)

    assert user.call("DELETE", "/api/auth/token").status_code == 204
    assert doomed.wait_for("signed_out").json == {"reason": "signed_out"}
    doomed.wait_closed()
    kept.wait_for_comments(kept.comments + 2)
    assert not kept.closed.is_set()

    again = sse(user.events_url(), headers=user.headers)
    assert again.status == 401 and b"token_revoked" in again.body


@pytest.mark.e2e
def test_an_expired_access_token_is_refused_and_its_refresh_token_renews_it(live_server):
    server = live_server(JWT_EXPIRES_SECONDS="2")
    user = server.register("customer", "Juan")
    tokens = requests.post(server.url + "/api/auth/token", timeout=10,
                           json={"email": user.email, "password": "correct horse battery"}).json()
    time.sleep(3)
    expired = requests.get(server.url + "/api/me", headers=bearer(tokens["access_token"]),
                           timeout=10)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "token_expired"
    renewed = requests.post(server.url + "/api/auth/refresh", timeout=10,
                            json={"refresh_token": tokens["refresh_token"]}).json()
    assert requests.get(server.url + "/api/me", headers=bearer(renewed["access_token"]),
                        timeout=10).status_code == 200


@pytest.mark.e2e
def test_expired_and_forged_credentials_open_no_stream(server, sse):
    user = server.register("customer", "Juan")
    stale = sse(user.events_url(), headers=bearer(expired_token(user.token, JWT_SECRET)))
    assert stale.status == 401 and b"token_expired" in stale.body
    browser = user.browser()
    sid = session_data(SECRET, browser.cookies["elako_session"])["sid"]
    forged = sse(server.url + "/events",
                 headers={"Cookie": session_cookie("not-the-secret-" + "q" * 30, {"sid": sid})})
    assert forged.status == 401
    genuine = sse(server.url + "/events",
                  headers={"Cookie": session_cookie(SECRET, {"sid": sid})})
    assert genuine.status == 200  # the same cookie, correctly signed, works: the check is the key


@pytest.mark.e2e
def test_sign_out_reaches_streams_on_every_worker(live_server, redis_url, sse):
    import redis as redis_py

    server = live_server(workers=2, MAX_STREAMS_PER_USER="64")
    user = server.register("customer", "Maria")
    browser = user.browser()
    tabs = []
    # The kernel hands each connection to whichever worker accepts first, and an idle worker that
    # just took one often takes the next too: open tabs four at a time until both workers hold
    # some, and both hubs hear the control channel.
    while len(tabs) < 8 or (len(tabs) < 64 and 0 in server.connections_by_worker().values()):
        with ThreadPoolExecutor(4) as opener:
            batch = list(opener.map(lambda _: sse(server.url + "/events",
                                                  headers=cookie_header(browser)), range(4)))
        for tab in batch:
            tab.wait_for_comments(1)
        tabs += batch
    control = redis_py.Redis.from_url(redis_url)
    deadline = time.monotonic() + 10
    while (control.pubsub_numsub(f"{server.prefix}:hub")[0][1] < 2
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert control.pubsub_numsub(f"{server.prefix}:hub")[0][1] == 2, (
        "the tabs should be spread over both workers", server.connections_by_worker())
    assert browser.post(server.url + "/signout", data={"csrf_token": page_token(server, browser)},
                        allow_redirects=False, timeout=10).status_code == 303
    for tab in tabs:
        tab.wait_for("signed_out")
        tab.wait_closed()
