"""CSRF: every state-changing browser request needs the page's token, as a form field or as the
X-CSRFToken header htmx sends (set once on <body>); without it nothing changes and the user gets
a clear error. The JSON API takes bearer tokens only, so it needs none.

The routes come from the app's URL map: a new state-changing browser route fails
`test_every_state_changing_browser_route_is_covered` until it is added here.
"""

import re

import pytest

from elako.models import AuthSession, Conversation, Message, Order, Product, QuickReply, User
from elako.jobs import get_queue
from elako.services import activity, password_reset, verification
from tests.conftest import PASSWORD, PageClient
from tests.support.credentials import claims_of
from tests.support.html import parse

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_MESSAGE = "did not come from this site"


class World:
    """A customer and a store with a conversation and a message, both signed in."""

    def __init__(self, app, people, monkeypatch):
        self.app = app
        self.customer, self.store = people.customer(), people.store()
        self.conversation_id = self.customer.open_conversation(self.store)
        self.message_id = self.customer.send(self.conversation_id, "Pabili po")["id"]
        self.store.send(self.conversation_id, "Ano po yun?")
        self.signals = []
        from elako.services import typing

        monkeypatch.setattr(typing.realtime, "signal",
                            lambda kind, users, data: self.signals.append(kind))


def conversation(world):
    return Conversation.objects.get(id=world.conversation_id)


def last_active(world, person):
    with world.app.app_context():
        return activity.last_active(person.id)


# endpoint -> (who posts, url, form data, what the request changes)
def cases(world):
    customer, cid = world.customer, world.conversation_id
    fresh_email = "new-person@example.ph"
    anonymous = PageClient(world.app)
    token_session = claims_of(customer.token)["sid"]
    with world.app.app_context():
        user = User.objects.get(id=customer.id)
        reset_token, verify_token = password_reset.make_token(user), verification.make_token(user)
    queued = get_queue(world.app).counts
    # Another store than world.store, whose page's token is "another session's" below.
    shop = world.other_store
    replies = shop.api.get("/api/quick-replies").json["items"] or [shop.api.post(
        "/api/quick-replies", json={"shortcut": "salamat", "text": "Salamat po!"}).json]
    reply_id = replies[0]["id"]
    store, product = world.store, world.product
    # An order of the customer's in the conversation, pending: the customer may cancel it.
    with world.app.app_context():
        product_id = str(Product(store_id=world.store.id, name="Pandesal",
                                 price_centavos=250).save().id)
    order_id = customer.api.post(f"/api/conversations/{cid}/orders", json={
        "items": [{"product_id": product_id, "quantity": 3}]}).json["order"]["id"]
    return {
        "auth.forgot_password": (anonymous, "/password-reset", {"email": customer.email},
                                 lambda: queued()["ready"]),
        "auth.reset_password": (anonymous, f"/password-reset/{reset_token}",
                                {"password": "a new password"},
                                lambda: User.objects.get(id=customer.id).password_hash),
        "auth.verify_email": (anonymous, f"/verify-email/{verify_token}", {},
                              lambda: User.objects.get(id=customer.id).email_verified_at),
        "auth.resend_verification": (customer.page, "/settings/verify-email", {},
                                     lambda: queued()["ready"]),
        "auth.sign_in": (anonymous, "/signin", {"email": customer.email, "password": PASSWORD},
                         lambda: anonymous.get("/inbox").status_code == 200),
        "auth.sign_up": (anonymous, "/signup", {"role": "customer", "name": "New", "email":
                         fresh_email, "password": PASSWORD},
                         lambda: User.objects(email=fresh_email).count()),
        "auth.sign_out": (customer.page, "/signout", {},
                          lambda: customer.page.get("/inbox").status_code),
        "pages.start_chat": (customer.page, f"/stores/{world.other_store.id}/chat", {},
                             lambda: Conversation.objects(customer_id=customer.id).count()),
        "pages.send": (customer.page, f"/c/{cid}/messages", {"body": "forged?"},
                       lambda: Message.objects(conversation_id=cid).count()),
        "pages.mark_read": (customer.page, f"/c/{cid}/read", {},
                            lambda: conversation(world).customer_unread),
        "pages.typing_signal": (customer.page, f"/c/{cid}/typing", {"state": "start"},
                                lambda: list(world.signals)),
        "pages.conversation_action": (customer.page, f"/c/{cid}/block", {},
                                      lambda: list(conversation(world).blocked_by)),
        "pages.delete_message": (customer.page, f"/m/{world.message_id}/delete", {},
                                 lambda: Message.objects.get(id=world.message_id).deleted_at),
        "pages.settings": (customer.page, "/settings", {"name": "Renamed",
                           "timezone": "Asia/Manila"},
                           lambda: User.objects.get(id=customer.id).name),
        "alerts.activity_signal": (customer.page, "/activity", {},
                                   lambda: last_active(world, customer)),
        "alerts.email_alerts": (customer.page, "/settings/email-alerts", {},
                                lambda: User.objects.get(id=customer.id).email_alerts),
        "pages.change_password": (customer.page, "/settings/password", {
                                  "current_password": PASSWORD, "new_password": "a new password"},
                                  lambda: User.objects.get(id=customer.id).password_hash),
        "pages.end_session": (customer.page, f"/settings/sessions/{token_session}/end", {},
                              lambda: AuthSession.objects(id=token_session).count()),
        "pages.end_other_sessions": (customer.page, "/settings/sessions/end-others", {},
                                     lambda: AuthSession.objects(user_id=customer.id).count()),
        "pages.delete_account": (customer.page, "/settings/delete", {"password": PASSWORD},
                                 lambda: User.objects(id=customer.id).count()),
        "pages.quick_replies_settings": (shop.page, "/settings/quick-replies",
                                         {"shortcut": "oras", "text": "7AM hanggang 7PM po."},
                                         lambda: QuickReply.objects(store_id=shop.id).count()),
        "pages.update_quick_reply": (shop.page, f"/settings/quick-replies/{reply_id}",
                                     {"shortcut": "salamat", "text": "Salamat!"},
                                     lambda: QuickReply.objects.get(id=reply_id).text),
        "pages.delete_quick_reply": (shop.page, f"/settings/quick-replies/{reply_id}/delete", {},
                                     lambda: QuickReply.objects(id=reply_id).count()),
        "pages.business_hours": (world.other_store.page, "/settings/hours", {
                                 "timezone": "Asia/Manila", "mon": "07:00-12:00"},
                                 lambda: User.objects.get(id=world.other_store.id).hours),
        # -- catalogue (issue 10)
        "pages.products": (store.page, "/products", {"name": "Kape", "price": "12"},
                           lambda: Product.objects(store_id=store.id).count()),
        "pages.edit_product": (store.page, f"/products/{product}", {"name": "Renamed",
                               "price": "1"}, lambda: Product.objects.get(id=product).name),
        "pages.product_stock": (store.page, f"/products/{product}/stock", {"in_stock": "0"},
                                lambda: Product.objects.get(id=product).in_stock),
        "pages.remove_product": (store.page, f"/products/{product}/remove", {},
                                 lambda: Product.objects.get(id=product).archived_at),
        "pages.ask_about_product": (customer.page, f"/stores/{store.id}/ask",
                                    {"product_id": product},
                                    lambda: Message.objects(conversation_id=cid).count()),
        "pages.send_product": (store.page, f"/c/{cid}/products", {"product_id": product},
                               lambda: Message.objects(conversation_id=cid).count()),
        "pages.place_order": (customer.page, f"/stores/{world.store.id}/orders",
                              {f"quantity-{product_id}": "2"},
                              lambda: Order.objects(customer_id=customer.id).count()),
        "pages.change_order": (customer.page, f"/orders/{order_id}/status",
                               {"status": "cancelled"},
                               lambda: Order.objects.get(id=order_id).status),
    }


