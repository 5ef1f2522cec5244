"""A store's opening hours, its status for any moment, and the away message.

Storage: the hours live on the store's User (`User.hours`, which the store directory and a store's
page read anyway, and which a signed-in store already holds from the session cache), and a copy
rides on each of the store's conversations (`Conversation.store_hours`): the conversation page and
the send path already read the conversation, so showing "Open now" in a thread and deciding that
a customer's message needs no automatic reply cost no extra round trip. A change rewrites the
copies in one update (hours change rarely; a store has one document per customer).

Times are the store's wall-clock time in its own IANA timezone, so "07:00" stays 7 AM there
across daylight saving changes. A range ends after it starts, on the same day; "24:00" ends a
day, and a range ending at 24:00 joins one starting at 00:00 the next day (Sunday joins Monday).

Away message: a customer's message while the store is closed gets the store's away message back
as an automatic message (`auto`), once per conversation per closed period: the conversation
records until when its last reply answered (`away_replied_until`, the end of that closed period)
and a conditional write on it lets one message win, whichever worker it reached. The reply
leaves the inbox preview to the customer's message, which the store has yet to answer.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pymongo.errors import PyMongoError

from .. import realtime
from ..errors import Forbidden, InvalidInput, ServiceError
from ..models import Conversation, OpeningHours, User
from ..schemas import parse
from ..schemas.requests import WEEKDAYS, BusinessHours, clock_minutes
from .payloads import iso

log = logging.getLogger(__name__)

DAY = 24 * 60  # minutes
WEEK = 7 * DAY
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAYS = list(zip(WEEKDAYS, DAY_NAMES))  # the settings form's fields, in order
# A store with hours but never open answers at most this often per conversation.
NEVER_OPEN_REPLY_EVERY = timedelta(days=7)


def require_store(user):
    """Forbidden for customers: only stores have opening hours."""
    if not user.is_store:
        raise Forbidden("Only stores have opening hours.")


# -- storing ---------------------------------------------------------------------------------------

def set_hours(user, data):
    """Replace the store's hours and away message with `data` ({timezone, weekly, away_message},
    validated by the BusinessHours schema), here and on every one of its conversations."""
    require_store(user)
    form = parse(BusinessHours, data)
    ranges = sorted([index * DAY + clock_minutes(start), index * DAY + clock_minutes(end)]
                    for index, day in enumerate(WEEKDAYS)
                    for start, end in getattr(form.weekly, day))
    hours = OpeningHours(timezone=form.timezone, ranges=ranges, away_message=form.away_message)
    _save(user, hours)
    return user


def clear_hours(user):
    """No hours at all: nothing is shown and no automatic reply is sent."""
    require_store(user)
    _save(user, None)
    return user


def _save(user, hours):
    user.modify(hours=hours)
    realtime.broadcast("user_changed", user.id)  # workers drop the user they cached
    copies = Conversation.objects(participants=user.id, store_id=user.id)
    if hours is None:
        copies.update(unset__store_hours=True)
    else:
        copies.update(set__store_hours=hours)


def weekly(hours):
    """The ranges as the API shows them: {"mon": [["07:00", "12:00"]], ...}, every day named."""
    days = {day: [] for day in WEEKDAYS}
    for start, end in hours.ranges if hours else []:
        days[WEEKDAYS[start // DAY]].append([_clock(start % DAY), _clock(end - start // DAY * DAY)])
    return days


def _clock(minutes):
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def hours_payload(user, now=None):
    """GET /api/stores/me/hours: the hours (the account's timezone and all closed when none are
    set), and the status they give now."""
    require_store(user)
    hours = user.hours
    found = status(hours, now)
    return {"configured": hours is not None,
            "timezone": hours.timezone if hours else user.timezone,
            "weekly": weekly(hours),
            "away_message": hours.away_message if hours else "",
            "status": found and {"open": found.open, "text": found.text,
                                 "changes_at": iso(found.changes_at)}}


# -- the settings form -----------------------------------------------------------------------------

def form_data(form):
    """The settings page's fields (timezone, one text field per day such as "07:00-12:00,
    13:00-19:00", away_message) as the API's JSON, for the same schema to validate. A time may
    leave out its leading zero ("7:00"); a blank day, or "closed", is closed."""
    days = {}
    for index, day in enumerate(WEEKDAYS):
        text = form.get(day, "").strip()
        ranges = []
        for part in text.replace("–", "-").split(","):
            part = part.strip()
            if not part or part.lower() == "closed":
                continue
            times = [time.strip() for time in part.split("-")]
            if len(times) != 2:
                raise InvalidInput(f"{DAY_NAMES[index]}: write each range as 07:00-12:00, and "
                                   "separate ranges with commas.", field=f"weekly.{day}")
            ranges.append([_padded(time) for time in times])
        days[day] = ranges
    return {"timezone": form.get("timezone", ""), "weekly": days,
            "away_message": form.get("away_message", "")}


def _padded(time):
    return "0" + time if len(time) == 4 and time[1] == ":" else time


def form_text(hours):
    """The settings form's text per day, from the stored hours."""
    return {day: ", ".join(f"{start}-{end}" for start, end in ranges)
            for day, ranges in weekly(hours).items()}


