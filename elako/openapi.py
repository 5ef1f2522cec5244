"""The API's OpenAPI 3.1 document, generated from the code that validates requests.

Each API route declares its contract with `@contract(...)`: the pydantic models of its query string
and JSON body (spectree validates the request with them before the view runs) and the statuses it
answers. `document()` assembles the routes' contracts and the event stream's, which is served as
`GET /api/openapi.json` and rendered as `GET /api/docs`.
"""

import copy
from functools import wraps

from flask import current_app, request
from markupsafe import Markup, escape
from pydantic import TypeAdapter
from spectree import Response, SecurityScheme, SecuritySchemeData, SpecTree
from spectree.plugins.flask_plugin import FlaskPlugin

from .errors import InvalidInput, ServiceError, UnsupportedMediaType
from .schemas import invalid_input
from .schemas.events import EVENT_TYPES
from .schemas.responses import Error

ERRORS = {
    400: "Malformed JSON (`malformed_json`), or a spent link token.",
    401: "A missing, bad, expired or revoked access token (`missing_token`, `invalid_token`, "
         "`token_expired`, `token_revoked`); or wrong credentials (`invalid_credentials`).",
    403: "Not allowed: `forbidden`, `blocked`, `delete_window_passed`, `wrong_password`.",
    404: "No such thing, or not yours (the same answer: nothing leaks).",
    409: "Conflicts with what exists (a `client_id` used elsewhere).",
    413: "Too large: the request body (MAX_CONTENT_LENGTH), the message (`message_too_long`) or "
         "the file (`file_too_large`, ATTACHMENT_MAX_BYTES).",
    415: "Not JSON: send `Content-Type: application/json`; or a file of a type that is not "
         "accepted (`unsupported_file_type`).",
    422: "Invalid input (`invalid_input`): `details` has one entry per invalid field.",
    429: "Too many requests (`rate_limited`, `too_many_streams`); see `Retry-After`.",
    503: "A backend (MongoDB or Redis) is unavailable for a moment; see `Retry-After`.",
}
SCHEME = "bearer"
# Answers that are files, not JSON: (path, method) -> media type.
FILE_ANSWERS = {("/api/me/export", "get"): "application/zip"}
# Limits that are settings: the document states this app's values.
CONFIGURED_LIMITS = {
    ("Registration", "password", "minLength"): "PASSWORD_MIN_LENGTH",
    ("PasswordReset", "password", "minLength"): "PASSWORD_MIN_LENGTH",
    ("NewMessage", "body", "maxLength"): "MESSAGE_MAX_LENGTH",
    ("NewQuickReply", "text", "maxLength"): "MESSAGE_MAX_LENGTH",
}


class RequestValidation(FlaskPlugin):
    """Requests are validated; responses are not, so a response that drifted from the document
    never turns into a 500 for users (the fuzz test checks them against the document instead).
    A streamed response (the data export) passes untouched."""

    def validate_response(self, resp, resp_model, skip_validation, force_resp_serialize):
        if self.is_app_response(resp) and resp.is_streamed:
            return resp, None  # a download: spectree would read all of it into memory first
        return super().validate_response(resp, resp_model, True, force_resp_serialize)


spec = SpecTree(
    backend=RequestValidation, mode="strict", title="ELako Chat API", version="1",
    openapi_version="3.1.0", annotations=False, validation_error_model=Error,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    security_schemes=[SecurityScheme(name=SCHEME, data=SecuritySchemeData(
        type="http", scheme="bearer", bearer_format="JWT",
        description="From `POST /api/auth/token`."))],
    security={SCHEME: []},
    description="JSON over HTTP for integrations, and one event stream. Every route but "
                "registration, token, password reset and this reference needs "
                "`Authorization: Bearer <token>`. "
                "Every error is "
                "`{\"error\": {\"code\", \"message\", \"request_id\", \"field\"?, \"details\"?}}`.")


