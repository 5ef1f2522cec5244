"""The chat pages. Every page works as plain HTML forms and links; htmx enhances the same URLs.

An htmx request to a page URL gets just the fragment it swaps (`page_or_fragment`); a form post
answers htmx with fragments and everyone else with a 303 back to the page.
"""

import uuid

from flask import (
    Blueprint, current_app, g, make_response, redirect, render_template, request, session,
    url_for,
)

from .. import security
from ..errors import Forbidden, NotFound, RateLimited, ServiceError
from ..identity import load_from_cookie, login_required
from ..realtime import get_bus
from ..services import (
    accounts, attachments, carryover, catalogue, conversations, data_rights, hours, inputs,
    messages, orders, privacy, quick_replies, sessions, typing,
)
from ..services.accounts import TIMEZONES
from ..services.payloads import (
    conversation_payload, message_payload, order_payload, product_payload, user_payload,
)
from ..transfers import file_response

bp = Blueprint("pages", __name__)
bp.before_request(load_from_cookie)

INBOX_FILTERS = ("all", "unread", "archived", "orders")  # orders: a store's open orders


def is_htmx():
    """Whether to answer with a fragment: an htmx request, except a whole page that htmx fetches
    to restore the browser history (Back after a search)."""
    return (bool(request.headers.get("HX-Request")) and not request.headers.get("HX-Boosted")
            and not request.headers.get("HX-History-Restore-Request"))


def page_or_fragment(page, fragment, status=200, **context):
    """The whole page, or only `fragment` for an htmx request to the same URL."""
    response = make_response(render_template(fragment if is_htmx() else page, **context), status)
    response.vary.add("HX-Request")
    return response


def back_to(url):
    """After a form post: 303 for browsers without JavaScript, so reload never re-posts."""
    return redirect(url, code=303)


def _inbox_context(filter_name="all", search="", before=None):
    if filter_name not in INBOX_FILTERS or (filter_name == "orders" and not g.user.is_store):
        filter_name = "all"
    page, next_before = conversations.list_conversations(
        g.user, archived=filter_name == "archived", unread_only=filter_name == "unread",
        open_orders=filter_name == "orders",
        search=search, before=before, limit=current_app.config["INBOX_PAGE_SIZE"], opened=True)
    rows = [conversation_payload(c, g.user.id) for c in page]
    return {"rows": rows, "inbox_next": next_before, "filter": filter_name,
            "search": inputs.search_text(search), "presence": privacy.shown_presence(rows, pages=True)}


def _chrome():
    """What every signed-in page shows: the stream position and the unread total."""
    return {"last_event_id": get_bus().latest_id(g.user.id),
            "unread_total": messages.unread_total(g.user.id)}


@bp.get("/")
def home():
    return redirect(url_for("pages.inbox" if g.user else "auth.sign_in"))


@bp.get("/inbox")
@login_required
def inbox():
    chrome = _chrome()  # the stream position first: events after it will be replayed
    context = _inbox_context(request.args.get("filter", "all"), request.args.get("q", ""),
                             request.args.get("before"))
    # A search beside an open conversation keeps its row marked as the open one; an htmx refresh
    # carries the unread total along (after a resync it may have changed too).
    return page_or_fragment("inbox.html", "_inbox.html", **chrome, **context,
                            just_archived=conversations.just_archived(g.user,
                                                                      request.args.get("archived")),
                            active_id=inputs.optional_id(request.args.get("active")) if is_htmx()
                            else None,
                            refresh=is_htmx())


@bp.get("/stores")
@login_required
def stores():
    if g.user.role != "customer":  # the directory is where customers find stores to write to
        return redirect(url_for("pages.inbox"), code=303)
    search = inputs.search_text(request.args.get("q"))
    return page_or_fragment("stores.html", "_store_list.html", stores=accounts.list_stores(search),
                            search=search, **_chrome())


@bp.post("/stores/<store_id>/chat")
@login_required
def start_chat(store_id):
    conversation, _created = conversations.open_conversation(g.user, store_id)
    return back_to(url_for("pages.conversation", conversation_id=conversation.id))


def _thread_context(conversation, before=None):
    page, next_before = messages.list_messages(g.user, conversation.id, before=before)
    view = conversation_payload(conversation, g.user.id)
    items = [message_payload(m) for m in page]
    return {"conversation": view, "items": items, "product_notes": catalogue.changes_since(items),
            "next_before": next_before, "before": before,
            "other_presence": privacy.shown_presence([view], pages=True).get(view["other"]["id"]),
            # The store's opening status, for its customer (from the conversation: no read).
            "open_status": hours.status(conversation.store_hours)
            if g.user.id == conversation.customer_id and not conversation.blocked_by else None,
            "client_id": uuid.uuid4().hex}


