"""A store's catalogue (issue 10): products over the API and on the /products page, the store page
customers order and ask from, and product photos processed as message photos are."""

import io

import pytest
from PIL import Image

from elako.errors import InvalidInput
from elako.models import Product
from elako.services import catalogue
from tests.support.html import parse
from tests.test_attachments import jpeg_with_gps, png, stored_files


def add(store, **fields):
    answer = store.api.post("/api/products", json={"name": "Kape 3-in-1", "price_centavos": 1250,
                                                   **fields})
    assert answer.status_code == 201, answer.json
    return answer.json


def put_photo(store, product_id, data, name="IMG_0001.JPG"):
    return store.api.http.put(f"/api/products/{product_id}/photo", headers=store.api._headers(None),
                              data={"file": (io.BytesIO(data), name, "image/jpeg")},
                              content_type="multipart/form-data")


# -- the API ---------------------------------------------------------------------------------------

def test_a_store_adds_a_product_and_anyone_signed_in_lists_it(people):
    store, customer = people.store(), people.customer()
    product = add(store, name="  Milo 1kg  ", price_centavos=123450,
                  description="Para sa buong pamilya\nBagong stock")
    assert product == {"id": product["id"], "store_id": store.id, "name": "Milo 1kg",
                       "price_centavos": 123450, "currency": "PHP",
                       "description": "Para sa buong pamilya\nBagong stock", "in_stock": True,
                       "photo_url": None}
    for reader in (customer, store, people.store("Another Store")):
        listed = reader.api.get(f"/api/stores/{store.id}/products")
        assert listed.status_code == 200
        assert listed.json == {"items": [product], "next_before": None}


def test_the_list_is_by_name_paged_by_cursor_and_shows_only_active_products(people):
    store, customer = people.store(), people.customer()
    names = ["Asukal", "Bigas", "Kape", "Mantika", "Sardinas"]
    ids = {name: add(store, name=name)["id"] for name in reversed(names)}
    store.api.delete(f"/api/products/{ids['Kape']}")
    url = f"/api/stores/{store.id}/products"
    first = customer.api.get(f"{url}?limit=2").json
    assert [p["name"] for p in first["items"]] == ["Asukal", "Bigas"]
    second = customer.api.get(f"{url}?limit=2&before={first['next_before']}").json
    assert [p["name"] for p in second["items"]] == ["Mantika", "Sardinas"]
    assert second["next_before"] is None
    assert customer.api.get(f"{url}?before=nonsense").status_code == 422
    assert customer.api.get(f"/api/stores/{customer.id}/products").status_code == 404
    assert customer.api.get("/api/stores/zzz/products").status_code == 404


@pytest.mark.parametrize("fields, field", [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 121}, "name"),
    ({"price_centavos": -1}, "price_centavos"),
    ({"price_centavos": 12.5}, "price_centavos"),
    ({"price_centavos": "1250"}, "price_centavos"),
    ({"price_centavos": 100_000_001}, "price_centavos"),
    ({"description": "x" * 1001}, "description"),
    ({"in_stock": "yes"}, "in_stock"),
])
def test_invalid_products_are_refused_field_by_field(people, fields, field):
    store = people.store()
    answer = store.api.post("/api/products", json={"name": "Kape", "price_centavos": 1250,
                                                   **fields})
    assert answer.status_code == 422, answer.json
    assert answer.json["error"]["field"] == field
    assert Product.objects.count() == 0


def test_the_price_has_a_sane_maximum_and_zero_is_allowed(people):
    store = people.store()
    assert add(store, price_centavos=0)["price_centavos"] == 0
    assert add(store, price_centavos=100_000_000)["price_centavos"] == 100_000_000


def test_a_store_changes_and_archives_only_its_own_products(people):
    store, other, customer = people.store(), people.store("Other Store"), people.customer()
    product = add(store)
    url = f"/api/products/{product['id']}"
    changed = store.api.patch(url, json={"price_centavos": 1500, "in_stock": False})
    assert changed.status_code == 200
    assert changed.json == {**product, "price_centavos": 1500, "in_stock": False}
    assert store.api.patch(url, json={"name": ""}).status_code == 422
    # Another store's product is not found; a customer has no catalogue at all.
    assert other.api.patch(url, json={"price_centavos": 1}).json["error"]["code"] == "not_found"
    assert other.api.delete(url).status_code == 404
    assert customer.api.patch(url, json={"price_centavos": 1}).status_code == 403
    assert customer.api.post("/api/products", json={"name": "Kape", "price_centavos": 1}
                             ).status_code == 403
    assert store.api.delete(url).status_code == 204
    assert store.api.delete(url).status_code == 404
    assert store.api.patch(url, json={"price_centavos": 1}).status_code == 404
    archived = Product.objects.get(id=product["id"])
    assert archived.archived_at is not None and archived.price_centavos == 1500  # kept, not deleted
    assert customer.api.get(f"/api/stores/{store.id}/products").json["items"] == []


