"""A gunicorn worker freezes what it loaded at start-up and collects young objects less often, so
full garbage collections, which stop every open stream, come rarer and scan less (bench/run.py
measures the effect; gunicorn.conf.py says why)."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

# What gunicorn does in a new worker, in a process of its own: load the settings, then the app,
# then call post_worker_init. The worker stays "alive", so its shutdown watch never fires.
WORKER = """
import gc, json, runpy, types
settings = runpy.run_path("gunicorn.conf.py")
from app import app
settings["post_worker_init"](types.SimpleNamespace(alive=True, wsgi=app))
print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                  "young_threshold": settings["YOUNG_COLLECTION_THRESHOLD"]}))
"""


def test_a_worker_freezes_its_start_up_objects_and_collects_young_ones_less_often(redis_url,
                                                                                   tmp_path):
    (tmp_path / "metrics").mkdir()
    env = {**os.environ, "DATA_DIR": str(tmp_path), "REDIS_URL": redis_url, "SEED_DEMO": "0",
           "START_JOB_WORKER": "0", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    env.pop("TRACEMALLOC_SNAPSHOTS", None)
    env.pop("MONGODB_URI", None)  # its in-memory store: nothing written to a shared MongoDB
    done = subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.strip().splitlines()[-1])
    # Flask, mongoengine, pymongo, pydantic, jinja and the app itself: tens of thousands of objects.
    assert state["frozen"] > 20_000
    assert state["threshold"][0] == state["young_threshold"] > 700
