"""A store's opening hours: the status customers see for any moment, the rules a week of hours
must keep, the API, the settings page without JavaScript, and where customers see the status."""

import re
from datetime import datetime, timezone

import pytest

from elako.models import OpeningHours
from elako.services import hours

SPLIT_DAY = {"mon": [["07:00", "12:00"], ["13:00", "19:00"]], "tue": [["07:00", "19:00"]],
             "wed": [["07:00", "19:00"]], "thu": [["07:00", "19:00"]], "fri": [["07:00", "19:00"]]}


def week(zone, **days):
    """Stored hours for `days` ({"mon": [["07:00", "12:00"]]}), as the service stores them."""
    index = {day: n for n, day in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
    minutes = [[index[day] * 1440 + _minutes(start), index[day] * 1440 + _minutes(end)]
               for day, ranges in days.items() for start, end in ranges]
    return OpeningHours(timezone=zone, ranges=sorted(minutes), away_message="")


def _minutes(text):
    hour, minute = text.split(":")
    return int(hour) * 60 + int(minute)


def at(text):
    """A moment given in UTC ("2026-11-30 02:00"); 2026-11-30 is a Monday."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


MANILA = week("Asia/Manila", **SPLIT_DAY)  # UTC+8 all year


@pytest.mark.parametrize("moment, text", [
    ("2026-11-30 02:00", "Open now · until 12:00 PM"),        # Mon 10:00 AM
    ("2026-11-29 23:00", "Open now · until 12:00 PM"),        # Mon 7:00 AM sharp: open
    ("2026-11-30 04:00", "Closed · opens 1:00 PM"),           # Mon 12:00 PM sharp: lunch
    ("2026-11-30 04:59", "Closed · opens 1:00 PM"),
    ("2026-11-30 05:00", "Open now · until 7:00 PM"),         # Mon 1:00 PM
    ("2026-11-30 11:00", "Closed · opens Tue 7:00 AM"),       # Mon 7:00 PM sharp: closed
    ("2026-11-29 22:59", "Closed · opens 7:00 AM"),           # Mon 6:59 AM, later that day
    ("2026-12-04 11:30", "Closed · opens Mon 7:00 AM"),       # Fri 7:30 PM: the weekend off
    ("2026-12-05 16:00", "Closed · opens Mon 7:00 AM"),       # Sun 12:00 AM: the week wraps
    ("2026-12-06 10:00", "Closed · opens Mon 7:00 AM"),       # Sun 6:00 PM
])
def test_the_status_in_the_stores_own_time(moment, text):
    assert hours.status(MANILA, at(moment)).text == text


def test_the_status_says_when_it_changes_and_whether_open():
    lunch = hours.status(MANILA, at("2026-11-30 04:30"))
    assert (lunch.open, lunch.changes_at) == (False, datetime(2026, 11, 30, 5, 0))
    morning = hours.status(MANILA, at("2026-11-30 02:00"))
    assert (morning.open, morning.changes_at) == (True, datetime(2026, 11, 30, 4, 0))


def test_a_zone_with_daylight_saving_keeps_its_wall_clock():
    london = week("Europe/London", **{day: [["09:00", "17:00"]] for day in SPLIT_DAY})
    # 08:30 UTC is 9:30 AM in summer (BST) but 8:30 AM in winter (GMT).
    assert hours.status(london, at("2026-07-06 08:30")).text == "Open now · until 5:00 PM"
    assert hours.status(london, at("2026-11-30 08:30")).text == "Closed · opens 9:00 AM"
    assert hours.status(london, at("2026-11-30 08:30")).changes_at == datetime(2026, 11, 30, 9, 0)
    # Friday before the clocks go back (Sunday 2026-10-25): Monday's 9:00 AM is GMT, 09:00 UTC.
    friday_evening = hours.status(london, at("2026-10-23 17:00"))
    assert friday_evening.text == "Closed · opens Mon 9:00 AM"
    assert friday_evening.changes_at == datetime(2026, 10, 26, 9, 0)


def test_a_night_past_midnight_and_round_the_clock():
    night = week("Asia/Manila", fri=[["18:00", "24:00"]], sat=[["00:00", "02:00"]])
    assert hours.status(night, at("2026-12-04 15:00")).text == "Open now · until Sat 2:00 AM"
    assert hours.status(night, at("2026-12-04 17:30")).text == "Open now · until 2:00 AM"
    assert hours.status(night, at("2026-12-04 18:00")).text == "Closed · opens Fri 6:00 PM"
    mondays = week("Asia/Manila", mon=[["09:00", "17:00"]])
    assert hours.status(mondays, at("2026-11-30 10:00")).text == "Closed · opens next Mon 9:00 AM"
    late = week("Asia/Manila", mon=[["20:00", "24:00"]])
    assert hours.status(late, at("2026-11-30 13:00")).text == "Open now · until midnight"
    # Sunday night joins Monday morning across the end of the week.
    weekend = week("Asia/Manila", sun=[["22:00", "24:00"]], mon=[["00:00", "03:00"]])
    assert hours.status(weekend, at("2026-12-06 15:00")).text == "Open now · until Mon 3:00 AM"
    assert hours.status(weekend, at("2026-11-29 18:00")).text == "Open now · until 3:00 AM"
    always = week("UTC", **{day: [["00:00", "24:00"]]
                            for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
    assert hours.status(always, at("2026-12-02 03:00")).text == "Open now · 24 hours"
    assert hours.status(week("UTC"), at("2026-12-02 03:00")).text == "Closed"
    assert hours.status(None, at("2026-12-02 03:00")) is None


# -- the API ---------------------------------------------------------------------------------------

def put_hours(person, body):
    """PUT /api/stores/me/hours as `person` (the shared ApiClient has no put)."""
    return person.api.http.put("/api/stores/me/hours", json=body,
                               headers={"Authorization": f"Bearer {person.token}"})


HOURS = {"timezone": "Asia/Manila", "weekly": SPLIT_DAY,
         "away_message": "Sarado po kami. Babalik kami bukas ng 7 AM!"}


def test_a_store_sets_reads_and_removes_its_hours(people):
    store = people.store()
    empty = store.api.get("/api/stores/me/hours")
    assert empty.status_code == 200
    assert empty.json == {"configured": False, "timezone": "Asia/Manila", "away_message": "",
                          "weekly": {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat",
                                                          "sun")}, "status": None}
    saved = put_hours(store, HOURS)
    assert saved.status_code == 200, saved.json
    assert saved.json["configured"] is True
    assert saved.json["weekly"] == {**{d: [] for d in ("sat", "sun")}, **SPLIT_DAY}
    assert saved.json["away_message"] == HOURS["away_message"]
    assert re.fullmatch(r"(Open now · until|Closed · opens) .+", saved.json["status"]["text"])
    assert store.api.get("/api/stores/me/hours").json == saved.json
    assert store.api.delete("/api/stores/me/hours").status_code == 204
    assert store.api.get("/api/stores/me/hours").json["configured"] is False


def test_customers_have_no_hours(people):
    customer = people.customer()
    assert customer.api.get("/api/stores/me/hours").status_code == 403
    assert put_hours(customer, HOURS).status_code == 403
    assert customer.api.delete("/api/stores/me/hours").status_code == 403


@pytest.mark.parametrize("change, field, words", [
    ({"timezone": "Asia/Atlantis"}, "timezone", "not a timezone"),
    ({"weekly": {"mon": [["7:00", "12:00"]]}}, "weekly.mon.0.0", "HH:MM"),
    ({"weekly": {"mon": [["07:00", "24:01"]]}}, "weekly.mon.0.1", "HH:MM"),
    ({"weekly": {"mon": [["12:00", "07:00"]]}}, "weekly.mon.0", "must end after it starts"),
    ({"weekly": {"mon": [["22:00", "02:00"]]}}, "weekly.mon.0", "must end after it starts"),
    ({"weekly": {"tue": [["07:00", "12:00"], ["11:30", "19:00"]]}}, "weekly.tue", "overlap"),
    ({"weekly": {"funday": [["07:00", "12:00"]]}}, "weekly", "not a day"),
    ({"weekly": {"wed": [[f"{h:02d}:00", f"{h:02d}:30"] for h in range(13)]}}, "weekly.wed",
     "at most 12 ranges"),
    ({"away_message": "x" * 501}, "away_message", "at most 500"),
])
def test_bad_hours_are_refused_naming_the_field(people, change, field, words):
    store = people.store()
    put_hours(store, HOURS)
    response = put_hours(store, {**HOURS, **change})
    assert response.status_code == 422
    assert response.json["error"]["field"] == field
    assert words in response.json["error"]["message"]
    assert store.api.get("/api/stores/me/hours").json["weekly"]["mon"] == SPLIT_DAY["mon"]


@pytest.mark.parametrize("body", [
    {"timezone": 5, "weekly": {}}, {"timezone": "\ud800", "weekly": {}},
    {"timezone": "Asia/Manila", "weekly": None}, {"timezone": "Asia/Manila", "weekly": {"mon": "x"}},
    {"timezone": "Asia/Manila", "weekly": {"mon": [[7, 12]]}},
    {"timezone": "Asia/Manila", "weekly": {"mon": [["07:00", "12:00", "13:00"]]}},
    {"timezone": "Asia/Manila", "weekly": {"mon": [{"from": "07:00"}]}},
    {"timezone": "Asia/Manila", "weekly": {"mon": [["07:00", "08:00"]] * 13}},
    {"timezone": "Asia/Manila", "weekly": {"mon": [["0\u0667:00", "12:00"]]}},  # not ASCII
    {"timezone": "Asia/Manila", "weekly": {"mon": [["07:00\n", "12:00"]]}},
    {"timezone": "../../etc/passwd", "weekly": {}}, [], "mon"])
def test_hostile_bodies_are_refused_not_crashed_on(people, body):
    response = put_hours(people.store(), body)
    assert response.status_code == 422, response.json


def test_touching_ranges_and_a_day_ending_at_midnight_are_fine(people):
    store = people.store()
    weekly = {"sat": [["07:00", "12:00"], ["12:00", "24:00"]], "sun": [["00:00", "03:00"]]}
    response = put_hours(store, {**HOURS, "weekly": weekly})
    assert response.status_code == 200, response.json
    assert response.json["weekly"]["sat"] == weekly["sat"]
    assert response.json["weekly"]["sun"] == weekly["sun"]


# -- the settings page, without JavaScript ---------------------------------------------------------

def test_the_settings_page_saves_hours_shows_errors_and_removes_them(people):
    store = people.store()
    page = store.page
    assert "Opening hours and away message" in page.get("/settings").get_data(as_text=True)
    form = {"timezone": "Asia/Manila", "mon": "7:00-12:00, 13:00-19:00", "tue": "07:00–19:00",
            "wed": "closed", "away_message": "Sarado po kami."}

    refused = page.post("/settings/hours", {**form, "thu": "08:00-12:00, 11:00-15:00"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="thu-error">08:00-12:00 and 11:00-15:00 overlap.</span>' in html
    assert 'value="08:00-12:00, 11:00-15:00"' in html  # what was typed stays
    assert store.api.get("/api/stores/me/hours").json["configured"] is False

    unreadable = page.post("/settings/hours", {**form, "fri": "from eight"})
    assert unreadable.status_code == 422
    assert 'id="fri-error">Friday: write each range as 07:00-12:00' in unreadable.get_data(
        as_text=True)

    saved = page.post("/settings/hours", form)
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/settings/hours?saved=saved")
    stored = store.api.get("/api/stores/me/hours").json
    assert stored["weekly"]["mon"] == SPLIT_DAY["mon"]
    assert stored["weekly"]["tue"] == [["07:00", "19:00"]]
    assert stored["weekly"]["wed"] == []
    assert stored["away_message"] == "Sarado po kami."
    html = page.get("/settings/hours?saved=saved").get_data(as_text=True)
    assert "Saved." in html and 'value="07:00-12:00, 13:00-19:00"' in html

    removed = page.post("/settings/hours", {"clear": "1"})
    assert removed.status_code == 303
    assert store.api.get("/api/stores/me/hours").json["configured"] is False


def test_the_hours_page_is_for_stores(people):
    customer = people.customer()
    assert customer.page.get("/settings/hours").status_code == 403
    assert customer.page.post("/settings/hours", {"timezone": "Asia/Manila"}).status_code == 403
    assert "Opening hours" not in customer.page.get("/settings").get_data(as_text=True)


# -- where customers see it ------------------------------------------------------------------------

def always_open(store):
    every_day = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat",
                                                       "sun")}
    response = put_hours(store, {**HOURS, "weekly": every_day})
    assert response.status_code == 200


def test_the_customer_sees_the_status_in_the_conversation_header_and_directory(chat):
    customer, store, cid = chat
    customer.send(cid, "Bukas po ba kayo?")
    assert "open-status" not in customer.page.get(f"/c/{cid}").get_data(as_text=True)
    always_open(store)  # after the conversation was opened: its copy follows
    header = customer.page.get(f"/c/{cid}").get_data(as_text=True).split('class="log"')[0]
    assert '<span class="open-status open">Open now · 24 hours</span>' in header
    assert "open-status" not in store.page.get(f"/c/{cid}").get_data(as_text=True)  # not to itself
    directory = customer.page.get("/stores").get_data(as_text=True)
    assert '<span class="open-status open">Open now · 24 hours</span>' in directory
    page = customer.page.get(f"/stores/{store.id}").get_data(as_text=True)
    assert '<span class="open-status open">Open now · 24 hours</span>' in page


def test_a_conversation_opened_later_carries_the_hours(people):
    store, customer = people.store(), people.customer()
    always_open(store)
    cid = customer.open_conversation(store)
    assert "Open now · 24 hours" in customer.page.get(f"/c/{cid}").get_data(as_text=True)
