"""A tiny MongoDB wire-protocol server backed by mongomock, for tests only.

No MongoDB server can be installed where the test suite runs, and mongomock
alone is private to one process.  The end-to-end tests run gunicorn with
several worker processes, so they need one in-memory store that every worker
reaches through the real pymongo driver over TCP.  This module is that store.

Query and update semantics are mongomock's, not MongoDB's: every test must
also pass against a real MongoDB given through MONGODB_URI.

    python -m tests.support.mongowire --port 27999

It counts the commands it serves, by name, so a benchmark in another process can read how many
round trips a workload cost: `client.admin.command("mongowireCommandCounts")` answers
`{"counts": {name: n}, "by_collection": {"<name> <collection>": n}}` (the driver's own monitoring,
`hello`, included; this command excluded).
"""

import argparse
import contextlib
import datetime
import itertools
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import bson
import bson.errors
import mongomock
from bson.int64 import Int64
from mongomock import CollectionInvalid, OperationFailure, WriteError
from mongomock.filtering import filter_applies

from elako import mockstore

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
CHECKSUM_PRESENT, MORE_TO_COME = 1 << 0, 1 << 1
HEADER = struct.Struct("<iiii")

# UUIDs are decoded as bson.Binary (the default codec) on purpose: mongomock
# re-encodes documents with the default codec on insert, which refuses native
# uuid.UUID values, while Binary subtypes 3/4 pass through unchanged, so
# clients using uuidRepresentation="standard" get their UUIDs back intact.
CODEC = bson.CodecOptions()

CODE_NAMES = {2: "BadValue", 11000: "DuplicateKey", 48: "NamespaceExists", 59: "CommandNotFound"}


def error_reply(message, code=2):
    return {"ok": 0.0, "errmsg": message, "code": code, "codeName": CODE_NAMES.get(code, "Error")}


def exception_reply(exc):
    if isinstance(exc, CollectionInvalid):
        return error_reply(str(exc), 48)
    code = exc.code if isinstance(exc, OperationFailure) and exc.code else 2
    return error_reply(str(exc), code)


@dataclass
class Request:
    """One decoded command: `body` is the command document, `db_name` its $db."""

    client: mongomock.MongoClient
    db_name: str
    body: dict
    connection_id: int
    command_counts: Counter
    collection_counts: Counter

    @property
    def db(self):
        return self.client[self.db_name]

    @property
    def coll_name(self):
        return next(iter(self.body.values()))

    @property
    def coll(self):
        return self.db[self.coll_name]

    @property
    def ns(self):
        return f"{self.db_name}.{self.coll_name}"

    def cursor(self, docs, ns=None):
        """A cursor reply holding every result in its first batch."""
        return {"cursor": {"id": Int64(0), "ns": ns or self.ns, "firstBatch": list(docs)},
                "ok": 1.0}


def write_error(index, exc, ns):
    code = getattr(exc, "code", None) or 2
    message = f"E11000 duplicate key error collection: {ns}" if code == 11000 else str(exc)
    return {"index": index, "code": code, "errmsg": message}


def sort_spec(body):
    # Sort documents arrive as ordered dicts; mongomock wants (key, direction) pairs.
    return list(body["sort"].items()) if body.get("sort") else None


def apply_update(coll, query, update, upsert, multi=False, array_filters=None):
    """Run an operator update, pipeline or replacement; return mongomock's raw result."""
    if isinstance(update, list) or next(iter(update), "").startswith("$"):
        method = coll.update_many if multi else coll.update_one
        result = method(query, update, upsert=upsert, array_filters=array_filters)
    else:
        result = coll.replace_one(query, update, upsert=upsert)
    return result.raw_result


def write_reply(n, errors, **extra):
    reply = {"n": n, **extra, "ok": 1.0}
    if errors:
        reply["writeErrors"] = errors
    return reply


# --- command handlers: each takes a Request and returns the reply document ---

def cmd_hello(req):
    # No logicalSessionTimeoutMinutes: pymongo then never sends sessions.
    # No topologyVersion: pymongo then polls instead of streaming hello.
    return {
        "ismaster": True, "isWritablePrimary": True, "helloOk": True,
        "maxBsonObjectSize": 16777216, "maxMessageSizeBytes": 48000000,
        "maxWriteBatchSize": 100000, "localTime": datetime.datetime.now(datetime.timezone.utc),
        "minWireVersion": 0, "maxWireVersion": 21, "connectionId": req.connection_id,
        "readOnly": False, "ok": 1.0,
    }


