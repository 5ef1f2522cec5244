"""The JSON API for integrations (a shop's own system, a mobile app). Bearer tokens, no cookies, so
no CSRF. Every route is a thin call into the same services the pages use, and declares its
contract (elako/openapi.py): the schemas that validate its input and the answers it may give.
"""

from flask import Blueprint, g, jsonify, render_template, request

from .. import openapi
from ..errors import Forbidden
from ..identity import load_from_bearer
from ..openapi import contract
from ..schemas import requests as schemas
from ..schemas import responses as answers
from ..services import (
    accounts, attachments, catalogue, conversations, data_rights, hours, messages, orders,
    password_reset, privacy, quick_replies, sessions, sign_in_throttle, typing, verification,
)
from ..transfers import file_response
from ..services.payloads import (
    conversation_payload, iso, message_payload, order_payload, product_payload, user_payload,
)

bp = Blueprint("api", __name__, url_prefix="/api")

PUBLIC_ENDPOINTS = {"api.register", "api.token", "api.refresh_token", "api.openapi_document",
                    "api.reference", "api.request_password_reset", "api.confirm_password_reset"}


@bp.before_request
def authenticate():
    # A CORS preflight carries no token; Flask answers it without running a view.
    if request.endpoint not in PUBLIC_ENDPOINTS and request.method != "OPTIONS":
        load_from_bearer()


def client_ip():
    return request.remote_addr or "unknown"


def _own(user_id):
    """Routes under /api/users/<id>/ serve only the caller's own data."""
    if user_id != str(g.user.id):
        raise Forbidden("You can only read your own data.")


# -- the contract ----------------------------------------------------------------------------------

@bp.get("/openapi.json")
@contract({200: None}, public=True, tag="reference")
def openapi_document():
    """This document"""
    return jsonify(openapi.document())


@bp.get("/docs")
@contract({200: None}, public=True, tag="reference")
def reference():
    """This document as a page to read"""
    return render_template("api_docs.html", doc=openapi.document(), type_label=openapi.type_label,
                           code_spans=openapi.code_spans)


# -- accounts --------------------------------------------------------------------------------------

@bp.post("/auth/register")
@contract({201: answers.User}, 429, json=schemas.Registration, public=True, tag="accounts")
def register():
    """Create an account (usable at once; its address gets a verification email). An address that
    already has an account gets the same answer, and its owner an email instead"""
    user, _created = accounts.register(request.context.json, client_ip=client_ip())
    return jsonify(user_payload(user)), 201


@bp.post("/auth/password-reset")
@contract({202: None}, 429, json=schemas.PasswordResetRequest, public=True, tag="accounts")
def request_password_reset():
    """Email a password reset link to this address, if it has an account (the answer is the same
    either way); the link works once, for PASSWORD_RESET_MAX_AGE_SECONDS"""
    password_reset.request_reset(request.context.json, client_ip=client_ip())
    return "", 202


@bp.post("/auth/password-reset/confirm")
@contract({200: answers.Notice}, 400, json=schemas.PasswordReset, public=True, tag="accounts")
def confirm_password_reset():
    """Set a new password with the token of a reset email: every session and token of the account
    ends (sign in again with the new password). A forged, expired or used token:
    400 `invalid_reset_token`"""
    password_reset.reset_password(request.context.json)
    return jsonify(message="Your password was changed. Sign in with it.")


def _credentials(answer):
    """Tokens: never kept by a cache or proxy on the way."""
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/auth/token")
@contract({200: answers.Token}, 401, 429, json=schemas.Credentials, public=True, tag="accounts")
def token():
    """Sign in: an access token, a refresh token and a device token for an email and password"""
    credentials = request.context.json
    user = accounts.authenticate(credentials, client_ip=client_ip(),
                                 device_token=credentials.device_token)
    tokens = sessions.issue_tokens(user, user_agent=request.user_agent.string)
    return _credentials({**tokens, "device_token": sign_in_throttle.device_token(
        credentials.device_token, user.email)})


