"""The in-memory store's shortcuts (elako/mockstore.py) answer exactly as a full scan does."""

from datetime import datetime, timedelta

import mongomock
import pytest
from bson import ObjectId

from elako import mockstore
from mongomock.filtering import filter_applies


def test_queries_by_id_answer_as_a_scan_would():
    mockstore.install()
    collection = mongomock.MongoClient().db.things
    ids = collection.insert_many([{"n": n, "kind": "even" if n % 2 == 0 else "odd"}
                                  for n in range(50)]).inserted_ids
    assert collection.find_one({"_id": ids[7]})["n"] == 7
    assert collection.find_one({"_id": ids[7], "kind": "odd"})["n"] == 7
    assert collection.find_one({"_id": ids[7], "kind": "even"}) is None  # the rest of the filter holds
    assert collection.find_one({"_id": ObjectId()}) is None
    assert collection.find_one({"_id": str(ids[7])}) is None  # an id's type matters, as in MongoDB
    assert [d["n"] for d in collection.find({"_id": {"$in": ids[:3]}})] == [0, 1, 2]
    assert collection.count_documents({"_id": ids[3]}) == 1


def test_an_aggregation_from_one_id_answers_as_a_scan_would():
    mockstore.install()
    database = mongomock.MongoClient().db
    owners = database.owners.insert_many([{"name": name} for name in ("Ana", "Ben")]).inserted_ids
    ids = database.pets.insert_many([{"owner": owners[n % 2], "n": n}
                                     for n in range(20)]).inserted_ids
    joined = list(database.pets.aggregate([
        {"$match": {"_id": ids[3]}},
        {"$lookup": {"from": "owners", "localField": "owner", "foreignField": "_id", "as": "o"}}]))
    assert [(d["n"], [o["name"] for o in d["o"]]) for d in joined] == [(3, ["Ben"])]
    assert list(database.pets.aggregate([{"$match": {"_id": ids[3], "n": 4}}])) == []
    assert list(database.pets.aggregate([{"$match": {"_id": ObjectId()}}])) == []
    assert len(list(database.pets.aggregate([{"$match": {"n": {"$lt": 5}}}]))) == 5  # a scan


def test_counting_as_pymongo_does_answers_as_a_scan_would_and_copies_nothing(monkeypatch):
    mockstore.install()
    collection = mongomock.MongoClient().db.messages
    collection.create_index([("receiver", 1), ("read_at", 1)])
    collection.insert_many([{"receiver": n % 3, "read_at": None if n % 4 else datetime(2026, 1, 1)}
                            for n in range(30)])
    monkeypatch.setattr(mongomock.collection.Collection, "_copy_only_fields",
                        lambda *args: pytest.fail("a count copied a document"))
    assert _counted(collection, {"receiver": 1, "read_at": None}) == 7
    assert _counted(collection, {"receiver": 9}) == 0
    assert _counted(collection, {"read_at": {"$ne": None}}) == 8  # a scan
    # Anything else after the `$match` still goes through mongomock's pipeline.
    monkeypatch.undo()
    grouped = collection.aggregate([{"$match": {"receiver": 1}},
                                    {"$group": {"_id": "$read_at", "n": {"$sum": 1}}}])
    assert sorted(d["n"] for d in grouped) == [3, 7]


def _counted(collection, query):
    """What pymongo's count_documents asks a server: an aggregation, read as pymongo reads it."""
    found = list(collection.aggregate([{"$match": query},
                                       {"$group": {"_id": 1, "n": {"$sum": 1}}}]))
    return found[0]["n"] if found else 0


def test_ttl_expiry_still_happens():
    mockstore.install()
    collection = mongomock.MongoClient().db.sessions
    collection.create_index("expires_at", expireAfterSeconds=0)
    collection.insert_one({"expires_at": datetime.utcnow() - timedelta(minutes=1)})
    live = collection.insert_one({"expires_at": datetime.utcnow() + timedelta(hours=1)}).inserted_id
    store = collection._store
    store._last_ttl_sweep = 0.0  # as if the last sweep was long ago
    assert [d["_id"] for d in collection.find({})] == [live]


def _scan(collection, filter):
    """What mongomock without the shortcuts answers: every document tested, in insertion order."""
    return [d["_id"] for d in list(collection._store._documents.values()) if filter_applies(filter, d)]


VALUES = [None, 0, 1, 1.0, True, "x", "y", "", [], ["x", 1], ["y"], {"c": "x"}, [{"c": "y"}],
          datetime(2026, 1, 1), ObjectId("0" * 24), ObjectId("1" * 24)]


def _random_document(rng, ids):
    document = {"n": rng.randrange(5)}
    for field in ("a", "tags"):
        if rng.random() < 0.8:
            document[field] = rng.choice(VALUES)
    if rng.random() < 0.7:
        document["b"] = rng.choice([{"c": rng.choice(VALUES)}, {}, rng.choice(VALUES),
                                    [{"c": "x"}, {"c": 1}]])  # b.c through an array
    if rng.random() < 0.5:
        document["_id"] = rng.choice(ids)
    return document


