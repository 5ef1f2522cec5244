"""Accounts: registration, sign-in with tokens, who may call the API."""

import jwt
import pytest

from elako.models import User
from tests.conftest import PASSWORD
from tests.support.answers import error_of


def register(api, **fields):
    body = {"role": "customer", "name": "Maria", "email": "maria@example.ph", "password": PASSWORD,
            **fields}
    return api.post("/api/auth/register", json=body)


def test_register_customer_and_store(api):
    customer = register(api)
    store = register(api, role="store", name="Sari-Sari ni Aling Nena", email="nena@example.ph",
                     description="Snacks and load")
    assert customer.status_code == 201 and customer.json["role"] == "customer"
    assert store.status_code == 201
    assert store.json == {"id": store.json["id"], "role": "store",
                          "name": "Sari-Sari ni Aling Nena", "description": "Snacks and load"}
    assert "password" not in str(store.json) and "password_hash" not in str(store.json)


@pytest.mark.parametrize("fields, field", [
    ({"role": "admin"}, "role"),
    ({"name": ""}, "name"),
    ({"name": "x" * 81}, "name"),
    ({"email": "not-an-email"}, "email"),
    ({"password": "short"}, "password"),
    ({"password": 12345678}, "password"),
    ({"name": ["list"]}, "name"),
])
def test_register_rejects_bad_fields_by_name(api, fields, field):
    response = register(api, **fields)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_input"
    assert response.json["error"]["field"] == field
    assert response.json["error"]["message"]


def test_email_is_unique_ignoring_case(app, api):
    assert register(api).status_code == 201
    # Answered like a new account (tests/test_email_verification.py), but none is made.
    again = register(api, email="MARIA@example.ph", password="someone else's password")
    assert again.status_code == 201
    with app.app_context():
        assert User.objects(email="maria@example.ph").count() == 1
    taken_over = api.post("/api/auth/token", json={"email": "maria@example.ph",
                                                   "password": "someone else's password"})
    assert taken_over.status_code == 401
    assert api.post("/api/auth/token", json={"email": "maria@example.ph",
                                             "password": PASSWORD}).status_code == 200


def test_token_for_right_password_only(api):
    register(api)
    good = api.post("/api/auth/token", json={"email": "maria@example.ph", "password": PASSWORD})
    assert good.status_code == 200 and good.json["token_type"] == "Bearer"
    claims = jwt.decode(good.json["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == good.json["expires_in"]
    wrong = api.post("/api/auth/token", json={"email": "maria@example.ph", "password": "nope-nope"})
    unknown = api.post("/api/auth/token", json={"email": "who@example.ph", "password": PASSWORD})
    # The same answer for a wrong password and an unknown email: no account discovery.
    assert wrong.status_code == unknown.status_code == 401
    assert error_of(wrong.json) == error_of(unknown.json)


@pytest.mark.parametrize("header, code", [
    (None, "missing_token"), ("Bearer", "missing_token"), ("Basic dXNlcjpwYXNz", "missing_token"),
    ("bearer ", "missing_token"), ("Bearer not.a.jwt", "invalid_token"),
])
def test_api_requires_a_bearer_token(api, header, code):
    headers = {"Authorization": header} if header is not None else {}
    response = api.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_signed_with_another_key_is_refused(api, people):
    person = people.customer()
    claims = jwt.decode(person.token, options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-secret-" + "z" * 32, algorithm="HS256")
    assert api.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_me_and_revoking_the_token(people):
    person = people.customer()
    me = person.api.get("/api/me")
    assert me.status_code == 200 and me.json["email"] == person.email
    assert person.api.delete("/api/auth/token").status_code == 204
    assert person.api.get("/api/me").status_code == 401


def test_store_directory_lists_stores_only(people):
    customer = people.customer()
    store = people.store(name="Kusina ni Mang Tonyo")
    people.store(name="Bayanihan Hardware")
    listed = customer.api.get("/api/stores").json["items"]
    assert {s["name"] for s in listed} == {"Kusina ni Mang Tonyo", "Bayanihan Hardware"}
    found = customer.api.get("/api/stores", query_string={"q": "kusina"}).json["items"]
    assert [s["id"] for s in found] == [store.id]
    assert customer.api.get("/api/stores", query_string={"q": "(.*"}).status_code == 200


def test_demo_accounts_never_reach_a_real_database(redis_url, shared_mongo_uri, tmp_path, caplog):
    """Their password is published: with MONGODB_URI set, SEED_DEMO is refused, and says so."""
    import mongoengine

    from elako import create_app
    from elako.cli import DEMO_CUSTOMERS
    from elako.models import User
    from tests.conftest import make_config

    app = create_app(make_config(redis_url, tmp_path, SEED_DEMO=True, MONGODB_URI=shared_mongo_uri))
    try:
        assert User.objects(email=DEMO_CUSTOMERS[0][1]).count() == 0
        assert "SEED_DEMO is ignored because MONGODB_URI is set" in caplog.text
    finally:
        mongoengine.get_connection().drop_database(app.config["MONGODB_DB"])
        mongoengine.disconnect()