@bp.post("/auth/refresh")
@contract({200: answers.Token}, 401, json=schemas.RefreshRequest, public=True, tag="accounts")
def refresh_token():
    """New access and refresh tokens for a refresh token, which is spent (a second use of it ends
    the session)"""
    return _credentials(sessions.refresh(request.context.json.refresh_token))


@bp.delete("/auth/token")
@contract({204: None}, tag="accounts")
def revoke_token():
    """Sign out: the token and its open streams stop at once"""
    accounts.end_session(g.auth_session.id)
    return "", 204


@bp.get("/me")
@contract({200: answers.Me}, tag="accounts")
def me():
    """Your own account"""
    return jsonify(_me())


def _me():
    return {**user_payload(g.user), "email": g.user.email, "timezone": g.user.timezone,
            "hide_presence": g.user.hide_presence, "email_alerts": g.user.email_alerts,
            "email_verified": g.user.email_verified_at is not None}


@bp.patch("/me")
@contract({200: answers.Me}, json=schemas.ProfileChange, tag="accounts")
def update_me():
    """Change your settings: name, description, timezone, hiding your presence, email alerts"""
    accounts.update_profile(g.user, request.context.json)
    return jsonify(_me())


@bp.delete("/me")
@contract({204: None}, 403, 429, json=schemas.AccountDeletion, tag="accounts")
def delete_me():
    """Delete your account for good, with your password (a wrong one: 403 `wrong_password`, and
    nothing is deleted)"""
    # spectree validates no body of a DELETE: the service parses it (with the same schema).
    data_rights.delete_account(g.user, request.get_json(), session=g.auth_session)
    return "", 204


@bp.get("/me/export")
@contract({200: None}, 429, tag="accounts")
def export_me():
    """Your data as a zip of JSON files: your account, sessions, conversations and messages
    (RATE_LIMIT_EXPORT)"""
    return data_rights.archive_response(g.user)


@bp.post("/me/password")
@contract({204: None}, 429, json=schemas.PasswordChange, tag="accounts")
def change_password():
    """Change your password: every other session and token ends"""
    accounts.change_password(g.user, request.context.json, session=g.auth_session)
    return "", 204


@bp.post("/me/email-verification")
@contract({202: None}, tag="accounts")
def resend_verification():
    """Send the verification email again (nothing if your address is already verified)"""
    verification.resend(g.user)
    return "", 202


@bp.get("/me/sessions")
@contract({200: answers.Sessions}, tag="accounts")
def list_sessions():
    """Where you are signed in"""
    return jsonify(items=[sessions.describe(s, g.auth_session.id)
                          for s in sessions.open_sessions(g.user)])


@bp.delete("/me/sessions/<session_id>")
@contract({204: None}, 404, tag="accounts")
def end_session(session_id):
    """Sign out one of your sessions (this one too)"""
    sessions.end_own(g.user, session_id)
    return "", 204


@bp.post("/me/sessions/end-others")
@contract({200: answers.EndedSessions}, tag="accounts")
def end_other_sessions():
    """Sign out everywhere else"""
    return jsonify(ended=sessions.end_others(g.user, g.auth_session.id))


@bp.get("/stores")
@contract({200: answers.Stores}, query=schemas.StoreSearch, tag="accounts")
def stores():
    """The store directory, by name"""
    found = accounts.list_stores(request.context.query.q)
    return jsonify(items=[user_payload(store) for store in found])


# -- conversations ---------------------------------------------------------------------------------

@bp.post("/conversations")
@contract({200: answers.Conversation, 201: answers.Conversation}, 404,
          json=schemas.NewConversation, tag="conversations")
def open_conversation():
    """Open the conversation with a store (or customer): 201 when created, 200 when it existed"""
    counterpart = request.context.json.counterpart_for(g.user.role)
    conversation, created = conversations.open_conversation(g.user, counterpart)
    return jsonify(conversation_payload(conversation, g.user.id)), 201 if created else 200


