"""Email verification: a sign-up gets a link that confirms the address (the account is usable at
once); only confirmed addresses get email about the account's activity; and a sign-up with an
address that already has an account looks, from outside, exactly like a new one, while the
address's owner is told by email. Written as the new user, and as the stranger who signs up with
somebody else's address to learn whether it has an account, or to have us email it."""

import re

import pytest
from itsdangerous import TimestampSigner

from elako.models import User
from elako.services import mail, verification
from tests.conftest import FAST_JOBS, PASSWORD, PageClient
from tests.support.html import without_csrf_tokens
from tests.support.outbound import link_path

pytestmark = pytest.mark.settings(**FAST_JOBS, PUBLIC_URL="https://chat.example.ph")
VERIFY = "Confirm your email address for ELako"
NOTICE = "Someone tried to sign up with your email"


def sign_up(api, email, network="127.0.0.1", **fields):
    body = {"role": "customer", "name": "Maria", "email": email, "password": PASSWORD, **fields}
    return api.post("/api/auth/register", json=body, environ_base={"REMOTE_ADDR": network})


def emails(inbox, subject, to=None):
    return [m for m in inbox.messages if m["Subject"] == subject and to in (None, m["To"])]


def text_of(message):
    return message.get_body(("plain",)).get_content()


def bearer(api, email, password=PASSWORD):
    token = api.post("/api/auth/token", json={"email": email, "password": password})
    assert token.status_code == 200, token.json
    return {"Authorization": f"Bearer {token.json['access_token']}"}


def test_a_new_account_is_usable_at_once_and_its_link_confirms_the_address(app, api, inbox,
                                                                           run_jobs):
    assert sign_up(api, "maria@example.ph").status_code == 201
    me = api.get("/api/me", headers=bearer(api, "maria@example.ph"))
    assert me.status_code == 200 and me.json["email_verified"] is False
    browser = PageClient(app)
    browser.sign_in("maria@example.ph")
    settings = browser.get("/settings").get_data(as_text=True)
    assert "Verify your email" in settings and "Resend the link" in settings

    run_jobs()
    [email] = emails(inbox, VERIFY)
    assert email["To"] == "maria@example.ph" and "Hi Maria" in text_of(email)
    path = link_path(email, "/verify-email/")
    anyone = PageClient(app)  # the link works signed out, on another device
    asks = anyone.get(path)  # what a mail scanner fetching links does: it only asks
    assert asks.status_code == 200 and "Confirm my email" in asks.get_data(as_text=True)
    assert api.get("/api/me", headers=bearer(api, "maria@example.ph")).json["email_verified"] is False
    done = anyone.post(path)
    assert done.status_code == 200 and "Your email address is confirmed" in done.get_data(
        as_text=True)
    assert anyone.get("/inbox").status_code == 302  # it signed nobody in
    assert api.get("/api/me", headers=bearer(api, "maria@example.ph")).json["email_verified"] is True
    assert "Verify your email" not in browser.get("/settings").get_data(as_text=True)
    assert anyone.post(path).status_code == 200  # once more: no harm


def test_resending_from_settings_and_the_api(app, api, people, inbox, run_jobs):
    maria = people.customer()
    sent = maria.page.post("/settings/verify-email")
    assert sent.status_code == 303 and sent.headers["Location"] == "/settings?verify=sent#email"
    assert "Sent: open the link" in maria.page.get(sent.headers["Location"]).get_data(as_text=True)
    assert maria.api.post("/api/me/email-verification").status_code == 202
    run_jobs()
    links = [link_path(m, "/verify-email/") for m in emails(inbox, VERIFY, maria.email)]
    assert len(links) == 3  # at sign-up, then twice more
    assert PageClient(app).post(links[0]).status_code == 200  # the first is as good as the last
    assert maria.api.post("/api/me/email-verification").status_code == 202
    run_jobs()
    assert len(emails(inbox, VERIFY, maria.email)) == 3  # verified: nothing more to send


def test_forged_and_old_links_confirm_nothing(app, people, monkeypatch):
    maria = people.customer()
    with app.app_context():
        token = verification.make_token(User.objects.get(id=maria.id))
    for bad in (token + "x", "not-a-token", token.replace(".", "", 1)):
        assert PageClient(app).post(f"/verify-email/{bad}").status_code == 400
    later = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp",
                        lambda signer: later(signer) + 8 * 24 * 3600)  # past the 7 days
    old = PageClient(app).post(f"/verify-email/{token}")
    assert old.status_code == 400 and "not valid any more" in old.get_data(as_text=True)
    assert maria.api.get("/api/me").json["email_verified"] is False