def _random_filter(rng, ids):
    keyable = [v for v in VALUES if isinstance(v, (str, int, ObjectId)) and not isinstance(v, bool)]
    filter = {}
    for field in ("a", "tags", "b.c", "n"):
        roll = rng.random()
        if roll < 0.35:
            filter[field] = rng.choice(VALUES)
        elif roll < 0.5:
            filter[field] = {"$in": rng.sample(keyable, rng.randrange(1, 4))}
        elif roll < 0.55:
            filter[field] = {"$eq": rng.choice(VALUES)}
        elif roll < 0.6:
            filter[field] = {"$ne": rng.choice(keyable)}
    roll = rng.random()
    if roll < 0.1:
        filter["_id"] = rng.choice(ids)
    elif roll < 0.2:
        filter["_id"] = {"$in": rng.sample(ids, 3)}
    return filter


def test_indexed_queries_answer_as_a_scan_would_through_every_kind_of_write():
    """Random documents (arrays, sub-documents, nulls, mixed types) through inserts, in-place
    updates, replacements, deletes and index changes: every query, by a map or not, finds the
    same documents in the same order as a full scan."""
    import random

    mockstore.install()
    rng = random.Random(2026)
    collection = mongomock.MongoClient().db.things
    ids = [ObjectId() for _ in range(40)]
    collection.create_index("a")
    collection.create_index([("tags", 1), ("n", -1)])
    collection.insert_one({"n": 0, "b": {"c": "x"}})  # a document before the next index exists
    collection.create_index("b.c")
    collection.create_index([("a", 1), ("b.c", -1)])  # a compound key, nulls and all
    collection.create_index([("tags", 1), ("n", 1), ("_id", -1)])  # ending in _id, as sorts do
    for step in range(600):
        operation = rng.random()
        target = _random_filter(rng, ids)
        try:
            if operation < 0.3:
                collection.insert_one(_random_document(rng, ids))
            elif operation < 0.5:
                collection.update_one(target, {"$set": {rng.choice(["a", "tags", "b.c", "b"]):
                                                        rng.choice(VALUES)}})
            elif operation < 0.6:
                collection.update_many(target, {"$unset": {rng.choice(["a", "tags", "b"]): ""}})
            elif operation < 0.65:
                collection.update_one(target, {"$push": {"tags": rng.choice(["x", "z", 7])}})
            elif operation < 0.7:
                collection.update_one(target, {"$inc": {"a": 1}})  # fails half-way on a string
            elif operation < 0.8:
                replacement = _random_document(rng, ids)
                replacement.pop("_id", None)
                collection.replace_one(target, replacement, upsert=rng.random() < 0.3)
            elif operation < 0.9:
                collection.delete_one(target)
            elif operation < 0.92:
                collection.drop_index("a_1")
                collection.create_index("a")
        except Exception:  # noqa: BLE001
            # Refused writes: duplicates, and what MongoDB answers with a write error and mongomock
            # with a Python one ($inc on a string, $set inside an array); the maps must survive them.
            pass
        for _ in range(3):
            query = _random_filter(rng, ids)
            assert [d["_id"] for d in collection.find(query)] == _scan(collection, query), query
            assert collection.count_documents(query) == len(_scan(collection, query))
            assert [d["_id"] for d in collection.aggregate([{"$match": query}])] == \
                _scan(collection, query)
            assert _counted(collection, query) == len(_scan(collection, query))
    assert len(list(collection.find({}))) > 50


def test_unique_indexes_still_refuse_duplicates_and_keep_the_first():
    mockstore.install()
    collection = mongomock.MongoClient().db.keyed
    collection.create_index("email", unique=True)
    collection.create_index("key", unique=True, sparse=True)
    first = collection.insert_one({"email": "ana@example.ph"}).inserted_id
    collection.insert_one({"email": "ben@example.ph"})
    collection.insert_one({"email": "cy@example.ph"})  # no key: sparse
    try:
        collection.insert_one({"email": "ana@example.ph"})
        raise AssertionError("a second ana was stored")
    except mongomock.DuplicateKeyError:
        pass
    try:
        collection.update_one({"email": "ben@example.ph"}, {"$set": {"email": "ana@example.ph"}})
        raise AssertionError("ben became a second ana")
    except mongomock.DuplicateKeyError:
        pass
    assert [d["_id"] for d in collection.find({"email": "ana@example.ph"})] == [first]
    assert collection.count_documents({"email": "ben@example.ph"}) == 1  # rolled back, refiled
    collection.update_one({"email": "ben@example.ph"}, {"$set": {"email": "dee@example.ph"}})
    assert collection.count_documents({"email": "ben@example.ph"}) == 0
    assert collection.count_documents({"email": "dee@example.ph"}) == 1


def test_an_index_ending_in_id_still_maps_its_first_field():
    """Inboxes are indexed (participants, -last_activity_at, -_id): the map of `participants`
    must exist, or every inbox and presence query scans all conversations."""
    mockstore.install()
    collection = mongomock.MongoClient().db.conversations
    collection.create_index([("participants", 1), ("last_activity_at", -1), ("_id", -1)])
    ana, ben = ObjectId(), ObjectId()
    collection.insert_many([{"participants": [ana, ObjectId()], "n": n} for n in range(3)]
                           + [{"participants": [ben, ObjectId()], "n": 9}])
    maps = mockstore._indexes(collection._store)
    assert maps.candidates({"participants": ben, "n": {"$gt": 0}}) is not None
    assert [d["n"] for d in collection.find({"participants": ben})] == [9]