@bp.get("/users/<user_id>/conversations")
@contract({200: answers.ConversationPage}, 403, query=schemas.ConversationQuery,
          tag="conversations")
def list_conversations(user_id):
    """Your inbox, newest activity first, a page at a time"""
    _own(user_id)
    query = request.context.query
    page, next_before = conversations.list_conversations(
        g.user, archived=query.archived, unread_only=query.unread, search=query.q,
        before=query.before, limit=query.limit)
    return jsonify(items=[conversation_payload(c, g.user.id) for c in page],
                   next_before=next_before)


@bp.get("/conversations/<conversation_id>")
@contract({200: answers.Conversation}, 404, tag="conversations")
def get_conversation(conversation_id):
    """One conversation, with the other party's presence"""
    conversation = conversations.conversation_for(g.user, conversation_id)
    payload = conversation_payload(conversation, g.user.id)
    shown = privacy.shown_presence([payload])
    if shown:
        payload["other"]["presence"] = shown[payload["other"]["id"]]
    return jsonify(payload)


@bp.post("/conversations/<conversation_id>/archive")
@contract({200: answers.Conversation}, 404, 429, tag="conversations")
def archive(conversation_id):
    """Archive: out of your inbox until a new message"""
    conversation = conversations.set_archived(g.user, conversation_id, True)
    return jsonify(conversation_payload(conversation, g.user.id))


@bp.delete("/conversations/<conversation_id>/archive")
@contract({200: answers.Conversation}, 404, 429, tag="conversations")
def unarchive(conversation_id):
    """Back into your inbox"""
    conversation = conversations.set_archived(g.user, conversation_id, False)
    return jsonify(conversation_payload(conversation, g.user.id))


@bp.post("/conversations/<conversation_id>/block")
@contract({200: answers.Conversation}, 404, 429, tag="conversations")
def block(conversation_id):
    """Block the other party: nobody sends or types, no presence"""
    conversation = conversations.set_blocked(g.user, conversation_id, True)
    return jsonify(conversation_payload(conversation, g.user.id))


@bp.delete("/conversations/<conversation_id>/block")
@contract({200: answers.Conversation}, 404, 429, tag="conversations")
def unblock(conversation_id):
    """Unblock"""
    conversation = conversations.set_blocked(g.user, conversation_id, False)
    return jsonify(conversation_payload(conversation, g.user.id))


# -- messages --------------------------------------------------------------------------------------

@bp.get("/conversations/<conversation_id>/messages")
@contract({200: answers.MessagePage}, 404, query=schemas.HistoryQuery, tag="messages")
def list_messages(conversation_id):
    """History, a page at a time by cursor, oldest to newest within a page"""
    query = request.context.query
    page, next_before = messages.list_messages(g.user, conversation_id, before=query.before,
                                               limit=query.limit)
    return jsonify(items=[message_payload(m) for m in page], next_before=next_before)


@bp.post("/conversations/<conversation_id>/messages")
@contract({200: answers.Message, 201: answers.Message}, 403, 404, 409, 429,
          json=schemas.NewMessage, form=schemas.NewAttachment, tag="messages")
def send_message(conversation_id):
    """Send a message (JSON), or a photo or file with a caption (multipart/form-data): 201, or
    200 with the first message for a client_id already used"""
    if request.mimetype == "multipart/form-data":
        message, created = attachments.send(g.user, conversation_id, request.form, request.files)
    else:
        message, created = messages.send_message(g.user, conversation_id, request.context.json)
    return jsonify(message_payload(message)), 201 if created else 200


@bp.get("/attachments/<attachment_id>")
@contract({200: None, 206: None, 304: None}, 404, query=schemas.AttachmentQuery, tag="messages")
def attachment(attachment_id):
    """A photo or file from your conversations: ETag and 304, Range and 206"""
    return file_response(attachments.open_attachment(
        g.user, attachment_id, thumbnail=request.context.query.size == "thumb"))


