"""Webhooks: stores register URLs, and their events are POSTed there, signed (Standard Webhooks).

Each delivery is JSON `{type, timestamp, data}` (data as in the event stream) with the headers
`webhook-id` (the same on every retry), `webhook-timestamp` and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` with the endpoint's secret), so receivers
verify it with the `standardwebhooks` library. A non-2xx answer, a timeout or a refused address is
retried after WEBHOOK_RETRY_SCHEDULE, then the delivery is marked failed; an endpoint failing for
WEBHOOK_DISABLE_AFTER_SECONDS is disabled and its store told by email.

No server-side request forgery: the URL's host is resolved at delivery time and every address
checked (`refusal`); the request then goes to the checked address itself, so DNS cannot answer
differently a moment later. Redirects are not followed.
"""

import base64
import ipaddress
import json
import secrets
import socket
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import urllib3
from flask import current_app
from mongoengine.errors import NotUniqueError
from standardwebhooks import Webhook

from .. import jobs
from ..errors import Forbidden, InvalidInput
from ..models import User, WebhookDelivery, WebhookEndpoint, utcnow
from ..schemas import parse
from ..schemas.requests import NewWebhook
from . import inputs, mail
from .payloads import iso

TEST_EVENT = "webhook.test"
MAX_ENDPOINTS = 10  # per store
DELIVERIES_LISTED = 100
# Cloud metadata services; link-local and private ranges cover most, these are named for clarity.
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                      ipaddress.ip_address("100.100.100.200")}


class Refused(Exception):
    """Not sent: the endpoint's name did not resolve, or to an address we do not send to."""


# -- endpoints (the API) ---------------------------------------------------------------------------

def _store(user):
    if not user.is_store:
        raise Forbidden("Only stores can register webhooks.")


