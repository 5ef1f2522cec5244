"""Shortcuts for mongomock, the in-memory store used when MONGODB_URI is unset (`make run`, the
tests' wire server). mongomock has no indexes: every query, even by `_id`, tests each document of
the collection; every insert or update checks each unique index with another such scan; and every
access to a collection with a TTL index first scans it for expired documents. With thousands of
messages and sessions, a send or a stream opening spent its time there, growing with the data.

- Equality indexes: for the first field of every index a collection declares, and for the whole key
  of each compound one, a map from each value (tuple) to the documents holding it (each element of
  an array, as MongoDB's multikey indexes; null for a missing field). A query with an equality (or
  `$in`) on every field of a map tests only those documents, in insertion order, with the whole
  filter, so the answer is the scan's; unique checks find their twins the same way. Documents
  whose value a map cannot hold (a sub-document, an empty array) are tested by every such query.
- A query whose filter names `_id` (one, or `$in`) looks those documents up directly.
- Where a filter is only equalities on top-level fields, each candidate is tested by comparing
  values (mongomock's general matcher costs tens of microseconds a document: counting a store's
  unread messages, a send's badge, tested each of hundreds that way).
- An aggregation that starts with `$match` starts from that query (so from a map or a lookup), not
  from a copy of the whole collection. pymongo counts documents with such an aggregation (a send's
  unread badge, over the wire server): that one counts the matches without copying each.
- TTL expiry runs at most once a second per collection. MongoDB's own TTL monitor runs once a
  minute, so code that works on MongoDB never relied on expired documents vanishing sooner.

The maps follow every write through the store's own entry points (insert, replace, delete, drop)
and through `_ensure_uniques`, which mongomock calls after each document it changes in place.
"""

import itertools
import threading
import time

from bson import ObjectId
from mongomock import aggregate as pipelines
from mongomock.collection import Collection
from mongomock.command_cursor import CommandCursor
from mongomock.filtering import filter_applies
from mongomock.helpers import hashdict
from mongomock.store import CollectionStore

TTL_SWEEP_SECONDS = 1.0

# What follows the `$match` in pymongo's `count_documents` (without skip or limit).
COUNT_STAGES = [{"$group": {"_id": 1, "n": {"$sum": 1}}}]

# Filter values an index answers for (and null): those whose equality in MongoDB is Python's
# equality (a bool is left out: True == 1 in Python, not in MongoDB; so are dates, whose awareness
# mongomock patches on the way in).
KEYABLE = (ObjectId, str, int)
# Document values compared with Python's equality against such a filter value: exact types, so
# neither a bool (an int subclass) nor a str or ObjectId subclass passes for one.
PLAIN = frozenset({ObjectId, str, int})

_installed = False