ENDPOINTS = ["auth.sign_in", "auth.sign_up", "auth.sign_out", "auth.forgot_password",
             "auth.reset_password", "auth.verify_email", "auth.resend_verification", "pages.start_chat", "pages.send",
             "pages.mark_read", "pages.typing_signal", "pages.conversation_action",
             "pages.delete_message", "pages.settings", "alerts.activity_signal",
             "alerts.email_alerts", "pages.change_password", "pages.end_session",
             "pages.end_other_sessions", "pages.delete_account", "pages.quick_replies_settings",
             "pages.update_quick_reply", "pages.delete_quick_reply", "pages.business_hours",
             "pages.place_order", "pages.change_order"]
ENDPOINTS += ["pages.products", "pages.edit_product", "pages.product_stock",
              "pages.remove_product", "pages.ask_about_product", "pages.send_product"]  # issue 10
# RFC 8058's one-click unsubscribe is POSTed by mail providers, with no token: the signed link in
# its URL is the credential (tests/test_email_alerts.py).
NO_TOKEN_BY_DESIGN = {"alerts.unsubscribe"}


@pytest.fixture
def world(app, people, monkeypatch):
    w = World(app, people, monkeypatch)
    w.other_store = people.store(name="Another store")
    w.product = w.store.api.post("/api/products", json={"name": "Kape",
                                                        "price_centavos": 1250}).json["id"]
    for person in (w.customer, w.store):
        person.page  # sign in (and fetch a page, so the client holds the page's token)
    return w