def test_alerts_go_only_to_verified_addresses(app, people, inbox, run_jobs):
    """Signing a stranger's address up does not make us email it about anything."""
    customer, store = people.customer(), people.store()
    conversation_id = customer.open_conversation(store)
    customer.send(conversation_id, "May Milo po ba?")
    run_jobs()
    assert [m["Subject"] for m in inbox.messages if m["To"] == store.email] == [VERIFY]

    store.verify_email()
    customer.send(conversation_id, "Hello po?")
    run_jobs()
    alerts = [m for m in inbox.messages if m["To"] == store.email and m["Subject"] != VERIFY]
    assert [m["Subject"] for m in alerts] == ["Maria Santos sent you messages on ELako"]


def test_no_email_about_an_account_to_an_unverified_address(app, people, run_jobs):
    """The rule every such email goes through (alerts, webhook warnings)."""
    store = people.store()
    with app.app_context():
        user = User.objects.get(id=store.id)
        assert mail.send_to_user(user, "webhook_disabled", subject="x", store=user, url="u",
                                 since=user.created_at) is False
        store.verify_email()
        user.reload()
        assert mail.send_to_user(user, "webhook_disabled", subject="x", store=user, url="u",
                                 since=user.created_at) is True


def test_signing_up_with_a_taken_address_looks_like_a_new_account_and_tells_its_owner(
        app, api, inbox, run_jobs):
    owner = sign_up(api, "nena@example.ph", role="store", name="Aling Nena", description="Snacks")
    run_jobs()
    probes = {email: sign_up(api, email, network="203.0.113.9", role="store", name="Probe",
                             description="Snacks", password="the prober's password")
              for email in ("NENA@example.ph", "free@example.ph")}
    taken, free = probes["NENA@example.ph"], probes["free@example.ph"]
    assert taken.status_code == free.status_code == 201
    assert taken.json == {**free.json, "id": taken.json["id"]}
    assert re.fullmatch(r"[0-9a-f]{24}", taken.json["id"]) and taken.json["id"] != owner.json["id"]
    assert (sorted(k for k, _ in taken.headers if k != "Date")
            == sorted(k for k, _ in free.headers if k != "Date"))
    assert taken.headers["Content-Length"] == free.headers["Content-Length"]

    with app.app_context():
        assert User.objects(email="nena@example.ph").count() == 1
        assert User.objects.get(email="nena@example.ph").name == "Aling Nena"  # untouched
    run_jobs()
    [notice] = emails(inbox, NOTICE)
    assert notice["To"] == "nena@example.ph"
    assert "Hi Aling Nena" in text_of(notice)
    assert link_path(notice, "/signin") == "/signin"
    assert link_path(notice, "/password-reset") == "/password-reset"
    # The owner got no second verification email; the free address got its own.
    assert [m["To"] for m in emails(inbox, VERIFY)] == ["nena@example.ph", "free@example.ph"]
    assert api.post("/api/auth/token", json={"email": "nena@example.ph",
                                             "password": PASSWORD}).status_code == 200


def test_the_sign_up_page_answers_the_same_for_a_taken_address(app, api, people, inbox, run_jobs):
    owner = people.customer()
    answers = {}
    for email in (owner.email, "free@example.ph"):
        browser = PageClient(app)
        browser.get("/signup")
        response = browser.post("/signup", {"role": "customer", "name": "Probe", "email": email,
                                            "password": "the prober's password"})
        cookies = sorted(c.split("=", 1)[0] for c in response.headers.getlist("Set-Cookie"))
        page = browser.get(response.headers["Location"]).get_data(as_text=True)
        answers[email] = (response.status_code, response.headers["Location"], cookies,
                          without_csrf_tokens(page.replace(email, "ADDRESS")))
        assert browser.get("/inbox").status_code == 302  # nobody is signed in by a sign-up
    assert answers[owner.email] == answers["free@example.ph"]
    assert answers[owner.email][:2] == (303, "/signup/sent")
    run_jobs()
    assert [m["To"] for m in emails(inbox, NOTICE)] == [owner.email]
