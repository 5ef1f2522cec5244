"""The API's contract as pydantic models: what clients may send (`requests`), what they get back
(`responses`) and what the event stream carries (`events`).

The request models are the one validation of client input: services parse their input with them
(`parse`, for pages and API alike), the API's routes declare them so spectree validates the request
before the view runs, and the same models generate the OpenAPI document (elako/openapi.py).
A failure becomes InvalidInput (422) with one `details` entry per invalid field, in words a person
can act on.
"""

from pydantic import ValidationError

from ..errors import InvalidInput

# The error type of our own validators (see requests.py): their message is written for people.
OWN_MESSAGE = "invalid_input"


def parse(model, data):
    """`data` (a dict, a form, or an instance the API already validated) as a `model`."""
    if isinstance(data, model):
        return data
    if hasattr(data, "to_dict"):  # a form's MultiDict: one value per field
        data = data.to_dict()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(exc, model) from None


def invalid_input(exc, model):
    """InvalidInput for a pydantic ValidationError: the first problem as `message` and `field` (as
    before `details` existed), and every invalid field in `details`."""
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or None
        if field not in {d["field"] for d in details}:
            details.append({"field": field, "message": _sentence(error, model, field)})
    first = details[0]
    return InvalidInput(first["message"], field=first["field"], details=details)


def _label(model, field):
    info = model.model_fields.get(field) if isinstance(model, type) and field else None
    return (info.title if info and info.title else field) or "This field"


def _sentence(error, model, field):
    """pydantic's error as a sentence naming the field; a validator's own message as it is."""
    kind, ctx = error["type"], error.get("ctx") or {}
    label = _label(model, field)
    if not error["loc"] and kind in ("model_type", "dict_type", "model_attributes_type"):
        return "The JSON body must be an object."
    if kind in ("missing", "string_too_short") and field in getattr(model, "blank_messages", {}):
        return model.blank_messages[field]
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return f"{label} is required."
    sentences = {
        "string_type": f"{label} must be text.",
        "string_unicode": f"{label} must be text.",  # half a UTF-16 surrogate pair
        "string_too_short": f"{label} must be at least {ctx.get('min_length')} characters.",
        "string_too_long": f"{label} must be at most {ctx.get('max_length')} characters.",
        "literal_error": f"{label} must be {ctx.get('expected')}.",
        "int_type": f"{label} must be a whole number.",
        "int_parsing": f"{label} must be a whole number.",
        "int_from_float": f"{label} must be a whole number.",
        "int_parsing_size": f"{label} must be a whole number.",
        "greater_than_equal": f"{label} must be at least {ctx.get('ge')}.",
        "less_than_equal": f"{label} must be at most {ctx.get('le')}.",
        "bool_type": f"{label} must be true or false.",
        "bool_parsing": f"{label} must be true or false.",
    }
    if kind == OWN_MESSAGE:
        return error["msg"]
    return sentences.get(kind, f"{label} is not valid.")
