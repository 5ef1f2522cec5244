"""The in-memory store's shortcuts (elako/mockstore.py) answer exactly as a full scan does."""

from datetime import datetime, timedelta

import mongomock
from bson import ObjectId

from elako import mockstore


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


def test_ttl_expiry_still_happens():
    mockstore.install()
    collection = mongomock.MongoClient().db.sessions
    collection.create_index("expires_at", expireAfterSeconds=0)
    collection.insert_one({"expires_at": datetime.utcnow() - timedelta(minutes=1)})
    live = collection.insert_one({"expires_at": datetime.utcnow() + timedelta(hours=1)}).inserted_id
    store = collection._store
    store._last_ttl_sweep = 0.0  # as if the last sweep was long ago
    assert [d["_id"] for d in collection.find({})] == [live]