def day_of_field(field):
    """Which day's form field an error about `field` ("weekly.mon.0.1") belongs to, or None."""
    parts = (field or "").split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "weekly" and parts[1] in WEEKDAYS else None


# -- the status ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Status:
    open: bool
    text: str  # "Open now · until 7:00 PM", "Closed · opens Mon 7:00 AM"
    changes_at: datetime | None  # naive UTC: when it next opens or closes (None: never)


def status(hours, now=None):
    """The opening status of `hours` at `now` (aware, or naive UTC; default: this moment), worded
    in the store's own time; None without hours."""
    if hours is None:
        return None
    zone = ZoneInfo(hours.timezone)
    local = _aware(now).astimezone(zone).replace(tzinfo=None)
    week_start = datetime.combine(local.date() - timedelta(days=local.weekday()), datetime.min.time())
    minute = (local - week_start) / timedelta(minutes=1)  # into the week, with its seconds
    spans = _spans(hours.ranges)
    if spans == [(0, WEEK)]:
        return Status(True, "Open now · 24 hours", None)
    for start, end in spans:
        for shift in (-WEEK, 0):  # a span joined across Sunday midnight starts last week
            if start + shift <= minute < end + shift:
                closes = week_start + timedelta(minutes=end + shift)
                return Status(True, f"Open now · until {_when(closes, local, closing=True)}",
                              _utc(closes, zone))
    opening = next((start for start, _ in spans if start > minute), None)
    if opening is None and spans:
        opening = spans[0][0] + WEEK
    if opening is None:
        return Status(False, "Closed", None)
    opens = week_start + timedelta(minutes=opening)
    return Status(False, f"Closed · opens {_when(opens, local)}", _utc(opens, zone))


def _aware(now):
    now = now or datetime.now(timezone.utc)
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now


def _spans(ranges):
    """The ranges joined where they touch (a night past midnight), Sunday's end to Monday's
    start too: [(start, end)] in minutes of the week, the last one perhaps past WEEK."""
    spans = []
    for start, end in ranges:
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    if len(spans) > 1 and spans[0][0] == 0 and spans[-1][1] == WEEK:
        spans = [*spans[1:-1], (spans[-1][0], WEEK + spans[0][1])]
    return spans


def _when(moment, local, *, closing=False):
    """"7:00 PM" later today, "midnight" at its end, "Mon 7:00 AM" another day, "next Mon 7:00 AM"
    a week on."""
    clock = moment.strftime("%-I:%M %p")
    if moment.date() == local.date():
        return clock
    if closing and moment.time() == datetime.min.time() and moment.date() == local.date() + timedelta(1):
        return "midnight"
    days = (moment.date() - local.date()).days
    return f"{'next ' if days >= 7 else ''}{moment.strftime('%a')} {clock}"


def _utc(wall, zone):
    """A wall-clock time of the store's zone as naive UTC (a time a spring-forward skipped is
    read with the offset before it)."""
    return wall.replace(tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)


# -- the away message ------------------------------------------------------------------------------

def reply_if_away(message, conversation):
    """After a customer's message is stored and announced: the store's away message back, if the
    store is closed at the moment it was sent and this conversation has had no automatic reply in
    this closed period. No extra round trip when the store has no hours, no away message, is
    open, or already replied (all read from the conversation the send just wrote); otherwise one
    conditional write, then the send itself (services.messages.deliver: three).

    A courtesy: if it fails, the customer's message stands and the failure is logged."""
    hours = conversation.store_hours
    if (message.sender_id != conversation.customer_id or hours is None or not hours.away_message
            or conversation.blocked_by):
        return None
    sent_at = message.created_at
    if conversation.away_replied_until and conversation.away_replied_until > sent_at:
        return None  # answered already in this closed period
    now = status(hours, sent_at)
    if now.open:
        return None
    until = now.changes_at or sent_at + NEVER_OPEN_REPLY_EVERY
    # The inbox preview stays the customer's message (the store has not answered it), so its
    # number is written down now: the reply will take the conversation's last one.
    claimed = Conversation.objects(
        id=conversation.id, blocked_by__size=0, away_replied_until=conversation.away_replied_until,
        last_message__message_id=message.id,
    ).update_one(set__away_replied_until=until, set__last_message__seq=message.seq)
    if not claimed:  # another message (another worker) got there first, or a block
        return None
    from . import messages  # (messages calls this module, through followups)

    store = User(id=conversation.store_id, role="store", name=conversation.store_name)
    try:
        reply, _created = messages.deliver(store, conversation.id, body=hours.away_message,
                                           message_type="text", client_id=None, auto=True)
    except (ServiceError, PyMongoError) as exc:
        log.warning("no automatic reply in conversation %s: %s", conversation.id, exc)
        return None
    return reply
