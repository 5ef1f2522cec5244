"""Photos and files in conversations: accepting one (checked, re-encoded, stored, then sent as a
message), opening one (participants only), and removing one when its message is unsent.

Order of work on a send: who may send here and the rate limit first (cheap), then the bytes (type,
size, re-encoding on a thread of its own), then storage, then the message. Whatever fails after
storing takes the stored files back, so a refused upload leaves nothing behind; a retry with the
same client_id finds the first message before anything is stored, so a file is stored once.
"""

import hashlib
import logging
import os
import re
import unicodedata
from dataclasses import dataclass

from flask import current_app

from .. import crypto, imaging
from ..errors import Forbidden, InvalidInput, NotFound, TooLarge, UnsupportedMediaType
from ..models import Attachment, Message
from ..schemas import parse
from ..schemas.requests import NewAttachment
from ..storage import get_store
from . import filetypes, inputs, messages, ratelimit
from .conversations import conversation_for

log = logging.getLogger(__name__)

NOT_FOUND = "Attachment was not found."
NAME_MAX_LENGTH = 120


def too_large():
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    return TooLarge(f"Files can be at most {limit / 1024 / 1024:.0f} MB.", code="file_too_large",
                    field="file")


def send(user, conversation_id, form, files):
    """Send what a form or multipart request carries: its `file` with `body` as the caption, or
    (no file chosen) a text message. Returns (message, created) as messages.send_message does."""
    upload = files.get("file") if files else None
    if upload is None or not upload.filename:
        return messages.send_message(user, conversation_id, form)
    conversation = conversation_for(user, conversation_id)  # 404 before any work for outsiders
    if conversation.blocked_by:  # as messages.deliver would answer, before any work
        raise Forbidden(messages.BLOCKED, code="blocked")
    request = parse(NewAttachment, {**form.to_dict(), "file": upload})
    messages.check_length(request.body)
    if request.client_id:
        sent = Message.objects(dedupe_key=f"{user.id}:{request.client_id}").first()
        if sent is not None:  # a retry: the first message, and nothing stored again
            return messages.deliver(user, conversation.id, body=sent.body, message_type=sent.type,
                                    client_id=request.client_id, attachment=sent.attachment)
    ratelimit.hit("upload", user.id)
    attachment = _store(_read(upload), upload.filename)
    try:
        message, created = messages.deliver(
            user, conversation.id, body=request.body, client_id=request.client_id,
            message_type="image" if attachment.width else "file", attachment=attachment)
    except BaseException:
        _discard_unless_sent(attachment)
        raise
    if message.attachment is None or message.attachment.id != attachment.id:
        remove_stored(attachment)  # a concurrent retry stored its own first
    return message, created


def _read(upload):
    """The upload's bytes, at most ATTACHMENT_MAX_BYTES (413 beyond, without reading on)."""
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise too_large()
    if not data:
        raise InvalidInput("The file is empty.", field="file")
    return data


def store_photo(upload):
    """A product's photo (services/catalogue.py): a photo only, checked, re-encoded and stored as a
    message photo is, under a neutral name (the uploader's file name is nobody's business)."""
    data = _read(upload)
    if filetypes.identify(data).kind != "image":
        raise UnsupportedMediaType("Choose a photo: JPEG, PNG, WebP, GIF or HEIC.",
                                   code="unsupported_file_type", field="file")
    return _store(data, "photo")


def _store(data, filename):
    """Check, re-encode (images) and store `data`; the Attachment describing what was stored."""
    kind = filetypes.identify(data)
    store = get_store()
    if kind.kind == "image":
        try:
            image = imaging.reencode(data, max_pixels=current_app.config["ATTACHMENT_MAX_PIXELS"])
        except imaging.BadImage as exc:
            raise InvalidInput(str(exc), code="bad_image", field="file") from None
        attachment = Attachment(
            name=clean_name(filename, image.extension, default="photo"),
            content_type=image.content_type, size=len(image.data),
            digest=hashlib.sha256(image.data).hexdigest(), width=image.width,
            height=image.height, thumb_size=len(image.thumbnail), thumb_width=image.thumb_width,
            thumb_height=image.thumb_height, file_id=store.put(image.data,
                                                               content_type=image.content_type))
        try:
            attachment.thumb_id = store.put(image.thumbnail, content_type="image/jpeg")
        except BaseException:
            remove_stored(attachment)
            raise
        return attachment
    return Attachment(name=clean_name(filename, kind.extension, default="file"),
                      content_type=kind.content_type, size=len(data),
                      digest=hashlib.sha256(data).hexdigest(),
                      file_id=store.put(data, content_type=kind.content_type))