@bp.get("/c/<conversation_id>")
@login_required
def conversation(conversation_id):
    chrome = _chrome()
    found = conversations.conversation_for(g.user, conversation_id)
    before = request.args.get("before")
    if is_htmx() and before:  # "older messages" scrolled into view
        return page_or_fragment("conversation.html", "_history_page.html",
                                **_thread_context(found, before))
    prefetch = request.headers.get("Sec-Purpose", request.headers.get("Purpose")) == "prefetch"
    if (not before and not prefetch and not request.args.get("refresh")
            and security.is_own_navigation()):
        # Opening a conversation reads what it shows; a link on another site does not. (A page
        # refreshing its thread after a gap, and live arrivals, are marked read by the page only
        # while it is visible: elako.js.)
        messages.mark_read(g.user, found.id)
        found.reload()
        chrome["unread_total"] = messages.unread_total(g.user.id)
    context = _thread_context(found, before)
    if not is_htmx():  # a send refused without JavaScript: its error, and the text typed
        context.update(carryover.take(g.auth_session.id, f"composer:{found.id}"))
    return page_or_fragment("conversation.html", "_thread_refresh.html", **chrome, **context,
                            **_inbox_context(request.args.get("filter", "all"),
                                             request.args.get("q", "")))


@bp.post("/c/<conversation_id>/messages")
@login_required
def send(conversation_id):
    try:
        message, _created = attachments.send(g.user, conversation_id, request.form, request.files)
    except ServiceError as exc:
        if is_htmx() or exc.status not in (413, 415, 422, 403, 429, 503):
            raise
        # Without JavaScript: back to the page (a reload must not post again), which shows the
        # error with the text kept (503: the worker too busy to take it in time).
        found = conversations.conversation_for(g.user, conversation_id)
        carryover.keep(g.auth_session.id, f"composer:{found.id}", error=exc.message,
                       draft=request.form.get("body", ""))
        return back_to(url_for("pages.conversation", conversation_id=found.id) + "#composer")
    if is_htmx():
        return render_template("events/sent.html", m=message_payload(message))
    return back_to(url_for("pages.conversation", conversation_id=conversation_id) + "#composer")


@bp.get("/a/<attachment_id>")
@login_required
def attachment(attachment_id):
    """A photo or file from one of the user's conversations (`?size=thumb`: the thumbnail)."""
    return file_response(attachments.open_attachment(
        g.user, attachment_id, thumbnail=request.args.get("size") == "thumb"))


@bp.post("/c/<conversation_id>/read")
@login_required
def mark_read(conversation_id):
    messages.mark_read(g.user, conversation_id, up_to_seq=request.form.get("up_to_seq") or None)
    if is_htmx():
        return "", 204
    return back_to(url_for("pages.conversation", conversation_id=conversation_id))


@bp.post("/c/<conversation_id>/typing")
@login_required
def typing_signal(conversation_id):
    try:
        typing.signal(g.user, conversation_id, request.form.get("state"))
    except RateLimited:
        pass  # a typing indicator is a courtesy: not worth an error in the composer
    return "", 204


@bp.post("/c/<conversation_id>/<action>")
@login_required
def conversation_action(conversation_id, action):
    """Archive, unarchive, block or unblock; the page updates through the event stream."""
    actions = {"archive": (conversations.set_archived, True),
               "unarchive": (conversations.set_archived, False),
               "block": (conversations.set_blocked, True),
               "unblock": (conversations.set_blocked, False)}
    if action not in actions:
        raise NotFound("We could not find that page.")
    change, value = actions[action]
    change(g.user, conversation_id, value)
    if action == "archive":  # the inbox says so, with an undo
        return back_to(url_for("pages.inbox", archived=conversation_id))
    return back_to(url_for("pages.conversation", conversation_id=conversation_id))


@bp.post("/m/<message_id>/delete")
@login_required
def delete_message(message_id):
    message = messages.delete_message(g.user, message_id)
    if is_htmx():
        return "", 204
    return back_to(url_for("pages.conversation", conversation_id=message.conversation_id))


