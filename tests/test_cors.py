"""CORS: browser code on CORS_ORIGINS may call /api/* with a bearer token; nothing else answers
cross-origin requests, and no credentials are ever allowed."""

import pytest

SHOP = "https://shop.example.ph"
OTHER = "https://evil.example"


def cors_headers(response):
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.mark.settings(CORS_ORIGINS=[SHOP])
def test_preflight_lists_the_methods_and_headers_a_client_needs(app, chat):
    customer, _, conversation_id = chat
    response = app.test_client().options(
        f"/api/conversations/{conversation_id}/messages", headers={
            "Origin": SHOP, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type, Last-Event-ID"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PATCH", "DELETE"} <= methods
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"authorization", "content-type", "last-event-id"}
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.settings(CORS_ORIGINS=[SHOP, "https://pos.example.ph"])
def test_api_answers_an_allowed_origin_without_credentials(app, chat):
    customer, _, conversation_id = chat
    response = customer.api.post(f"/api/conversations/{conversation_id}/messages",
                                 json={"body": "Galing sa website"}, headers={"Origin": SHOP})
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    refused = customer.api.get("/api/me", headers={"Origin": SHOP, "Authorization": "Bearer x"})
    assert refused.status_code == 401  # errors are readable by the page too
    assert refused.headers["Access-Control-Allow-Origin"] == SHOP


@pytest.mark.settings(CORS_ORIGINS=[SHOP])
def test_other_origins_get_no_cors_headers(app, people):
    customer = people.customer()
    response = customer.api.get("/api/me", headers={"Origin": OTHER})
    assert cors_headers(response) == {}
    preflight = app.test_client().options("/api/me", headers={
        "Origin": OTHER, "Access-Control-Request-Method": "GET"})
    assert cors_headers(preflight) == {}


@pytest.mark.settings(CORS_ORIGINS=[SHOP])
@pytest.mark.parametrize("method, path", [
    ("GET", "/signin"), ("POST", "/signin"), ("GET", "/inbox"), ("GET", "/events"),
    ("POST", "/signout"), ("GET", "/healthz"), ("OPTIONS", "/signin"),
])
def test_pages_forms_and_cookie_routes_never_send_cors_headers(app, method, path):
    response = app.test_client().open(path, method=method, headers={
        "Origin": SHOP, "Access-Control-Request-Method": "POST"})
    assert cors_headers(response) == {}


def test_without_cors_origins_no_origin_is_allowed(people):
    customer = people.customer()
    response = customer.api.get("/api/me", headers={"Origin": SHOP})
    assert response.status_code == 200 and cors_headers(response) == {}


def test_cors_origins_is_read_as_a_comma_separated_list(monkeypatch):
    import importlib

    import config

    monkeypatch.setenv("CORS_ORIGINS", f" {SHOP} ,https://pos.example.ph,, ")
    try:
        assert importlib.reload(config).Config.CORS_ORIGINS == [SHOP, "https://pos.example.ph"]
    finally:
        monkeypatch.delenv("CORS_ORIGINS")
        importlib.reload(config)


@pytest.mark.e2e
def test_the_event_stream_is_readable_from_an_allowed_origin(live_server, sse):
    """Browser code reads it with fetch (EventSource cannot send a bearer token)."""
    server = live_server(CORS_ORIGINS=SHOP)
    customer = server.register("customer", "Maria Santos")
    stream = sse(customer.events_url(), headers={**customer.headers, "Origin": SHOP,
                                                 "Last-Event-ID": "0-1"})
    assert stream.status == 200
    assert stream.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Access-Control-Allow-Credentials" not in stream.headers
