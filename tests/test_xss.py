"""Hostile message text is shown exactly as typed and never runs: the corpus in tests/support/xss.py
goes through sending and comes back out of every surface (the full page, the htmx answer and
fragments, the browser's SSE fragments, the JSON API and the JSON stream). Only http(s) URLs
become links, and those carry rel="noopener nofollow ugc"."""

import pytest
from markupsafe import Markup

from elako.formatting import linkify
from tests.support.html import parse
from tests.support.credentials import cookie_header
from tests.support.xss import (
    CORPUS, HOSTILE_CUSTOMER_NAME, HOSTILE_STORE_NAME, LINK_REL, inert_problems, message_problems,
)


def message_id_in(markup):
    [item] = [e for e in parse(markup).with_class("msg") if e.attrs.get("data-message-id")]
    return item.attrs["data-message-id"]


def report(failures):
    return "\n".join(f"{surface} / {typed!r}: {problems}" for surface, typed, problems in failures)


@pytest.fixture
def hostile_chat(people):
    customer = people.customer(name=HOSTILE_CUSTOMER_NAME)
    store = people.store(name=HOSTILE_STORE_NAME)
    return customer, store, customer.open_conversation(store)


@pytest.mark.settings(HISTORY_PAGE_SIZE=100)
def test_corpus_is_inert_on_pages_fragments_and_json(hostile_chat):
    customer, store, cid = hostile_chat
    failures, sent = [], []
    for typed, links in CORPUS:
        answer = customer.page.post(f"/c/{cid}/messages", {"body": typed}, htmx=True)
        assert answer.status_code == 200, (typed, answer.get_data(as_text=True))
        html = answer.get_data(as_text=True)
        message_id = message_id_in(html)
        sent.append((message_id, typed, links))
        failures.append(("htmx answer", typed, message_problems(html, message_id, typed, links)))
        inbox = store.page.get("/inbox", headers={"HX-Request": "true"}).get_data(as_text=True)
        [row] = parse(inbox).find_all("li", id=f"row-{cid}")
        preview = row.with_class("preview")[0].text
        failures.append(("inbox fragment", typed, inert_problems(inbox)
                         + ([] if preview == typed[:120] else [f"preview {preview!r}"])))

    surfaces = {
        "sender's page": customer.page.get(f"/c/{cid}"),
        "receiver's page": store.page.get(f"/c/{cid}"),
        "thread fragment": store.page.get(f"/c/{cid}", headers={"HX-Request": "true"}),
    }
    for surface, response in surfaces.items():
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        for message_id, typed, links in sent:
            failures.append((surface, typed, message_problems(html, message_id, typed, links)))

    history = store.api.get(f"/api/conversations/{cid}/messages", query_string={"limit": 100})
    assert history.mimetype == "application/json"
    assert [m["body"] for m in history.json["items"]] == [typed for typed, _ in CORPUS]
    assert [m["id"] for m in history.json["items"]] == [message_id for message_id, _, _ in sent]
    assert not [f for f in failures if f[2]], report([f for f in failures if f[2]])


def test_hostile_names_are_plain_text(hostile_chat):
    customer, store, cid = hostile_chat
    customer.send(cid, "hello")
    for viewer, other_name in ((store, HOSTILE_CUSTOMER_NAME), (customer, HOSTILE_STORE_NAME)):
        html = viewer.page.get(f"/c/{cid}").get_data(as_text=True)
        assert inert_problems(html) == []
        root = parse(html)
        assert [h.text for h in root.find_all("h1")] == [other_name]
        assert [n.text for n in root.with_class("name")] == [other_name]
        assert root.find_all("section", class_="thread-pane")[0].attrs["aria-label"] == (
            f"Conversation with {other_name}")
    stores = customer.page.get("/stores", query_string={"q": "img"}).get_data(as_text=True)
    assert inert_problems(stores) == []
    assert [h.text for h in parse(stores).find_all("h2")] == [HOSTILE_STORE_NAME]


def test_sending_without_javascript_shows_the_same_inert_text(chat):
    customer, store, cid = chat
    typed, links = CORPUS[0]
    response = customer.page.post(f"/c/{cid}/messages", {"body": typed})
    assert response.status_code == 303
    html = store.page.get(response.headers["Location"]).get_data(as_text=True)
    message_id = store.api.get(f"/api/conversations/{cid}/messages").json["items"][0]["id"]
    assert message_problems(html, message_id, typed, links) == []


