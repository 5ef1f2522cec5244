"""The JSON API for integrations (a shop's own system, a mobile app). Bearer tokens, no cookies, so
no CSRF. Every route is a thin call into the same services the pages use."""

from flask import Blueprint, g, jsonify, request

from ..errors import Forbidden, InvalidInput, ServiceError, UnsupportedMediaType
from ..identity import load_from_bearer
from ..services import accounts, conversations, inputs, messages, presence, typing
from ..services.payloads import conversation_payload, iso, message_payload, user_payload

bp = Blueprint("api", __name__, url_prefix="/api")

PUBLIC_ENDPOINTS = {"api.register", "api.token"}


@bp.before_request
def authenticate():
    if request.endpoint not in PUBLIC_ENDPOINTS:
        load_from_bearer()


def json_body(*, required=True):
    """The request's JSON object; clear errors for a wrong content type or malformed JSON."""
    if not request.get_data(cache=True) and not required:
        return {}
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
    return data


def client_ip():
    return request.remote_addr or "unknown"


def _own(user_id):
    """Routes under /api/users/<id>/ serve only the caller's own data."""
    if user_id != str(g.user.id):
        raise Forbidden("You can only read your own data.")


# -- accounts --------------------------------------------------------------------------------------

@bp.post("/auth/register")
def register():
    user = accounts.register(json_body(), client_ip=client_ip())
    return jsonify(user_payload(user)), 201


@bp.post("/auth/token")
def token():
    user = accounts.authenticate(json_body(), client_ip=client_ip())
    return jsonify(accounts.issue_token(user))


@bp.delete("/auth/token")
def revoke_token():
    accounts.end_session(g.auth_session.id)
    return "", 204


@bp.get("/me")
def me():
    return jsonify({**user_payload(g.user), "email": g.user.email, "timezone": g.user.timezone})


@bp.get("/stores")
def stores():
    return jsonify(items=[user_payload(s) for s in accounts.list_stores(request.args.get("q"))])


# -- conversations ---------------------------------------------------------------------------------

@bp.post("/conversations")
def open_conversation():
    data = json_body()
    key = "store_id" if g.user.role == "customer" else "customer_id"
    if not data.get(key):
        raise InvalidInput(f"Send the {key} of the {key[:-3]} to talk to.", field=key)
    conversation, created = conversations.open_conversation(g.user, data[key])
    return jsonify(conversation_payload(conversation, g.user.id)), 201 if created else 200


@bp.get("/users/<user_id>/conversations")
def list_conversations(user_id):
    _own(user_id)
    args = request.args
    page, next_before = conversations.list_conversations(
        g.user, archived=args.get("archived") == "true", unread_only=args.get("unread") == "true",
        search=args.get("q"), before=args.get("before"),
        limit=_limit(args.get("limit"), default=50))
    return jsonify(items=[conversation_payload(c, g.user.id) for c in page],
                   next_before=next_before)


def _limit(value, *, default):
    return inputs.integer(value, "limit", label="limit", minimum=1, maximum=100, default=default)


@bp.get("/conversations/<conversation_id>")
def get_conversation(conversation_id):
    conversation = conversations.conversation_for(g.user, conversation_id)
    other = str(conversation.other_party(g.user.id))
    payload = conversation_payload(conversation, g.user.id)
    if not conversation.blocked_by:
        payload["other"]["presence"] = presence.status([other])[other]
    return jsonify(payload)


@bp.post("/conversations/<conversation_id>/archive")
def archive(conversation_id):
    conversation = conversations.set_archived(g.user, conversation_id, True)
    return jsonify(conversation_payload(conversation, g.user.id))


@bp.delete("/conversations/<conversation_id>/archive")
def unarchive(conversation_id):
    conversation = conversations.set_archived(g.user, conversation_id, False)
    return jsonify(conversation_payload(conversation, g.user.id))


@bp.post("/conversations/<conversation_id>/block")
def block(conversation_id):
    conversation = conversations.set_blocked(g.user, conversation_id, True)
    return jsonify(conversation_payload(conversation, g.user.id))


@bp.delete("/conversations/<conversation_id>/block")
def unblock(conversation_id):
    conversation = conversations.set_blocked(g.user, conversation_id, False)
    return jsonify(conversation_payload(conversation, g.user.id))


# -- messages --------------------------------------------------------------------------------------

@bp.get("/conversations/<conversation_id>/messages")
def list_messages(conversation_id):
    page, next_before = messages.list_messages(
        g.user, conversation_id, before=request.args.get("before"),
        limit=request.args.get("limit"))
    return jsonify(items=[message_payload(m) for m in page], next_before=next_before)


@bp.post("/conversations/<conversation_id>/messages")
def send_message(conversation_id):
    message, created = messages.send_message(g.user, conversation_id, json_body())
    return jsonify(message_payload(message)), 201 if created else 200


@bp.patch("/conversations/<conversation_id>/read")
def mark_read(conversation_id):
    data = json_body(required=False)
    count, read_at = messages.mark_read(g.user, conversation_id, up_to_seq=data.get("up_to_seq"))
    return jsonify(updated=count, read_at=iso(read_at))


@bp.post("/conversations/<conversation_id>/typing")
def typing_signal(conversation_id):
    typing.signal(g.user, conversation_id, json_body().get("state"))
    return "", 204


@bp.delete("/messages/<message_id>")
def delete_message(message_id):
    return jsonify(message_payload(messages.delete_message(g.user, message_id)))


@bp.get("/users/<user_id>/unread-count")
def unread_count(user_id):
    _own(user_id)
    return jsonify(count=messages.unread_total(g.user.id))
