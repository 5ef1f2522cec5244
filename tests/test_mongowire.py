"""The mongomock-backed wire server, driven by the real pymongo and mongoengine."""

import datetime
import pathlib
import socket
import struct
import subprocess
import sys
import time
import uuid

import bson
import mongoengine
import pymongo
import pytest
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from tests.support.mongowire import MongoWireServer

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]


def connect(uri):
    return pymongo.MongoClient(uri, uuidRepresentation="standard", serverSelectionTimeoutMS=3000)


@pytest.fixture(scope="module")
def server():
    with MongoWireServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    mongo = connect(server.uri)
    yield mongo
    mongo.close()


@pytest.fixture
def db(client, request):
    """A fresh database per test, so tests cannot see each other's data."""
    name = f"wire_{request.node.name}"[:60]
    client.drop_database(name)
    return client[name]


def test_insert_and_find_with_sort_skip_limit_projection(db):
    db.items.insert_many([{"n": n, "parity": n % 2, "tag": f"t{n}"} for n in range(10)])

    found = list(db.items.find({"parity": 0}, {"_id": 0, "n": 1}).sort("n", -1).skip(1).limit(3))

    assert found == [{"n": 6}, {"n": 4}, {"n": 2}]
    assert db.items.find_one({"n": 3})["tag"] == "t3"
    assert db.items.find_one({"n": 42}) is None


def test_sort_on_two_keys_keeps_key_order(db):
    db.items.insert_many([{"a": 1, "b": 2}, {"a": 2, "b": 1}, {"a": 1, "b": 1}])

    found = db.items.find({}, {"_id": 0}).sort([("a", 1), ("b", -1)])

    assert list(found) == [{"a": 1, "b": 2}, {"a": 1, "b": 1}, {"a": 2, "b": 1}]


def test_update_operators(db):
    db.users.insert_many([
        {"_id": 1, "name": "ana", "score": 1, "tags": ["a"], "tmp": True},
        {"_id": 2, "name": "bo", "score": 5, "tags": ["a", "b"], "tmp": True},
    ])

    result = db.users.update_one({"_id": 1}, {"$set": {"name": "Ana"}, "$inc": {"score": 2}})
    assert (result.matched_count, result.modified_count) == (1, 1)
    db.users.update_one({"_id": 1}, {"$push": {"tags": "c"}, "$unset": {"tmp": ""}})
    result = db.users.update_many({}, {"$addToSet": {"tags": "b"}})
    assert (result.matched_count, result.modified_count) == (2, 1)
    result = db.users.update_many({}, {"$pull": {"tags": "a"}})
    assert (result.matched_count, result.modified_count) == (2, 2)
    result = db.users.update_one({"_id": 99}, {"$set": {"name": "nobody"}})
    assert (result.matched_count, result.modified_count, result.upserted_id) == (0, 0, None)

    assert db.users.find_one({"_id": 1}) == {"_id": 1, "name": "Ana", "score": 3, "tags": ["c", "b"]}
    assert db.users.find_one({"_id": 2})["tags"] == ["b"]


def test_upsert_with_set_on_insert(db):
    update = {"$setOnInsert": {"created": True}, "$inc": {"hits": 1}}

    first = db.counters.update_one({"key": "home"}, update, upsert=True)
    second = db.counters.update_one({"key": "home"}, update, upsert=True)

    assert first.upserted_id is not None and first.matched_count == 0
    assert second.upserted_id is None and second.matched_count == 1
    doc = db.counters.find_one({"key": "home"}, {"_id": 0})
    assert doc == {"key": "home", "created": True, "hits": 2}


def test_find_one_and_update(db):
    after = ReturnDocument.AFTER

    created = db.seq.find_one_and_update({"_id": "msg"}, {"$inc": {"n": 1}},
                                         upsert=True, return_document=after)
    bumped = db.seq.find_one_and_update({"_id": "msg"}, {"$inc": {"n": 1}}, return_document=after)
    before = db.seq.find_one_and_update({"_id": "msg"}, {"$inc": {"n": 1}}, projection={"_id": 0})
    missing = db.seq.find_one_and_update({"_id": "none"}, {"$inc": {"n": 1}})

    assert created == {"_id": "msg", "n": 1}
    assert bumped == {"_id": "msg", "n": 2}
    assert before == {"n": 2}
    assert missing is None
    assert db.seq.find_one_and_delete({"_id": "msg"}) == {"_id": "msg", "n": 3}
    assert db.seq.count_documents({}) == 0


def test_replace_one(db):
    db.docs.insert_one({"_id": 1, "a": 1, "b": 2})

    result = db.docs.replace_one({"_id": 1}, {"c": 3})
    upserted = db.docs.replace_one({"_id": 2}, {"d": 4}, upsert=True)

    assert (result.matched_count, result.modified_count) == (1, 1)
    assert db.docs.find_one({"_id": 1}) == {"_id": 1, "c": 3}
    assert upserted.upserted_id == 2
    assert db.docs.find_one({"_id": 2}) == {"_id": 2, "d": 4}