class EqualityIndexes:
    """One collection's maps, (values) -> ids, each over a tuple of fields: the first field of each
    of its indexes, and each compound index's whole key."""

    def __init__(self):
        self.lock = threading.RLock()
        self.maps = {}  # fields -> {values: set of ids}
        self.loose = {}  # fields -> ids of documents whose values no map holds
        self.keys_of = {}  # id -> {fields: keys it is filed under, or None when loose}
        self.order = {}  # id -> insertion number, so answers keep the scan's order
        self.counter = itertools.count()

    @staticmethod
    def fields_of(indexes):
        wanted = set()
        for index in indexes.values():
            fields = tuple(field for field, _ in (index.get("key") or ()))
            if not fields or not all(isinstance(f, str) for f in fields) or fields[0] == "_id":
                continue  # `_id` is looked up directly
            wanted.add(fields[:1])
            if "_id" not in fields:  # an index ending in `_id` (a sort's tie-break) maps its prefix
                wanted.add(fields)
        return wanted

    def rebuild(self, indexes, documents):
        with self.lock:
            wanted = self.fields_of(indexes)
            self.maps = {fields: {} for fields in wanted}
            self.loose = {fields: set() for fields in wanted}
            self.keys_of = {}
            for key, document in documents.items():
                self.order.setdefault(key, next(self.counter))
                self._file(key, document)

    def put(self, key, document):
        with self.lock:
            self.order.setdefault(key, next(self.counter))
            self._unfile(key)
            self._file(key, document)

    def remove(self, key):
        with self.lock:
            self._unfile(key)
            self.order.pop(key, None)

    def _file(self, key, document):
        filed = {}
        for fields, values in self.maps.items():
            keys = _keys(document, fields)
            if keys is None:
                self.loose[fields].add(key)
            else:
                for value in keys:
                    values.setdefault(value, set()).add(key)
            filed[fields] = keys
        self.keys_of[key] = filed

    def _unfile(self, key):
        for fields, keys in self.keys_of.pop(key, {}).items():
            if keys is None:
                self.loose[fields].discard(key)
                continue
            values = self.maps[fields]
            for value in keys:
                holders = values.get(value)
                if holders is not None:
                    holders.discard(key)
                    if not holders:
                        del values[value]

    def candidates(self, filter):
        """The ids of the documents that may match `filter`, by the narrowest map it allows, in
        insertion order; None when no map applies."""
        if not isinstance(filter, dict):
            return None
        with self.lock:
            best = None
            for fields, values in self.maps.items():
                wanted = [_wanted(filter[f]) if f in filter else None for f in fields]
                if None in wanted:
                    continue
                found = set(self.loose[fields])
                for value in itertools.product(*wanted):
                    found.update(values.get(value, ()))
                if best is None or len(found) < len(best):
                    best = found
            if best is None:
                return None
            return sorted(best, key=self.order.__getitem__)


def _wanted(condition):
    """The values an equality or `$in` condition asks for, or None when a map cannot answer it."""
    if isinstance(condition, dict):
        if set(condition) == {"$eq"}:
            condition = condition["$eq"]
        elif set(condition) == {"$in"} and isinstance(condition["$in"], (list, tuple)):
            values = condition["$in"]
            return values if all(_keyable(v) for v in values) else None
        else:
            return None
    return [condition] if _keyable(condition) else None


def _keyable(value):
    return value is None or (isinstance(value, KEYABLE) and not isinstance(value, bool))


def _keys(document, fields):
    """The value tuples `document` is filed under for `fields` (each element of an array, as in
    MongoDB's multikey indexes; None for a missing field, which `{field: null}` matches), or None
    when it must be tested by every query (loose)."""
    per_field = []
    for field in fields:
        keys = _field_keys(document, field)
        if keys is None:
            return None
        per_field.append(keys)
    return set(itertools.product(*per_field))


def _field_keys(document, field):
    value = document
    for part in field.split("."):
        if isinstance(value, list):
            return None  # an array of sub-documents: let the filter decide
        if not isinstance(value, dict) or part not in value:
            return {None}
        value = value[part]
    if value == []:
        return None  # matched by neither a value nor null: let the filter decide
    keys = set()
    for element in value if isinstance(value, list) else [value]:
        if element is None or isinstance(element, (ObjectId, str, int, float)):
            keys.add(element)  # bools are ints: an extra candidate is harmless
        else:
            return None  # a sub-document, a date, a Decimal128...: let the filter decide
    return keys


def _indexes(store):
    indexes = store.__dict__.get("_equality_indexes")
    if indexes is None:
        indexes = store._equality_indexes = EqualityIndexes()
        indexes.rebuild(store.indexes, store._documents)
    return indexes


