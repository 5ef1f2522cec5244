"""A forgotten password: a link by email, signed, good once and for 30 minutes, that sets a new
password and ends every session; asking answers the same whether or not the address has an
account, and is limited per network and per address. Written as the person who forgot, and as
whoever else tries: the stranger probing addresses, the one replaying a used or old link."""

import pytest
from itsdangerous import TimestampSigner

from elako.jobs import get_queue
from elako.models import User
from elako.services import password_reset, verification
from tests.conftest import FAST_JOBS, PASSWORD, PageClient
from tests.support.answers import error_of
from tests.support.html import without_csrf_tokens
from tests.support.outbound import link_path

pytestmark = pytest.mark.settings(**FAST_JOBS, PUBLIC_URL="https://chat.example.ph")
NEW_PASSWORD = "bagong password 2026"
SUBJECT = "Reset your ELako password"


def ask(api, email, network="127.0.0.1"):
    return api.post("/api/auth/password-reset", json={"email": email},
                    environ_base={"REMOTE_ADDR": network})


def reset_emails(inbox, to=None):
    return [m for m in inbox.messages if m["Subject"] == SUBJECT and to in (None, m["To"])]


def reset_link(api, inbox, run_jobs, person):
    """Ask for a reset of `person`'s password as they would; the path of the emailed link."""
    assert ask(api, person.email).status_code == 202
    run_jobs()
    return link_path(reset_emails(inbox, person.email)[-1], "/password-reset/")


def confirm(api, path, password):
    token = path.rsplit("/", 1)[1]
    return api.post("/api/auth/password-reset/confirm", json={"token": token, "password": password})


def sign_in(api, person, password):
    return api.post("/api/auth/token", json={"email": person.email, "password": password})


def test_the_api_resets_the_password_once_and_signs_everyone_out(app, api, people, inbox,
                                                                  run_jobs):
    maria = people.customer()
    signed_in_browser = maria.page
    answer = ask(api, maria.email.upper())
    assert answer.status_code == 202 and answer.data == b""
    run_jobs()
    [email] = reset_emails(inbox)
    assert email["To"] == maria.email
    text = email.get_body(("plain",)).get_content()
    assert "works once, for 30 minutes" in text
    path = link_path(email, "/password-reset/")

    short = confirm(api, path, "short")
    assert short.status_code == 422 and short.json["error"]["field"] == "password"
    done = confirm(api, path, NEW_PASSWORD)  # the refused try did not spend the link
    assert done.status_code == 200 and done.json == {
        "message": "Your password was changed. Sign in with it."}

    assert maria.api.get("/api/me").status_code == 401  # every token and session ended
    assert signed_in_browser.get("/inbox").status_code == 302
    assert sign_in(api, maria, PASSWORD).status_code == 401
    fresh = sign_in(api, maria, NEW_PASSWORD)
    assert fresh.status_code == 200
    me = api.get("/api/me", headers={"Authorization": f"Bearer {fresh.json['access_token']}"})
    assert me.json["email_verified"] is True  # the link proved the address theirs

    # Whoever finds the used link later (a shared computer, a forwarded email) gets nothing.
    again = confirm(api, path, "a thief's password")
    assert again.status_code == 400
    assert error_of(again.json) == {"code": "invalid_reset_token", "message":
                                    "This password reset link has expired or was already used. "
                                    "Ask for a new one."}
    assert sign_in(api, maria, "a thief's password").status_code == 401