def cmd_ok(req):
    return {"ok": 1.0}


def cmd_build_info(req):
    return {"version": "7.0.0", "versionArray": [7, 0, 0, 0], "gitVersion": "mongowire",
            "bits": 64, "maxBsonObjectSize": 16777216, "ok": 1.0}


def cmd_host_info(req):
    return {"system": {"hostname": socket.gethostname()}, "os": {}, "extra": {}, "ok": 1.0}


def cmd_server_status(req):
    return {"host": socket.gethostname(), "version": "7.0.0", "process": "mongod",
            "localTime": datetime.datetime.now(datetime.timezone.utc), "ok": 1.0}


def cmd_find(req):
    body = req.body
    docs = req.coll.find(body.get("filter") or {}, body.get("projection") or None,
                         skip=body.get("skip", 0), limit=abs(body.get("limit", 0)),
                         sort=sort_spec(body))
    return req.cursor(docs)


def cmd_get_more(req):
    # Every cursor is exhausted in its first batch, so there is never more.
    return {"cursor": {"id": Int64(0), "ns": f"{req.db_name}.{req.body['collection']}",
                       "nextBatch": []}, "ok": 1.0}


def cmd_insert(req):
    inserted, errors = 0, []
    for index, doc in enumerate(req.body.get("documents", [])):
        try:
            req.coll.insert_one(doc)
            inserted += 1
        except WriteError as exc:
            errors.append(write_error(index, exc, req.ns))
            if req.body.get("ordered", True):
                break
    return write_reply(inserted, errors)


def cmd_update(req):
    matched = modified = 0
    upserted, errors = [], []
    for index, spec in enumerate(req.body.get("updates", [])):
        try:
            raw = apply_update(req.coll, spec["q"], spec["u"], spec.get("upsert", False),
                               spec.get("multi", False), spec.get("arrayFilters"))
        except WriteError as exc:
            errors.append(write_error(index, exc, req.ns))
            if req.body.get("ordered", True):
                break
            continue
        matched += raw["n"]
        modified += raw["nModified"]
        if raw["upserted"] is not None:
            upserted.append({"index": index, "_id": raw["upserted"]})
    extra = {"nModified": modified, **({"upserted": upserted} if upserted else {})}
    return write_reply(matched, errors, **extra)


def cmd_delete(req):
    deleted = 0
    for spec in req.body.get("deletes", []):
        method = req.coll.delete_one if spec.get("limit") == 1 else req.coll.delete_many
        deleted += method(spec["q"]).deleted_count
    return write_reply(deleted, [])


def cmd_find_and_modify(req):
    body, coll = req.body, req.coll
    fields = body.get("fields") or None
    old = coll.find_one(body.get("query") or {}, sort=sort_spec(body))
    # Refetch through the projection by _id, which the projection may hide.
    old_projected = old and coll.find_one({"_id": old["_id"]}, fields)
    if body.get("remove"):
        if old:
            coll.delete_one({"_id": old["_id"]})
        return {"value": old_projected, "lastErrorObject": {"n": int(bool(old))}, "ok": 1.0}

    target = {"_id": old["_id"]} if old else body.get("query") or {}
    raw = apply_update(coll, target, body["update"], body.get("upsert", False),
                       array_filters=body.get("arrayFilters"))
    upserted_id = raw["upserted"]
    last_error = {"n": raw["n"], "updatedExisting": old is not None}
    if upserted_id is not None:
        last_error["upserted"] = upserted_id
    if body.get("new"):
        new_id = upserted_id if upserted_id is not None else old and old["_id"]
        value = coll.find_one({"_id": new_id}, fields) if new_id is not None else None
    else:
        value = old_projected
    return {"value": value, "lastErrorObject": last_error, "ok": 1.0}


def cmd_aggregate(req):
    return req.cursor(req.coll.aggregate(req.body.get("pipeline", [])))


def cmd_count(req):
    body = req.body
    limit = abs(body.get("limit") or 0)
    n = req.coll.count_documents(body.get("query") or {}, skip=body.get("skip") or 0,
                                 **({"limit": limit} if limit else {}))
    return {"n": n, "ok": 1.0}


def cmd_distinct(req):
    return {"values": req.coll.distinct(req.body["key"], req.body.get("query") or None), "ok": 1.0}