@bp.patch("/conversations/<conversation_id>/read")
@contract({200: answers.ReadResult}, 404, json=schemas.ReadReceipt, tag="messages")
def mark_read(conversation_id):
    """Mark what you received as read, up to `up_to_seq` or all"""
    count, read_at = messages.mark_read(g.user, conversation_id,
                                        up_to_seq=request.context.json.up_to_seq)
    return jsonify(updated=count, read_at=iso(read_at))


@bp.post("/conversations/<conversation_id>/typing")
@contract({204: None}, 404, 429, json=schemas.TypingSignal, tag="messages")
def typing_signal(conversation_id):
    """Tell the other party you started or stopped typing"""
    typing.signal(g.user, conversation_id, request.context.json.state)
    return "", 204


@bp.delete("/messages/<message_id>")
@contract({200: answers.Message}, 403, 404, tag="messages")
def delete_message(message_id):
    """Unsend one of your messages, within MESSAGE_DELETE_WINDOW_SECONDS"""
    return jsonify(message_payload(messages.delete_message(g.user, message_id)))


@bp.get("/users/<user_id>/unread-count")
@contract({200: answers.UnreadCount}, 403, tag="messages")
def unread_count(user_id):
    """Your unread messages, all conversations"""
    _own(user_id)
    return jsonify(count=messages.unread_total(g.user.id))


# -- orders ----------------------------------------------------------------------------------------

@bp.post("/conversations/<conversation_id>/orders")
@contract({200: answers.Message, 201: answers.Message}, 403, 404, 409, 429,
          json=schemas.NewOrder, tag="orders")
def place_order(conversation_id):
    """Order from the conversation's store (its customer only), at the catalogue's prices now:
    201 with the `order` message, or 200 with the first one for a client_id already used. A
    line that is not an in-stock product of this store: 422 naming it"""
    message, created = orders.place_order(g.user, conversation_id, request.context.json)
    return jsonify(message_payload(message)), 201 if created else 200


@bp.patch("/orders/<order_id>")
@contract({200: answers.Order}, 403, 404, 409, 429, json=schemas.OrderChange, tag="orders")
def change_order(order_id):
    """Move an order along: the store accepts, declines, marks ready, completes; the customer
    cancels while pending, the store while pending or accepted. The other participant's move:
    403; any other (or one a concurrent change overtook): 409 `invalid_transition`"""
    return jsonify(order_payload(orders.change_status(g.user, order_id, request.context.json)))


@bp.get("/orders")
@contract({200: answers.OrderPage}, query=schemas.OrderQuery, tag="orders")
def list_orders():
    """Your orders (placed, or received as a store), newest first, a page at a time"""
    query = request.context.query
    page, next_before = orders.list_orders(g.user, status=query.status, before=query.before,
                                           limit=query.limit)
    return jsonify(items=[order_payload(o) for o in page], next_before=next_before)


# -- quick replies ---------------------------------------------------------------------------------

@bp.get("/quick-replies")
@contract({200: answers.QuickReplies}, 403, tag="quick replies")
def list_quick_replies():
    """Your store's quick replies, by shortcut"""
    return jsonify(items=[quick_replies.payload(r) for r in quick_replies.quick_replies(g.user)])


@bp.post("/quick-replies")
@contract({201: answers.QuickReply}, 403, 409, json=schemas.NewQuickReply, tag="quick replies")
def create_quick_reply():
    """Save a reply (stores): at most 50 (then 422 `too_many_quick_replies`); a shortcut you
    already use, in any case: 409 `shortcut_taken`"""
    return jsonify(quick_replies.payload(quick_replies.create(g.user, request.context.json))), 201


@bp.patch("/quick-replies/<reply_id>")
@contract({200: answers.QuickReply}, 403, 404, 409, json=schemas.QuickReplyChange,
          tag="quick replies")
