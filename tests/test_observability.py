"""What operators see: a request id on every answer, Prometheus metrics summed over every worker,
and JSON log lines that never carry a message, a password, a token or an email address."""

import json
import re
import time

import pytest
import requests

from tests.support.sse import SSEClient

METRICS_TOKEN = "scraper-" + "m" * 24


def test_every_answer_carries_a_request_id(api):
    made = api.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    assert api.get("/healthz").headers["X-Request-ID"] != made.headers["X-Request-ID"]
    # A proxy's or an integration's own id is kept, so its logs and ours line up ...
    given = api.get("/healthz", headers={"X-Request-ID": "shop-42.retry:1"})
    assert given.headers["X-Request-ID"] == "shop-42.retry:1"
    # ... unless it is not a plain token (it goes into log lines).
    for odd in ("two words", "x" * 65, "line\\nbreak"):
        replaced = api.get("/healthz", headers={"X-Request-ID": odd})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"])


def test_an_error_names_its_request_id(api, client):
    refused = api.get("/api/me", headers={"X-Request-ID": "report-me"})
    assert refused.status_code == 401
    assert refused.json["error"]["request_id"] == refused.headers["X-Request-ID"] == "report-me"
    missing = api.get("/api/conversations/6b0000000000000000000000",
                      headers={"Authorization": "Bearer nonsense"})
    assert missing.json["error"]["request_id"] == missing.headers["X-Request-ID"]


def test_a_json_streams_log_lines_name_its_request(chat, monkeypatch):
    """A JSON stream runs without the request's context (it would stay in memory as long as the
    stream): what it logs still names the request, the user and the route."""
    from elako import logs
    from elako.services import streams

    customer, _, _ = chat
    fields = []

    def events(stream):
        fields.append(logs.request_fields())  # what a line logged from the stream would say
        yield from ()

    monkeypatch.setattr(streams.EventStream, "events", events)
    response = customer.api.get("/api/events", headers={"X-Request-ID": "shop-42-stream"})
    response.get_data()
    assert fields == [{"request_id": "shop-42-stream", "user_id": customer.id,
                       "route": "/api/events"}]


def test_metrics_are_not_served_without_a_token_configured(api):
    assert api.get("/metrics").status_code == 404


@pytest.mark.settings(METRICS_TOKEN=METRICS_TOKEN)
def test_metrics_need_the_token(api):
    for header in (None, "Bearer wrong", f"Basic {METRICS_TOKEN}"):
        refused = api.get("/metrics", headers={"Authorization": header} if header else {})
        assert refused.status_code == 401 and refused.json["error"]["code"] == "unauthorized"
    scraped = api.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200 and scraped.mimetype == "text/plain"
    assert scraped.headers["Cache-Control"] == "no-store"


@pytest.mark.settings(METRICS_TOKEN=METRICS_TOKEN, RATE_LIMIT_SEND="2 per minute")
def test_metrics_count_sends_refusals_and_request_times(api, chat):
    customer, _, cid = chat
    before = _scrape(api)
    customer.send(cid, "May Milo pa po?")
    customer.send(cid, "Yung malaki")
    assert customer.api.post(f"/api/conversations/{cid}/messages",
                             json={"body": "Isa pa"}).status_code == 429
    after = _scrape(api)
    assert after["elako_messages_sent_total"] - before["elako_messages_sent_total"] == 2
    refused = 'elako_rate_limit_refusals_total{limit="send"}'
    assert after[refused] - before.get(refused, 0) == 1
    assert after["elako_events_published_total"] - before["elako_events_published_total"] >= 4
    route = ('elako_request_duration_seconds_count{method="POST",'
             'route="/api/conversations/<conversation_id>/messages",status="201"}')
    assert after[route] - before.get(route, 0) == 2


def _scrape(api, url="/metrics"):
    text = api.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).get_data(as_text=True)
    return _samples(text)


def _samples(text):
    """{'name{labels}': value} of a Prometheus text exposition."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


@pytest.mark.e2e
def test_two_workers_are_counted_as_one_server_and_log_json_lines(live_server):
    server = live_server(workers=2, METRICS_TOKEN=METRICS_TOKEN, LOG_FORMAT="json")
    customer = server.register("customer", "Maria Santos")
    store = server.register("store", "Aling Nena's Store")
    conversation_id = customer.open_conversation(store)
    streams = [SSEClient(store.events_url(), headers=store.headers) for _ in range(3)]
    try:
        for stream in streams:
            stream.wait_for_comments(1)
        secret = "Ang PIN ko ay 4321"
        for _ in range(4):
            customer.send(conversation_id, secret)
        # Each scrape may be answered by either worker; every one sees the whole server.
        for _ in range(6):
            samples = _samples(requests.get(server.url + "/metrics", timeout=10, headers={
                "Authorization": f"Bearer {METRICS_TOKEN}"}).text)
            assert samples["elako_open_streams"] == 3
            assert samples["elako_messages_sent_total"] == 4
    finally:
        for stream in streams:
            stream.close()

    lines = [line for line in server.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    sends = [e for e in entries if e.get("route") == "/api/conversations/<conversation_id>/messages"
             and e.get("status") == 201]
    assert len(sends) == 4
    for entry in sends:
        assert entry["user_id"] == customer.id and re.fullmatch(r"[0-9a-f]{32}", entry["request_id"])
        assert entry["level"] == "info" and entry["duration_ms"] >= 0 and entry["time"]
    log = server.log()
    for private in (secret, customer.email, store.email, customer.token, "correct horse battery"):
        assert private not in log
    # One line a request: gunicorn's own access log only when ACCESS_LOG asks for it.
    assert not [e for e in entries if e.get("logger") == "gunicorn.access"]


@pytest.mark.e2e
def test_access_log_adds_gunicorns_line_for_each_request(live_server):
    server = live_server(ACCESS_LOG="-", LOG_FORMAT="json")
    requests.get(server.url + "/healthz", timeout=10)
    # gunicorn writes the line once the answer has gone.
    deadline = time.monotonic() + 10
    while '"GET /healthz' not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    entries = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    access = [e for e in entries if e.get("logger") == "gunicorn.access"]
    assert any("GET /healthz" in e["message"] for e in access), server.log()[-2000:]
