"""Photos and files in conversations (issue 9): what is accepted, what is stored and how it is
served, and that nothing is left behind."""

import io
import struct
import zipfile
import zlib

import pytest
from mongoengine.connection import get_db
from PIL import Image, ImageSequence

from elako import imaging
from elako.models import Conversation, Message
from tests.support import icc
from tests.support.answers import error_of


# -- files made for the tests ----------------------------------------------------------------------

def jpeg_with_gps(size=(2400, 1800)):
    """A photo as a phone writes it: EXIF with a GPS position, the camera's make, a rotation."""
    image = Image.new("RGB", size, (200, 60, 40))
    for x in range(0, size[0], 97):  # some detail, so the encoder has work to do
        image.paste((20, 120, 220), (x, 0, x + 30, size[1]))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (14.0, 35.0, 50.0)  # Manila
    gps[3], gps[4] = "E", (120.0, 58.0, 40.0)
    return encoded(image, "JPEG", exif=exif, quality=92)


def png(size=(64, 48), color=(0, 128, 0, 255)):
    return encoded(Image.new("RGBA", size, color), "PNG")


def encoded(image, image_format, **options):
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def animation(image_format, frames=3, size=(2000, 500), **options):
    """An animated GIF or WebP of `frames` frames, of 100, 200, 300… ms, looping."""
    # White, then redder each frame (GIF writers merge a frame that repeats the one before).
    pictures = [Image.new("RGB", size, (255, 255 - 9 * number, 255 - 9 * number))
                for number in range(frames)]
    return encoded(pictures[0], image_format, save_all=True, append_images=pictures[1:],
                   duration=[100 * (number + 1) for number in range(frames)], loop=0, **options)