def _settings_page(status=200, **context):
    """The settings page: profile and privacy, password, and the list of open sessions."""
    open_sessions = [sessions.describe(s, g.auth_session.id)
                     for s in sessions.open_sessions(g.user)]
    return render_template("settings.html", timezones=sorted(TIMEZONES), sessions=open_sessions,
                           **_chrome(), **context), status


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    if request.method == "GET":  # after a save (Post/Redirect/Get), the outcome is in the URL
        return _settings_page(saved=request.args.get("saved") == "1",
                              password_changed=request.args.get("password") == "changed",
                              ended=request.args.get("ended", 0, type=int))
    # A checkbox left unticked is not sent at all.
    form = {**request.form.to_dict(), "hide_presence": "hide_presence" in request.form}
    try:
        accounts.update_profile(g.user, form)
    except ServiceError as exc:
        return _settings_page(exc.status, error=exc)
    return back_to(url_for("pages.settings", saved=1))


@bp.post("/settings/password")
@login_required
def change_password():
    try:
        ended = accounts.change_password(g.user, request.form, session=g.auth_session)
    except ServiceError as exc:
        if exc.status == 429:
            raise
        return _settings_page(exc.status, password_error=exc)
    return back_to(url_for("pages.settings", password="changed", ended=ended) + "#password")


@bp.post("/settings/sessions/<session_id>/end")
@login_required
def end_session(session_id):
    """Sign out one session (this one too: the next page is then the sign-in page)."""
    sessions.end_own(g.user, session_id)
    return back_to(url_for("pages.settings") + "#sessions")


@bp.post("/settings/sessions/end-others")
@login_required
def end_other_sessions():
    sessions.end_others(g.user, g.auth_session.id)
    return back_to(url_for("pages.settings") + "#sessions")


# -- data rights: a copy of one's data, deleting the account ---------------------------------------

@bp.get("/settings/export")
@login_required
def export_data():
    """The download behind Settings' "Download my data" (a plain link: no JavaScript needed)."""
    return data_rights.archive_response(g.user)


@bp.route("/settings/delete", methods=["GET", "POST"])
@login_required
def delete_account():
    """Deleting the account: a page that says what happens, and asks for the password."""
    # Rendered as a page without the signed-in chrome (viewer=None): no event stream of its own.
    if request.method == "GET":
        return render_template("delete_account.html", viewer=None)
    try:
        data_rights.delete_account(g.user, request.form, session=g.auth_session)
    except ServiceError as exc:
        if exc.status == 429:
            raise
        return render_template("delete_account.html", viewer=None, error=exc), exc.status
    session.clear()
    return back_to(url_for("pages.account_deleted"))


@bp.get("/account-deleted")
def account_deleted():
    return render_template("account_deleted.html")


# -- orders ----------------------------------------------------------------------------------------

@bp.app_template_global()
def order_moves(order, viewer_id):
    """The statuses the viewer may move an order (its payload) to now: the card's buttons."""
    return orders.moves(order["status"], is_store=order["store_id"] == viewer_id)


@bp.post("/stores/<store_id>/orders")
@login_required
def place_order(store_id):
    """The store page's order form: a `quantity-<product id>` field per product (0: not
    ordered) and a note. Opens (or creates) the conversation with the store, orders there."""
    if g.user.is_store:
        raise Forbidden("Only customers place orders.")
    conversation = orders.conversation_with(g.user, store_id)
    try:
        # A refusal names a line by its row on the page (blank rows counted), as the person sees it.
        items, rows = [], []
        fields = [(key, value) for key, value in request.form.items()
                  if key.startswith("quantity-")]
        for row, (key, value) in enumerate(fields, start=1):
            quantity = inputs.integer(value.strip(), "quantity", label="Each quantity",
                                      minimum=0, maximum=999, default=0)
            if quantity:
                items.append({"product_id": key.removeprefix("quantity-"), "quantity": quantity})
                rows.append(row)
        orders.place_order(g.user, conversation.id,
                           {"items": items, "note": request.form.get("note", "")},
                           line_numbers=rows)
    except ServiceError as exc:
        if exc.status not in (403, 409, 422, 429):
            raise
        # Back to the conversation (a reload must not post again), which shows why.
        carryover.keep(g.auth_session.id, f"composer:{conversation.id}",
                       error=f"Your order was not placed: {exc.message}")
        return back_to(url_for("pages.conversation", conversation_id=conversation.id) + "#composer")
    return back_to(url_for("pages.conversation", conversation_id=conversation.id))


@bp.post("/orders/<order_id>/status")
@login_required
def change_order(order_id):
    """A button of an order card: htmx gets the card as it is now; without JavaScript, back to
    the conversation (an error shows on the card)."""
    order = orders.order_for(g.user, order_id)
    try:
        order = orders.change_status(g.user, order.id, request.form)
    except ServiceError as exc:
        if is_htmx() or exc.status not in (403, 409, 422, 429):
            raise
        carryover.keep(g.auth_session.id, f"composer:{order.conversation_id}",
                       order_error=exc.message, order_error_for=str(order.id))
        return back_to(url_for("pages.conversation", conversation_id=order.conversation_id)
                       + f"#order-{order.id}")
    if is_htmx():
        return render_template("_order_card.html", o=order_payload(order))
    return back_to(url_for("pages.conversation", conversation_id=order.conversation_id)
                   + f"#order-{order.id}")


