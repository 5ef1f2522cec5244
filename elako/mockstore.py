"""Two shortcuts for mongomock, the in-memory store used when MONGODB_URI is unset (`make run`, the
tests' wire server). mongomock has no indexes: every query, even by `_id`, tests each document of
the collection, and every access to a collection with a TTL index first scans it for expired
documents. With thousands of sessions, authenticating a reconnect storm spent its time there.

- A query whose filter names one `_id` looks that document up directly, then applies the whole
  filter to it, so the answer is the same as the scan's.
- An aggregation that starts by matching one `_id` starts from that lookup, not from a copy of the
  whole collection.
- TTL expiry runs at most once a second per collection. MongoDB's own TTL monitor runs once a
  minute, so code that works on MongoDB never relied on expired documents vanishing sooner.
"""

import time

from mongomock import aggregate as pipelines
from mongomock.collection import Collection
from mongomock.filtering import filter_applies
from mongomock.store import CollectionStore

TTL_SWEEP_SECONDS = 1.0

_installed = False


def install():
    global _installed
    if _installed:
        return
    _installed = True
    scan = Collection._iter_documents
    sweep = CollectionStore._remove_expired_documents
    aggregate = Collection.aggregate

    def iter_documents(self, filter):
        if not _names_one_id(filter):
            return scan(self, filter)
        key = filter["_id"]
        try:
            document = self._store[key]
        except (KeyError, TypeError):  # absent, or an unhashable value no document has
            return scan(self, filter)
        return iter([document] if filter_applies(filter, document) else [])

    def remove_expired_documents(self):
        now = time.monotonic()
        if now - getattr(self, "_last_ttl_sweep", 0.0) >= TTL_SWEEP_SECONDS:
            self._last_ttl_sweep = now
            sweep(self)

    def aggregate_from_one(self, pipeline, session=None, **kwargs):
        match = pipeline[0].get("$match") if pipeline else None
        if not _names_one_id(match):
            return aggregate(self, pipeline, session, **kwargs)
        return pipelines.process_pipeline(list(self.find(match)), self.database, pipeline[1:],
                                          session)

    Collection._iter_documents = iter_documents
    Collection.aggregate = aggregate_from_one
    CollectionStore._remove_expired_documents = remove_expired_documents


def _names_one_id(filter):
    key = filter.get("_id") if isinstance(filter, dict) else None
    return key is not None and not isinstance(key, dict)