def clean_name(filename, extension, *, default):
    """A file name safe to show and to offer for download: no folders, no control or
    direction-changing characters, at most NAME_MAX_LENGTH characters, and the extension of
    what the file really is (a PNG sent as `receipt.pdf` is `receipt.png`)."""
    name = unicodedata.normalize("NFC", re.split(r"[/\\]", filename or "")[-1])
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip(" .")
    stem, old_extension = os.path.splitext(name)
    if len(old_extension) > 6 or " " in old_extension:  # "v1.2 final" has no extension
        stem = name
    stem = stem.strip(" .")[:NAME_MAX_LENGTH - len(extension)] or default
    return stem + extension


def _discard_unless_sent(attachment):
    """Sending failed: remove the stored files, unless the message was stored before the failure
    (announcing it failed: the sender's retry finishes that, and the file must be there)."""
    try:
        kept = Message.objects(attachment__id=attachment.id).only("id").first()
    except Exception:  # cannot tell: an orphaned file costs space, a lost one costs a photo
        log.warning("kept the files of attachment %s: could not tell whether it was sent",
                    attachment.id)
        return
    if kept is None:
        remove_stored(attachment)


def remove_stored(attachment):
    """Delete an attachment's file and thumbnail from storage (unsent, or never sent)."""
    store = get_store()
    for file_id in (attachment.file_id, attachment.thumb_id):
        if file_id is None:
            continue
        try:
            store.delete(file_id)
        except Exception:  # storage down: an orphan costs space, not correctness
            log.exception("could not delete stored file %s", file_id)


def rotate_keys():
    """Store every attachment again as MESSAGE_ENCRYPTION_KEYS now says (`rotate-message-keys`).
    GridFS files never change, so each is put again, its message pointed at the new copy, and
    the old copy deleted. Returns (rewritten, unreadable)."""
    store, rewritten, unreadable = get_store(), 0, 0
    for message in Message.objects(attachment__exists=True).only("id", "attachment"):
        old = message.attachment
        if isinstance(old.name, crypto.UnreadableText):
            unreadable += 1
            continue
        try:
            copy = Attachment(file_id=_put_again(store, old.file_id, old.content_type),
                              thumb_id=old.thumb_id and _put_again(store, old.thumb_id, "image/jpeg"))
        except (crypto.UnreadableMessage, LookupError):
            unreadable += 1
            continue
        # Only if it is still this file: unsent meanwhile, the copy goes.
        changed = Message.objects(id=message.id, attachment__file_id=old.file_id).update_one(
            set__attachment__file_id=copy.file_id, set__attachment__thumb_id=copy.thumb_id,
            set__attachment__name=old.name)
        remove_stored(old if changed else copy)
        rewritten += changed
    return rewritten, unreadable


def _put_again(store, file_id, content_type):
    data = store.get(file_id)
    if data is None:
        raise LookupError(f"stored file {file_id} is missing")
    return store.put(data, content_type=content_type)


@dataclass
class Opened:
    """What a participant gets: the bytes, how to serve them, and their ETag."""

    data: bytes
    name: str
    content_type: str
    etag: str
    inline: bool


def open_attachment(user, attachment_id, *, thumbnail=False):
    """An attachment of a message `user` sent or received; NotFound for anyone else, exactly as
    for a missing id (nothing tells them it exists)."""
    attachment_id = inputs.object_id(attachment_id, "Attachment")
    message = Message.objects(attachment__id=attachment_id, deleted_at=None).only(
        "sender_id", "receiver_id", "attachment").first()
    if message is None or user.id not in (message.sender_id, message.receiver_id):
        raise NotFound(NOT_FOUND)
    return open_stored(message.attachment, thumbnail=thumbnail)


def open_stored(attachment, *, thumbnail):
    """The bytes of a stored attachment (its thumbnail, if asked and it has one) to answer with."""
    if thumbnail and attachment.thumb_id:
        file_id, content_type, etag = attachment.thumb_id, "image/jpeg", attachment.digest + "-thumb"
    else:
        file_id, content_type, etag = attachment.file_id, attachment.content_type, attachment.digest
    data = get_store().get(file_id)
    if data is None:
        raise NotFound(NOT_FOUND)
    return Opened(data, attachment.name, content_type, etag,
                  inline=content_type.startswith("image/"))


def exported_files(message):
    """A message's file for its participants' data export (elako/services/data_rights.py):
    (name, its bytes, read only when the archive gets to it)."""
    attachment = message.attachment
    if attachment is not None and message.deleted_at is None:
        yield attachment.name, _read_when_written(attachment.file_id)


def _read_when_written(file_id):
    data = get_store().get(file_id)
    if data is not None:  # gone meanwhile (unsent): an empty file says so
        yield data


def erase_files(sent):
    """The files of `sent` (a deleted account's messages) go with the account: from storage, and
    from their messages."""
    for message in sent.filter(attachment__exists=True).only("attachment"):
        remove_stored(message.attachment)
    sent.filter(attachment__exists=True).update(unset__attachment=True)
