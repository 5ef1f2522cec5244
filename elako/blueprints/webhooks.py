"""The webhooks API for stores: register, list, delete and test endpoints, and read deliveries.
Bearer tokens like the rest of /api; the rules are in services.webhooks."""

from flask import Blueprint, g, jsonify

from ..identity import load_from_bearer
from ..services import webhooks
from .api import json_body

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")
bp.before_request(load_from_bearer)


@bp.post("")
def create():
    endpoint = webhooks.create_endpoint(g.user, json_body())
    return jsonify(webhooks.endpoint_payload(endpoint, with_secret=True)), 201


@bp.get("")
def list_endpoints():
    return jsonify(items=[webhooks.endpoint_payload(e) for e in webhooks.endpoints(g.user)])


@bp.delete("/<endpoint_id>")
def delete(endpoint_id):
    webhooks.delete_endpoint(g.user, endpoint_id)
    return "", 204


@bp.post("/<endpoint_id>/test")
def send_test(endpoint_id):
    delivery = webhooks.send_test(g.user, endpoint_id)
    return jsonify(webhooks.delivery_payload(delivery)), 202


@bp.get("/<endpoint_id>/deliveries")
def deliveries(endpoint_id):
    return jsonify(items=[webhooks.delivery_payload(d)
                          for d in webhooks.deliveries(g.user, endpoint_id)])