def contract(ok, *errors, query=None, json=None, form=None, public=False, tag):
    """Declare a route's contract: `ok` maps its success statuses to their response models (None:
    no body), `errors` are the error statuses it may answer beyond those every route of its kind
    may (401 unless `public`, 422 with a query or body, 400/413/415 with a body, 503). A route
    with a `form` also takes that model as multipart/form-data (a file upload)."""
    codes = {*errors, 503}
    if not public:
        codes.add(401)
    if query or json:
        codes.add(422)
    if json:
        codes |= {400, 413, 415}
    responses = Response(**{f"HTTP_{status}": model for status, model in ok.items()},
                         **{f"HTTP_{code}": (Error, ERRORS[code]) for code in sorted(codes)})
    models = {m.__name__: m for m in (query, json, form) if m}

    def reject(_request, _response, error, _instance, _adapter):
        if error is not None:
            raise invalid_input(error, models.get(error.title))

    def decorate(view):
        validated = spec.validate(query=query, json=json, form=form, resp=responses, tags=[tag],
                                  security={} if public else None, before=reject,
                                  operation_id=view.__name__)(view)
        if json is None:
            return validated
        body_required = (any(f.is_required() for f in json.model_fields.values())
                         or bool(json.model_json_schema().get("minProperties")))

        @wraps(validated)
        def with_json_body(*args, **kwargs):
            if not (form and request.mimetype == "multipart/form-data"):
                read_json_object(required=body_required)
            return validated(*args, **kwargs)
        return with_json_body
    return decorate


def read_json_object(*, required):
    """Clear errors for a body that is not JSON at all, before the schema looks at it."""
    if not request.get_data(cache=True) and not required:
        return
    if not request.is_json:
        raise UnsupportedMediaType("Send a JSON body with 'Content-Type: application/json'.")
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # thousands of nested brackets
        data = None
    if data is None:
        raise ServiceError("The request body is not valid JSON.", code="malformed_json")
    if not isinstance(data, dict):
        raise InvalidInput("The JSON body must be an object.")


def document():
    """The whole document for this app (built once per app)."""
    if "openapi" not in current_app.extensions:
        doc = copy.deepcopy(spec.spec)
        schemas = doc["components"]["schemas"]
        for (schema, field, keyword), setting in CONFIGURED_LIMITS.items():
            schemas[schema]["properties"][field][keyword] = current_app.config[setting]
        for operations in doc["paths"].values():
            for operation in operations.values():
                _body_optional_without_required_fields(operation, schemas)
        for (path, method), media_type in FILE_ANSWERS.items():
            doc["paths"][path][method]["responses"]["200"]["content"] = {
                media_type: {"schema": {"type": "string", "contentMediaType": media_type}}}
        doc["paths"].update(_event_paths(schemas))
        current_app.extensions["openapi"] = doc
    return current_app.extensions["openapi"]


def _body_optional_without_required_fields(operation, schemas):
    """A body whose every field is optional may be left out (`read_json_object`); spectree marks
    every body required."""
    body = operation.get("requestBody")
    if body and "application/json" in body["content"]:  # (a file upload alone is required)
        model = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        body["required"] = bool(schemas[model].get("required") or schemas[model].get("minProperties"))


