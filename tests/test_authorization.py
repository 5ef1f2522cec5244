"""Who may see or change what, on every surface, over real HTTP against gunicorn.

The route matrix: every route of the app (read from its URL map, so a new route fails
`test_every_route_is_in_the_matrix` until it is classified here), in each of its forms (page, htmx
fragment, JSON API, event stream), called by: a participant of a conversation, the other
participant, another customer, another store, an anonymous caller, a caller with forged
credentials and one with expired credentials. Outsiders get 404 (the same answer as for an id that
does not exist) or 401; your own data under /api/users/<id>/ answers others 403, the same for
every id. Nothing an outsider tries changes anything.

The event matrix: every event type is produced in one conversation while outsiders' streams (both
kinds) are open; they receive nothing of it, and each participant receives only what is theirs.
"""

import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
import requests
from bson import ObjectId
from itsdangerous import URLSafeSerializer

from elako.blueprints.events import HTML_TEMPLATES
from tests.support.answers import error_of
from tests.support.credentials import (
    claims_of, expire_session, expired_token, forged_token, session_cookie, session_data,
    unsigned_token,
)
from tests.support.html import parse
from tests.support.servers import JWT_SECRET

pytestmark = pytest.mark.e2e

SECRET = "e2e-secret-" + "y" * 40  # tests/support/servers.py
PASSWORD = "correct horse battery"
MISSING = str(ObjectId())  # an id that exists nowhere
SIGNED_IN = ("participant", "other participant", "another customer", "another store")
NOT_SIGNED_IN = ("anonymous", "forged", "expired")
ACTORS = SIGNED_IN + NOT_SIGNED_IN


# -- the people ------------------------------------------------------------------------------------

@dataclass
class Actor:
    """Someone calling the app: a bearer token for the API, a cookie and CSRF token for pages."""

    name: str
    user: object = None  # RemoteUser, for signed-in actors
    display_name: str = ""
    token: str | None = None
    cookie: str | None = None
    csrf: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def signed_in(self):
        return self.name in SIGNED_IN

    @property
    def role(self):
        return self.user.role if self.user else "customer"


def browser_credentials(server, user):
    """(cookie header, CSRF token) of a fresh signed-in browser session of `user`."""
    session = user.browser()
    html = session.get(server.url + "/settings", timeout=10).text
    token = parse(html).find_all("input", name="csrf_token")[0].attrs["value"]
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies), token


def api_sign_in(server, user):
    return requests.post(server.url + "/api/auth/token", timeout=10, json={
        "email": user.email, "password": PASSWORD}).json()


def fresh(server, actor):
    """The same actor with credentials of their own, for requests that end a session."""
    if not actor.signed_in:
        return actor
    cookie, csrf = browser_credentials(server, actor.user)
    token = api_sign_in(server, actor.user)["access_token"]
    return Actor(actor.name, actor.user, actor.display_name, token, cookie, csrf)


def renew(server, actor):
    """New credentials for an actor whose other sessions a request ended (its own kept going)."""
    if actor.signed_in:
        actor.cookie, actor.csrf = browser_credentials(server, actor.user)
        actor.token = actor.user.token = api_sign_in(server, actor.user)["access_token"]
        actor.user.headers = {"Authorization": f"Bearer {actor.token}"}


@pytest.fixture(scope="module")
def world(server, server_db):
    names = {"participant": ("customer", "Maria Santos"),
             "other participant": ("store", "Aling Nena's Store"),
             "another customer": ("customer", "Nosy Neighbour"),
             "another store": ("store", "Rival Store")}
    actors = {}
    for name, (role, display) in names.items():
        user = server.register(role, display)
        cookie, csrf = browser_credentials(server, user)
        actors[name] = Actor(name, user, display, user.token, cookie, csrf)
    customer, store = actors["participant"].user, actors["other participant"].user
    cid = customer.open_conversation(store)
    first = customer.send(cid, "Pabili po ng Milo")
    photo = customer.call("POST", f"/api/conversations/{cid}/messages",
                          files={"file": ("milo.png", tiny_png())}).json()["attachment"]["id"]
    store.send(cid, "Ilan po?")
    product = store.call("POST", "/api/products", json={"name": "Milo", "price_centavos": 1250})
    product_photo = store.call("PUT", f"/api/products/{product.json()['id']}/photo", files={
        "file": ("milo.png", tiny_png())}).json()["photo_url"].rsplit("/", 1)[-1]
    # The outsiders have a conversation of their own.
    actors["another customer"].user.open_conversation(actors["another store"].user)

    # Anonymous: no cookie but a browser session of its own, so CSRF is not what stops it.
    anonymous = requests.Session()
    html = anonymous.get(server.url + "/signin", timeout=10).text
    anon_csrf = parse(html).find_all("input", name="csrf_token")[0].attrs["value"]
    actors["anonymous"] = Actor("anonymous", cookie="; ".join(
        f"{c.name}={c.value}" for c in anonymous.cookies), csrf=anon_csrf)

    # Forged: the participant's own session id and token claims, signed with the wrong key.
    participant = actors["participant"]
    real = session_data(SECRET, participant.cookie.split("elako_session=", 1)[1].split(";")[0])
    actors["forged"] = Actor(
        "forged", token=forged_token(participant.token),
        cookie=session_cookie("not-the-secret-" + "f" * 40, real), csrf=participant.csrf,
        extra={"alg_none": unsigned_token(participant.token)})

    # Expired: the participant's own credentials, correctly signed, whose time has passed.
    cookie, csrf = browser_credentials(server, customer)
    sid = session_data(SECRET, cookie.split("elako_session=", 1)[1].split(";")[0])["sid"]
    expire_session(server, server_db(server), sid)
    actors["expired"] = Actor("expired", token=expired_token(participant.token, JWT_SECRET),
                              cookie=cookie, csrf=csrf)
    unsubscribe = URLSafeSerializer(SECRET, salt="email-alerts-off").dumps(customer.id)
    return {"server": server, "actors": actors, "cid": cid, "first_message": first["id"],
            "unsubscribe": unsubscribe, "attachment": photo, "product": product.json()["id"],
            "product_photo": product_photo,
            "order": None,  # the participant's pending order for the order routes (pending_order)
            # The matrix changes the participants' passwords, which voids reset links: this one
            # is for an account of its own.
            **email_links(server_db(server), server.register("customer", "Forgetful"))}


