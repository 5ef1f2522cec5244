"""Email alerts for unread messages: one email per conversation per absence, to a real SMTP
server on loopback, with a working deep link and one-click unsubscribe; none when the person read
it or came back in time; the setting on the settings page (no JavaScript) and in the API."""

import logging
import re
import ssl
import time
from pathlib import Path

import pytest

from aiosmtpd.smtp import AuthResult

from elako.jobs import get_queue
from elako.models import User
from elako.services import messages
from tests.conftest import FAST_JOBS
from tests.support.outbound import SMTPInbox, self_signed_certificate

pytestmark = pytest.mark.settings(**FAST_JOBS, PUBLIC_URL="https://chat.example.ph")
DELAY = FAST_JOBS["EMAIL_ALERT_DELAY_SECONDS"]


@pytest.fixture
def chat(chat):
    """The conversation of conftest, between two people whose addresses are verified: only a
    verified address gets alerts (tests/test_email_verification.py)."""
    customer, store, _conversation_id = chat
    customer.verify_email(), store.verify_email()
    return chat


def parts(message):
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def local(url):
    """The path of a link in an email (they point at PUBLIC_URL) for the test client."""
    assert url.startswith("https://chat.example.ph/"), url
    return url[len("https://chat.example.ph"):]


def test_an_away_store_gets_one_email_with_the_messages_a_deep_link_and_unsubscribe(
        app, chat, inbox, run_jobs):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "May stock pa po ba ng <b>Milo</b>?")
    customer.send(conversation_id, "Pati Bear Brand po")
    run_jobs()
    [email] = inbox.messages
    assert email["To"] == store.email
    assert email["Subject"] == "Maria Santos sent you messages on ELako"
    text, html = parts(email)
    assert "Maria Santos wrote to you" in text
    assert "May stock pa po ba ng <b>Milo</b>?" in text and "Pati Bear Brand po" in text
    assert "May stock pa po ba ng &lt;b&gt;Milo&lt;/b&gt;?" in html and "<b>Milo" not in html

    link = re.search(r"Read and answer: (\S+)", text).group(1)
    assert link == f"https://chat.example.ph/c/{conversation_id}"
    assert f'href="{link}"' in html
    page = store.page.get(local(link))
    assert page.status_code == 200 and "Pati Bear Brand po" in page.get_data(as_text=True)

    unsubscribe = email["List-Unsubscribe"].strip("<>")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"Stop these emails: {unsubscribe}" in text
    anonymous = app.test_client()
    assert anonymous.get(local(unsubscribe)).status_code == 200  # asks; link scanners fetch
    assert store.api.get("/api/me").json["email_alerts"] is True
    # RFC 8058: the mail provider POSTs this body, with no cookie and no CSRF token.
    answer = anonymous.post(local(unsubscribe), data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert store.api.get("/api/me").json["email_alerts"] is False


def test_a_forged_unsubscribe_link_changes_nothing(app, chat):
    _customer, store, _conversation_id = chat
    assert app.test_client().post("/unsubscribe/not-a-token").status_code == 404
    assert store.api.get("/api/me").json["email_alerts"] is True


def comes_back_in_time(app, store, conversation_id):
    time.sleep(DELAY / 2)
    store.api.get("/api/me")  # before the delay ran out; not reading it


def reads_it(app, store, conversation_id):
    with app.app_context():
        messages.mark_read(User.objects.get(id=store.id), conversation_id)


def focuses_the_page(app, store, conversation_id):
    # What elako.js sends on focus or a key press.
    assert store.page.post("/activity", htmx=True).status_code == 204


def only_gets_it_on_a_stream(app, store, conversation_id):
    """The hard disconnect problem: delivered to a connection is not seen."""
    with app.app_context():
        assert messages.mark_delivered(store.id) == 1


def polls_for_events(app, store, conversation_id):
    """Streams and long polls reconnect by themselves: nobody need be there."""
    assert store.api.get("/api/events/poll?timeout=0").status_code == 200


@pytest.mark.parametrize("meanwhile, emails", [
    (comes_back_in_time, 0), (reads_it, 0), (focuses_the_page, 0), (only_gets_it_on_a_stream, 1),
    (polls_for_events, 1),
], ids=lambda value: getattr(value, "__name__", str(value)))
def test_what_they_do_meanwhile_decides(app, chat, inbox, run_jobs, meanwhile, emails):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "Bukas po kayo?")
    meanwhile(app, store, conversation_id)
    run_jobs()
    assert len(inbox.messages) == emails