def _errors(*codes):
    return {str(code): {"description": ERRORS[code], "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for code in codes}


def _event_schemas(schemas, type_field):
    """One schema per event type, as `{<type_field>: type, id, data}`, and their `oneOf`."""
    variants = []
    for event_type, (data, description, has_id) in EVENT_TYPES.items():
        data_schema = TypeAdapter(data).json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(data_schema.pop("$defs", {}))
        if "properties" in data_schema and "title" in data_schema:
            schemas[data_schema["title"]] = data_schema
            data_schema = {"$ref": f"#/components/schemas/{data_schema['title']}"}
        variants.append({
            "type": "object", "title": event_type, "description": description,
            "properties": {
                type_field: {"const": event_type},
                "id": ({"type": "string", "description": "The Redis stream entry id."} if has_id
                       else {"type": "null", "description": "Ephemeral: no id."}),
                "data": data_schema},
            "required": [type_field, "id", "data"] if has_id else [type_field, "data"]})
    return {"oneOf": variants}


def _event_paths(schemas):
    schemas["StreamEvent"] = _event_schemas(schemas, "event")
    schemas["PolledEvent"] = _event_schemas(schemas, "type")
    schemas["PolledEvents"] = {
        "type": "object", "required": ["events", "last_event_id"],
        "properties": {
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/PolledEvent"}},
            "last_event_id": {"type": ["string", "null"],
                              "description": "Pass it as `last_event_id` on the next poll."}}}
    cursor = {"name": "last_event_id", "in": "query", "required": False,
              "schema": {"type": "string"},
              "description": "The id of the last event you have: everything after it is "
                             "replayed. Unknown or too old: one `resync` event."}
    return {
        "/api/events": {"get": {
            "operationId": "event_stream", "tags": ["events"], "summary": "The event stream",
            "description": (
                "Server-Sent Events: `retry:` first, then one event per `event:`/`data:`/`id:` "
                "block, `data` being JSON, and a `: keepalive` comment every "
                "SSE_HEARTBEAT_SECONDS. Reconnect with `Last-Event-ID` (or `?last_event_id=`) "
                "to replay what you missed. Each item of the array below is one event."),
            "parameters": [
                {"name": "Last-Event-ID", "in": "header", "required": False,
                 "schema": {"type": "string"}, "description": "Same as `last_event_id`."},
                cursor],
            "responses": {
                "200": {"description": "The stream, open until you close it or are signed out.",
                        "content": {"text/event-stream": {"schema": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/StreamEvent"}}}}},
                **_errors(401, 429, 503)}}},
        "/api/events/poll": {"get": {
            "operationId": "poll_events", "tags": ["events"],
            "summary": "Long-poll for events (for clients that cannot read a stream)",
            "description": (
                "Answers at once when events are waiting after `last_event_id`, otherwise at "
                "the first event or after `timeout` seconds with an empty list. Same replay, "
                "resync, authorisation and limits as the stream; `data` is the stream's."),
            "parameters": [
                cursor,
                {"name": "timeout", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 0, "maximum": 30, "default": 25},
                 "description": "Seconds to wait for an event."}],
            "responses": {
                "200": {"description": "The events after `last_event_id`, oldest first.",
                        "content": {"application/json": {"schema": {
                            "$ref": "#/components/schemas/PolledEvents"}}}},
                **_errors(401, 422, 429, 503)}}},
    }


def code_spans(text):
    """Markdown's `code` spans of a description as HTML, the rest escaped."""
    parts = str(escape(text)).split("`")
    return Markup("".join(f"<code>{part}</code>" if i % 2 else part
                          for i, part in enumerate(parts)))


def type_label(schema):
    """A schema's type in a few words, for the reference page: `integer (1–100)`, `Message or
    null`, `array of Conversation`."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return " | ".join(repr(value) for value in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(type_label(option) for option in schema[key])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(type_label({**schema, "type": k}) for k in kind)
    if kind == "array":
        return f"array of {type_label(schema.get('items', {}))}"
    if kind == "object" and not schema.get("properties"):
        return "object"
    bounds = [f"{word} {schema[key]}" for key, word in (
        ("minimum", "≥"), ("maximum", "≤"), ("minLength", "length ≥"), ("maxLength", "length ≤"))
        if key in schema]
    detail = [schema["format"]] if "format" in schema else []
    detail += [f"pattern {schema['pattern']}"] if "pattern" in schema else []
    extra = ", ".join(detail + bounds)
    return f"{kind} ({extra})" if extra else kind
