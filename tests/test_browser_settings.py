"""Settings in a real browser, with JavaScript on and off: the list of signed-in devices, signing
one out or all the others, changing the password, hiding presence, downloading one's data and
deleting the account."""

import re
import zipfile

import pytest
from playwright.sync_api import expect

from tests.support.browser import PASSWORD, PHONE, sign_in_with_form

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ANDROID = ("Mozilla/5.0 (Linux; Android 13; SM-A145F) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Mobile Safari/537.36")
NEW_PASSWORD = "bagong password 2026"


def signed_in_page(browsers, server, email, js, password=PASSWORD, **options):
    page = browsers.new(server, java_script_enabled=js, **options).new_page()
    sign_in_with_form(page, email, password)
    return page


def session_row(page, device):
    return page.locator("#sessions .session", has_text=device)


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_devices_password_and_presence_from_settings(server, browsers, js):
    user = server.register("customer", "Maria Santos")  # and an integration's token
    phone = signed_in_page(browsers, server, user.email, js, form_factor=PHONE, user_agent=ANDROID)
    laptop = signed_in_page(browsers, server, user.email, js)
    laptop.get_by_role("link", name="Settings").click()

    rows = laptop.locator("#sessions .session")
    expect(rows).to_have_count(3)
    expect(session_row(laptop, "This device")).to_contain_text("Chrome on Linux")
    expect(session_row(laptop, "Chrome on Android")).to_contain_text("Last active")
    expect(session_row(laptop, "(integration)")).to_contain_text("python-requests")

    # Sign the phone out: with JavaScript its open page leaves at once, without at its next click.
    android = session_row(laptop, "Chrome on Android")
    android.get_by_role("button", name=re.compile("^Sign out")).click()
    expect(laptop).to_have_url(re.compile(r"/settings#sessions$"))
    expect(rows).to_have_count(2)
    if not js:
        phone.reload()
    expect(phone).to_have_url(re.compile(r"/signin(\?next=/inbox)?$"))

    # A new password: asked for the current one, it signs the integration out, not this browser.
    password = laptop.locator("#password")
    password.get_by_label("Current password").fill("not my password")
    password.get_by_label("New password").fill(NEW_PASSWORD)
    password.get_by_role("button", name="Change password").click()
    expect(password.get_by_role("alert")).to_have_text("Your current password is not right.")
    password.get_by_label("Current password").fill(PASSWORD)
    password.get_by_label("New password").fill(NEW_PASSWORD)
    password.get_by_role("button", name="Change password").click()
    expect(password.get_by_role("status")).to_have_text(
        "Password changed. Signed out 1 other session.")
    expect(rows).to_have_count(1)
    assert user.call("GET", "/api/me").status_code == 401

    signed_in_page(browsers, server, user.email, js, password=NEW_PASSWORD)  # reaches the inbox


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_sign_out_everywhere_else_and_hide_presence(server, browsers, js):
    user = server.register("store", "Aling Nena's Sari-Sari")
    phone = signed_in_page(browsers, server, user.email, js, form_factor=PHONE, user_agent=ANDROID)
    laptop = signed_in_page(browsers, server, user.email, js)
    laptop.goto("/settings")
    laptop.get_by_role("button", name="Sign out everywhere else").click()
    expect(laptop.locator("#sessions .session")).to_have_count(1)
    expect(laptop.get_by_role("button", name="Sign out everywhere else")).to_have_count(0)
    if not js:
        phone.reload()
    expect(phone).to_have_url(re.compile(r"/signin(\?next=/inbox)?$"))
    assert user.call("GET", "/api/me").status_code == 401

    hide = laptop.get_by_label(re.compile("Hide when I’m online"))
    hide.check()
    laptop.get_by_role("button", name="Save", exact=True).click()
    expect(laptop.get_by_role("main").get_by_role("status")).to_have_text("Saved.")
    expect(hide).to_be_checked()


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_download_my_data_and_delete_my_account(server, browsers, js):
    customer = server.register("customer", "Maria Santos")
    store = server.register("store", "Aling Nena's Sari-Sari")
    cid = customer.open_conversation(store)
    customer.send(cid, "Pakidala po sa 12 Mabini St")
    store.send(cid, "Sige po, mamayang hapon")
    page = signed_in_page(browsers, server, customer.email, js)
    page.goto("/settings")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    with zipfile.ZipFile(download.value.path()) as archive:
        assert "Pakidala po sa 12 Mabini St" in archive.read(f"messages/{cid}.json").decode()

    page.get_by_role("link", name="Delete my account…").click()
    form = page.locator("#delete-account")
    form.get_by_label("Your password").fill("not my password")
    form.get_by_role("button", name="Delete my account for good").click()
    expect(form.get_by_role("alert")).to_contain_text("That is not your password")
    form.get_by_label("Your password").fill(PASSWORD)
    form.get_by_role("button", name="Delete my account for good").click()
    expect(page).to_have_url(re.compile(r"/account-deleted$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account was deleted")
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/signin"))
    assert customer.call("GET", "/api/me").status_code == 401

    # The store still has the conversation, its own message, and a "Deleted user" on the other side.
    shop = signed_in_page(browsers, server, store.email, js)
    expect(shop.locator(f"#row-{cid}")).to_contain_text("Deleted user")
    shop.locator(f"#row-{cid} a").click()
    expect(shop.get_by_role("heading", level=1)).to_have_text("Deleted user")
    messages = shop.locator(f"#messages-{cid} .msg")
    expect(messages).to_have_count(2)
    expect(messages.nth(0)).to_contain_text("Message deleted")
    expect(messages.nth(1)).to_contain_text("Sige po, mamayang hapon")
    expect(shop.get_by_text("You can’t send messages in this conversation.")).to_be_visible()