def test_a_product_photo_is_processed_like_a_message_photo_and_served_to_anyone(people):
    store, customer = people.store(), people.customer()
    product = add(store)
    answer = put_photo(store, product["id"], jpeg_with_gps())
    assert answer.status_code == 200, answer.json
    url = answer.json["photo_url"]
    assert url.startswith("/api/product-photos/")
    served = customer.api.get(url)
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(served.data)).size == (1200, 1600)  # upright, at most 1,600 px
    assert b"GPS" not in served.data and b"PhoneMaker" not in served.data
    assert "IMG_0001" not in served.headers["Content-Disposition"]  # the file name stays private
    again = customer.api.get(url, headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304
    thumb = customer.api.get(url + "?size=thumb")
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.data)).size) <= 320
    assert customer.api.get("/api/product-photos/" + "a" * 24).status_code == 404
    assert people.app.test_client().get(url).status_code == 401


def test_a_replaced_photo_goes_and_a_removed_product_photo_is_not_kept(people):
    store = people.store()
    product = add(store)
    first = put_photo(store, product["id"], png()).json["photo_url"]
    assert stored_files()[0] == 2  # the photo and its thumbnail
    second = put_photo(store, product["id"], png(color=(9, 9, 9, 255))).json["photo_url"]
    assert second != first and stored_files()[0] == 2
    assert store.api.get(first).status_code == 404
    removed = store.api.delete(f"/api/products/{product['id']}/photo")
    assert removed.status_code == 200 and removed.json["photo_url"] is None
    assert stored_files()[0] == 0


def test_photo_uploads_refuse_what_is_not_a_photo(people):
    store, customer = people.store(), people.customer()
    product = add(store)
    pdf = put_photo(store, product["id"], b"%PDF-1.4\n...", "list.pdf")
    assert pdf.status_code == 415 and pdf.json["error"]["code"] == "unsupported_file_type"
    broken = put_photo(store, product["id"], b"\xff\xd8\xff\xe0broken")
    assert broken.status_code == 422
    assert put_photo(customer, product["id"], png()).status_code == 403
    assert put_photo(people.store("Other"), product["id"], png()).status_code == 404
    assert stored_files()[0] == 0


# -- the service -----------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, centavos", [
    ("1,234.50", 123450), ("₱ 25", 2500), ("7.5", 750), ("0", 0), (" 12.05 ", 1205),
    ("1000000", 100_000_000),
])
def test_prices_typed_in_pesos(app, typed, centavos):
    assert catalogue.centavos(typed) == centavos


@pytest.mark.parametrize("typed", ["", "abc", "12.345", "-5", "1e3", "1000000.01", "12,5.5.5"])
def test_prices_that_are_not_pesos_are_refused_with_a_reason(app, typed):
    with pytest.raises(InvalidInput) as refused:
        catalogue.centavos(typed)
    assert refused.value.field == "price"


# -- the /products page ----------------------------------------------------------------------------

def test_a_store_manages_its_catalogue_with_plain_forms(people):
    store = people.store()
    page = store.page
    answer = page.post("/products", {"name": "Pandesal", "price": "2.50", "description": "Mainit",
                                     "in_stock": "1",
                                     "photo": (io.BytesIO(png()), "pan.png", "image/png")},
                       content_type="multipart/form-data")
    assert answer.status_code == 303
    product = Product.objects.get(store_id=store.id)
    assert (product.name, product.price_centavos, product.in_stock) == ("Pandesal", 250, True)
    assert product.photo is not None
    shown = page.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Pandesal" in shown and "₱2.50" in shown and "Saved." in shown

    edited = page.post(f"/products/{product.id}", {"name": "Pandesal (10 pcs)", "price": "25",
                                                   "description": "", "remove_photo": "1"},
                       content_type="multipart/form-data")
    assert edited.status_code == 303
    product.reload()
    assert (product.name, product.price_centavos, product.in_stock) == ("Pandesal (10 pcs)", 2500,
                                                                        False)
    assert product.photo is None

    assert page.post(f"/products/{product.id}/stock", {"in_stock": "1"}).status_code == 303
    assert product.reload().in_stock is True
    assert page.post(f"/products/{product.id}/remove").status_code == 303
    assert product.reload().archived_at is not None
    assert "No products yet" in page.get("/products").get_data(as_text=True)


