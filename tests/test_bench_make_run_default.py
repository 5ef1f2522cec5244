"""`make bench` measures the `make run` default too (MONGODB_URI unset: the data in the worker's own
memory). Its accounts reach that store through the wire-protocol view the benchmark's gunicorn
settings add; the app must then find them, and keep its own writes, in the very same store."""

import importlib.util

import pytest
import requests
from bson import ObjectId

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

# Loaded by path: putting bench/ on sys.path would let its profile.py shadow the standard one.
_spec = importlib.util.spec_from_file_location("bench_harness", ROOT / "bench" / "harness.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)


def test_bench_accounts_and_the_apps_writes_share_the_workers_own_store(redis_url, tmp_path):
    elako = harness.Elako(tmp_path, redis_url, mongo_uri=None).start()
    try:
        customer, = elako.accounts.users("customer", 1)
        store, = elako.accounts.users("store", 1)
        conversation, = elako.accounts.conversations([(customer, store)])

        me = requests.get(elako.url + "/api/me", headers=customer.headers, timeout=10)
        assert me.status_code == 200, me.text
        assert me.json()["id"] == customer.id
        sent = requests.post(elako.url + f"/api/conversations/{conversation}/messages",
                             json={"body": "Po, may stock pa kayo?"}, headers=customer.headers,
                             timeout=10)
        assert sent.status_code == 201, sent.text

        messages = elako.accounts.db.messages
        assert messages.count_documents({"conversation_id": ObjectId(conversation)}) == 1
        assert "MONGODB_URI is unset: using mongomock" in elako.log()
    finally:
        elako.stop()