# -- quick replies (stores): the settings page, and the composer's list ----------------------------

@bp.app_template_global()
def composer_quick_replies():
    """The viewer's quick replies, for the composer wherever it is drawn (page, htmx, event)."""
    return quick_replies.for_composer(g.get("user"))


def _quick_replies_page(status=200, **context):
    return render_template("quick_replies.html", replies=quick_replies.quick_replies(g.user),
                           limit=quick_replies.MAX_QUICK_REPLIES, **_chrome(), **context), status


def _refused_reply(exc, **context):
    """A reply refused for what was typed: the page again, with the message and the text kept."""
    if exc.status not in (409, 422):
        raise exc
    return _quick_replies_page(exc.status, error=exc, typed=request.form, **context)


@bp.route("/settings/quick-replies", methods=["GET", "POST"])
@login_required
def quick_replies_settings():
    if request.method == "GET":
        return _quick_replies_page(done=request.args.get("done"))
    try:
        reply = quick_replies.create(g.user, request.form)
    except ServiceError as exc:
        return _refused_reply(exc)
    return back_to(url_for("pages.quick_replies_settings", done="added") + f"#reply-{reply.id}")


@bp.post("/settings/quick-replies/<reply_id>")
@login_required
def update_quick_reply(reply_id):
    try:
        quick_replies.update(g.user, reply_id, request.form)
    except ServiceError as exc:
        return _refused_reply(exc, editing=reply_id)
    return back_to(url_for("pages.quick_replies_settings", done="saved") + f"#reply-{reply_id}")


@bp.post("/settings/quick-replies/<reply_id>/delete")
@login_required
def delete_quick_reply(reply_id):
    quick_replies.delete(g.user, reply_id)
    return back_to(url_for("pages.quick_replies_settings", done="deleted"))


# -- business hours (issue 10) ---------------------------------------------------------------------

@bp.app_template_filter("open_status")
def open_status(store_hours):
    """A store's `hours` as its status now (for `_open_status.html`), or None without hours."""
    return hours.status(store_hours)


@bp.route("/settings/hours", methods=["GET", "POST"])
@login_required
def business_hours():
    """A store's opening hours and away message: one text field per day, no JavaScript needed."""
    hours.require_store(g.user)
    if request.method == "GET":
        return _hours_page(saved=request.args.get("saved"))
    try:
        if "clear" in request.form:
            hours.clear_hours(g.user)
        else:
            hours.set_hours(g.user, hours.form_data(request.form))
    except ServiceError as exc:
        if exc.status != 422:
            raise
        return _hours_page(status=exc.status, error=exc, form=request.form,
                           field_errors={hours.day_of_field(d["field"]) or d["field"]: d["message"]
                                       for d in reversed(exc.details or [])})
    return back_to(url_for("pages.business_hours", saved="cleared" if "clear" in request.form
                           else "saved"))


def _hours_page(status=200, form=None, **context):
    stored = g.user.hours
    form = form or {"timezone": stored.timezone if stored else g.user.timezone,
                    "away_message": stored.away_message if stored else "",
                    **hours.form_text(stored)}
    return render_template("settings_hours.html", form=form, days=hours.DAYS,
                           timezones=sorted(TIMEZONES), open_status=hours.status(stored),
                           **_chrome(), **context), status


# -- catalogue (issue 10): a store's products, the store page, "Ask about this" ---------------------

PRODUCTS_PAGE_SIZE = 50


def _products_page(status=200, **context):
    page, next_before = catalogue.list_products(g.user, before=request.args.get("before"),
                                                limit=PRODUCTS_PAGE_SIZE)
    return render_template("products.html", products=[product_payload(p) for p in page],
                           next_before=next_before, **_chrome(), **context), status


@bp.route("/products", methods=["GET", "POST"])
@login_required
def products():
    """A store's catalogue, to add, change and remove its products (plain forms)."""
    catalogue.require_store(g.user)
    if request.method == "GET":
        return _products_page(saved=request.args.get("saved"))
    try:
        product = catalogue.create_product(g.user, catalogue.page_form(request.form),
                                           photo=_chosen(request.files.get("photo")))
    except ServiceError as exc:
        if exc.status == 429:
            raise
        return _products_page(exc.status, error=exc, typed=request.form)
    return back_to(url_for("pages.products", saved=product.id) + f"#product-{product.id}")


