"""Real gunicorn + gevent servers for end-to-end tests, started from the project's gunicorn.conf.py."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid

import requests


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, process, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


JWT_SECRET = "e2e-jwt-secret-" + "j" * 40  # signs every live server's API tokens

# Fast clocks so presence, heartbeats and catch-up are observable within a test's patience.
FAST_SETTINGS = {
    "SSE_HEARTBEAT_SECONDS": "1",
    "PRESENCE_TTL_SECONDS": "4",
    "PRESENCE_GRACE_SECONDS": "1",
    "PRESENCE_SWEEP_SECONDS": "0.5",
    "SSE_RETRY_MS": "500",
    "SSE_RETRY_JITTER_MS": "0",
    "RATE_LIMIT_SEND": "10000 per minute",
    "RATE_LIMIT_TYPING": "10000 per minute",
    "RATE_LIMIT_SIGN_IN": "10000 per minute",
    "RATE_LIMIT_SIGN_UP": "10000 per minute",
    "RATE_LIMIT_STREAM_OPEN": "10000 per minute",
    "RATE_LIMIT_SIGN_IN_EMAIL": "10000 per minute",
    "RATE_LIMIT_OPEN_CONVERSATION": "10000 per minute",
    "RATE_LIMIT_PASSWORD_RESET": "10000 per minute",
}


class LiveServer:
    """One gunicorn master with `workers` gevent workers, on its own port, database and key prefix.

    Several LiveServers may share `redis_url`, `mongo_uri` and `share_with`'s names, which is how a
    test runs "two hosts" of one deployment. `mongo_uri=None` leaves MONGODB_URI unset: each worker
    keeps its data in its own memory, as under `make run`. `config` is gunicorn's settings file.
    """

    def __init__(self, root, data_dir, *, redis_url, mongo_uri, workers=1, env=None,
                 config="gunicorn.conf.py"):
        self.root = root
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        names = {"REDIS_KEY_PREFIX": f"e{uuid.uuid4().hex[:10]}"}
        names["MONGODB_DB"] = f"elako_e2e_{names['REDIS_KEY_PREFIX']}"
        self.env = {**os.environ, **FAST_SETTINGS, "ACCESS_LOG": "", **names, **(env or {}),
                    "PORT": str(self.port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": str(workers),
                    "REDIS_URL": redis_url, "MONGODB_URI": mongo_uri, "DATA_DIR": str(data_dir),
                    "SECRET_KEY": "e2e-secret-" + "y" * 40, "JWT_SECRET_KEY": JWT_SECRET,
                    "PYTHONUNBUFFERED": "1"}
        if mongo_uri is None:
            del self.env["MONGODB_URI"]
        self.config = config
        self.process = None
        self.log_path = data_dir / "gunicorn.log"

    @property
    def prefix(self):
        return self.env["REDIS_KEY_PREFIX"]

    def start(self):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", self.config, "app:app"],
            cwd=self.root, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_for_port(self.port, self.process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise TimeoutError("server never became healthy:\n" + self.log())

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self.process:
            self._log.close()

    def restart(self):
        self.stop()
        return self.start()

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def connections_by_worker(self):
        """{worker pid: client connections it holds open on the server's port} (Linux's /proc)."""
        established = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as lines:
                for line in list(lines)[1:]:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == self.port and fields[3] == "01":
                        established.add(f"socket:[{fields[9]}]")
        counts = {}
        for pid in self.worker_pids():
            counts[pid] = sum(1 for link in _fd_links(pid) if link in established)
        return counts

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- the API, as a plain HTTP integration would use it -----------------------------------------

    def register(self, role, name, password="correct horse battery"):
        email = f"{uuid.uuid4().hex[:8]}@{role}.ph"
        response = requests.post(self.url + "/api/auth/register", json={
            "role": role, "name": name, "email": email, "password": password}, timeout=10)
        assert response.status_code == 201, response.text
        token = requests.post(self.url + "/api/auth/token",
                              json={"email": email, "password": password}, timeout=10).json()
        return RemoteUser(self, response.json()["id"], role, email, token["access_token"])


def _fd_links(pid):
    """What each open file descriptor of `pid` is ("socket:[inode]" for a socket)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # exited meanwhile
        return
    for fd in fds:
        try:
            yield os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            pass


class RemoteUser:
    def __init__(self, server, user_id, role, email, token):
        self.server, self.id, self.role, self.email, self.token = server, user_id, role, email, token
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method, path, server=None, **kwargs):
        base = (server or self.server).url
        return requests.request(method, base + path, headers=self.headers, timeout=10, **kwargs)

    def open_conversation(self, other):
        key = "customer_id" if self.role == "store" else "store_id"
        response = self.call("POST", "/api/conversations", json={key: other.id})
        assert response.status_code in (200, 201), response.text
        return response.json()["id"]

    def send(self, conversation_id, body, server=None, **extra):
        response = self.call("POST", f"/api/conversations/{conversation_id}/messages", server=server,
                             json={"body": body, **extra})
        assert response.status_code in (200, 201), response.text
        return response.json()

    def browser(self, server=None, password="correct horse battery"):
        """A requests.Session signed in through the sign-in form, as a browser would be."""
        base = (server or self.server).url
        session = requests.Session()
        page = session.get(base + "/signin", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = session.post(base + "/signin", timeout=10, allow_redirects=False, data={
            "email": self.email, "password": password, "csrf_token": token})
        assert response.status_code == 303, response.text
        session.csrf_token = token
        return session

    def events_url(self, server=None):
        return (server or self.server).url + "/api/events"