def stock(db, store, name):
    """Something to order: a product of `store`, straight into the server's database (the
    catalogue's routes are not what these matrices are about). Returns its id."""
    product, now = ObjectId(), datetime.now(timezone.utc).replace(tzinfo=None)
    db.products.insert_one({"_id": product, "store_id": ObjectId(store.id), "name": name,
                            "price_centavos": 32550, "description": "", "in_stock": True,
                            "created_at": now, "updated_at": now})
    return str(product)


def email_links(db, user):
    """Tokens of `user`'s password reset and verification links, made by the app's own code
    with the server's key."""
    from flask import Flask

    from elako.services import password_reset, verification

    stored = db.users.find_one({"_id": ObjectId(user.id)})
    account = SimpleNamespace(id=user.id, email=stored["email"],
                              password_hash=stored["password_hash"])
    signer = Flask(__name__)
    signer.config.update(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=[])
    with signer.app_context():
        return {"reset": password_reset.make_token(account),
                "verify": verification.make_token(account)}


def tiny_png():
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(out, "PNG")
    return out.getvalue()


# -- the routes ------------------------------------------------------------------------------------

@dataclass
class Route:
    """One route: who may use it (`access`), and how to call it."""

    # public | signed_in | customers | stores | reachable | conversation | message | own |
    # own_session | webhook (the other participant's, a store) | quick_reply (the other
    # participant's; customers are told it is for stores) | link (a signed link is the
    # credential: anyone holding it) | product (the other participant's, a store's: issue 10) |
    # ordering (customers; stores are told it is for customers) | conversation_customer (the
    # conversation's customer; the store in it is told so) | order (a pending order's
    # participants, each making a move of their own: the customer cancels, the store accepts;
    # the customer is refused the store's move)
    access: str
    path: str  # with {cid}, {mid}, {uid}, {store}, {customer}, {first}, {hook}, {unsubscribe},
    # {reset}, {verify}, {att} (a photo in the conversation), {reply} (a quick reply), {unique},
    # {product} (the store's), {pphoto} (a product photo), {order} (the participant's pending
    # order), {move} (an order status)
    surface: str  # page | api | stream
    json: object = None  # a dict, or a function of the actor
    form: dict = None
    ok: tuple = ()  # the statuses that mean "allowed"
    htmx: bool = True  # pages: also call it as htmx does
    ends_session: bool = False
    ends_other_sessions: bool = False
    undo: object = None  # API method+path that reverses an allowed call, or a function
    # (actor, order) that does
    upload: str | None = None  # the field of a photo sent as multipart/form-data


CONVERSATION_ACTIONS = ("archive", "unarchive", "block", "unblock")

