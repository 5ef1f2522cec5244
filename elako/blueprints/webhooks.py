"""The webhooks API for stores: register, list, delete and test endpoints, and read deliveries.
Bearer tokens like the rest of /api, and a contract per route (elako/openapi.py); the rules are in
services.webhooks."""

from flask import Blueprint, g, jsonify, request

from ..identity import load_from_bearer
from ..openapi import contract
from ..schemas import requests as schemas
from ..schemas import responses as answers
from ..services import webhooks

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")
bp.before_request(load_from_bearer)


@bp.post("")
@contract({201: answers.NewWebhookEndpoint}, 403, json=schemas.NewWebhook, tag="webhooks")
def create():
    """Register an endpoint (stores): its secret is in this answer only"""
    endpoint = webhooks.create_endpoint(g.user, request.context.json)
    return jsonify(webhooks.endpoint_payload(endpoint, with_secret=True)), 201


@bp.get("")
@contract({200: answers.WebhookEndpoints}, 403, tag="webhooks")
def list_endpoints():
    """Your store's endpoints"""
    return jsonify(items=[webhooks.endpoint_payload(e) for e in webhooks.endpoints(g.user)])


@bp.delete("/<endpoint_id>")
@contract({204: None}, 404, tag="webhooks")
def delete(endpoint_id):
    """Delete an endpoint and its deliveries"""
    webhooks.delete_endpoint(g.user, endpoint_id)
    return "", 204


@bp.post("/<endpoint_id>/test")
@contract({202: answers.WebhookDelivery}, 404, tag="webhooks")
def send_test(endpoint_id):
    """Send a `webhook.test` event to an endpoint"""
    delivery = webhooks.send_test(g.user, endpoint_id)
    return jsonify(webhooks.delivery_payload(delivery)), 202


@bp.get("/<endpoint_id>/deliveries")
@contract({200: answers.WebhookDeliveries}, 404, tag="webhooks")
def deliveries(endpoint_id):
    """An endpoint's last 100 deliveries"""
    return jsonify(items=[webhooks.delivery_payload(d)
                          for d in webhooks.deliveries(g.user, endpoint_id)])