def test_one_email_per_conversation_per_absence(app, chat, people, inbox, run_jobs):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "Una")
    run_jobs()
    customer.send(conversation_id, "Pangalawa")  # the same absence: no second email
    run_jobs()
    assert len(inbox.messages) == 1

    other = people.customer("Juan Dela Cruz").verify_email()
    other.send(other.open_conversation(store), "Ibang usapan")  # another conversation: its own
    run_jobs()
    assert [m["Subject"] for m in inbox.messages][1] == "Juan Dela Cruz sent you a message on ELako"

    store.api.get("/api/me")  # back, without reading; then away again
    time.sleep(0.01)
    customer.send(conversation_id, "Pangatlo")
    run_jobs()
    assert len(inbox.messages) == 3
    assert "Pangatlo" in parts(inbox.messages[2])[0] and "Una" not in parts(inbox.messages[2])[0]


def test_an_open_but_idle_page_does_not_swallow_the_email(app, chat, inbox, run_jobs):
    """The idle desktop problem: only focus, input or requests count, not an open tab."""
    customer, store, conversation_id = chat
    store.page.get("/inbox")  # a tab opened, then left alone
    time.sleep(0.01)
    customer.send(conversation_id, "Hello po")
    run_jobs()
    assert len(inbox.messages) == 1


def test_photos_show_as_a_photo(app, chat, inbox, run_jobs):
    customer, _store, conversation_id = chat
    customer.send(conversation_id, "uploads/milo.jpg", type="image")
    run_jobs()
    text, html = parts(inbox.messages[0])
    assert "📷 Photo" in text and "📷 Photo" in html and "milo.jpg" not in text


def test_the_settings_page_turns_alerts_off_and_on_without_javascript(app, chat, inbox, run_jobs):
    customer, store, conversation_id = chat
    page = store.page.get("/settings").get_data(as_text=True)
    assert re.search(r'<input type="checkbox" name="email_alerts" checked>', page)
    answer = store.page.post("/settings/email-alerts", {})  # an unticked box is not sent
    assert answer.status_code == 303
    page = store.page.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'name="email_alerts">' in page and "Saved." in page

    customer.send(conversation_id, "Hello po")
    run_jobs()
    assert inbox.messages == []

    store.page.post("/settings/email-alerts", {"email_alerts": "on"})
    assert store.api.get("/api/me").json["email_alerts"] is True


def test_patch_me_sets_email_alerts(api, people):
    store = people.store()
    answer = store.api.patch("/api/me", json={"email_alerts": False})
    assert answer.status_code == 200 and answer.json["email_alerts"] is False
    assert store.api.get("/api/me").json["email_alerts"] is False
    wrong = store.api.patch("/api/me", json={"email_alerts": "no"})
    assert wrong.status_code == 422 and wrong.json["error"]["field"] == "email_alerts"
    assert api.patch("/api/me", json={"email_alerts": True}).status_code == 401


def test_without_smtp_url_emails_are_written_to_the_outbox(app, chat, run_jobs, caplog):
    customer, store, conversation_id = chat
    customer.send(conversation_id, "Hello po")
    with caplog.at_level(logging.WARNING, logger="elako.services.mail"):
        run_jobs()
    [written] = Path(app.config["DATA_DIR"], "outbox").glob("*.eml")
    assert f"wrote the email to {written}" in caplog.text
    assert store.email not in caplog.text  # logs never carry an address
    assert "Hello po" in written.read_text()


