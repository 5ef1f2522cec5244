"""Checks on what clients send, shared by every service: one place decides what is valid."""

import re

from bson import ObjectId
from bson.errors import InvalidId

from ..errors import InvalidInput, NotFound

# C0 controls other than tab and newline, DEL, and the C1 controls: invisible, and NUL is the
# marker of encrypted values (see crypto.py).
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Half a UTF-16 pair: JSON's "\ud800" decodes to one, and it cannot be stored or sent as UTF-8.
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
SEARCH_MAX_LENGTH = 80
CLIENT_ID = re.compile(r"\A[A-Za-z0-9._:-]{1,64}\Z")


def clean_text(value, *, multiline=False):
    """Text as the user typed it, minus invisible control characters, trimmed."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if not multiline:
        value = value.replace("\n", " ").replace("\t", " ")
    return LONE_SURROGATE.sub("\ufffd", CONTROL_CHARS.sub("", value)).strip()


def search_text(value):
    """A search box's text: cleaned (a NUL cannot go into a MongoDB regex) and cut to length."""
    return clean_text(value)[:SEARCH_MAX_LENGTH] if isinstance(value, str) else ""


def object_id(value, what="That"):
    """An ObjectId from client input; anything else is simply not found (no 500, no leak)."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise NotFound(f"{what} was not found.") from None


def owned(document, value, what, **owner):
    """The `document` with id `value` (client input) that belongs to `owner` (e.g. store_id=...);
    anyone else's is as unknown as one that never existed."""
    found = document.objects(id=object_id(value, what), **owner).first()
    if found is None:
        raise NotFound(f"{what} was not found.")
    return found


def optional_id(value):
    """The id in `value` as text if it is one, else None (an optional reference, never an error)."""
    return value if isinstance(value, str) and ObjectId.is_valid(value) else None


def cursor(value, message):
    """A paging cursor (the id of the last item seen); a bad one is the client's mistake, 422."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise InvalidInput(message, field="before") from None


def integer(value, field, *, label, minimum, maximum, default):
    """An int from a query string or JSON value, within [minimum, maximum]."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidInput(f"{label} must be a whole number.", field=field)
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity, 1e400
        raise InvalidInput(f"{label} must be a whole number.", field=field) from None
    if isinstance(value, float) and value != number:
        raise InvalidInput(f"{label} must be a whole number.", field=field)
    if not minimum <= number <= maximum:
        raise InvalidInput(f"{label} must be between {minimum} and {maximum}.", field=field)
    return number
