"""Template filters: times in the viewer's timezone, and message text with safe links."""

import math
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app, g
from markupsafe import Markup, escape

URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
TRAILING_PUNCTUATION = ".,;:!?)]}'\""


def _moment(value):
    """A timezone-aware UTC datetime from an ISO string (our payloads) or a naive UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def local(value, tz):
    return _moment(value).astimezone(ZoneInfo(tz))


def short_time(value, tz, now=None):
    """"3:04 PM" today, "Nov 24" this year, "Nov 24, 2025" before."""
    moment = local(value, tz)
    today = local(now or datetime.now(timezone.utc), tz).date()
    if moment.date() == today:
        return moment.strftime("%-I:%M %p")
    if moment.year == today.year:
        return moment.strftime("%b %-d")
    return moment.strftime("%b %-d, %Y")


def active_ago(value, tz, now=None):
    """Recent activity without a live stream: "Active now", "Active 2 min ago", then last seen."""
    minutes = int(((now or datetime.now(timezone.utc)) - _moment(value)).total_seconds() // 60)
    if minutes < 1:
        return "Active now"
    if minutes < 60:
        return f"Active {minutes} min ago"
    return "Last seen " + short_time(value, tz, now)


def clock(value, tz):
    return local(value, tz).strftime("%-I:%M %p")


def exact_time(value, tz):
    return local(value, tz).strftime("%A, %B %-d, %Y at %-I:%M:%S %p %Z")


def day_key(value, tz):
    return local(value, tz).date().isoformat()


def day_label(value, tz, now=None):
    day = local(value, tz).date()
    today = local(now or datetime.now(timezone.utc), tz).date()
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    return day.strftime("%A, %B %-d" if day.year == today.year else "%A, %B %-d, %Y")


def linkify(text):
    """Message text as HTML: everything escaped, and http(s) links made clickable and safe."""
    parts, last = [], 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(TRAILING_PUNCTUATION)
        start, end = match.start(), match.start() + len(url)
        parts.append(escape(text[last:start]))
        parts.append(Markup('<a href="{0}" rel="noopener nofollow ugc" target="_blank">{0}</a>')
                     .format(url))
        last = end
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


def wait_label(seconds):
    """A wait as a person reads it: "30 seconds", "1 minute", "15 minutes" (rounded up)."""
    seconds = max(1, int(seconds))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def count_label(count):
    """A count for a small badge: at most three characters wide (none known: 0)."""
    count = count or 0
    return "99+" if count > 99 else str(count)


def initials(name):
    words = [w for w in re.split(r"\s+", name.strip()) if w]
    return "".join(w[0] for w in words[:2]).upper() or "?"


def unsend_seconds_left(created_at):
    """Seconds left to unsend a message sent at `created_at` (0 once the window closed); the page
    takes Unsend away when they run out. Rounded up: the button never goes before the server
    would refuse it, so a press after it went is always answered "too old"."""
    window = timedelta(seconds=current_app.config["MESSAGE_DELETE_WINDOW_SECONDS"])
    left = window - (datetime.now(timezone.utc) - _moment(created_at))
    return max(0, math.ceil(left.total_seconds()))


def deletable(created_at):
    """Whether a message sent at `created_at` may still be unsent (the server checks again)."""
    return unsend_seconds_left(created_at) > 0


FILE_KINDS = {"application/pdf": "PDF", "text/csv": "CSV", "text/plain": "Text",
              "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel"}


def file_kind(content_type):
    """What a person calls a file of `content_type`: "PDF", "Excel"."""
    return FILE_KINDS.get(content_type.split(";")[0].strip(), "File")


def file_size(size):
    """Bytes as a person reads them: "820 bytes", "48 KB", "2.4 MB"."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def peso(centavos):
    """Integer centavos as a price: "₱1,234.50"."""
    pesos, cents = divmod(int(centavos), 100)
    return f"₱{pesos:,}.{cents:02d}"


def viewer_context():
    """Who is looking, for every template: their id decides sent/received, their zone the times."""
    user = g.get("user")
    return {"viewer": user, "viewer_id": str(user.id) if user else None,
            "tz": user.timezone if user else current_app.config["DEFAULT_TIMEZONE"]}


def init_app(app):
    for function in (short_time, active_ago, clock, exact_time, day_key, day_label, linkify,
                     initials, deletable, unsend_seconds_left, count_label, wait_label, file_kind,
                     file_size, peso):
        app.add_template_filter(function)
    app.context_processor(viewer_context)
