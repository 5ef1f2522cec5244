"""Thousands of accounts in seconds, for benchmarks and load tests: users, API sessions and
conversations written straight into the database a LiveServer uses, and bearer tokens minted the
way `elako.services.accounts.issue_token` mints them. No password is hashed (about 73 ms each), so
these users cannot sign in with a password unless `password_hash` is given.

    accounts = BulkAccounts.for_server(server)
    stores = accounts.users("store", 10)
    customers = accounts.users("customer", 10)
    conversation_ids = accounts.conversations(zip(customers, stores))
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt
import pymongo
from bson import ObjectId

from elako.models import AuthSession, Conversation, User, utcnow

# Not a hash werkzeug can parse: a password check against it always fails.
NO_PASSWORD = "bench:no-password"


@dataclass(frozen=True)
class BulkUser:
    id: str
    role: str
    name: str
    email: str
    token: str

    @property
    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}


class BulkAccounts:
    def __init__(self, mongo_uri, db_name, secret_key, *, token_seconds=6 * 3600):
        self.client = pymongo.MongoClient(mongo_uri, uuidRepresentation="standard")
        self.db = self.client[db_name]
        self.secret_key = secret_key
        self.token_seconds = token_seconds

    @classmethod
    def for_server(cls, server, **options):
        """For a tests.support.servers.LiveServer (its database and signing key)."""
        env = server.env
        return cls(env["MONGODB_URI"], env["MONGODB_DB"],
                   env.get("JWT_SECRET_KEY") or env["SECRET_KEY"], **options)

    def users(self, role, count, *, password_hash=NO_PASSWORD):
        """`count` new users of `role`, each with one API session and its token."""
        batch = uuid.uuid4().hex[:8]
        users = [User(role=role, name=f"Bench {role} {i}", email=f"{batch}-{i}@{role}.bench",
                      password_hash=password_hash) for i in range(count)]
        ids = self.db.users.insert_many([u.to_mongo() for u in users]).inserted_ids
        now = utcnow()
        sessions = [AuthSession(user_id=user_id, kind="api", created_at=now,
                                expires_at=now + timedelta(seconds=self.token_seconds))
                    for user_id in ids]
        session_ids = self.db.auth_sessions.insert_many(
            [s.to_mongo() for s in sessions]).inserted_ids
        return [BulkUser(str(user_id), role, user.name, user.email,
                         self._token(user_id, session_id, session))
                for user, user_id, session_id, session in zip(users, ids, session_ids, sessions)]

    def _token(self, user_id, session_id, session):
        claims = {"sub": str(user_id), "sid": str(session_id), "iat": session.created_at,
                  "exp": session.expires_at}
        return jwt.encode(claims, self.secret_key, algorithm="HS256")

    def conversations(self, pairs):
        """One conversation per (customer, store) pair; returns their ids, in order."""
        documents = []
        for customer, store in pairs:
            customer_id, store_id = ObjectId(customer.id), ObjectId(store.id)
            documents.append(Conversation(
                customer_id=customer_id, store_id=store_id, customer_name=customer.name,
                store_name=store.name, participants=[customer_id, store_id]).to_mongo())
        return [str(i) for i in self.db.conversations.insert_many(documents).inserted_ids]

    def close(self):
        self.client.close()
