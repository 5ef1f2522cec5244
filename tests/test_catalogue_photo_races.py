"""A product's photo replaced while something else happens to it (another replacement, removing
the photo or the product, sending the product, deleting the store): every file ends up either
shown by a product or a message or gone, and nothing shows a file that is gone. Each test forces
the interleaving by running the other request at the exact step where the race would bite."""

import threading

import pytest
from bson import ObjectId
from mongoengine.connection import get_db

from elako.models import Message, Product
from elako.services import attachments, catalogue, messages
from tests.test_attachments import png, stored_files
from tests.test_catalogue import add, put_photo
from tests.test_product_messages import send_product

RED, BLUE, GREEN = (png(color=(200, 0, 0, 255)), png(color=(0, 0, 200, 255)),
                    png(color=(0, 200, 0, 255)))


@pytest.fixture
def meanwhile(monkeypatch):
    """`meanwhile(module, name, action, after=False)`: run `action()` once, at the next call of
    `module.name`, just before it (or just after it, with `after`)."""
    def schedule(module, name, action, after=False):
        original, pending = getattr(module, name), [action]

        def hooked(*args, **kwargs):
            if pending and not after:
                pending.pop()()
            result = original(*args, **kwargs)
            if pending:
                pending.pop()()
            return result

        monkeypatch.setattr(module, name, hooked)
    return schedule


def assert_no_orphan_and_no_dangling_photo():
    """The files in storage are exactly those products and product messages show."""
    shown = [p.photo for p in Product.objects(photo__exists=True)]
    shown += [m.product.photo for m in Message.objects(product__photo__exists=True)]
    stored = {f["_id"] for f in get_db()["attachments.files"].find({}, ["_id"])}
    assert stored == {file_id for photo in shown for file_id in (photo.file_id, photo.thumb_id)}


def test_two_replacements_at_once_keep_one_photo_and_remove_the_others(people, meanwhile):
    store = people.store()
    product = add(store)
    first = put_photo(store, product["id"], RED).json["photo_url"]
    # The second replacement lands after the first stored its photo, before it is the product's.
    second = []
    meanwhile(attachments, "store_photo",
              lambda: second.append(put_photo(store, product["id"], BLUE).json["photo_url"]),
              after=True)
    last = put_photo(store, product["id"], GREEN)
    assert last.status_code == 200
    assert store.api.get(last.json["photo_url"]).status_code == 200
    assert [store.api.get(url).status_code for url in (first, second[0])] == [404, 404]
    assert stored_files()[0] == 2  # the photo and its thumbnail
    assert_no_orphan_and_no_dangling_photo()


@pytest.mark.parametrize("change", ["remove the photo", "remove the product"])
def test_a_replacement_racing_a_removal_leaves_no_file_behind(people, meanwhile, change):
    store = people.store()
    product = add(store)
    put_photo(store, product["id"], RED)
    url = f"/api/products/{product['id']}" + ("/photo" if change == "remove the photo" else "")
    meanwhile(attachments, "store_photo", lambda: store.api.delete(url), after=True)
    answer = put_photo(store, product["id"], BLUE)
    # The photo removed first, the replacement comes second and wins; the product archived first,
    # it keeps the photo it had and the new one goes.
    assert answer.status_code == (200 if change == "remove the photo" else 404)
    assert stored_files()[0] == 2  # one photo and its thumbnail
    assert_no_orphan_and_no_dangling_photo()


def test_a_product_sent_as_its_photo_is_replaced_never_shows_a_removed_photo(chat, meanwhile):
    customer, store, conversation_id = chat
    product = add(store)
    put_photo(store, product["id"], RED)
    # The customer's message read the product (the red photo) and is about to be stored when the
    # store's new photo replaces it; no message shows red yet, so red goes.
    meanwhile(messages, "deliver", lambda: put_photo(store, product["id"], BLUE))
    sent = send_product(customer, conversation_id, product["id"])
    assert sent.status_code == 201, sent.json
    [stored] = customer.api.get(f"/api/conversations/{conversation_id}/messages").json["items"]
    for shown in (sent.json["product"], stored["product"]):
        assert shown["photo_thumbnail_url"] is None  # rather than a photo that is gone
    assert_no_orphan_and_no_dangling_photo()


def test_a_store_deleted_as_a_photo_is_replaced_leaves_no_file_behind(app, people, meanwhile):
    store = people.store()
    for name in ("Kape", "Tuyo"):
        put_photo(store, add(store, name=name)["id"], RED)
    replaced = []

    def replace_a_remaining_photo():
        remaining = Product.objects(store_id=store.id).first()
        replaced.append(put_photo(store, str(remaining.id), BLUE).status_code)

    # The replacement lands while the store's catalogue is being erased, photo by photo.
    meanwhile(catalogue, "_release", replace_a_remaining_photo)
    with app.app_context():
        catalogue.erase_store(ObjectId(store.id))
    assert replaced == [200] and Product.objects.count() == 0
    assert stored_files() == (0, 0)


def test_a_product_sent_as_its_old_photo_is_being_removed_loses_the_photo(
        chat, monkeypatch):
    """The message is stored after the replacement found no message showing the old photo, and
    before it removed the files: the replacement looks again once they are gone."""
    customer, store, conversation_id = chat
    product = add(store)
    put_photo(store, product["id"], RED)
    checked, sent = threading.Event(), threading.Event()
    replacement = threading.Thread(target=lambda: put_photo(store, product["id"], BLUE))
    deliver, remove_stored = messages.deliver, attachments.remove_stored

    def deliver_once_the_replacement_checked(*args, **kwargs):
        replacement.start()
        assert checked.wait(30), "the replacement never came to removing the old photo"
        return deliver(*args, **kwargs)

    def remove_once_the_message_is_sent(photo):
        checked.set()
        assert sent.wait(30)
        remove_stored(photo)

    monkeypatch.setattr(messages, "deliver", deliver_once_the_replacement_checked)
    monkeypatch.setattr(attachments, "remove_stored", remove_once_the_message_is_sent)
    answer = send_product(customer, conversation_id, product["id"])
    sent.set()
    replacement.join(30)
    assert answer.status_code == 201, answer.json
    assert answer.json["product"]["photo_thumbnail_url"]  # the red photo was still there
    [stored] = customer.api.get(f"/api/conversations/{conversation_id}/messages").json["items"]
    assert stored["product"]["photo_thumbnail_url"] is None
    assert_no_orphan_and_no_dangling_photo()
