"""The JSON shapes of users, conversations and messages.

The API returns them, events carry them, and templates render them, so a message looks the same on
first page load, in an htmx answer, in an SSE fragment and to an integration.
"""


def iso(moment):
    """UTC time as ISO 8601 with milliseconds and a Z, or None."""
    return moment.isoformat(timespec="milliseconds") + "Z" if moment else None


def user_payload(user):
    data = {"id": str(user.id), "role": user.role, "name": user.name}
    if user.is_store:
        data["description"] = user.description
    return data


def message_payload(message):
    deleted = message.deleted_at is not None
    return {
        "id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "seq": message.seq,
        "sender_id": str(message.sender_id),
        "receiver_id": str(message.receiver_id),
        "type": message.type,
        "body": "" if deleted else message.body,
        "client_id": message.client_id,
        "created_at": iso(message.created_at),
        "delivered_at": iso(message.delivered_at),
        "read_at": iso(message.read_at),
        "deleted": deleted,
        "attachment": attachment_payload(message.attachment) if message.attachment else None,
        **({"order": order_payload(message.order) if message.order else None}
           if message.type == "order" else {}),
        "auto": bool(message.auto),  # the store's away message, sent for it (services/hours.py)
        "product": product_snapshot_payload(message.product)
        if message.product and not deleted else None,
    }


def attachment_payload(attachment):
    """A photo or file as the API, events and templates show it (images with their sizes). The
    URLs are the API's; pages link to /a/<id> instead."""
    url = f"/api/attachments/{attachment.id}"
    data = {"id": str(attachment.id), "name": attachment.name,
            "content_type": attachment.content_type, "size": attachment.size, "url": url,
            "width": None, "height": None, "thumbnail_url": None}
    if attachment.width:
        data.update(width=attachment.width, height=attachment.height,
                    thumbnail_url=f"{url}?size=thumb", thumbnail_width=attachment.thumb_width,
                    thumbnail_height=attachment.thumb_height)
    return data


def preview(last):
    """An inbox row's text: the message's, or for a photo, file or product "📷 Photo",
    "📎 price-list.pdf" or "🛍️ Kape 3-in-1", then its caption."""
    if last.deleted:
        return ""
    if last.type == "product":
        label = f"🛍️ {last.product_name}"
    elif last.attachment_name:
        label = "📷 Photo" if last.type == "image" else f"📎 {last.attachment_name}"
    else:
        return last.body[:120]
    return f"{label} · {last.body}"[:120] if last.body else label


def conversation_payload(conversation, viewer_id):
    """A conversation as `viewer_id` sees it: the other party, their own unread count and flags."""
    last = conversation.last_message
    other_id = conversation.other_party(viewer_id)
    return {
        "id": str(conversation.id),
        "other": {
            "id": str(other_id),
            "name": conversation.other_name(viewer_id),
            "role": "store" if other_id == conversation.store_id else "customer",
        },
        "last_message": last and {
            "id": str(last.message_id),
            "seq": last.seq if last.seq is not None else conversation.last_seq,
            "sender_id": str(last.sender_id),
            "from_me": last.sender_id == viewer_id,
            "type": last.type,
            "preview": preview(last),
            "deleted": last.deleted,
            "created_at": iso(last.created_at),
        },
        "last_seq": conversation.last_seq,
        "last_activity_at": iso(conversation.last_activity_at),
        "unread": max(0, conversation.unread_for(viewer_id)),
        "archived": viewer_id in conversation.archived_by,
        "open_orders": conversation.open_orders,
        "blocked_by_me": viewer_id in conversation.blocked_by,
        "blocked_by_other": other_id in conversation.blocked_by,
        "created_at": iso(conversation.created_at),
    }


# -- orders ----------------------------------------------------------------------------------------

def order_payload(order):
    """An order as it is now (its `order` message in history, the `order` event, GET /api/orders)."""
    return {
        "id": str(order.id),
        "conversation_id": str(order.conversation_id),
        "customer_id": str(order.customer_id),
        "store_id": str(order.store_id),
        "items": [{"product_id": str(line.product_id), "name": line.name,
                   "unit_price_centavos": line.unit_price_centavos, "quantity": line.quantity,
                   "line_total_centavos": line.line_total_centavos} for line in order.items],
        "total_centavos": order.total_centavos,
        "currency": "PHP",
        "status": order.status,
        "note": order.note,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
    }


# -- catalogue (issue 10) ---------------------------------------------------------------------------

def product_photo_url(photo):
    """A product photo's API URL (any signed-in user may fetch it; pages use /product-photos/)."""
    return f"/api/product-photos/{photo.id}" if photo else None


def product_payload(product):
    return {"id": str(product.id), "store_id": str(product.store_id), "name": product.name,
            "price_centavos": product.price_centavos, "currency": "PHP",
            "description": product.description, "in_stock": product.in_stock,
            "photo_url": product_photo_url(product.photo)}


def product_snapshot_payload(snapshot):
    """A product as a message carried it (the message's own copy, never the product now)."""
    url = product_photo_url(snapshot.photo)
    return {"id": str(snapshot.product_id), "name": snapshot.name,
            "price_centavos": snapshot.price_centavos, "currency": "PHP",
            "in_stock": snapshot.in_stock, "photo_thumbnail_url": url and f"{url}?size=thumb"}