def update_quick_reply(reply_id):
    """Change a quick reply's shortcut or text"""
    return jsonify(quick_replies.payload(
        quick_replies.update(g.user, reply_id, request.context.json)))


@bp.delete("/quick-replies/<reply_id>")
@contract({204: None}, 403, 404, tag="quick replies")
def delete_quick_reply(reply_id):
    """Delete a quick reply"""
    quick_replies.delete(g.user, reply_id)
    return "", 204


# -- business hours (issue 10) ---------------------------------------------------------------------

@bp.get("/stores/me/hours")
@contract({200: answers.StoreHours}, 403, tag="business hours")
def store_hours():
    """Your store's opening hours, away message and status now (stores only)"""
    return jsonify(hours.hours_payload(g.user))


@bp.put("/stores/me/hours")
@contract({200: answers.StoreHours}, 403, json=schemas.BusinessHours, tag="business hours")
def set_store_hours():
    """Set your store's weekly opening hours (in its own timezone) and away message, all of them:
    a day left out is closed. Bad times, overlapping ranges, an unknown timezone or day: 422"""
    hours.set_hours(g.user, request.context.json)
    return jsonify(hours.hours_payload(g.user))


@bp.delete("/stores/me/hours")
@contract({204: None}, 403, tag="business hours")
def clear_store_hours():
    """No opening hours: customers see no status, and no away message is sent"""
    hours.clear_hours(g.user)
    return "", 204


# -- catalogue (issue 10) --------------------------------------------------------------------------

@bp.get("/stores/<store_id>/products")
@contract({200: answers.ProductPage}, 404, query=schemas.ProductQuery, tag="catalogue")
def list_products(store_id):
    """A store's catalogue: its active products by name, a page at a time"""
    query = request.context.query
    page, next_before = catalogue.list_products(catalogue.store_for(store_id), before=query.before,
                                                limit=query.limit)
    return jsonify(items=[product_payload(p) for p in page], next_before=next_before)


@bp.post("/products")
@contract({201: answers.Product}, 403, json=schemas.NewProduct, tag="catalogue")
def create_product():
    """Add a product to your catalogue (stores only)"""
    return jsonify(product_payload(catalogue.create_product(g.user, request.context.json))), 201


@bp.patch("/products/<product_id>")
@contract({200: answers.Product}, 403, 404, json=schemas.ProductChange, tag="catalogue")
def update_product(product_id):
    """Change one of your products: name, price, description, in stock"""
    return jsonify(product_payload(catalogue.update_product(g.user, product_id,
                                                            request.context.json)))


@bp.delete("/products/<product_id>")
@contract({204: None}, 403, 404, tag="catalogue")
def archive_product(product_id):
    """Remove one of your products from the catalogue (archived: messages that carried it keep
    their card)"""
    catalogue.archive_product(g.user, product_id)
    return "", 204


@bp.put("/products/<product_id>/photo")
@contract({200: answers.Product}, 403, 404, 413, 415, 422, 429, form=schemas.ProductPhoto,
          tag="catalogue")
def set_product_photo(product_id):
    """Set a product's photo (multipart/form-data, field `file`), processed as message photos are"""
    return jsonify(product_payload(catalogue.set_photo(g.user, product_id,
                                                       request.files.get("file"))))


@bp.delete("/products/<product_id>/photo")
@contract({200: answers.Product}, 403, 404, tag="catalogue")
def remove_product_photo(product_id):
    """Remove a product's photo"""
    return jsonify(product_payload(catalogue.remove_photo(g.user, product_id)))


@bp.get("/product-photos/<photo_id>")
@contract({200: None, 206: None, 304: None}, 404, query=schemas.AttachmentQuery, tag="catalogue")
def product_photo(photo_id):
    """A product photo (anyone signed in): ETag and 304; `?size=thumb` for the thumbnail"""
    return file_response(catalogue.open_photo(photo_id,
                                              thumbnail=request.context.query.size == "thumb"))