ROUTES = {
    # public
    ("pages.home", "GET"): Route("public", "/", "page", ok=(302,), htmx=False),
    ("auth.sign_in", "GET"): Route("public", "/signin", "page", ok=(200, 302), htmx=False),
    # signing in (or up) ends the session the browser had
    ("auth.sign_in", "POST"): Route("public", "/signin", "page", ok=(303,), htmx=False,
                                    form={"email": "{email}", "password": PASSWORD},
                                    ends_session=True),
    ("auth.sign_up", "GET"): Route("public", "/signup", "page", ok=(200,), htmx=False),
    ("auth.sign_up", "POST"): Route("public", "/signup", "page", ok=(303,), htmx=False,
                                    form={"role": "customer", "name": "New", "email": "{new_email}",
                                          "password": PASSWORD}, ends_session=True),
    ("auth.session_ended", "GET"): Route("public", "/session-ended", "page", ok=(303,),
                                         htmx=False),
    ("auth.sign_up_sent", "GET"): Route("public", "/signup/sent", "page", ok=(200,), htmx=False),
    ("auth.forgot_password", "GET"): Route("public", "/password-reset", "page", ok=(200,),
                                           htmx=False),
    ("auth.forgot_password", "POST"): Route("public", "/password-reset", "page", ok=(303,),
                                            htmx=False, form={"email": "{email}"}),
    ("auth.reset_sent", "GET"): Route("public", "/password-reset/sent", "page", ok=(200,),
                                      htmx=False),
    ("api.request_password_reset", "POST"): Route("public", "/api/auth/password-reset", "api",
                                                  ok=(202,), json={"email": "{email}"}),
    # a reset link takes whoever holds it to the new password's rules (a short one: refused, so
    # the link stays usable for the next caller)
    ("auth.reset_password", "GET"): Route("link", "/password-reset/{reset}", "page", ok=(200,),
                                          htmx=False),
    ("auth.reset_password", "POST"): Route("link", "/password-reset/{reset}", "page", ok=(422,),
                                           htmx=False, form={"password": "short"}),
    ("api.confirm_password_reset", "POST"): Route(
        "link", "/api/auth/password-reset/confirm", "api", ok=(422,),
        json={"token": "{reset}", "password": "short"}),
    ("auth.verify_email", "GET"): Route("link", "/verify-email/{verify}", "page", ok=(200,),
                                        htmx=False),
    ("auth.verify_email", "POST"): Route("link", "/verify-email/{verify}", "page", ok=(200,),
                                         htmx=False),

    ("auth.sign_out", "POST"): Route("public", "/signout", "page", ok=(303,), htmx=False,
                                     ends_session=True),
    ("assets.static", "GET"): Route("public", "/static/elako.js", "page", ok=(200,), htmx=False),
    ("health.healthz", "GET"): Route("public", "/healthz", "api", ok=(200,)),
    # no METRICS_TOKEN on this server: nobody, signed in or not, gets the metrics
    ("health.prometheus_metrics", "GET"): Route("public", "/metrics", "api", ok=(404,)),
    ("api.register", "POST"): Route("public", "/api/auth/register", "api", ok=(201,), json={
        "role": "customer", "name": "New", "email": "{new_email}", "password": PASSWORD}),
    ("api.token", "POST"): Route("public", "/api/auth/token", "api", ok=(200,),
                                 json={"email": "{email}", "password": PASSWORD}),
    ("api.openapi_document", "GET"): Route("public", "/api/openapi.json", "api", ok=(200,)),
    ("api.reference", "GET"): Route("public", "/api/docs", "page", ok=(200,), htmx=False),
    ("api.refresh_token", "POST"): Route(
        "public", "/api/auth/refresh", "api", ok=(200,), json=lambda actor, w: {
            "refresh_token": api_sign_in(w["server"], w["actors"]["participant"].user)[
                "refresh_token"]}),
    # any signed-in user, about themselves
    ("pages.inbox", "GET"): Route("signed_in", "/inbox", "page", ok=(200,)),
    ("pages.stores", "GET"): Route("signed_in", "/stores", "page", ok=(200, 303)),  # stores: inbox
    ("pages.settings", "GET"): Route("signed_in", "/settings", "page", ok=(200,), htmx=False),
    ("pages.settings", "POST"): Route("signed_in", "/settings", "page", ok=(303,), htmx=False,
                                      form={"name": "{name}", "timezone": "Asia/Manila"}),
    ("pages.change_password", "POST"): Route(
        "signed_in", "/settings/password", "page", ok=(303,), htmx=False,
        form={"current_password": PASSWORD, "new_password": PASSWORD}, ends_other_sessions=True),
    ("pages.end_other_sessions", "POST"): Route(
        "signed_in", "/settings/sessions/end-others", "page", ok=(303,), htmx=False,
        ends_other_sessions=True),
    ("api.update_me", "PATCH"): Route("signed_in", "/api/me", "api", ok=(200,),
                                      json={"name": "{name}", "email_alerts": True}),
    ("api.change_password", "POST"): Route(
        "signed_in", "/api/me/password", "api", ok=(204,),
        json={"current_password": PASSWORD, "new_password": PASSWORD}, ends_other_sessions=True),
    ("api.list_sessions", "GET"): Route("signed_in", "/api/me/sessions", "api", ok=(200,)),
    ("auth.resend_verification", "POST"): Route("signed_in", "/settings/verify-email", "page",
                                                ok=(303,), htmx=False),
    ("api.resend_verification", "POST"): Route("signed_in", "/api/me/email-verification", "api",
                                               ok=(202,)),
    ("api.end_other_sessions", "POST"): Route("signed_in", "/api/me/sessions/end-others", "api",
                                              ok=(200,), ends_other_sessions=True),
    # Data rights. The matrix's actors must outlive it, so deleting is tried with a wrong
    # password: allowed callers are refused by that alone (tests/test_data_rights.py deletes).
    ("pages.export_data", "GET"): Route("signed_in", "/settings/export", "page", ok=(200,),
                                        htmx=False),
    ("api.export_me", "GET"): Route("signed_in", "/api/me/export", "api", ok=(200,)),
    ("pages.delete_account", "GET"): Route("signed_in", "/settings/delete", "page", ok=(200,),
                                           htmx=False),
    ("pages.delete_account", "POST"): Route("signed_in", "/settings/delete", "page", ok=(403,),
                                            htmx=False, form={"password": "not the password"}),
    ("api.delete_me", "DELETE"): Route("signed_in", "/api/me", "api", ok=(403,),
                                       json={"password": "not the password"}),
    ("pages.account_deleted", "GET"): Route("public", "/account-deleted", "page", ok=(200,),
                                            htmx=False),
    ("events.browser_stream", "GET"): Route("signed_in", "/events", "stream", ok=(200,)),
    ("events.stream", "GET"): Route("signed_in", "/api/events", "stream", ok=(200,)),
    ("events.poll", "GET"): Route("signed_in", "/api/events/poll?timeout=0", "api", ok=(200,)),
    ("api.me", "GET"): Route("signed_in", "/api/me", "api", ok=(200,)),
    ("api.stores", "GET"): Route("signed_in", "/api/stores", "api", ok=(200,)),
    ("api.revoke_token", "DELETE"): Route("signed_in", "/api/auth/token", "api", ok=(204,),
                                          ends_session=True),
    # customers open any; a store only the conversation of a customer who wrote to it
    ("api.open_conversation", "POST"): Route(
        "reachable", "/api/conversations", "api", ok=(200, 201),
        json=lambda actor, w: ({"customer_id": "{customer}"} if actor.role == "store"
                               else {"store_id": "{store}"})),
    ("pages.start_chat", "POST"): Route("customers", "/stores/{store}/chat", "page",
                                        ok=(303,), htmx=False),
    ("alerts.activity_signal", "POST"): Route("signed_in", "/activity", "page", ok=(204,)),
    ("alerts.email_alerts", "POST"): Route("signed_in", "/settings/email-alerts", "page",
                                           ok=(303,), htmx=False, form={"email_alerts": "on"}),
    ("alerts.unsubscribe", "GET"): Route("link", "/unsubscribe/{unsubscribe}", "page", ok=(200,),
                                         htmx=False),
    ("alerts.unsubscribe", "POST"): Route("link", "/unsubscribe/{unsubscribe}", "page",
                                          ok=(200,), htmx=False),
    # stores, and their own webhook endpoints
    ("webhooks.create", "POST"): Route("stores", "/api/webhooks", "api", ok=(201,), json={
        "url": "https://hooks.example.ph/elako", "events": ["message.created"]},
        undo="DELETE /api/webhooks/{created}"),
    ("webhooks.list_endpoints", "GET"): Route("stores", "/api/webhooks", "api", ok=(200,)),
    ("webhooks.delete", "DELETE"): Route("webhook", "/api/webhooks/{hook}", "api", ok=(204,)),
    ("webhooks.send_test", "POST"): Route("webhook", "/api/webhooks/{hook}/test", "api",
                                          ok=(202,)),
    ("webhooks.deliveries", "GET"): Route("webhook", "/api/webhooks/{hook}/deliveries", "api",
                                          ok=(200,)),
    # stores, and their own quick replies
    ("api.list_quick_replies", "GET"): Route("stores", "/api/quick-replies", "api", ok=(200,)),
    ("api.create_quick_reply", "POST"): Route(
        "stores", "/api/quick-replies", "api", ok=(201,),
        json={"shortcut": "{unique}", "text": "Salamat po!"},
        undo="DELETE /api/quick-replies/{created}"),
    ("api.update_quick_reply", "PATCH"): Route("quick_reply", "/api/quick-replies/{reply}", "api",
                                               ok=(200,), json={"text": "Salamat!"}),
    ("api.delete_quick_reply", "DELETE"): Route("quick_reply", "/api/quick-replies/{reply}",
                                                "api", ok=(204,)),
    ("pages.quick_replies_settings", "GET"): Route("stores", "/settings/quick-replies", "page",
                                                   ok=(200,), htmx=False),
    ("pages.quick_replies_settings", "POST"): Route(
        "stores", "/settings/quick-replies", "page", ok=(303,),
        form={"shortcut": "{unique}", "text": "Salamat po!"}),
    ("pages.update_quick_reply", "POST"): Route(
        "quick_reply", "/settings/quick-replies/{reply}", "page", ok=(303,),
        form={"shortcut": "{unique}", "text": "Salamat!"}),
    ("pages.delete_quick_reply", "POST"): Route(
        "quick_reply", "/settings/quick-replies/{reply}/delete", "page", ok=(303,)),
    # a store's own opening hours (issue 10); no away message, so sends get no automatic reply
    ("pages.business_hours", "GET"): Route("stores", "/settings/hours", "page", ok=(200,),
                                           htmx=False),
    ("pages.business_hours", "POST"): Route("stores", "/settings/hours", "page", ok=(303,),
                                            htmx=False, form={"timezone": "Asia/Manila",
                                                              "mon": "07:00-19:00"}),
    ("api.store_hours", "GET"): Route("stores", "/api/stores/me/hours", "api", ok=(200,)),
    ("api.set_store_hours", "PUT"): Route("stores", "/api/stores/me/hours", "api", ok=(200,),
                                          json={"timezone": "Asia/Manila",
                                                "weekly": {"mon": [["07:00", "19:00"]]}}),
    ("api.clear_store_hours", "DELETE"): Route("stores", "/api/stores/me/hours", "api",
                                               ok=(204,)),
    # orders: customers place them (in a conversation, its customer only), then the order's two
    # participants move them along; everyone lists their own
    ("api.place_order", "POST"): Route(
        "conversation_customer", "/api/conversations/{cid}/orders", "api", ok=(201,),
        json={"items": [{"product_id": "{product}", "quantity": 1}]},
        undo=lambda actor, order: cancel_newest_order(actor)),
    ("pages.place_order", "POST"): Route(
        "ordering", "/stores/{store}/orders", "page", ok=(303,), htmx=False,
        form={"quantity-{product}": "2", "note": "from {name}"},
        undo=lambda actor, order: cancel_newest_order(actor)),
    ("api.change_order", "PATCH"): Route("order", "/api/orders/{order}", "api", ok=(200,),
                                         json={"status": "{move}"},
                                         undo=lambda actor, order: close_order(actor, order)),
    ("pages.change_order", "POST"): Route("order", "/orders/{order}/status", "page",
                                          ok=(200, 303), form={"status": "{move}"},
                                          undo=lambda actor, order: close_order(actor, order)),
    ("api.list_orders", "GET"): Route("signed_in", "/api/orders", "api", ok=(200,)),
    # one conversation's participants only
    ("pages.conversation", "GET"): Route("conversation", "/c/{cid}", "page", ok=(200,)),
    ("pages.send", "POST"): Route("conversation", "/c/{cid}/messages", "page", ok=(200, 303),
                                  form={"body": "from {name}"}),
    ("pages.mark_read", "POST"): Route("conversation", "/c/{cid}/read", "page", ok=(204, 303)),
    ("pages.typing_signal", "POST"): Route("conversation", "/c/{cid}/typing", "page", ok=(204,),
                                           form={"state": "start"}),
    ("pages.conversation_action", "POST"): Route("conversation", "/c/{cid}/{action}", "page",
                                                 ok=(303,), htmx=False),
    ("api.get_conversation", "GET"): Route("conversation", "/api/conversations/{cid}", "api",
                                           ok=(200,)),
    ("api.list_messages", "GET"): Route("conversation", "/api/conversations/{cid}/messages",
                                        "api", ok=(200,)),
    ("api.send_message", "POST"): Route("conversation", "/api/conversations/{cid}/messages", "api",
                                        ok=(201,), json={"body": "from {name}"}),
    ("api.mark_read", "PATCH"): Route("conversation", "/api/conversations/{cid}/read", "api",
                                      ok=(200,), json={}),
    ("api.typing_signal", "POST"): Route("conversation", "/api/conversations/{cid}/typing", "api",
                                         ok=(204,), json={"state": "start"}),
    ("api.archive", "POST"): Route("conversation", "/api/conversations/{cid}/archive", "api",
                                   ok=(200,), undo="DELETE /api/conversations/{cid}/archive"),
    ("api.unarchive", "DELETE"): Route("conversation", "/api/conversations/{cid}/archive", "api",
                                       ok=(200,)),
    ("api.block", "POST"): Route("conversation", "/api/conversations/{cid}/block", "api",
                                 ok=(200,), undo="DELETE /api/conversations/{cid}/block"),
    ("api.unblock", "DELETE"): Route("conversation", "/api/conversations/{cid}/block", "api",
                                     ok=(200,)),
    ("pages.attachment", "GET"): Route("conversation", "/a/{att}", "page", ok=(200,)),
    ("api.attachment", "GET"): Route("conversation", "/api/attachments/{att}", "api", ok=(200,)),
    # the sender's own message only
    ("pages.delete_message", "POST"): Route("message", "/m/{mid}/delete", "page", ok=(204, 303)),
    ("api.delete_message", "DELETE"): Route("message", "/api/messages/{mid}", "api", ok=(200,)),
    # the caller's own data only
    ("api.list_conversations", "GET"): Route("own", "/api/users/{uid}/conversations", "api",
                                             ok=(200,)),
    ("api.unread_count", "GET"): Route("own", "/api/users/{uid}/unread-count", "api", ok=(200,)),
    # the caller's own sessions only
    ("pages.end_session", "POST"): Route("own_session", "/settings/sessions/{sid}/end", "page",
                                         ok=(303,), htmx=False),
    ("api.end_session", "DELETE"): Route("own_session", "/api/me/sessions/{sid}", "api",
                                         ok=(204,)),
    # -- catalogue (issue 10): anyone signed in sees it, only its store changes it (customers are
    # told it is for stores; another store's product is not found)
    ("api.list_products", "GET"): Route("signed_in", "/api/stores/{store}/products", "api",
                                        ok=(200,)),
    ("api.product_photo", "GET"): Route("signed_in", "/api/product-photos/{pphoto}", "api",
                                        ok=(200,)),
    ("pages.product_photo", "GET"): Route("signed_in", "/product-photos/{pphoto}", "page",
                                          ok=(200,), htmx=False),
    ("pages.store_page", "GET"): Route("signed_in", "/stores/{store}", "page", ok=(200,),
                                       htmx=False),
    ("api.create_product", "POST"): Route("stores", "/api/products", "api", ok=(201,), json={
        "name": "Kape", "price_centavos": 1250}, undo="DELETE /api/products/{created}"),
    ("pages.products", "GET"): Route("stores", "/products", "page", ok=(200,), htmx=False),
    ("pages.products", "POST"): Route("stores", "/products", "page", ok=(303,), htmx=False,
                                      form={"name": "Kape", "price": "12.50"}),
    ("api.update_product", "PATCH"): Route("product", "/api/products/{product}", "api", ok=(200,),
                                           json={"price_centavos": 1300}),
    ("api.archive_product", "DELETE"): Route("product", "/api/products/{product}", "api",
                                             ok=(204,)),
    ("api.set_product_photo", "PUT"): Route("product", "/api/products/{product}/photo", "api",
                                            ok=(200,), upload="file"),
    ("api.remove_product_photo", "DELETE"): Route("product", "/api/products/{product}/photo",
                                                  "api", ok=(200,)),
    ("pages.edit_product", "POST"): Route("product", "/products/{product}", "page", ok=(303,),
                                          htmx=False, form={"name": "Kape", "price": "13"}),
    ("pages.product_stock", "POST"): Route("product", "/products/{product}/stock", "page",
                                           ok=(303,), htmx=False, form={"in_stock": "0"}),
    ("pages.remove_product", "POST"): Route("product", "/products/{product}/remove", "page",
                                            ok=(303,), htmx=False),
    ("pages.ask_about_product", "POST"): Route("customers", "/stores/{store}/ask", "page",
                                               ok=(303,), htmx=False,
                                               form={"product_id": "{product}"}),
    # a store sends its products from here; its customer is told that is for stores
    ("pages.send_product", "GET"): Route("conversation", "/c/{cid}/products", "page",
                                         ok=(200, 403), htmx=False),
    ("pages.send_product", "POST"): Route("conversation", "/c/{cid}/products", "page",
                                          ok=(303, 403), htmx=False,
                                          form={"product_id": "{product}"}),
}