def docx():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def decompression_bomb(side=8_000):
    """An 8 KB PNG that decodes to 8,000 × 8,000 pixels (192 MB as RGB): under Pillow's own
    bomb limit, over ATTACHMENT_MAX_PIXELS. Written chunk by chunk (Pillow takes seconds)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = (b"\x00" * (1 + side // 8)) * side  # a filter byte and one bit per pixel, all black
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def upload(person, conversation_id, data, name, body=None, client_id=None, content_type=None):
    form = {"file": (io.BytesIO(data), name, content_type or "application/octet-stream")}
    if body is not None:
        form["body"] = body
    if client_id:
        form["client_id"] = client_id
    return person.api.post(f"/api/conversations/{conversation_id}/messages", data=form,
                           content_type="multipart/form-data")


def stored_files():
    """(files, chunks) in GridFS, read as any MongoDB client would."""
    database = get_db()
    return (database["attachments.files"].count_documents({}),
            database["attachments.chunks"].count_documents({}))


# -- sending ---------------------------------------------------------------------------------------

def test_a_photo_is_reencoded_upright_without_its_gps_position(chat):
    customer, store, conversation_id = chat
    answer = upload(customer, conversation_id, jpeg_with_gps(), "IMG_0001.JPG", body="Ito po")
    assert answer.status_code == 201, answer.json
    message = answer.json
    assert message["type"] == "image" and message["body"] == "Ito po"
    attachment = message["attachment"]
    assert attachment["content_type"] == "image/jpeg" and attachment["name"] == "IMG_0001.jpg"
    # Orientation 6 applied: the landscape original is now portrait, at most 1,600 px.
    assert (attachment["width"], attachment["height"]) == (1200, 1600)
    assert attachment["url"] == f"/api/attachments/{attachment['id']}"
    assert attachment["thumbnail_url"] == attachment["url"] + "?size=thumb"

    served = store.api.get(attachment["url"])
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert len(served.data) == attachment["size"]
    image = Image.open(io.BytesIO(served.data))
    assert image.size == (1200, 1600)
    assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
    for marker in (b"Exif", b"GPS", b"PhoneMaker"):
        assert marker not in served.data

    thumb = store.api.get(attachment["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.data)).size) <= 320
    assert len(thumb.data) <= 25 * 1024 and b"PhoneMaker" not in thumb.data


def test_the_inbox_and_the_event_stream_show_the_photo(app, redis, chat):
    customer, store, conversation_id = chat
    message = upload(customer, conversation_id, png(), "screenshot.png").json
    conversation = store.api.get(f"/api/conversations/{conversation_id}").json
    assert conversation["last_message"]["preview"] == "📷 Photo"
    key = app.extensions["bus"].stream_key(store.id)
    [(_id, fields)] = redis.xrange(key)
    assert fields["type"] == "message" and message["attachment"]["id"] in fields["data"]
    upload(customer, conversation_id, b"%PDF-1.4\n...", "price-list.pdf", body="Bagong presyo")
    conversation = store.api.get(f"/api/conversations/{conversation_id}").json
    assert conversation["last_message"]["preview"] == "📎 price-list.pdf · Bagong presyo"


def test_a_png_named_pdf_is_accepted_as_a_png(chat):
    customer, _store, conversation_id = chat
    answer = upload(customer, conversation_id, png(), "receipt.pdf", content_type="application/pdf")
    assert answer.status_code == 201, answer.json
    assert answer.json["type"] == "image"
    assert answer.json["attachment"]["content_type"] == "image/png"
    assert answer.json["attachment"]["name"] == "receipt.png"


def test_an_iphone_heic_photo_is_converted(chat):
    import pillow_heif  # in requirements.txt: iPhone photos must work

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 90, 160)).save(out, "HEIF")
    customer, store, conversation_id = chat
    answer = upload(customer, conversation_id, out.getvalue(), "IMG_5001.HEIC")
    assert answer.status_code == 201, answer.json
    attachment = answer.json["attachment"]
    assert attachment["content_type"] == "image/jpeg" and attachment["name"] == "IMG_5001.jpg"
    served = store.api.get(attachment["url"]).data
    assert Image.open(io.BytesIO(served)).format == "JPEG"


@pytest.mark.parametrize("image_format, mode, content_type", [
    ("JPEG", "RGB", "image/jpeg"), ("PNG", "RGBA", "image/png")])
def test_a_display_p3_photo_is_converted_to_srgb(chat, image_format, mode, content_type):
    customer, store, conversation_id = chat
    picture = Image.new(mode, (64, 48), (200, 60, 40))
    picture.paste((128, 128, 128), (0, 0, 32, 48))  # a grey: the same in both
    photo = encoded(picture, image_format, icc_profile=icc.display_p3())
    answer = upload(customer, conversation_id, photo, "IMG_0002")
    assert answer.status_code == 201, answer.json
    attachment = answer.json["attachment"]
    assert attachment["content_type"] == content_type
    for url in (attachment["url"], attachment["thumbnail_url"]):
        served = Image.open(io.BytesIO(store.api.get(url).data))
        assert "icc_profile" not in served.info  # what is left is sRGB, which browsers assume
        # P3's red is redder than sRGB's: the same colour takes more red and less green and blue.
        red, green, blue = served.convert("RGB").getpixel((48, 24))
        assert red >= 212 and green <= 48 and blue <= 30, (red, green, blue)
        assert served.convert("RGB").getpixel((8, 24)) == pytest.approx((128, 128, 128), abs=4)


@pytest.mark.parametrize("mode, color, icc_profile, expected", [
    ("CMYK", (0, 255, 255, 0), icc.cmyk_press(red=(237, 28, 36)), (237, 28, 36)),
    ("CMYK", (0, 255, 255, 0), None, (255, 0, 0)),
    ("CMYK", (0, 255, 255, 0), icc.display_p3(), (255, 0, 0)),  # an RGB profile: it cannot fit
    ("RGB", (200, 60, 40), b"not a colour profile" * 8, (200, 60, 40)),
])
def test_cmyk_photos_and_unusable_profiles_come_out_right(chat, mode, color, icc_profile,
                                                          expected):
    customer, store, conversation_id = chat
    photo = encoded(Image.new(mode, (64, 48), color), "JPEG", quality=95, icc_profile=icc_profile)
    answer = upload(customer, conversation_id, photo, "scan.jpg")
    assert answer.status_code == 201, answer.json
    served = Image.open(io.BytesIO(store.api.get(answer.json["attachment"]["url"]).data))
    assert served.mode == "RGB" and "icc_profile" not in served.info
    assert served.getpixel((32, 24)) == pytest.approx(expected, abs=3)


@pytest.mark.parametrize("image_format, content_type, name", [
    ("GIF", "image/gif", "dancing.gif"), ("WEBP", "image/webp", "dancing.webp")])
def test_an_animation_keeps_its_frames_and_their_durations(chat, image_format, content_type, name):
    customer, store, conversation_id = chat
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    metadata = {"comment": b"PhoneMaker"} if image_format == "GIF" else {"exif": exif}
    sent = animation(image_format, **metadata)
    answer = upload(customer, conversation_id, sent, "dancing.gif")
    assert answer.status_code == 201, answer.json
    attachment = answer.json["attachment"]
    assert attachment["content_type"] == content_type and attachment["name"] == name
    assert (attachment["width"], attachment["height"]) == (1600, 400)
    served = store.api.get(attachment["url"])
    assert served.mimetype == content_type and b"PhoneMaker" not in served.data
    image = Image.open(io.BytesIO(served.data))
    assert image.format == image_format and image.size == (1600, 400) and image.info["loop"] == 0
    durations = []
    for frame in ImageSequence.Iterator(image):
        frame.load()  # a WebP frame's duration is known once decoded
        durations.append(frame.info["duration"])
    assert durations == [100, 200, 300]
    thumb = Image.open(io.BytesIO(store.api.get(attachment["thumbnail_url"]).data))
    assert thumb.format == "JPEG" and not getattr(thumb, "is_animated", False)
    assert thumb.getpixel((0, 0)) == pytest.approx((255, 255, 255), abs=4)  # the first frame


@pytest.mark.settings(ATTACHMENT_MAX_PIXELS=200_000)
def test_an_animation_of_too_many_frames_is_refused(chat, monkeypatch):
    customer, _store, conversation_id = chat
    monkeypatch.setattr(imaging, "MAX_FRAMES", 25)
    for gif, reason in (  # 30 frames of 10,000 pixels; 26 small frames
            (animation("GIF", frames=30, size=(100, 100)), "more than 20 frames of 100 × 100"),
            (animation("GIF", frames=26, size=(4, 4)), "more than 25 frames of 4 × 4")):
        answer = upload(customer, conversation_id, gif, "bomb.gif")
        assert answer.status_code == 422 and answer.json["error"]["field"] == "file"
        assert answer.json["error"]["code"] == "bad_image"
        assert f"too large to open ({reason} pixels)" in answer.json["error"]["message"]
    assert stored_files() == (0, 0)
    assert Message.objects(conversation_id=conversation_id).count() == 0


@pytest.mark.parametrize("data, name, content_type", [
    (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "photo.jpg", "image/jpeg"),
    (b"<html><body onload=alert(1)>", "notes.txt", "text/plain"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script>'
     b"</svg>", "logo.svg", "image/svg+xml"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "logo.png", "image/png"),
    (b"MZ\x90\x00\x03\x00\x00\x00", "setup.pdf", "application/pdf"),
    (b"PK\x03\x04garbage", "sheet.xlsx", "application/zip"),
])
def test_markup_and_unknown_types_are_refused_whatever_they_are_called(chat, data, name,
                                                                     content_type):
    customer, _store, conversation_id = chat
    answer = upload(customer, conversation_id, data, name, content_type=content_type)
    assert answer.status_code == 415
    assert answer.json["error"]["code"] == "unsupported_file_type"
    assert Message.objects(conversation_id=conversation_id).count() == 0
    assert stored_files() == (0, 0)


@pytest.mark.parametrize("data, name, content_type, shown", [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "Price list.pdf", "application/pdf", "Price list.pdf"),
    (b"Milo 1kg,350\nBear Brand,120\nKopiko,8\n", "presyo.csv", "text/csv; charset=utf-8",
     "presyo.csv"),
    ("Salamat po! Bukas po ang tindahan.\n".encode(), "notes", "text/plain; charset=utf-8",
     "notes.txt"),
    (docx(), "order.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     "order.docx"),
])
def test_documents_are_kept_as_sent(chat, data, name, content_type, shown):
    customer, store, conversation_id = chat
    answer = upload(customer, conversation_id, data, name)
    assert answer.status_code == 201, answer.json
    attachment = answer.json["attachment"]
    assert answer.json["type"] == "file" and attachment["content_type"] == content_type
    assert attachment["name"] == shown and attachment["width"] is None
    assert attachment["thumbnail_url"] is None
    served = store.api.get(attachment["url"])
    assert served.data == data
    assert served.headers["Content-Disposition"].startswith("attachment;")


def test_a_decompression_bomb_is_refused(chat):
    customer, _store, conversation_id = chat
    answer = upload(customer, conversation_id, decompression_bomb(), "bomb.png")
    assert answer.status_code == 422 and answer.json["error"]["field"] == "file"
    assert "too large to open (8,000 × 8,000 pixels)" in answer.json["error"]["message"]
    assert stored_files() == (0, 0)


def test_a_damaged_image_is_refused(chat):
    customer, _store, conversation_id = chat
    answer = upload(customer, conversation_id, png()[:60], "cut.png")
    assert answer.status_code == 422 and "damaged" in answer.json["error"]["message"]
    assert stored_files() == (0, 0)


@pytest.mark.settings(ATTACHMENT_MAX_BYTES=2000)
def test_one_byte_over_the_limit_is_refused(chat):
    customer, _store, conversation_id = chat
    text = b"a,b\n" * 500  # 2,000 bytes: accepted
    assert upload(customer, conversation_id, text, "ok.csv").status_code == 201
    answer = upload(customer, conversation_id, text + b"x", "over.csv")
    assert answer.status_code == 413 and answer.json["error"]["code"] == "file_too_large"
    assert Message.objects(conversation_id=conversation_id).count() == 1


def test_a_body_declared_too_large_is_refused_before_it_is_read(app, chat):
    customer, _store, conversation_id = chat

    class Watched(io.BytesIO):
        read_from = False

        def read(self, *args):
            Watched.read_from = True
            return super().read(*args)

    limit = app.config["ATTACHMENT_MAX_BYTES"] + app.config["MAX_CONTENT_LENGTH"]
    answer = customer.api.post(
        f"/api/conversations/{conversation_id}/messages", input_stream=Watched(b"--x\r\n"),
        headers={"Content-Type": "multipart/form-data; boundary=x"},
        environ_overrides={"CONTENT_LENGTH": str(limit + 1)})
    assert answer.status_code == 413 and answer.json["error"]["code"] == "file_too_large"
    assert not Watched.read_from


@pytest.mark.settings(RATE_LIMIT_UPLOAD="2 per 10 minutes")
def test_uploads_are_rate_limited(chat):
    customer, _store, conversation_id = chat
    for _ in range(2):
        assert upload(customer, conversation_id, png(), "a.png").status_code == 201
    answer = upload(customer, conversation_id, png(), "a.png")
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
    assert stored_files() == (4, 4)  # two photos and their thumbnails


def test_a_retry_with_the_same_client_id_stores_the_file_once(chat):
    customer, store, conversation_id = chat
    first = upload(customer, conversation_id, png(), "a.png", client_id="photo-1")
    retry = upload(customer, conversation_id, png(), "a.png", client_id="photo-1")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json == first.json
    assert Message.objects(conversation_id=conversation_id).count() == 1
    assert stored_files()[0] == 2  # the photo and its thumbnail, once
    assert store.api.get(f"/api/users/{store.id}/unread-count").json == {"count": 1}


def test_a_send_refused_after_checking_the_file_leaves_nothing(chat):
    customer, store, conversation_id = chat
    assert customer.api.post(f"/api/conversations/{conversation_id}/block").status_code == 200
    answer = upload(customer, conversation_id, png(), "a.png")
    assert answer.status_code == 403
    assert stored_files() == (0, 0)
    assert Conversation.objects.get(id=conversation_id).last_seq == 0


@pytest.mark.settings(RATE_LIMIT_SEND="1 per minute")
def test_a_send_refused_after_storing_the_file_takes_it_back(chat):
    customer, _store, conversation_id = chat
    customer.send(conversation_id, "Hello po")
    answer = upload(customer, conversation_id, png(), "a.png")  # refused by the send limit
    assert answer.status_code == 429
    assert stored_files() == (0, 0)
    assert Message.objects(conversation_id=conversation_id).count() == 1


def test_a_photo_stored_but_not_announced_keeps_its_file_for_the_retry(chat, monkeypatch):
    from redis.exceptions import ConnectionError as RedisDown

    from elako.services import messages

    customer, store, conversation_id = chat

    def redis_gone(*_args):
        raise RedisDown("Redis is restarting")
    monkeypatch.setattr(messages, "_announce", redis_gone)
    first = upload(customer, conversation_id, png(), "a.png", client_id="photo-2")
    assert first.status_code == 503
    monkeypatch.undo()
    retry = upload(customer, conversation_id, png(), "a.png", client_id="photo-2")
    assert retry.status_code == 200, retry.json  # the message stored by the first attempt
    assert stored_files()[0] == 2
    assert store.api.get(retry.json["attachment"]["url"]).status_code == 200


# -- opening ---------------------------------------------------------------------------------------

def test_only_the_two_participants_can_open_it(chat, people):
    customer, store, conversation_id = chat
    attachment = upload(customer, conversation_id, png(), "a.png").json["attachment"]
    outsider = people.customer(name="Someone Else")
    for url in (attachment["url"], attachment["thumbnail_url"]):
        assert customer.api.get(url).status_code == 200
        assert store.api.get(url).status_code == 200
        refused = outsider.api.get(url)
        missing = outsider.api.get("/api/attachments/0123456789abcdef01234567")
        assert refused.status_code == missing.status_code == 404
        assert error_of(refused.json) == error_of(missing.json)
    assert outsider.page.get(f"/a/{attachment['id']}").status_code == 404
    assert store.page.get(f"/a/{attachment['id']}").status_code == 200
    assert customer.api.get("/api/attachments/not-an-id").status_code == 404


def test_caching_headers_304_and_range(chat):
    customer, store, conversation_id = chat
    data = b"Milo 1kg,350\n" * 200
    attachment = upload(customer, conversation_id, data, "presyo.csv").json["attachment"]
    first = store.api.get(attachment["url"])
    headers = first.headers
    assert headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Accept-Ranges"] == "bytes" and headers["ETag"]
    assert "sandbox" in headers["Content-Security-Policy"]

    again = store.api.get(attachment["url"], headers={"If-None-Match": headers["ETag"]})
    assert again.status_code == 304 and again.data == b""

    part = store.api.get(attachment["url"], headers={"Range": "bytes=13-25"})
    assert part.status_code == 206
    assert part.data == data[13:26]
    assert part.headers["Content-Range"] == f"bytes 13-25/{len(data)}"


def test_file_names_are_offered_safely(chat):
    customer, store, conversation_id = chat
    name = "../../Presyo ñ; bago\u202e.pdf"  # a folder, a separator, a direction override
    attachment = upload(customer, conversation_id, b"%PDF-1.4\n", name).json["attachment"]
    assert attachment["name"] == "Presyo ñ; bago.pdf"
    disposition = store.api.get(attachment["url"]).headers["Content-Disposition"]
    assert disposition == ('attachment; filename="Presyo n bago.pdf"; '
                           "filename*=UTF-8''Presyo%20%C3%B1%3B%20bago.pdf")


def test_quotes_and_backslashes_never_break_the_header():
    from elako.transfers import content_disposition

    assert content_disposition("attachment", 'a"b\\c.pdf') == (
        'attachment; filename="abc.pdf"; filename*=UTF-8\'\'a%22b%5Cc.pdf')


def test_photos_open_inline(chat):
    customer, store, conversation_id = chat
    attachment = upload(customer, conversation_id, png(), "a.png").json["attachment"]
    assert store.api.get(attachment["url"]).headers["Content-Disposition"].startswith("inline;")


# -- unsending and encryption ----------------------------------------------------------------------

def test_unsend_removes_the_file_and_its_thumbnail(app, redis, chat):
    customer, store, conversation_id = chat
    message = upload(customer, conversation_id, png(), "wrong-receipt.png").json  # no caption
    assert stored_files()[0] == 2
    answer = customer.api.delete(f"/api/messages/{message['id']}")
    assert answer.status_code == 200 and answer.json["attachment"] is None
    assert stored_files() == (0, 0)
    assert store.api.get(message["attachment"]["url"]).status_code == 404
    conversation = store.api.get(f"/api/conversations/{conversation_id}").json
    assert conversation["last_message"]["preview"] == ""
    # Nor does the stored event stream keep what the file was.
    stream = redis.xrange(app.extensions["bus"].stream_key(store.id))
    assert stream and not any("wrong-receipt" in fields["data"] for _id, fields in stream)


@pytest.mark.settings(MESSAGE_ENCRYPTION_KEYS="Hr4dNzZbmCYHLrJd1N-OCcHhtLEZAcwqgKoZVo4okmM=")
def test_file_contents_are_encrypted_at_rest(chat):
    customer, store, conversation_id = chat
    data = "Lihim na presyo: 350\n".encode()
    attachment = upload(customer, conversation_id, data, "lihim.txt").json["attachment"]
    raw = b"".join(chunk["data"] for chunk in get_db()["attachments.chunks"].find())
    assert b"Lihim" not in raw and raw.startswith(b"\x00fernet:")
    assert store.api.get(attachment["url"]).data == data
    stored = Message._get_collection().find_one({"_id": Message.objects.get().id})
    assert "lihim" not in stored["attachment"]["name"]


@pytest.mark.settings(MESSAGE_ENCRYPTION_KEYS="Hr4dNzZbmCYHLrJd1N-OCcHhtLEZAcwqgKoZVo4okmM=")
def test_rotating_the_keys_rewrites_files_and_their_names(app, chat):
    from cryptography.fernet import Fernet

    from elako import crypto

    customer, store, conversation_id = chat
    photo = upload(customer, conversation_id, png(), "a.png").json["attachment"]
    text = upload(customer, conversation_id, b"Lihim\n", "lihim.txt").json["attachment"]
    before = {url: store.api.get(url).data
              for url in (photo["url"], photo["thumbnail_url"], text["url"])}
    old_key, new_key = app.config["MESSAGE_ENCRYPTION_KEYS"], Fernet.generate_key().decode()
    crypto.configure(f"{new_key},{old_key}")
    result = app.test_cli_runner().invoke(args=["rotate-message-keys"])
    assert result.exit_code == 0, result.output
    assert "rewrote 2 photo(s) and file(s)" in result.output
    crypto.configure(new_key)  # the old key gone: everything still opens
    for url, data in before.items():
        assert store.api.get(url).data == data
    assert stored_files()[0] == 3  # the old copies deleted
    assert store.api.get(f"/api/conversations/{conversation_id}").json[
        "last_message"]["preview"] == "📎 lihim.txt"
    assert store.api.get(text["url"]).headers["Content-Disposition"].endswith("lihim.txt")


# -- pages (no JavaScript) -------------------------------------------------------------------------

def test_the_composer_sends_a_photo_without_javascript(chat):
    customer, store, conversation_id = chat
    page = customer.page.get(f"/c/{conversation_id}").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'type="file"' in page
    assert "Attach photo or file" in page
    answer = customer.page.post(f"/c/{conversation_id}/messages",
                                {"file": (io.BytesIO(png()), "a.png"), "body": "",
                                 "client_id": "page-1"},
                                content_type="multipart/form-data")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    [message] = Message.objects(conversation_id=conversation_id)
    assert message.type == "image"
    thread = store.page.get(f"/c/{conversation_id}").get_data(as_text=True)
    thumb = f'/a/{message.attachment.id}?size=thumb'
    assert thumb in thread and 'loading="lazy"' in thread
    assert f'width="{message.attachment.thumb_width}"' in thread
    assert f'alt="Photo from {customer.name}"' in thread
    assert store.page.get(thumb).status_code == 200
    own = customer.page.get(f"/c/{conversation_id}").get_data(as_text=True)
    assert 'alt="Photo you sent"' in own


def test_a_refused_file_shows_the_page_again_with_the_reason(chat):
    customer, _store, conversation_id = chat
    answer = customer.page.post(f"/c/{conversation_id}/messages",
                                {"file": (io.BytesIO(b"<svg/>"), "x.svg"), "body": "caption kept"},
                                content_type="multipart/form-data")
    assert answer.status_code == 303  # back to the page: a reload must not post again
    page = customer.page.get(answer.headers["Location"]).get_data(as_text=True)
    assert "can’t be sent" in page and "caption kept" in page


# -- through the real driver -----------------------------------------------------------------------

@pytest.mark.over_the_wire
def test_gridfs_through_pymongo_stores_opens_and_removes(chat):
    """The same storage through pymongo's wire protocol (MONGODB_URI, or the tests' wire server),
    as production runs it: nothing here relies on mongomock's own GridFS."""
    customer, store, conversation_id = chat
    data = b"Milo 1kg,350\n" * 50_000  # 650 KB: more than one GridFS chunk (255 KB)
    message = upload(customer, conversation_id, data, "presyo.csv").json
    assert store.api.get(message["attachment"]["url"]).data == data
    part = store.api.get(message["attachment"]["url"], headers={"Range": "bytes=300000-300012"})
    assert part.status_code == 206 and part.data == data[300000:300013]
    assert stored_files() == (1, 3)
    customer.api.delete(f"/api/messages/{message['id']}")
    assert stored_files() == (0, 0)