def create_endpoint(user, data):
    """A new endpoint of `user`'s store from `data` (url, events), with a new secret."""
    _store(user)
    wanted = parse(NewWebhook, data)
    if WebhookEndpoint.objects(store_id=user.id).count() >= MAX_ENDPOINTS:
        raise InvalidInput(f"A store can have at most {MAX_ENDPOINTS} webhook endpoints.",
                           field="url")
    endpoint = WebhookEndpoint(store_id=user.id, url=wanted.url, events=sorted(set(wanted.events)),
                               secret="whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    endpoint.save(force_insert=True)
    return endpoint


def endpoints(user):
    _store(user)
    return list(WebhookEndpoint.objects(store_id=user.id).order_by("created_at"))


def endpoint_for(user, endpoint_id):
    """The store's own endpoint; anyone else's is as unknown as one that never existed."""
    return inputs.owned(WebhookEndpoint, endpoint_id, "Webhook", store_id=user.id)


def delete_endpoint(user, endpoint_id):
    endpoint = endpoint_for(user, endpoint_id)
    WebhookDelivery.objects(endpoint_id=endpoint.id).delete()
    endpoint.delete()


def send_test(user, endpoint_id):
    """Queue a `webhook.test` delivery to the endpoint; returns the delivery."""
    endpoint = endpoint_for(user, endpoint_id)
    return _queue_delivery(endpoint, event(TEST_EVENT, {"endpoint_id": str(endpoint.id)}))


def deliveries(user, endpoint_id):
    endpoint = endpoint_for(user, endpoint_id)
    return list(WebhookDelivery.objects(endpoint_id=endpoint.id).order_by("-created_at")
                .limit(DELIVERIES_LISTED))


def endpoint_payload(endpoint, *, with_secret=False):
    data = {"id": str(endpoint.id), "url": endpoint.url, "events": endpoint.events,
            "created_at": iso(endpoint.created_at), "disabled": endpoint.disabled_at is not None}
    if with_secret:
        data["secret"] = endpoint.secret
    return data


def delivery_payload(delivery):
    return {"event_id": delivery.event_id, "type": delivery.type, "status": delivery.status,
            "status_code": delivery.status_code, "attempts": delivery.attempts,
            "last_error": delivery.last_error, "next_retry_at": iso(delivery.next_retry_at),
            "created_at": iso(delivery.created_at)}


# -- events ----------------------------------------------------------------------------------------

def publish(store_id, event_type, data):
    """Queue an event the store is party to for its endpoints (one Redis round trip here; the
    job looks up the endpoints)."""
    jobs.enqueue("fan_out_webhook_event", str(store_id), event(event_type, data))


def event(event_type, data, event_id=None):
    """An event as deliveries carry it; `event_id` (default: a new one) is its webhook-id."""
    return {"id": event_id or f"evt_{uuid.uuid4().hex}", "type": event_type,
            "timestamp": iso(utcnow()), "data": data}


def fan_out(store_id, happened):
    """One delivery of event `happened` per endpoint of the store that wants its type."""
    for endpoint in WebhookEndpoint.objects(store_id=store_id, events=happened["type"],
                                            disabled_at=None):
        _queue_delivery(endpoint, happened)


def _queue_delivery(endpoint, happened):
    body = json.dumps({"type": happened["type"], "timestamp": happened["timestamp"],
                       "data": happened["data"]}, separators=(",", ":"), ensure_ascii=False)
    delivery = WebhookDelivery(endpoint_id=endpoint.id, event_id=happened["id"],
                               type=happened["type"], body=body)
    try:
        delivery.save(force_insert=True)
    except NotUniqueError:  # this fan-out ran before (its worker died): the same delivery
        delivery = WebhookDelivery.objects.get(endpoint_id=endpoint.id, event_id=happened["id"])
    # A fan-out that runs twice finds the same delivery and queues no second job.
    jobs.enqueue("deliver_webhook", str(delivery.id), unique_key=f"webhook:{delivery.id}",
                 unique_for=24 * 3600)
    return delivery


# -- delivering ------------------------------------------------------------------------------------

def deliver(delivery_id):
    """One attempt at a delivery; raises jobs.RetryLater when the schedule says to try again."""
    delivery = WebhookDelivery.objects(id=delivery_id).first()
    if delivery is None or delivery.status != "pending":
        return
    endpoint = WebhookEndpoint.objects(id=delivery.endpoint_id).first()
    if endpoint is None or endpoint.disabled_at is not None:
        delivery.modify(set__status="failed", set__last_error="the endpoint was disabled or deleted",
                        set__next_retry_at=None)
        return
    status_code, error = _post(endpoint, delivery)
    schedule = jobs.retry_schedule(current_app.config["WEBHOOK_RETRY_SCHEDULE"])
    attempt = delivery.attempts + 1
    if status_code is not None and 200 <= status_code < 300:
        delivery.modify(set__status="succeeded", set__attempts=attempt, set__status_code=status_code,
                        set__last_error=None, set__next_retry_at=None)
        endpoint.modify(set__failing_since=None)
        return
    error = error or f"answered {status_code}"
    disabled = _note_failure(endpoint)
    retry_in = schedule[attempt - 1] if attempt <= len(schedule) and not disabled else None
    delivery.modify(set__attempts=attempt, set__status_code=status_code, set__last_error=error,
                    set__status="pending" if retry_in else "failed",
                    set__next_retry_at=utcnow() + timedelta(seconds=retry_in) if retry_in else None)
    if retry_in:
        raise jobs.RetryLater(retry_in, error)


def _note_failure(endpoint):
    """Remember since when the endpoint fails; disable it (and tell the store) once that is too
    long. Returns whether it is disabled now."""
    now = utcnow()
    failing = WebhookEndpoint.objects(id=endpoint.id, failing_since=None).modify(
        new=True, set__failing_since=now) or endpoint.reload()
    limit = timedelta(seconds=current_app.config["WEBHOOK_DISABLE_AFTER_SECONDS"])
    if now - failing.failing_since < limit:
        return False
    if WebhookEndpoint.objects(id=endpoint.id, disabled_at=None).update_one(set__disabled_at=now):
        store = User.objects(id=endpoint.store_id).first()
        if store is not None:
            mail.send_to_user(store, "webhook_disabled",
                              subject="A webhook of your store was turned off",
                              store=store, url=endpoint.url, since=failing.failing_since)
    return True


def _post(endpoint, delivery):
    """POST the delivery, signed now; (status code, None) or (None, what went wrong)."""
    cfg = current_app.config
    now = datetime.now(timezone.utc)
    headers = {"content-type": "application/json", "user-agent": "ELako-Webhooks/1",
               "webhook-id": delivery.event_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(endpoint.secret).sign(delivery.event_id, now, delivery.body)}
    parts = urlsplit(endpoint.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = _address(parts.hostname, port, allow_private=cfg["WEBHOOK_ALLOW_PRIVATE_NETWORKS"])
        timeout = urllib3.Timeout(total=cfg["WEBHOOK_TIMEOUT_SECONDS"])
        if parts.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False,
                                               server_hostname=parts.hostname,
                                               assert_hostname=parts.hostname)
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
        with pool:
            host = parts.netloc.rpartition("@")[2]  # as the URL has it: [v6]:port too
            path = parts.path or "/"
            response = pool.urlopen("POST", path + (f"?{parts.query}" if parts.query else ""),
                                    body=delivery.body.encode(), headers={**headers, "host": host},
                                    redirect=False, preload_content=True)
        return response.status, None
    except Refused as exc:
        return None, str(exc)
    except urllib3.exceptions.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]


def _address(hostname, port, *, allow_private):
    """The first address `hostname` resolves to, if every one of them is allowed."""
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"could not resolve {hostname}: {exc}") from None
    addresses = [info[4][0] for info in infos]
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason:
                raise Refused(f"{hostname} resolves to {address}, {reason}: not delivering there")
    return addresses[0]


def refusal(address):
    """Why we do not send to `address` (loopback, private, …), or None if it is a public one."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for reason, refused in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                            ("multicast", ip.is_multicast), ("unspecified", ip.is_unspecified),
                            ("private", ip.is_private), ("reserved", ip.is_reserved),
                            ("not public", not ip.is_global)):
        if refused:
            return f"a {reason} address"
    return None