@pytest.mark.parametrize("text, expected", [
    ("see https://shop.example/a?b=1&c=2.",
     'see <a href="https://shop.example/a?b=1&amp;c=2" rel="noopener nofollow ugc" '
     'target="_blank">https://shop.example/a?b=1&amp;c=2</a>.'),
    ("<b>http://x.example</b>",
     '&lt;b&gt;<a href="http://x.example" rel="noopener nofollow ugc" target="_blank">'
     'http://x.example</a>&lt;/b&gt;'),
    ("javascript:alert(1) data:text/html,x ftp://x //x www.x.example",
     "javascript:alert(1) data:text/html,x ftp://x //x www.x.example"),
])
def test_linkify_escapes_everything_and_links_only_http(text, expected):
    result = linkify(text)
    assert isinstance(result, Markup) and str(result) == expected


def test_the_checks_catch_a_live_payload():
    """The corpus checks are not vacuous: unescaped text or a bad link is reported."""
    live = ('<li id="msg-1" class="msg"><div class="bubble"><p class="body">'
            '<img src=x onerror=alert(1)></p></div></li>')
    assert message_problems(live, "1", "<img src=x onerror=alert(1)>", [])
    link = ('<li id="msg-1" class="msg"><p class="body"><a href="https://x.example" '
            'target="_blank">https://x.example</a></p></li>')
    assert any("rel" in p for p in message_problems(link, "1", "https://x.example",
                                                     ["https://x.example"]))
    assert LINK_REL == "noopener nofollow ugc"


# -- through gunicorn, including the event streams ----------------------------------------------


@pytest.mark.e2e
def test_corpus_is_inert_over_http_and_in_both_event_streams(live_server, sse):
    server = live_server(HISTORY_PAGE_SIZE="100")
    customer = server.register("customer", HOSTILE_CUSTOMER_NAME)
    store = server.register("store", HOSTILE_STORE_NAME)
    cid = customer.open_conversation(store)
    customer_browser, store_browser = customer.browser(), store.browser()
    streams = {
        "receiver's SSE fragment": sse(server.url + "/events", headers=cookie_header(store_browser)),
        "sender's SSE fragment": sse(server.url + "/events",
                                     headers=cookie_header(customer_browser)),
    }
    json_stream = sse(store.events_url(), headers=store.headers)
    for stream in (*streams.values(), json_stream):
        stream.wait_for_comments(1)

    failures, sent = [], []
    for typed, links in CORPUS:
        answer = customer_browser.post(
            f"{server.url}/c/{cid}/messages", data={"body": typed}, timeout=10,
            headers={"HX-Request": "true", "X-CSRFToken": page_token(server, customer_browser, cid)})
        assert answer.status_code == 200, answer.text
        message_id = message_id_in(answer.text)
        sent.append((message_id, typed, links))
        failures.append(("htmx answer over HTTP", typed,
                         message_problems(answer.text, message_id, typed, links)))

    for surface, stream in streams.items():
        stream.wait_for("message", count=len(CORPUS))
        fragments = [e.data for e in stream.of_type("message")]
        for fragment, (message_id, typed, links) in zip(fragments, sent):
            failures.append((surface, typed, message_problems(fragment, message_id, typed, links)))
    json_stream.wait_for("message", count=len(CORPUS))
    assert [e.json["message"]["body"] for e in json_stream.of_type("message")] == [
        typed for typed, _ in CORPUS]

    # The typing note carries the store's hostile name into the customer's page.
    assert store_browser.post(f"{server.url}/c/{cid}/typing", data={"state": "start"}, timeout=10,
                              headers={"X-CSRFToken": page_token(server, store_browser, cid)}
                              ).status_code == 204
    typing = streams["sender's SSE fragment"].wait_for("typing")
    assert inert_problems(typing.data, whole_document=False) == []
    assert parse(typing.data).with_class("typing-note")[0].text == f"{HOSTILE_STORE_NAME} is typing…"

    for surface, session in (("sender's page over HTTP", customer_browser),
                             ("receiver's page over HTTP", store_browser)):
        html = session.get(f"{server.url}/c/{cid}", timeout=10).text
        for message_id, typed, links in sent:
            failures.append((surface, typed, message_problems(html, message_id, typed, links)))
    history = customer.call("GET", f"/api/conversations/{cid}/messages", params={"limit": 100})
    assert history.headers["Content-Type"] == "application/json"
    assert [m["body"] for m in history.json()["items"]] == [typed for typed, _ in CORPUS]
    assert not [f for f in failures if f[2]], report([f for f in failures if f[2]])


def page_token(server, session, cid):
    """The CSRF token the conversation page puts in its htmx header, as htmx would send it."""
    if not getattr(session, "page_csrf", None):
        html = session.get(f"{server.url}/c/{cid}", timeout=10).text
        session.page_csrf = parse(html).find_all("input", name="csrf_token")[0].attrs["value"]
    return session.page_csrf