def cmd_create_indexes(req):
    coll = req.coll
    existed = req.coll_name in req.db.list_collection_names()
    if not existed:
        # As on MongoDB the collection now exists, whatever later happens to its indexes.
        req.db.create_collection(req.coll_name)
    before = len(coll.index_information())
    for spec in req.body.get("indexes", []):
        # Only options mongomock understands; others (background, ...) are no-ops here.
        options = {k: spec[k] for k in ("unique", "sparse", "expireAfterSeconds",
                                        "partialFilterExpression") if k in spec}
        coll.create_index(list(spec["key"].items()), name=spec["name"], **options)
    return {"createdCollectionAutomatically": not existed, "numIndexesBefore": before,
            "numIndexesAfter": len(coll.index_information()), "ok": 1.0}


def cmd_list_indexes(req):
    return req.cursor(
        {"v": 2, "key": dict(info["key"]), "name": name,
         **{k: v for k, v in info.items() if k not in ("key", "v")}}
        for name, info in req.coll.index_information().items())


def cmd_drop_indexes(req):
    index = req.body.get("index", "*")
    if index == "*":
        req.coll.drop_indexes()
    else:
        for one in index if isinstance(index, list) else [index]:
            req.coll.drop_index(list(one.items()) if isinstance(one, dict) else one)
    return {"ok": 1.0}


def cmd_drop(req):
    req.db.drop_collection(req.coll_name)
    return {"ns": req.ns, "ok": 1.0}


def cmd_drop_database(req):
    req.client.drop_database(req.db_name)
    return {"ok": 1.0}


def cmd_create(req):
    req.db.create_collection(req.coll_name)
    return {"ok": 1.0}


def cmd_list_collections(req):
    infos = ({"name": name, "type": "collection", "options": {}, "info": {"readOnly": False}}
             for name in req.db.list_collection_names())
    query = req.body.get("filter") or {}
    return req.cursor((info for info in infos if filter_applies(query, info)),
                      ns=f"{req.db_name}.$cmd.listCollections")


def cmd_list_databases(req):
    names = req.client.list_database_names()
    return {"databases": [{"name": n, "sizeOnDisk": 0, "empty": False} for n in names],
            "totalSize": 0, "ok": 1.0}


def cmd_command_counts(req):
    return {"counts": dict(req.command_counts), "by_collection": dict(req.collection_counts),
            "ok": 1.0}


COMMANDS = {
    "mongowireCommandCounts": cmd_command_counts,
    "hello": cmd_hello, "isMaster": cmd_hello, "ismaster": cmd_hello,
    "ping": cmd_ok, "endSessions": cmd_ok, "getLastError": cmd_ok, "getParameter": cmd_ok,
    "killCursors": lambda req: {"cursorsKilled": [], "cursorsNotFound": [], "ok": 1.0},
    "buildInfo": cmd_build_info, "buildinfo": cmd_build_info,
    "hostInfo": cmd_host_info, "serverStatus": cmd_server_status,
    "find": cmd_find, "getMore": cmd_get_more,
    "insert": cmd_insert, "update": cmd_update, "delete": cmd_delete,
    "findAndModify": cmd_find_and_modify, "findandmodify": cmd_find_and_modify,
    "aggregate": cmd_aggregate, "count": cmd_count, "distinct": cmd_distinct,
    "createIndexes": cmd_create_indexes, "listIndexes": cmd_list_indexes,
    "dropIndexes": cmd_drop_indexes, "drop": cmd_drop, "dropDatabase": cmd_drop_database,
    "create": cmd_create, "listCollections": cmd_list_collections,
    "listDatabases": cmd_list_databases,
}


# --- wire protocol ---

def recv_exact(sock, size):
    """Read exactly `size` bytes, or return None if the peer went away."""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = sock.recv_into(view[got:])
        if not n:
            return None
        got += n
    return bytes(buf)


def parse_op_msg(payload):
    """Return (flags, command): kind-1 document sequences become body list fields."""
    (flags,) = struct.unpack_from("<I", payload)
    end = len(payload) - 4 if flags & CHECKSUM_PRESENT else len(payload)
    pos, body, sequences = 4, None, {}
    while pos < end:
        kind = payload[pos]
        (size,) = struct.unpack_from("<i", payload, pos + 1)
        section = payload[pos + 1:pos + 1 + size]
        if kind == 0:
            body = bson.decode(section, CODEC)
        elif kind == 1:
            name_end = section.index(b"\0", 4)
            sequences[section[4:name_end].decode()] = bson.decode_all(section[name_end + 1:], CODEC)
        else:
            raise ValueError(f"unknown OP_MSG section kind {kind}")
        pos += 1 + size
    if body is None:
        raise ValueError("OP_MSG without a body section")
    body.update(sequences)
    return flags, body


