"""Times: in the viewer's timezone (Asia/Manila by default), today as a time, else a date."""

from datetime import datetime, timezone

from elako.formatting import clock, day_key, day_label, exact_time, short_time

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)  # 2:00 PM on Nov 25 in Manila


def test_short_time_is_a_time_today_and_a_date_otherwise():
    assert short_time("2026-11-25T01:30:00.000Z", "Asia/Manila", now=NOW) == "9:30 AM"
    assert short_time("2026-11-24T15:59:00.000Z", "Asia/Manila", now=NOW) == "Nov 24"
    assert short_time("2025-03-02T04:00:00.000Z", "Asia/Manila", now=NOW) == "Mar 2, 2025"


def test_the_local_day_decides_not_utc():
    # 16:30 UTC on Nov 24 is already 00:30 on Nov 25 in Manila: "today" there.
    assert short_time("2026-11-24T16:30:00.000Z", "Asia/Manila", now=NOW) == "12:30 AM"
    assert day_key("2026-11-24T16:30:00.000Z", "Asia/Manila") == "2026-11-25"
    assert day_key("2026-11-24T16:30:00.000Z", "America/Los_Angeles") == "2026-11-24"


def test_day_separators_say_today_yesterday_or_the_date():
    assert day_label("2026-11-25T00:00:00.000Z", "Asia/Manila", now=NOW) == "Today"
    assert day_label("2026-11-24T03:00:00.000Z", "Asia/Manila", now=NOW) == "Yesterday"
    assert day_label("2026-11-20T03:00:00.000Z", "Asia/Manila", now=NOW) == "Friday, November 20"
    assert day_label("2025-11-20T03:00:00.000Z", "Asia/Manila", now=NOW) == \
        "Thursday, November 20, 2025"


def test_exact_time_for_hover_names_the_zone():
    assert exact_time("2026-11-25T06:07:08.000Z", "Asia/Manila") == \
        "Wednesday, November 25, 2026 at 2:07:08 PM PST"
    assert clock("2026-11-25T06:07:08.000Z", "Asia/Tokyo") == "3:07 PM"


def test_messages_render_in_the_viewers_timezone(chat):
    customer, store, conversation_id = chat
    sent = customer.send(conversation_id, "hello")
    store.page.post("/settings", {"name": store.name, "timezone": "Asia/Tokyo"})
    page = store.page.get(f"/c/{conversation_id}").get_data(as_text=True)
    expected = clock(sent["created_at"], "Asia/Tokyo")
    assert f'<time datetime="{sent["created_at"]}" title="' in page
    assert f">{expected}</time>" in page
    assert 'class="day"' in page and ">Today<" in page