PASSWORD = "s3cret p@ss"
# aiosmtpd warns about our own test servers that take a password over implicit TLS or none.
QUIET_AIOSMTPD = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def secure_inbox(app, tmp_path, monkeypatch):
    """Factory: `secure_inbox(scheme)` is an SMTP server with a password, speaking TLS from the
    start (smtps), STARTTLS (smtp), or no TLS at all (plain); SMTP_URL points at it."""
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the app trusts it like a real CA's
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    servers = []

    def start(scheme):
        # aiosmtpd counts only STARTTLS as TLS when offering AUTH; smtps speaks nothing else.
        options = {"smtps": {"ssl_context": tls, "auth_require_tls": False},
                   "smtp": {"tls_context": tls, "require_starttls": True},
                   "plain": {"auth_require_tls": False}}[scheme]
        server = SMTPInbox(auth_required=True, authenticator=authenticate, **options).start()
        server.logins = []
        servers.append(server)
        app.config["SMTP_URL"] = (f"{'smtps' if scheme == 'smtps' else 'smtp'}://"
                                  f"shop%40elako.ph:s3cret%20p%40ss@127.0.0.1:{server.port}")
        return server

    def authenticate(server, session, envelope, mechanism, auth_data):
        servers[-1].logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password.decode() == PASSWORD)

    yield start
    for server in servers:
        server.stop()


@QUIET_AIOSMTPD
@pytest.mark.parametrize("scheme", ["smtps", "smtp"])
def test_smtp_url_sends_over_tls_with_its_password(app, chat, run_jobs, secure_inbox, scheme):
    customer, store, conversation_id = chat
    server = secure_inbox(scheme)
    customer.send(conversation_id, "Hello po")
    run_jobs()
    assert server.logins == [("shop@elako.ph", PASSWORD)]
    assert [m["To"] for m in server.messages] == [store.email]


@QUIET_AIOSMTPD
def test_a_password_is_never_sent_without_tls(app, chat, run_jobs, secure_inbox):
    customer, _store, conversation_id = chat
    server = secure_inbox("plain")  # offers no STARTTLS
    customer.send(conversation_id, "Hello po")
    run_jobs()
    assert server.logins == [] and server.messages == []
    [(_id, job)] = get_queue(app).dead_letters()
    assert job.name == "send_email" and "not sending the SMTP password in the clear" in job.error


@pytest.mark.browser
@pytest.mark.e2e
def test_the_page_signals_input_at_most_once_a_minute(server, browsers):
    """elako.js: a key press tells the server someone is here; loading the page counted already,
    and after that once a minute is enough."""
    from tests.support.browser import sign_in

    store = server.register("store", "Aling Nena's Store")
    context = browsers.new(server)
    sign_in(context, store, server)
    page = context.new_page()
    page.clock.install()
    signals = []
    page.on("requestfinished", lambda request: signals.append(request)
            if request.url.endswith("/activity") else None)
    page.goto("/inbox")
    page.keyboard.press("Tab")  # just loaded: nothing to add
    page.clock.fast_forward("01:01")
    with page.expect_request_finished(lambda request: request.url.endswith("/activity")):
        page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # within the minute again
    page.wait_for_timeout(300)
    assert [(r.method, r.response().status) for r in signals] == [("POST", 204)]


@pytest.mark.e2e
def test_unsubscribing_shows_at_once_on_a_signed_in_page(server):
    """Each gunicorn worker caches who is signed in; turning alerts off (here by the link, as
    another request and another user object) must not leave the settings page showing them on."""
    from itsdangerous import URLSafeSerializer

    import requests

    store = server.register("store", "Aling Nena's Store")
    browser = store.browser()
    checked = '<input type="checkbox" name="email_alerts" checked>'
    browser.get(server.url + "/settings", timeout=10)  # the worker starts hearing its hub
    time.sleep(0.5)
    assert checked in browser.get(server.url + "/settings", timeout=10).text  # cached now
    token = URLSafeSerializer(server.env["SECRET_KEY"], salt="email-alerts-off").dumps(store.id)
    assert requests.post(f"{server.url}/unsubscribe/{token}", timeout=10).status_code == 200
    assert checked not in browser.get(server.url + "/settings", timeout=10).text
    assert store.call("GET", "/api/me").json()["email_alerts"] is False
