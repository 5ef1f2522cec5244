"""Business hours in a real browser against gunicorn: the customer sees the store's opening status
in the conversation header, and a message while the store is closed brings its away message back
live, marked as an automatic reply, on both sides."""

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.support.browser import connected, sign_in_with_form

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

AWAY = "Sarado po kami ngayon. Babalik kami sa Lunes!"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def send(page, text):
    page.get_by_role("textbox", name="Message", exact=True).fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def test_the_status_in_the_header_and_the_away_message_live(server, browsers):
    store = server.register("store", f"Aling Nena's {uuid.uuid4().hex[:4]}")
    customer = server.register("customer", "Maria Santos")
    # Open only three days from now (UTC), so the store is closed whenever this runs.
    opening_day = datetime.now(timezone.utc).date() + timedelta(days=3)
    response = store.call("PUT", "/api/stores/me/hours", json={
        "timezone": "UTC", "weekly": {WEEKDAYS[opening_day.weekday()]: [["09:00", "17:00"]]},
        "away_message": AWAY})
    assert response.status_code == 200, response.text
    cid = customer.open_conversation(store)

    buyer = browsers.page(server, customer, f"/c/{cid}")
    status = buyer.locator(".thread-head .open-status")
    expect(status).to_have_text(f"Closed · opens {opening_day:%a} 9:00 AM")
    connected(buyer)
    shop = browsers.page(server, store, "/inbox")
    connected(shop)

    send(buyer, "May Milo pa po?")
    reply = buyer.locator(".msg.in", has_text=AWAY)
    expect(reply).to_have_count(1)
    expect(reply.locator(".auto-note")).to_have_text("Automatic reply")

    # The store's inbox shows the conversation live; its thread marks the reply as automatic.
    row = shop.locator("#inbox-list > li", has_text="Maria Santos")
    expect(row).to_have_count(1)
    row.get_by_role("link").click()
    own = shop.locator(".msg.out", has_text=AWAY)
    expect(own.locator(".auto-note")).to_have_text("Automatic reply")
    expect(shop.locator(".thread-head .open-status")).to_have_count(0)  # not shown to the store

    # A second message in the same closed period gets no second reply.
    send(buyer, "Salamat po")
    expect(buyer.locator(".msg.out", has_text="Salamat po")).to_have_count(1)
    expect(shop.locator(".msg.in", has_text="Salamat po")).to_have_count(1)
    expect(buyer.locator(".msg.in", has_text=AWAY)).to_have_count(1)


def test_a_store_sets_its_hours_without_javascript(server, browsers):
    store = server.register("store", f"Tindahan {uuid.uuid4().hex[:4]}")
    page = browsers.new(server, java_script_enabled=False).new_page()
    sign_in_with_form(page, store.email)
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Opening hours and away message").click()
    page.get_by_label("Your store’s timezone").select_option("Asia/Manila")
    page.get_by_label("Monday").fill("7:00-12:00, 13:00-19:00")
    page.get_by_label("Tuesday").fill("07:00-12:00, 11:00-19:00")
    page.get_by_label("Away message").fill(AWAY)
    page.get_by_role("button", name="Save hours").click()
    expect(page.get_by_role("alert").filter(has_text="overlap")).to_have_text(
        "07:00-12:00 and 11:00-19:00 overlap.")
    expect(page.locator("#tue-error")).to_have_text("07:00-12:00 and 11:00-19:00 overlap.")
    expect(page.get_by_label("Away message")).to_have_value(AWAY)  # nothing typed is lost

    page.get_by_label("Tuesday").fill("07:00-19:00")
    page.get_by_role("button", name="Save hours").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_label("Monday")).to_have_value("07:00-12:00, 13:00-19:00")
    expect(page.locator("#hours .open-status")).to_have_text(
        re.compile(r"^(Open now · until|Closed · opens) "))
    hours = store.call("GET", "/api/stores/me/hours").json()
    assert hours["weekly"]["tue"] == [["07:00", "19:00"]] and hours["away_message"] == AWAY