def _chosen(upload):
    """A file input's upload, or None when no file was chosen."""
    return upload if upload is not None and upload.filename else None


@bp.post("/products/<product_id>")
@login_required
def edit_product(product_id):
    catalogue.require_store(g.user)
    photo = _chosen(request.files.get("photo"))
    try:
        product = catalogue.update_product(g.user, product_id, catalogue.page_form(request.form))
        if photo is not None:
            product = catalogue.set_photo(g.user, product.id, photo)
        elif "remove_photo" in request.form and product.photo:
            product = catalogue.remove_photo(g.user, product.id)
    except ServiceError as exc:
        if exc.status in (404, 429):
            raise
        return _products_page(exc.status, edit_error=exc, editing=product_id, typed=request.form)
    return back_to(url_for("pages.products", saved=product.id) + f"#product-{product.id}")


@bp.post("/products/<product_id>/stock")
@login_required
def product_stock(product_id):
    """Mark a product in or out of stock with one tap."""
    product = catalogue.update_product(g.user, product_id,
                                       {"in_stock": request.form.get("in_stock") == "1"})
    return back_to(url_for("pages.products") + f"#product-{product.id}")


@bp.post("/products/<product_id>/remove")
@login_required
def remove_product(product_id):
    catalogue.archive_product(g.user, product_id)
    return back_to(url_for("pages.products"))


def _store_page(store_id, status=200, **context):
    store = catalogue.store_for(store_id)
    page, next_before = catalogue.list_products(store, before=request.args.get("before"),
                                                limit=PRODUCTS_PAGE_SIZE)
    return render_template("store.html", store=user_payload(store),
                           open_status=hours.status(store.hours),
                           products=[product_payload(p) for p in page], next_before=next_before,
                           client_id=uuid.uuid4().hex, **_chrome(), **context), status


@bp.get("/stores/<store_id>")
@login_required
def store_page(store_id):
    """A store's page: its name, description and catalogue, with a form to order or ask."""
    return _store_page(store_id)


@bp.post("/stores/<store_id>/ask")
@login_required
def ask_about_product(store_id):
    """"Ask about this": the product sent in the conversation with the store, then that
    conversation."""
    try:
        conversation, _message = catalogue.ask_about(
            g.user, store_id, request.form.get("product_id"),
            client_id=_ask_client_id(request.form.get("client_id"), request.form.get("product_id")))
    except ServiceError as exc:
        if exc.status not in (403, 422):
            raise
        return _store_page(store_id, exc.status, error=exc)
    return back_to(url_for("pages.conversation", conversation_id=conversation.id))


def _ask_client_id(form_id, product_id):
    """The store page's one-time id with the product: asking twice from the same page (a double
    tap, a reload of the post) sends once; another product from it is another message."""
    if not (inputs.optional_id(product_id) and form_id and len(form_id) == 32 and form_id.isalnum()):
        return None
    return f"{form_id}:{product_id}"


@bp.get("/product-photos/<photo_id>")
@login_required
def product_photo(photo_id):
    """A product photo for pages (`?size=thumb`: the thumbnail)."""
    return file_response(catalogue.open_photo(photo_id,
                                              thumbnail=request.args.get("size") == "thumb"))


@bp.app_template_filter()
def photo_page_url(api_url):
    """A product photo's API URL (payloads) as the page URL that serves it to browsers."""
    return api_url.removeprefix("/api")


@bp.route("/c/<conversation_id>/products", methods=["GET", "POST"])
@login_required
def send_product(conversation_id):
    """A store sends one of its products in a conversation: its catalogue with a Send button
    each (customers send theirs from the store page)."""
    found = conversations.conversation_for(g.user, conversation_id)  # outsiders: 404, as anywhere
    catalogue.require_store(g.user)
    if request.method == "POST":
        product_id = request.form.get("product_id")
        messages.send_message(g.user, found.id, {
            "type": "product", "product_id": product_id,
            "client_id": _ask_client_id(request.form.get("client_id"), product_id)})
        return back_to(url_for("pages.conversation", conversation_id=found.id) + "#composer")
    page, next_before = catalogue.list_products(g.user, before=request.args.get("before"),
                                                limit=PRODUCTS_PAGE_SIZE)
    return render_template("send_product.html", conversation=conversation_payload(found, g.user.id),
                           products=[product_payload(p) for p in page], next_before=next_before,
                           client_id=uuid.uuid4().hex, **_chrome())
