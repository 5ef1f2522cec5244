"""Backends a test can take away and give back: a private redis-server that is really stopped and
started again (its data kept on disk, as a production Redis keeps it), and a `Cable`, a TCP relay
in front of MongoDB (the tests' wire server or a real one) that a test can pull out and plug in
again, so MongoDB becomes unreachable while its data stays as it was."""

import signal
import socket
import subprocess
import threading
import time

from tests.support.redis_cluster import BIN
from tests.support.servers import free_port, wait_for_port


class RedisServer:
    """A redis-server of one test's own on a TCP port, with an append-only file synced on every
    write, so stopping it (SIGTERM) and starting it again loses nothing that it acknowledged."""

    def __init__(self, directory):
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "redis.log", "ab") as log:  # the child keeps its own handle
            self.process = subprocess.Popen(
                [BIN / "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--dir", str(self.directory), "--save", "", "--appendonly", "yes",
                 "--appendfsync", "always", "--loglevel", "warning"],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process)
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class Cable:
    """Relays TCP connections from a port of its own to `upstream` (host, port). `pull()` hangs up
    every relayed connection and refuses new ones, as an unreachable server does; `plug()` lets
    them through again, on the same port. `mute()` keeps every connection open but passes nothing
    more either way, as a server gone silent does (a host gone, a NAT that dropped the flow)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.port = free_port()
        self.muted = False
        self._listener = None
        self._connections = set()
        self._lock = threading.Lock()

    def mute(self):
        self.muted = True

    def plug(self):
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True,
                         name="cable-accept").start()
        return self

    def pull(self):
        listener, self._listener = self._listener, None
        if listener is not None:
            _hang_up(listener)
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            _hang_up(connection)

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # pulled
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _hang_up(client)
                continue
            server.settimeout(None)
            with self._lock:
                if listener is not self._listener:  # pulled meanwhile
                    _hang_up(client), _hang_up(server)
                    return
                self._connections.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True,
                                 name="cable-pump").start()

    def _pump(self, source, target):
        try:
            while data := source.recv(65536):
                if not self.muted:
                    target.sendall(data)
        except OSError:
            pass
        finally:
            _hang_up(source), _hang_up(target)


def _hang_up(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def wait_until(condition, timeout, message):
    """Poll `condition()` until it is true; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)