def test_every_state_changing_browser_route_is_covered(app):
    browser_routes = {rule.endpoint for rule in app.url_map.iter_rules()
                      if rule.methods & STATE_CHANGING and not rule.rule.startswith("/api/")}
    assert browser_routes == set(ENDPOINTS) | NO_TOKEN_BY_DESIGN


def assert_refused(response, before, after):
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert CSRF_MESSAGE in response.get_data(as_text=True)
    assert after == before, "a refused request changed something"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_refused_without_a_token(world, endpoint):
    page, url, data, state = cases(world)[endpoint]
    before = state()
    response = page.post(url, data, csrf=False)
    assert_refused(response, before, state())
    # A readable page, not a bare 400: a heading and a way back.
    document = parse(response.get_data(as_text=True))
    assert document.find_all("h1") and document.find_all("a", href="/")
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_refused_from_htmx_without_a_token_with_a_fragment_for_the_error_slot(world, endpoint):
    page, url, data, state = cases(world)[endpoint]
    before = state()
    response = page.post(url, data, csrf=False, htmx=True,
                         headers={"X-Error-Target": "#composer-error"})
    assert_refused(response, before, state())
    assert response.headers["HX-Retarget"] == "#composer-error"
    assert "<html" not in response.get_data(as_text=True)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_refused_with_a_wrong_token(world, endpoint):
    page, url, data, state = cases(world)[endpoint]
    # (The store's own forms, issue 10, are tried with the customer's token.)
    another_sessions = (world.customer if page is world.store.page else world.store).page.csrf_token
    assert another_sessions and another_sessions != page.csrf_token
    before = state()
    for token in ("garbage", "", another_sessions):
        response = page.post(url, {**data, "csrf_token": token}, csrf=False)
        assert_refused(response, before, state())
        header = page.post(url, data, csrf=False, htmx=True, headers={"X-CSRFToken": token})
        assert_refused(header, before, state())


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_accepted_with_the_form_field(world, endpoint):
    page, url, data, state = cases(world)[endpoint]
    before = state()
    response = page.post(url, data)  # the hidden csrf_token field, as a plain form sends it
    assert response.status_code in (200, 204, 303), response.get_data(as_text=True)[:300]
    assert state() != before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_accepted_with_the_htmx_header(world, endpoint):
    page, url, data, state = cases(world)[endpoint]
    if page.csrf_token is None:
        page.get("/signin")
    before = state()
    response = page.post(url, data, csrf=False, htmx=True,
                         headers={"X-CSRFToken": page.csrf_token})
    assert response.status_code in (200, 204, 303), response.get_data(as_text=True)[:300]
    assert state() != before


def test_pages_set_the_header_once_for_htmx(world):
    """The token htmx sends comes from <body hx-headers>, and every form carries it too."""
    html = world.customer.page.get(f"/c/{world.conversation_id}").get_data(as_text=True)
    body = parse(html).find_all("body")[0]
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', body.attrs["hx-headers"]).group(1)
    forms = [f for f in parse(html).find_all("form") if f.attrs.get("method") == "post"]
    assert forms
    for form in forms:
        assert form.find_all("input", name="csrf_token")[0].attrs["value"] == header_token


def test_the_json_api_needs_no_csrf_token_and_ignores_cookies(world):
    """Bearer tokens only: a signed-in browser's cookie does not make an API call."""
    customer, cid = world.customer, world.conversation_id
    sent = customer.api.post(f"/api/conversations/{cid}/messages", json={"body": "via API"})
    assert sent.status_code == 201
    with_cookie_only = customer.page.http.post(f"/api/conversations/{cid}/messages",
                                               json={"body": "cookie, no bearer"})
    assert with_cookie_only.status_code == 401


@pytest.mark.e2e
def test_csrf_over_real_http(server):
    customer = server.register("customer", "Maria")
    store = server.register("store", "Sari-Sari")
    cid = customer.open_conversation(store)
    browser = customer.browser()
    url = f"{server.url}/c/{cid}/messages"
    refused = browser.post(url, data={"body": "no token"}, allow_redirects=False, timeout=10)
    assert refused.status_code == 400 and CSRF_MESSAGE in refused.text
    page = browser.get(f"{server.url}/c/{cid}", timeout=10).text
    token = parse(page).find_all("input", name="csrf_token")[0].attrs["value"]
    by_header = browser.post(url, data={"body": "with header"}, timeout=10, allow_redirects=False,
                             headers={"HX-Request": "true", "X-CSRFToken": token})
    by_field = browser.post(url, data={"body": "with field", "csrf_token": token},
                            allow_redirects=False, timeout=10)
    assert by_header.status_code == 200 and by_field.status_code == 303
    history = customer.call("GET", f"/api/conversations/{cid}/messages").json()["items"]
    assert [m["body"] for m in history] == ["with header", "with field"]