def test_a_refused_product_form_says_why_and_keeps_what_was_typed(people):
    page = people.store().page
    answer = page.post("/products", {"name": "Tuyo", "price": "mahal", "description": "Bagong dating"},
                       content_type="multipart/form-data")
    assert answer.status_code == 422
    root = parse(answer.get_data(as_text=True))
    assert "Enter the price in pesos" in root.with_class("form-error")[0].text
    assert root.by_id("name-new").attrs["value"] == "Tuyo"
    assert root.by_id("price-new").attrs["value"] == "mahal"
    assert root.by_id("description-new").text == "Bagong dating"
    assert Product.objects.count() == 0


def test_customers_have_no_products_page(people):
    page = people.customer().page
    assert page.get("/products").status_code == 403
    assert page.post("/products", {"name": "x", "price": "1"}).status_code == 403


# -- the store page --------------------------------------------------------------------------------

def test_the_store_page_is_one_order_form_with_a_quantity_and_an_ask_button_per_product(people):
    store, customer = people.store("Aling Nena's"), people.customer()
    kape = add(store, name="Kape", price_centavos=1250, description="3-in-1")
    tuyo = add(store, name="Tuyo", price_centavos=4500, in_stock=False)
    add(store, name="Gone")["id"]
    store.api.delete(f"/api/products/{Product.objects.get(name='Gone').id}")
    answer = customer.page.get(f"/stores/{store.id}")
    assert answer.status_code == 200
    root = parse(answer.get_data(as_text=True))
    assert "Aling Nena's" in root.find_all("h1")[0].text
    forms = [f for f in root.find_all("form") if f.attrs.get("action") == f"/stores/{store.id}/orders"]
    assert len(forms) == 1
    form = forms[0]
    assert form.attrs["method"] == "post"
    assert form.find_all("input", name="csrf_token")
    quantity = form.find_all("input", name=f"quantity-{kape['id']}")[0]
    assert quantity.attrs == {**quantity.attrs, "type": "number", "min": "0", "max": "999",
                              "value": "0"}
    assert form.find_all("label", **{"for": quantity.attrs["id"]})
    assert not form.find_all("input", name=f"quantity-{tuyo['id']}")  # out of stock
    asks = [b for b in form.find_all("button") if b.attrs.get("formaction")]
    assert {(b.attrs["formaction"], b.attrs["name"], b.attrs["value"]) for b in asks} == {
        (f"/stores/{store.id}/ask", "product_id", kape["id"]),
        (f"/stores/{store.id}/ask", "product_id", tuyo["id"])}
    assert form.find_all("textarea", name="note")[0].attrs["maxlength"] == "500"
    text = form.text
    assert "₱12.50" in text and "₱45.00" in text and "3-in-1" in text and "Out of stock" in text
    assert "Gone" not in text and "Place order" in text
    # A store looking at a store page sees the catalogue, not the order form's controls.
    as_store = parse(store.page.get(f"/stores/{store.id}").get_data(as_text=True))
    assert not as_store.find_all("input", type="number") and "Place order" not in as_store.text
    assert customer.page.get(f"/stores/{customer.id}").status_code == 404


def test_the_directory_and_the_conversation_menu_link_to_the_store_page(people):
    store, customer = people.store(), people.customer()
    conversation_id = customer.open_conversation(store)
    link = f'href="/stores/{store.id}"'
    assert link in customer.page.get("/stores").get_data(as_text=True)
    assert link in customer.page.get(f"/c/{conversation_id}").get_data(as_text=True)


def test_a_stores_export_holds_its_catalogue(people):
    import json
    import zipfile

    store = people.store()
    kept, removed = add(store, name="Kape"), add(store, name="Tuyo")
    store.api.delete(f"/api/products/{removed['id']}")
    exported = store.api.get("/api/me/export")
    assert exported.status_code == 200
    products = json.loads(zipfile.ZipFile(io.BytesIO(exported.data)).read("products.json"))
    assert [(p["name"], p["archived_at"] is None) for p in products["products"]] == [
        ("Kape", True), ("Tuyo", False)]
    assert products["products"][0] == {**kept, "archived_at": None}