def test_the_pages_reset_it_without_javascript_and_sign_in(app, api, people, inbox, run_jobs):
    maria = people.customer()
    old_browser = maria.page
    browser = PageClient(app)
    sign_in_page = browser.get("/signin").get_data(as_text=True)
    assert 'href="/password-reset">Forgot password?</a>' in sign_in_page
    assert browser.get("/password-reset").status_code == 200
    asked = browser.post("/password-reset", {"email": maria.email})
    assert asked.status_code == 303 and asked.headers["Location"] == "/password-reset/sent"
    assert "If an account uses that address" in browser.get("/password-reset/sent").get_data(
        as_text=True)
    run_jobs()
    path = link_path(reset_emails(inbox, maria.email)[0], "/password-reset/")

    form = browser.get(path)
    assert form.status_code == 200 and 'name="password"' in form.get_data(as_text=True)
    # The token is in the URL: no cache keeps the page, no other site sees it as a Referer.
    assert form.headers["Cache-Control"] == "no-store"
    assert form.headers["Referrer-Policy"] == "no-referrer"
    short = browser.post(path, {"password": "short"})
    assert short.status_code == 422
    assert "Password must be at least 8 characters." in short.get_data(as_text=True)
    done = browser.post(path, {"password": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/inbox"
    assert browser.get("/inbox").status_code == 200  # signed in with the new password
    assert old_browser.get("/inbox").status_code == 302  # the other browser is out

    late = PageClient(app)
    late.get(path)
    short_and_used = late.post(path, {"password": "short"})  # the dead link is what it is told
    assert short_and_used.status_code == 400
    assert "expired or was already used" in short_and_used.get_data(as_text=True)
    used = PageClient(app).get(path)
    assert used.status_code == 400
    assert "expired or was already used" in used.get_data(as_text=True)
    assert 'href="/password-reset">Send me a new link</a>' in used.get_data(as_text=True)
    assert sign_in(api, maria, NEW_PASSWORD).status_code == 200


def test_an_address_without_an_account_gets_the_same_answer_and_no_email(app, api, people, inbox,
                                                                         run_jobs):
    """A stranger probing addresses learns nothing: same status, body and headers, the same work
    done in the request (one job queued, whose email goes out only for an account)."""
    known = people.customer()
    queue = get_queue(app)
    run_jobs()  # the sign-up's own email out of the way
    answers = {}
    for email in (known.email, "nobody-here@example.ph"):
        before = queue.counts()["ready"]
        response = ask(api, email)
        # (Each answer has a request id of its own, whatever the address.)
        answers[email] = (response.status_code, response.data, sorted(
            (k, v) for k, v in response.headers if k not in ("Date", "X-Request-ID")))
        assert queue.counts()["ready"] == before + 1
    assert answers[known.email] == answers["nobody-here@example.ph"]

    pages = {}
    for email in (known.email, "nobody-here@example.ph"):
        browser = PageClient(app)
        response = browser.post("/password-reset", {"email": email})
        pages[email] = (response.status_code, response.headers["Location"],
                        without_csrf_tokens(browser.get(response.headers["Location"]).get_data(
                            as_text=True)))
    assert pages[known.email] == pages["nobody-here@example.ph"]

    run_jobs()
    assert [m["To"] for m in reset_emails(inbox)] == [known.email, known.email]


@pytest.mark.parametrize("minutes, works", [(29, True), (31, False)])
def test_a_link_expires_after_30_minutes(app, api, people, inbox, run_jobs, monkeypatch,
                                         minutes, works):
    maria = people.customer()
    path = reset_link(api, inbox, run_jobs, maria)
    later = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp",
                        lambda signer: later(signer) + minutes * 60)
    assert PageClient(app).get(path).status_code == (200 if works else 400)
    answer = confirm(api, path, NEW_PASSWORD)
    assert answer.status_code == (200 if works else 400)
    assert sign_in(api, maria, NEW_PASSWORD).status_code == (200 if works else 401)


def test_a_changed_password_voids_the_links_sent_before(app, api, people, inbox, run_jobs):
    maria = people.customer()
    first = reset_link(api, inbox, run_jobs, maria)
    second = reset_link(api, inbox, run_jobs, maria)
    assert confirm(api, second, NEW_PASSWORD).status_code == 200
    assert confirm(api, first, "another password").status_code == 400  # same account: spent too

    third = reset_link(api, inbox, run_jobs, maria)
    token = sign_in(api, maria, NEW_PASSWORD).json["access_token"]
    changed = api.post("/api/me/password", json={"current_password": NEW_PASSWORD,
                                                  "new_password": "changed in settings"},
                       headers={"Authorization": f"Bearer {token}"})
    assert changed.status_code == 204
    assert confirm(api, third, "another password").status_code == 400


def test_forged_and_borrowed_tokens_are_refused(app, api, people):
    maria = people.customer()
    with app.app_context():
        user = User.objects.get(id=maria.id)
        genuine = password_reset.make_token(user)
        app.config["SECRET_KEY"] = "not-our-secret-" + "z" * 40
        forged = password_reset.make_token(user)
        app.config["SECRET_KEY"] = "test-secret-" + "x" * 40
        borrowed = verification.make_token(user)  # signed by us, but for another purpose
    for token in (forged, borrowed, genuine + "x", "", "not-a-token"):
        answer = api.post("/api/auth/password-reset/confirm",
                          json={"token": token, "password": NEW_PASSWORD})
        assert answer.status_code == 400, token
        assert answer.json["error"]["code"] == "invalid_reset_token"
    assert sign_in(api, maria, NEW_PASSWORD).status_code == 401
    assert confirm(api, f"/password-reset/{genuine}", NEW_PASSWORD).status_code == 200


@pytest.mark.settings(**FAST_JOBS, RATE_LIMIT_PASSWORD_RESET="3 per hour")
def test_one_network_may_ask_only_so_often(app, api, people):
    for number in range(3):
        assert ask(api, f"guess{number}@example.ph", "203.0.113.7").status_code == 202
    refused = ask(api, "guess3@example.ph", "203.0.113.7")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json["error"]["code"] == "rate_limited"
    page = PageClient(app).post("/password-reset", {"email": "guess4@example.ph"},
                                environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert page.status_code == 429
    assert ask(api, "guess5@example.ph", "198.51.100.1").status_code == 202  # another network


@pytest.mark.settings(**FAST_JOBS, RATE_LIMIT_ACCOUNT_EMAIL="2 per hour")
def test_an_address_gets_only_so_many_emails_however_many_networks_ask(app, api, people, inbox,
                                                                        run_jobs):
    """Nobody floods an inbox from many networks; the answer does not change, so it tells
    nothing either."""
    maria = people.customer()  # her verification email is the first of her two
    for number in range(4):
        assert ask(api, maria.email, f"198.51.100.{number}").status_code == 202
        assert ask(api, "nobody-here@example.ph", f"198.51.100.{number}").status_code == 202
    run_jobs()
    assert len(reset_emails(inbox, maria.email)) == 1
