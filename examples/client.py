"""ELako Chat's API from Python, with nothing but `requests`: register, get a token, open the
event stream, send, mark read, long-poll.

    python examples/client.py [http://localhost:8000]

A customer and a store are created; the store listens on the event stream while the customer
writes, then reads the message, and the customer hears of it by long-polling. The reference is
GET /api/docs (or /api/openapi.json).
"""

import json
import queue
import sys
import threading
import uuid

import requests

BASE = (sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8000").rstrip("/")
PASSWORD = "correct horse battery"


def sign_up(role, name):
    """A new account, and a session that sends its bearer token."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.ph"
    registered = requests.post(f"{BASE}/api/auth/register", timeout=10, json={
        "role": role, "name": name, "email": email, "password": PASSWORD})
    registered.raise_for_status()
    token = requests.post(f"{BASE}/api/auth/token", timeout=10,
                          json={"email": email, "password": PASSWORD})
    token.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    print(f"registered {role} {name} ({email}) and got a token")
    return session, registered.json()


def listen(session):
    """The session's event stream, read by a thread: a queue of (type, data, id)."""
    events, opened = queue.Queue(), threading.Event()

    def read():
        with session.get(f"{BASE}/api/events", stream=True, timeout=(10, 60)) as response:
            response.raise_for_status()
            fields = {}
            # chunk_size=None: each line as soon as it arrives, not once 512 bytes have.
            for line in response.iter_lines(chunk_size=None, decode_unicode=True):
                opened.set()  # the first bytes came: the stream is live
                if line == "":
                    if "data" in fields:
                        events.put((fields.get("event", "message"), json.loads(fields["data"]),
                                    fields.get("id")))
                    fields = {}
                elif not line.startswith(":"):  # ": keepalive" comments keep it alive
                    name, _, value = line.partition(":")
                    fields[name] = fields[name] + "\n" + value if name in fields else value

    threading.Thread(target=read, daemon=True).start()
    assert opened.wait(10), "the event stream did not open"
    return events


def next_event(events, wanted):
    """The next event of type `wanted` (others, such as presence, are skipped here)."""
    while True:
        event_type, data, event_id = events.get(timeout=10)
        if event_type == wanted:
            return data, event_id


def main():
    customer, _ = sign_up("customer", "Maria Santos")
    store, shop = sign_up("store", "Aling Nena's Store")
    store_events, customer_events = listen(store), listen(customer)
    print("store and customer: event streams open")

    conversation = customer.post(f"{BASE}/api/conversations", json={"store_id": shop["id"]},
                                 timeout=10).json()
    sent = customer.post(f"{BASE}/api/conversations/{conversation['id']}/messages", timeout=10,
                         json={"body": "May stock pa po ba ng Milo?", "client_id": "example-1"})
    sent.raise_for_status()
    print(f"customer: sent message {sent.json()['seq']} ({sent.status_code})")

    data, event_id = next_event(store_events, "message")
    print(f"store: received message {event_id}: {data['message']['body']!r} "
          f"from {data['conversation']['other']['name']}")
    # The customer's own copy: its id is where the customer's events stand now.
    _, cursor = next_event(customer_events, "message")

    read = store.patch(f"{BASE}/api/conversations/{conversation['id']}/read", timeout=10)
    read.raise_for_status()
    print(f"store: marked {read.json()['updated']} message(s) read")

    # A client that cannot hold a stream open asks for what came after the last id it has.
    for _ in range(5):
        polled = customer.get(f"{BASE}/api/events/poll", timeout=40,
                              params={"last_event_id": cursor, "timeout": 10})
        polled.raise_for_status()
        cursor = polled.json()["last_event_id"]
        receipts = [e for e in polled.json()["events"] if e["type"] == "read"]
        if receipts:
            print(f"customer: long-poll got read up to seq {receipts[0]['data']['up_to_seq']}")
            return
    sys.exit("customer: no read receipt came")


if __name__ == "__main__":
    main()