def test_delete_one_and_many(db):
    db.docs.insert_many([{"kind": "x"}, {"kind": "x"}, {"kind": "x"}, {"kind": "y"}])

    assert db.docs.delete_one({"kind": "x"}).deleted_count == 1
    assert db.docs.delete_many({"kind": "x"}).deleted_count == 2
    assert db.docs.delete_many({"kind": "x"}).deleted_count == 0
    assert [d["kind"] for d in db.docs.find()] == ["y"]


def test_unique_index_rejects_duplicates(db):
    db.users.create_index("email", unique=True)
    db.users.insert_one({"email": "a@example.com"})

    with pytest.raises(DuplicateKeyError):
        db.users.insert_one({"email": "a@example.com"})
    db.users.insert_one({"email": "b@example.com"})
    with pytest.raises(DuplicateKeyError):
        db.users.update_one({"email": "b@example.com"}, {"$set": {"email": "a@example.com"}})
    with pytest.raises(DuplicateKeyError):
        db.users.find_one_and_update({"email": "b@example.com"},
                                     {"$set": {"email": "a@example.com"}})
    with pytest.raises(DuplicateKeyError):
        db.users.insert_one({"_id": db.users.find_one()["_id"], "email": "c@example.com"})
    assert sorted(d["email"] for d in db.users.find()) == ["a@example.com", "b@example.com"]


def test_insert_many_ordered_stops_at_first_duplicate(db):
    db.docs.insert_one({"_id": 2})

    with pytest.raises(pymongo.errors.BulkWriteError) as caught:
        db.docs.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 3}])

    assert caught.value.details["nInserted"] == 1
    assert caught.value.details["writeErrors"][0]["index"] == 1
    assert caught.value.details["writeErrors"][0]["code"] == 11000
    assert sorted(d["_id"] for d in db.docs.find()) == [1, 2]


def test_sparse_unique_index_allows_many_documents_without_the_field(db):
    db.users.create_index("handle", unique=True, sparse=True)

    db.users.insert_many([{"name": "a"}, {"name": "b"}, {"handle": "h"}])

    with pytest.raises(DuplicateKeyError):
        db.users.insert_one({"handle": "h"})
    assert db.users.count_documents({}) == 3


def test_counts(db):
    db.docs.insert_many([{"n": n} for n in range(7)])

    assert db.docs.count_documents({}) == 7
    assert db.docs.count_documents({"n": {"$gte": 4}}) == 3
    assert db.docs.count_documents({}, skip=2, limit=3) == 3
    assert db.docs.estimated_document_count() == 7
    assert db.missing.estimated_document_count() == 0


def test_aggregate(db):
    db.messages.insert_many(
        [{"room": room, "len": n} for room, n in [("a", 1), ("a", 2), ("b", 5), ("c", 1), ("c", 1)]])

    pipeline = [
        {"$match": {"len": {"$lt": 5}}},
        {"$group": {"_id": "$room", "total": {"$sum": "$len"}}},
        {"$sort": {"total": -1}},
        {"$limit": 1},
    ]

    assert list(db.messages.aggregate(pipeline)) == [{"_id": "a", "total": 3}]


def test_distinct(db):
    db.docs.insert_many([{"tag": "x", "n": 1}, {"tag": "y", "n": 1}, {"tag": "x", "n": 2}])

    assert sorted(db.docs.distinct("tag")) == ["x", "y"]
    assert db.docs.distinct("tag", {"n": 2}) == ["x"]


def test_index_management(db):
    name = db.docs.create_index([("room", 1), ("created", -1)])

    info = db.docs.index_information()
    assert set(info) == {"_id_", name}
    assert info[name]["key"] == [("room", 1), ("created", -1)]
    db.docs.drop_index(name)
    assert set(db.docs.index_information()) == {"_id_"}


def test_drop_and_list_collection_names(db):
    db.alpha.insert_one({})
    db.beta.insert_one({})
    assert sorted(db.list_collection_names()) == ["alpha", "beta"]

    db.alpha.drop()
    db.never_created.drop()

    assert db.list_collection_names() == ["beta"]


def test_value_round_trips(db):
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456)
    oid, key = ObjectId(), uuid.uuid4()

    db.docs.insert_one({"_id": oid, "when": when, "key": key})
    doc = db.docs.find_one({"key": key})

    assert doc["_id"] == oid
    assert doc["key"] == key and isinstance(doc["key"], uuid.UUID)
    assert doc["when"] == when.replace(microsecond=123000)  # BSON dates keep milliseconds
    assert db.docs.find_one({"when": {"$gt": when - datetime.timedelta(seconds=1)}}) is not None


def test_unknown_command_fails_cleanly(client):
    with pytest.raises(pymongo.errors.OperationFailure) as caught:
        client.admin.command("noSuchThing")

    assert caught.value.code == 59
    assert client.admin.command("ping")["ok"] == 1.0