def parse_op_query(payload):
    """Return (database, command) of a legacy `db.$cmd` OP_QUERY."""
    ns_end = payload.index(b"\0", 4)
    namespace = payload[4:ns_end].decode()
    if not namespace.endswith(".$cmd"):
        raise ValueError(f"legacy queries are not supported: {namespace}")
    # Past numberToSkip and numberToReturn; an optional field selector may follow.
    command = bson.decode_all(payload[ns_end + 9:], CODEC)[0]
    return namespace[:-len(".$cmd")], command.get("$query", command)


def frame(request_id, op_code, body):
    return HEADER.pack(16 + len(body), 0, request_id, op_code) + body


class ConnectionHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock, server = self.request, self.server
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection_id = next(server.connection_ids)
        server.connections.add(sock)
        try:
            while (header := recv_exact(sock, 16)) is not None:
                length, request_id, _, op_code = HEADER.unpack(header)
                payload = recv_exact(sock, length - 16)
                if payload is None:
                    return
                if op_code == OP_MSG:
                    flags, command = parse_op_msg(payload)
                    reply = server.encode(server.execute(command.get("$db", "admin"), command,
                                                         connection_id))
                    if not flags & MORE_TO_COME:
                        sock.sendall(frame(request_id, OP_MSG, struct.pack("<IB", 0, 0) + reply))
                elif op_code == OP_QUERY:
                    db_name, command = parse_op_query(payload)
                    reply = server.encode(server.execute(db_name, command, connection_id))
                    sock.sendall(frame(request_id, OP_REPLY, struct.pack("<iqii", 0, 0, 0, 1) + reply))
                else:
                    return  # unsupported opcode (e.g. OP_COMPRESSED): hang up
        except (OSError, ValueError, struct.error, bson.errors.BSONError):
            return  # broken connection or malformed message: hang up
        finally:
            server.connections.discard(sock)


class MongoWireServer(socketserver.ThreadingTCPServer):
    """Serve one shared mongomock store over the MongoDB wire protocol."""

    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # many gunicorn workers may connect at once

    def __init__(self, host="127.0.0.1", port=0, client=None):
        """`client`: the mongomock client whose store to serve (a new one by default), such as an
        app's own in-process store."""
        super().__init__((host, port), ConnectionHandler)
        mockstore.install()  # the same shortcuts as the app's own in-memory store
        self.client = client or mongomock.MongoClient()
        self.lock = threading.Lock()  # mongomock is not thread-safe
        self.connection_ids = itertools.count(1)
        self.command_counts = Counter()  # by command name, read with mongowireCommandCounts
        self.collection_counts = Counter()  # by command name and the collection it names
        self.connections = set()  # open client sockets, closed by stop()
        self._thread = None

    @property
    def port(self):
        return self.server_address[1]

    @property
    def uri(self):
        return f"mongodb://{self.server_address[0]}:{self.port}/"

    def execute(self, db_name, body, connection_id):
        name = next(iter(body), "")
        handler = COMMANDS.get(name)
        if handler is None:
            return error_reply(f"no such command: '{name}'", 59)
        try:
            with self.lock:
                if handler is not cmd_command_counts:
                    self.command_counts[name] += 1
                    if isinstance(body[name], str):
                        self.collection_counts[f"{name} {body[name]}"] += 1
                return handler(Request(self.client, db_name, body, connection_id,
                                       self.command_counts, self.collection_counts))
        except Exception as exc:  # a failing command must never kill the connection
            return exception_reply(exc)

    @staticmethod
    def encode(reply):
        try:
            return bson.encode(reply, codec_options=CODEC)
        except Exception as exc:
            return bson.encode(exception_reply(exc))

    def start(self):
        # A short poll interval keeps stop() quick.
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="mongowire", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()
        # Hang up on pooled client connections too, or they would outlive the server.
        for sock in list(self.connections):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


@contextlib.contextmanager
def in_subprocess():
    """A wire server in a process of its own, which shares no GIL with the caller's threads, and
    which gunicorn's worker processes can reach: yields its URI."""
    from tests.support.servers import free_port, wait_for_port

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.support.mongowire", "--port", str(port)],
                               cwd=Path(__file__).resolve().parents[2], stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield f"mongodb://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(10)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27017)
    args = parser.parse_args()
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    with MongoWireServer(args.host, args.port) as server:
        print(server.uri, flush=True)
        stopped.wait()


if __name__ == "__main__":
    main()
