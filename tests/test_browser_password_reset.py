"""A forgotten password in a real browser, JavaScript on and off: "Forgot password?" on the sign-in
page, the emailed link (written by the server's own job worker into its outbox), a new password
that signs the person in, and the link dead after its one use."""

import email
import email.policy
import re
import time

import pytest
from playwright.sync_api import expect

from tests.support.browser import PASSWORD, sign_in_with_form
from tests.support.outbound import link_path

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

NEW_PASSWORD = "bagong password 2026"


def emailed(server, to, subject, timeout=20):
    """The email the server wrote to its outbox (SMTP_URL unset) for `to` with `subject`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in (server.data_dir / "outbox").glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == to and message["Subject"] == subject:
                return message
        time.sleep(0.1)
    raise AssertionError(f"no email {subject!r} to {to}:\n{server.log()[-2000:]}")


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_forgot_password_to_signed_in_with_the_new_one(live_server, browsers, js):
    server = live_server(START_JOB_WORKER="1", JOB_POLL_SECONDS="0.1")
    user = server.register("customer", "Maria Santos")
    page = browsers.new(server, java_script_enabled=js).new_page()
    page.goto("/signin")
    page.get_by_role("link", name="Forgot password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page).to_have_url(re.compile(r"/password-reset/sent$"))
    expect(page.get_by_role("status")).to_contain_text("If an account uses that address")

    path = link_path(emailed(server, user.email, "Reset your ELako password"), "/password-reset/")
    page.goto(path)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.get_by_role("link", name="Settings")).to_be_visible()  # signed in

    # The link was good once; the old password is no more, the new one works anywhere.
    again = browsers.new(server, java_script_enabled=js).new_page()
    again.goto(path)
    expect(again.locator(".form-error")).to_contain_text("expired or was already used")
    again.get_by_role("link", name="Send me a new link").click()
    expect(again).to_have_url(re.compile(r"/password-reset$"))
    again.goto("/signin")
    again.get_by_label("Email").fill(user.email)
    again.get_by_label("Password").fill(PASSWORD)
    again.get_by_role("button", name="Sign in").click()
    expect(again.locator(".form-error")).to_have_text("Email or password is incorrect.")
    sign_in_with_form(again, user.email, NEW_PASSWORD)