def test_two_clients_share_data(server, db):
    other = connect(server.uri)
    try:
        other[db.name].docs.insert_one({"from": "other"})
        assert db.docs.find_one({}, {"_id": 0}) == {"from": "other"}
    finally:
        other.close()


def test_another_process_shares_data(server, db):
    script = (
        "import sys, pymongo\n"
        "client = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=3000)\n"
        "client[sys.argv[2]].docs.insert_one({'from': 'subprocess'})\n"
        "client.close()\n"
    )

    subprocess.run([sys.executable, "-c", script, server.uri, db.name], check=True, timeout=30)

    assert db.docs.find_one({}, {"_id": 0}) == {"from": "subprocess"}


class WireUser(mongoengine.Document):
    email = mongoengine.StringField(required=True, unique=True)
    joined = mongoengine.DateTimeField()
    meta = {"db_alias": "wire", "collection": "wire_users"}


@pytest.fixture
def wire_alias(server):
    mongoengine.connect(db="wire_mongoengine", host=server.uri, alias="wire",
                        uuidRepresentation="standard")
    WireUser.drop_collection()
    yield
    mongoengine.disconnect(alias="wire")


def test_mongoengine_document(wire_alias):
    joined = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000)
    WireUser(email="a@example.com", joined=joined).save()

    with pytest.raises(mongoengine.NotUniqueError):
        WireUser(email="a@example.com").save()
    user = WireUser.objects.get(email="a@example.com")
    user.update(set__email="b@example.com")

    assert WireUser.objects.count() == 1
    assert WireUser.objects.first().email == "b@example.com"
    assert WireUser.objects.first().joined == joined


def test_unacknowledged_writes_get_no_reply(db):
    fire_and_forget = db.docs.with_options(write_concern=pymongo.WriteConcern(w=0))

    fire_and_forget.insert_many([{"n": 1}, {"n": 2}])  # moreToCome: the server must stay silent

    assert db.docs.count_documents({}) == 2


def exchange(port, op_code, body):
    """Send one raw message and return (op_code, payload) of the answer, or None on hang-up."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(struct.pack("<iiii", 16 + len(body), 7, 0, op_code) + body)
        header = sock.recv(16, socket.MSG_WAITALL)
        if not header:
            return None
        length, _, response_to, reply_op = struct.unpack("<iiii", header)
        assert response_to == 7
        return reply_op, sock.recv(length - 16, socket.MSG_WAITALL)


def test_legacy_op_query_handshake(server):
    body = struct.pack("<i", 0) + b"admin.$cmd\0" + struct.pack("<ii", 0, -1)
    op_code, payload = exchange(server.port, 2004, body + bson.encode({"isMaster": 1}))

    assert op_code == 1  # OP_REPLY: flags, cursorID, startingFrom, numberReturned, document
    assert struct.unpack_from("<i", payload, 16)[0] == 1
    assert bson.decode(payload[20:])["ismaster"] is True


def test_op_msg_with_checksum_and_document_sequence(server, db):
    command = bson.encode({"insert": "docs", "$db": db.name})
    docs = bson.encode({"n": 1}) + bson.encode({"n": 2})
    sequence = b"documents\0" + docs
    body = (struct.pack("<I", 1) + b"\0" + command  # flagBits: checksumPresent
            + b"\1" + struct.pack("<i", 4 + len(sequence)) + sequence + b"CRC!")

    op_code, payload = exchange(server.port, 2013, body)

    assert op_code == 2013
    assert bson.decode(payload[5:]) == {"n": 2, "ok": 1.0}
    assert sorted(d["n"] for d in db.docs.find()) == [1, 2]


def test_unsupported_opcode_closes_the_connection(server):
    assert exchange(server.port, 2012, b"\0" * 16) is None  # OP_COMPRESSED


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_command_line_entry_point():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mongowire", "--port", str(port)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        mongo = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/", serverSelectionTimeoutMS=200)
        deadline = time.monotonic() + 10
        while True:
            try:
                assert mongo.admin.command("ping")["ok"] == 1.0
                break
            except pymongo.errors.ServerSelectionTimeoutError:
                assert time.monotonic() < deadline, "server did not answer"
        mongo.close()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert out.strip() == f"mongodb://127.0.0.1:{port}/"


def test_counts_the_commands_it_serves_by_name(client):
    before = client.admin.command("mongowireCommandCounts")["counts"]
    before_by_collection = client.admin.command("mongowireCommandCounts")["by_collection"]
    client.counted.things.insert_one({"n": 1})
    client.counted.things.find_one({"n": 1})
    after = client.admin.command("mongowireCommandCounts")["counts"]
    assert after.get("insert", 0) - before.get("insert", 0) == 1
    assert after.get("find", 0) - before.get("find", 0) == 1
    assert "mongowireCommandCounts" not in after
    by_collection = client.admin.command("mongowireCommandCounts")["by_collection"]
    assert by_collection["find things"] - before_by_collection.get("find things", 0) == 1