# Posted by mail providers with no token: the signed link is the credential (test_csrf.py).
NO_CSRF_TOKEN = {("alerts.unsubscribe", "POST")}

# Extra forms of a route: htmx's "older messages" fragment of a thread.
EXTRA_PATHS = {("pages.conversation", "GET"): ["/c/{cid}?before={first}"]}


def test_every_route_is_in_the_matrix(app):
    found = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
             for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert found == set(ROUTES), (
        f"not in the matrix: {sorted(found - set(ROUTES))}; gone: {sorted(set(ROUTES) - found)}")


def test_every_event_type_is_in_the_event_matrix():
    assert set(HTML_TEMPLATES) == set(EVENT_TYPES)


# -- calling a route -------------------------------------------------------------------------------

_counter = iter(range(10**6))


def fill(value, values):
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, dict):
        return {fill(k, values): fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    return value


def call(w, actor, key, path, *, htmx=False, mid=None, hook=None, reply=None, product=None,
         order=None, move=None, ghost=False):
    """Call route `key` at `path` as `actor`; a `ghost` call names ids that exist nowhere. An
    order route asks for `move`, by default the actor's own (OWN_MOVES)."""
    route, method = ROUTES[key], key[1]
    server, actors = w["server"], w["actors"]
    participant = actors["participant"].user
    ids = {"cid": w["cid"], "uid": participant.id, "store": actors["other participant"].user.id,
           "customer": participant.id, "hook": hook or MISSING, "att": w["attachment"],
           "reply": reply or MISSING, "product": product or w["product"],
           "pphoto": w["product_photo"], "order": order or MISSING}
    if route.access == "own_session":  # a session of the participant's own to end
        ids["sid"] = claims_of(api_sign_in(server, participant)["access_token"])["sid"]
    if ghost:
        ids = dict.fromkeys(ids, MISSING)
    values = {**ids, "mid": mid or MISSING, "first": w["first_message"],
              "unsubscribe": w["unsubscribe"], "reset": w["reset"], "verify": w["verify"],
              "email": actor.user.email if actor.user else actors["participant"].user.email,
              "new_email": f"new{next(_counter)}-{ObjectId()}@example.ph",
              "name": actor.display_name or "Somebody", "unique": f"u{next(_counter)}",
              "move": move or OWN_MOVES[actor.role]}
    url = server.url + fill(path, values)
    headers, kwargs = {}, {}
    if route.surface in ("api", "stream") and url.startswith(server.url + "/api/"):
        if actor.token:
            headers["Authorization"] = f"Bearer {actor.token}"
    elif actor.cookie:
        headers["Cookie"] = actor.cookie
    if route.surface == "page" and method == "POST":
        form = fill(route.form or {}, values)
        if htmx:
            headers["X-CSRFToken"] = actor.csrf or ""
        else:
            form["csrf_token"] = actor.csrf or ""
        kwargs["data"] = form
    if route.upload:
        kwargs["files"] = {route.upload: ("photo.png", tiny_png())}
    body = route.json(actor, w) if callable(route.json) else route.json
    if body is not None:
        kwargs["json"] = fill(body, values)
    if htmx:
        headers["HX-Request"] = "true"
    if route.surface == "stream":
        headers["Accept"] = "text/event-stream"
        response = requests.get(url, headers=headers, stream=True, timeout=10)
        if response.status_code == 200:
            response.close()  # it would stream forever
        else:
            response.content  # a refusal: read it for the checks
        return response
    return requests.request(method, url, headers=headers, allow_redirects=False, timeout=10,
                            **kwargs)


def error_text(response):
    """What an error answer says, whatever its form."""
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return error_of(response.json())
    root = parse(response.text)
    notes = root.with_class("error-note") or [p for s in root.with_class("error-page")
                                              for p in s.find_all("p")][:1]
    return [n.text for n in notes]


# -- the matrix ------------------------------------------------------------------------------------

def expected_denial(key, path, actor, response, htmx):
    """Problems with how a caller who is not signed in was refused (empty when right)."""
    route, method = ROUTES[key], key[1]
    if path.startswith("/api/"):
        code = {"anonymous": "missing_token", "forged": "invalid_token",
                "expired": "token_expired"}[actor.name]
        if response.status_code != 401 or response.json()["error"]["code"] != code:
            return [f"{response.status_code} {response.text[:120]}, expected 401 {code}"]
        return []
    if route.surface == "stream":
        return [] if response.status_code == 401 else [f"{response.status_code}, expected 401"]
    if actor.name == "forged" and method == "POST":
        return forged_post(response)
    if htmx:
        if response.status_code == 204 and response.headers.get("HX-Redirect") == "/signin":
            return []
        return [f"htmx {response.status_code}, expected 204 with HX-Redirect to /signin"]
    if response.status_code == 302 and response.headers["Location"].startswith("/signin"):
        return []
    return [f"{response.status_code} to {response.headers.get('Location')}, expected sign-in"]


def forged_post(response):
    """A forged cookie is thrown away whole, CSRF token included: the form is refused."""
    if response.status_code == 400 and "did not come from this site" in response.text:
        return []
    return [f"{response.status_code}, expected 400 (CSRF)"]


def forms_of(route, key):
    paths = [route.path] + EXTRA_PATHS.get(key, [])
    if key == ("pages.conversation_action", "POST"):
        paths = [route.path.replace("{action}", action) for action in CONVERSATION_ACTIONS]
    forms = [(path, False) for path in paths]
    if route.surface == "page" and route.htmx:
        forms += [(path, True) for path in paths]
    return forms


# Each side's move on a pending order (orders.TRANSITIONS), and the store's that the customer tries.
OWN_MOVES = {"customer": "cancelled", "store": "accepted"}
STORES_MOVE = "accepted"


def pending_order(w):
    """The participant's pending order the order routes are tried on: placed when the last one
    was moved on, so refused calls (which must leave it pending) share one."""
    if w["order"] is None:
        customer = w["actors"]["participant"].user
        response = customer.call("POST", f"/api/conversations/{w['cid']}/orders", json={
            "items": [{"product_id": w["product"], "quantity": 1}]})
        assert response.status_code == 201, response.text
        w["order"] = response.json()["order"]["id"]
    return w["order"]


def order_left_pending(w, order, label):
    """Problems if `order` is no longer pending (empty when it is)."""
    customer = w["actors"]["participant"].user
    pending = customer.call("GET", "/api/orders", params={"status": "pending", "limit": 100})
    if order in [o["id"] for o in pending.json()["items"]]:
        return []
    return [f"{label}: the order was changed anyway"]


def stores_move_refused(w, actor, key, path, htmx, order, label):
    """The customer making the store's move: 403 (a plain form: back to the thread, which says
    why), and the order stays pending."""
    response = call(w, actor, key, path, htmx=htmx, order=order, move=STORES_MOVE)
    expected = 303 if ROUTES[key].surface == "page" and not htmx else 403
    if response.status_code != expected:
        return [f"{label} ({STORES_MOVE}): {response.status_code} {response.text[:160]}, "
                f"expected {expected}"]
    return order_left_pending(w, order, f"{label} ({STORES_MOVE})")


def newest_order(user):
    """The id of the newest order `user` placed or received, if any."""
    items = user.call("GET", "/api/orders", params={"limit": 1}).json()["items"]
    return items[0]["id"] if items else None


def cancel(user, order):
    response = user.call("PATCH", f"/api/orders/{order}", json={"status": "cancelled"})
    assert response.status_code == 200, response.text


def cancel_newest_order(actor):
    """Undo placing an order: its customer cancels it, so the store's open orders stay as they
    were."""
    cancel(actor.user, newest_order(actor.user))


def close_order(actor, order):
    """Undo the store accepting an order by cancelling it, which closes it (the customer's move,
    cancelling, closed it already)."""
    if actor.role == "store":
        cancel(actor.user, order)


def check(w, key, actor):
    """Call every form of route `key` as `actor`; return what was wrong."""
    route = ROUTES[key]
    server, actors = w["server"], w["actors"]
    participant, owner = actors["participant"].user, actors["other participant"].user
    problems = []
    for path, htmx in forms_of(route, key):
        label = f"{actor.name} {key[1]} {path}{' (htmx)' if htmx else ''}"
        caller = fresh(server, actor) if route.ends_session else actor
        mid = hook = reply = order = None
        if route.access == "message":
            mid = participant.send(w["cid"], f"to unsend {next(_counter)}")["id"]
        if route.access == "webhook":
            hook = owner.call("POST", "/api/webhooks", json={
                "url": "https://hooks.example.ph/elako", "events": ["message.created"]}).json()["id"]
        if route.access == "quick_reply":
            reply = owner.call("POST", "/api/quick-replies", json={
                "shortcut": f"r{next(_counter)}", "text": "Salamat po!"}).json()["id"]
        product = None
        if route.access == "product":  # a fresh one: an allowed call may archive it
            product = owner.call("POST", "/api/products", json={
                "name": "Kape", "price_centavos": 1250}).json()["id"]
        if route.access in ("conversation_customer", "ordering"):
            store_orders = newest_order(owner)
        if route.access == "order":
            order = pending_order(w)
            if actor.name == "participant":
                problems += stores_move_refused(w, caller, key, path, htmx, order, label)
        response = call(w, caller, key, path, htmx=htmx, mid=mid, hook=hook, reply=reply,
                        product=product, order=order)
        if hook:
            owner.call("DELETE", f"/api/webhooks/{hook}")  # a store may have only so many
        if reply:
            owner.call("DELETE", f"/api/quick-replies/{reply}")  # and only so many replies
        status = response.status_code
        if (route.access in ("public", "link") and actor.name == "forged" and key[1] == "POST"
                and route.surface == "page" and key not in NO_CSRF_TOKEN):
            problems += [f"{label}: {p}" for p in forged_post(response)]
            continue

        allowed = (route.access in ("public", "link")
                   or (actor.signed_in and route.access == "signed_in")
                   or (actor.signed_in and route.access in ("customers", "reachable", "ordering")
                       and actor.role == "customer")
                   or (actor.signed_in and route.access == "stores" and actor.role == "store")
                   or (route.access in ("webhook", "quick_reply", "product")
                       and actor.name == "other participant")
                   or (route.access in ("conversation", "reachable", "order")
                       and actor.name in ("participant", "other participant"))
                   or (route.access in ("message", "own", "own_session", "conversation_customer")
                       and actor.name == "participant"))
        if allowed:
            if status not in route.ok:
                problems.append(f"{label}: {status} {response.text[:160]}, expected {route.ok}")
            if route.ends_other_sessions:
                renew(server, actor)
            if order:
                w["order"] = None  # moved on: the next call gets a pending one
            if callable(route.undo):
                route.undo(actor, order)
            elif route.undo:
                method, undo_path = route.undo.split(" ", 1)
                created = response.json().get("id") if route.surface == "api" else None
                actor.user.call(method, fill(undo_path, {"cid": w["cid"], "created": created}))
            continue
        if not actor.signed_in:
            problems += [f"{label}: {p}"
                         for p in expected_denial(key, path, actor, response, htmx)]
        else:
            # Stores-only (customers-only) routes are no secret: a customer (store) is told so.
            expected = 403 if (route.access in ("own", "stores", "ordering") or (
                route.access in ("quick_reply", "product") and actor.role == "customer")) else 404
            # The store in the conversation knows it exists: told it is the customer's to order
            # in (a conversation that does not exist stays 404).
            participant_refused = (route.access == "conversation_customer"
                                   and actor.name == "other participant")
            if participant_refused:
                expected = 403
            # The same answer as for something that does not exist: no existence leak.
            ghost = call(w, caller, key, path, htmx=htmx, hook=hook, ghost=True)
            if status != expected or ghost.status_code != (404 if participant_refused
                                                           else expected):
                problems.append(f"{label}: {status} {response.text[:160]}, expected {expected}")
            elif not participant_refused and error_text(response) != error_text(ghost):
                problems.append(f"{label}: {error_text(response)} differs from "
                                f"{error_text(ghost)} for a missing id")
        if order is not None:  # a refused move left the order alone
            problems += order_left_pending(w, order, label)
        if route.access in ("conversation_customer", "ordering") and (
                newest_order(owner) != store_orders):  # a refused order was not placed
            problems.append(f"{label}: an order was placed anyway")
        if mid is not None:  # a refused unsend left the message alone
            history = participant.call("GET", f"/api/conversations/{w['cid']}/messages").json()
            [message] = [m for m in history["items"] if m["id"] == mid]
            if message["deleted"] or not message["body"]:
                problems.append(f"{label}: the message was deleted anyway")
    return problems


@pytest.mark.parametrize("key", sorted(ROUTES), ids=lambda key: f"{key[1]} {key[0]}")
def test_route_matrix(world, key):
    problems = []
    for name in ACTORS:
        problems += check(world, key, world["actors"][name])
    assert not problems, "\n".join(problems)


def test_forged_alg_none_token_is_refused(world):
    forged = world["actors"]["forged"]
    for path in ("/api/me", f"/api/conversations/{world['cid']}", "/api/events"):
        response = requests.get(world["server"].url + path, timeout=10, headers={
            "Authorization": f"Bearer {forged.extra['alg_none']}"})
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "invalid_token"


def test_outsiders_changed_nothing(world):
    """After the whole matrix: only the two participants wrote in the conversation, and its
    state is theirs (not archived or blocked by anyone, which would show in their views)."""
    actors = world["actors"]
    participant, other = actors["participant"].user, actors["other participant"].user
    history = participant.call("GET", f"/api/conversations/{world['cid']}/messages",
                               params={"limit": 100}).json()["items"]
    assert {m["sender_id"] for m in history} <= {participant.id, other.id}
    for user in (participant, other):
        view = user.call("GET", f"/api/conversations/{world['cid']}").json()
        assert not (view["blocked_by_me"] or view["blocked_by_other"] or view["archived"])


def test_order_lists_hold_only_your_own_orders(world):
    """GET /api/orders answers everyone signed in, with their own orders only."""
    actors = world["actors"]
    order = pending_order(world)
    for name in SIGNED_IN:
        listed = actors[name].user.call("GET", "/api/orders", params={"limit": 100})
        ids = {o["id"] for o in listed.json()["items"]}
        assert (order in ids) == (name in ("participant", "other participant")), name
        assert all(actors[name].user.id in (o["customer_id"], o["store_id"])
                   for o in listed.json()["items"]), name


# -- the event matrix ------------------------------------------------------------------------------

EVENT_TYPES = ("message", "message_deleted", "read", "delivered", "conversation", "typing",
               "presence", "resync", "signed_out", "order")


def test_event_matrix(server, server_db, sse):
    """Each event type happens in one conversation; outsiders see none of it, participants see
    theirs. Another customer of the same store may see only the store's presence."""
    customer = server.register("customer", "Maria")
    store = server.register("store", "Sari-Sari")
    cid = customer.open_conversation(store)
    first = customer.send(cid, "first")  # now they are each other's counterparts for presence
    product = stock(server_db(server), store, "Secret Milo")
    outsider_c = server.register("customer", "Outsider Customer")
    outsider_s = server.register("store", "Outsider Store")
    outsiders_cid = outsider_c.open_conversation(outsider_s)
    neighbour = server.register("customer", "Same Store's Other Customer")
    neighbours_cid = neighbour.open_conversation(store)
    neighbour.send(neighbours_cid, "hello store")

    def streams_of(user):
        cookie = "; ".join(f"{c.name}={c.value}" for c in user.browser().cookies)
        return {"json": sse(user.events_url(), headers=user.headers),
                "html": sse(server.url + "/events", headers={"Cookie": cookie})}

    watchers = {"outsider customer": (streams_of(outsider_c), outsiders_cid),
                "outsider store": (streams_of(outsider_s), outsiders_cid),
                "neighbour": (streams_of(neighbour), neighbours_cid)}
    store_streams = streams_of(store)
    for stream in [*store_streams.values()] + [s for w, _ in watchers.values() for s in w.values()]:
        stream.wait_for_comments(1)
    customer_browser = customer.browser()
    customer_cookie = "; ".join(f"{c.name}={c.value}" for c in customer_browser.cookies)
    customer_streams = {"json": sse(customer.events_url(), headers=customer.headers),
                        "html": sse(server.url + "/events", headers={"Cookie": customer_cookie})}
    for stream in customer_streams.values():
        stream.wait_for_comments(1)  # connected: the store was told the customer is online

    # Every event type, in the customer and store's conversation.
    sent = customer.send(cid, "secret order: 2 kilos")
    customer_streams["json"].wait_for("delivered")
    store.call("POST", f"/api/conversations/{cid}/typing", json={"state": "start"})
    customer.call("POST", f"/api/conversations/{cid}/typing", json={"state": "start"})
    store.call("PATCH", f"/api/conversations/{cid}/read", json={})
    customer.call("DELETE", f"/api/messages/{sent['id']}")
    order = customer.call("POST", f"/api/conversations/{cid}/orders", json={
        "items": [{"product_id": product, "quantity": 2}]}).json()["order"]["id"]
    store.call("PATCH", f"/api/orders/{order}", json={"status": "accepted"})
    for method in ("POST", "DELETE"):
        customer.call(method, f"/api/conversations/{cid}/archive")
        store.call(method, f"/api/conversations/{cid}/block")
    resynced = sse(customer.events_url(), headers={**customer.headers, "Last-Event-ID": "bad"})
    resynced.wait_for("resync")
    html = customer_browser.get(server.url + "/inbox", timeout=10).text
    token = parse(html).find_all("input", name="csrf_token")[0].attrs["value"]
    customer_browser.post(server.url + "/signout", data={"csrf_token": token}, timeout=10)
    customer_streams["html"].wait_for("signed_out")

    # Then one event of their own for each watcher: everything sent to them before it has arrived.
    outsider_c.send(outsiders_cid, "sentinel")
    neighbour.send(neighbours_cid, "sentinel")
    for streams, _ in watchers.values():
        for stream in streams.values():
            stream.wait_for(lambda e: e.type == "message" and "sentinel" in e.data)

    # The participants got each type that is theirs...
    customer_streams["json"].wait_for("conversation", count=4)  # archive, unarchive, block, unblock
    for stream in store_streams.values():
        stream.wait_for("conversation", count=2)  # block, unblock: archiving is the customer's own
    customer_types = {e.type for e in customer_streams["json"].events}
    store_types = {e.type for e in store_streams["json"].events}
    assert customer_types >= {"message", "delivered", "typing", "read", "message_deleted",
                              "conversation", "order"}
    assert store_types >= {"message", "typing", "read", "message_deleted", "conversation",
                           "presence", "order"}
    assert {e.type for e in store_streams["html"].events} >= store_types
    assert resynced.events[0].type == "resync"
    assert customer_streams["html"].events[-1].type == "signed_out"
    covered = customer_types | store_types | {"resync", "signed_out"}
    assert covered >= set(EVENT_TYPES)
    # ...and nothing that is not: their own typing, the other side's delivery ticks, another
    # session's sign-out, or a resync another stream asked for.
    assert [e.json["user_id"] for e in customer_streams["json"].of_type("typing")] == [store.id]
    assert [e.json["user_id"] for e in store_streams["json"].of_type("typing")] == [customer.id]
    assert not [e for e in store_streams["json"].of_type("delivered")
                if sent["id"] in e.json["message_ids"]]
    for stream in (*store_streams.values(), customer_streams["json"]):
        assert not stream.of_type("signed_out") and not stream.of_type("resync")
    assert not customer_streams["json"].closed.is_set()
    for stream in (customer_streams["json"], store_streams["json"]):  # their order, accepted
        assert [(e.json["order"]["id"], e.json["order"]["status"])
                for e in stream.of_type("order")] == [(order, "accepted")]

    # The outsiders: nothing of the conversation, on either kind of stream. What they do get is
    # about their own conversation (their sentinel and its delivery tick), and the neighbour, who
    # talks to the same store, may learn that the store came online.
    secrets = (cid, customer.id, first["id"], sent["id"], "secret order", "Maria", order,
               "Secret Milo")
    for name, (streams, own_cid) in watchers.items():
        allowed = {"message", "delivered"} | ({"presence"} if name == "neighbour" else set())
        for kind, stream in streams.items():
            for event in stream.events:
                leaked = [s for s in secrets if s in event.data]
                assert not leaked and event.type in allowed, (
                    f"{name} ({kind}) got {event.type}: {event.data}")
                if kind == "json" and event.type in ("message", "delivered"):
                    about = event.json.get("conversation_id") or event.json["message"][
                        "conversation_id"]
                    assert about == own_cid, f"{name} got {event.type} about {about}"
                if event.type == "presence":
                    assert store.id in event.data