def install():
    global _installed
    if _installed:
        return
    _installed = True
    scan = Collection._iter_documents
    ensure_uniques, update = Collection._ensure_uniques, Collection._update
    aggregate = Collection.aggregate
    sweep = CollectionStore._remove_expired_documents
    setitem, delitem = CollectionStore.__setitem__, CollectionStore.__delitem__
    create_index, drop_index, drop = (CollectionStore.create_index, CollectionStore.drop_index,
                                      CollectionStore.drop)

    def iter_documents(self, filter):
        store = self._store
        ids = _ids_named(store, filter)
        if ids is None:
            ids = _indexes(store).candidates(filter)
        if ids is None:
            return scan(self, filter)
        store._remove_expired_documents()
        documents = store._documents
        found = [documents[key] for key in ids if key in documents]
        equalities = _plain_equalities(filter)
        if equalities is None:
            return iter([document for document in found if filter_applies(filter, document)])
        return iter([document for document in found if _equal(equalities, filter, document)])

    def reindexing_ensure_uniques(self, new_data):
        # mongomock calls this after each insert and each in-place change, before anything reads
        # the document: file it under its new values first, so the check itself can use the maps.
        key = new_data["_id"]
        _indexes(self._store).put(hashdict(key) if isinstance(key, dict) else key, new_data)
        return ensure_uniques(self, new_data)

    def refiling_update(self, *args, **kwargs):
        try:
            return update(self, *args, **kwargs)
        except Exception:
            # An update that failed half-way may have changed a document in place without
            # rollback (mongomock's way): file the whole collection again.
            _indexes(self._store).rebuild(self._store.indexes, self._store._documents)
            raise

    def store_setitem(self, key, value):
        setitem(self, key, value)
        _indexes(self).put(key, value)

    def store_delitem(self, key):
        delitem(self, key)
        _indexes(self).remove(key)

    def store_create_index(self, index_name, index_dict):
        create_index(self, index_name, index_dict)
        _indexes(self).rebuild(self.indexes, self._documents)

    def store_drop_index(self, index_name):
        drop_index(self, index_name)
        _indexes(self).rebuild(self.indexes, self._documents)

    def store_drop(self):
        drop(self)
        self.__dict__.pop("_equality_indexes", None)

    def remove_expired_documents(self):
        now = time.monotonic()
        if now - getattr(self, "_last_ttl_sweep", 0.0) >= TTL_SWEEP_SECONDS:
            self._last_ttl_sweep = now
            sweep(self)

    def aggregate_from_match(self, pipeline, session=None, **kwargs):
        match = pipeline[0].get("$match") if pipeline else None
        if not isinstance(match, dict):
            return aggregate(self, pipeline, session, **kwargs)
        if pipeline[1:] == COUNT_STAGES and not session:
            count = self.count_documents(match)
            return CommandCursor([{"_id": 1, "n": count}] if count else [])
        return pipelines.process_pipeline(list(self.find(match)), self.database, pipeline[1:],
                                          session)

    Collection._iter_documents = iter_documents
    Collection._ensure_uniques = reindexing_ensure_uniques
    Collection._update = refiling_update
    Collection.aggregate = aggregate_from_match
    CollectionStore._remove_expired_documents = remove_expired_documents
    CollectionStore.__setitem__ = store_setitem
    CollectionStore.__delitem__ = store_delitem
    CollectionStore.create_index = store_create_index
    CollectionStore.drop_index = store_drop_index
    CollectionStore.drop = store_drop


def _plain_equalities(filter):
    """The filter as (field, value) pairs when it is nothing but equalities on top-level fields
    with values a map holds (what the hot paths' queries are), else None."""
    pairs = []
    for field, wanted in filter.items():
        if field.startswith("$") or "." in field or not _keyable(wanted):
            return None
        pairs.append((field, wanted))
    return pairs


def _equal(equalities, filter, document):
    """Whether `document` matches `filter`, given as `equalities`: a plain comparison where the
    document's value is a plain one (which is Python's equality in MongoDB too, null matching a
    missing field), mongomock's own matcher for the rest (arrays, bools, floats, dates...)."""
    for field, wanted in equalities:
        value = document.get(field)
        if value is None:
            if wanted is not None:
                return False
        elif type(value) in PLAIN:
            if value != wanted:
                return False
        else:
            return filter_applies(filter, document)
    return True


def _ids_named(store, filter):
    """The ids a filter names with `_id: value` or `_id: {$in: [...]}` that the store holds, in
    insertion order; None when it names none that way."""
    if not isinstance(filter, dict) or "_id" not in filter:
        return None
    key = filter["_id"]
    if isinstance(key, dict):
        if set(key) != {"$in"} or not isinstance(key["$in"], (list, tuple)):
            return None
        keys = key["$in"]
    else:
        keys = [key]
    try:
        present = {k for k in keys if k in store._documents}
    except TypeError:  # an unhashable value (a sub-document id): let the scan decide
        return None
    order = _indexes(store).order
    return sorted(present, key=order.__getitem__)
