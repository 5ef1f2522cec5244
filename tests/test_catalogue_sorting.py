"""A store's catalogue lists in the order a person reads names: case and accents aside, on the API
and the pages, page after page; products stored by an earlier version (no sort key) included."""

from datetime import datetime, timezone

import pytest
from bson import ObjectId

from elako.blueprints import pages
from elako.models import Product
from tests.support.html import parse
from tests.test_catalogue import add

# As a person expects them: "banana" before "Zesto", "Éclair" among the e's, "Piña" with "Pina".
IN_ORDER = ["Asukal", "banana chips", "Chicharon", "dilis", "Éclair", "ensaymada",
            "Pancit Canton", "Piña juice", "pinipig", "Ube halaya", "Zesto"]
# Stored without a sort key, as an earlier version wrote them.
EARLIER = {"Chicharon", "dilis"}


def stock(store):
    """IN_ORDER in a shuffled order of creation, EARLIER straight into the collection."""
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    for name in IN_ORDER[::3] + IN_ORDER[1::3] + IN_ORDER[2::3]:
        if name in EARLIER:
            Product._get_collection().insert_one({
                "_id": ObjectId(), "store_id": ObjectId(store.id), "name": name,
                "price_centavos": 1000, "description": "", "in_stock": True,
                "created_at": now, "updated_at": now})
        else:
            add(store, name=name)


def api_pages(reader, store, limit):
    names, before = [], ""
    while True:
        page = reader.api.get(f"/api/stores/{store.id}/products?limit={limit}&before={before}").json
        names.append([p["name"] for p in page["items"]])
        before = page["next_before"]
        if before is None:
            return names


def test_the_api_lists_by_name_whatever_the_case_and_accents_across_pages(people):
    store, customer = people.store(), people.customer()
    stock(store)
    assert api_pages(customer, store, limit=4) == [IN_ORDER[:4], IN_ORDER[4:8], IN_ORDER[8:]]
    # The earlier version's products now carry the key, so the index finds them in order.
    assert Product.objects(name__in=list(EARLIER), name_key=None).count() == 0


@pytest.mark.parametrize("who, path", [("customer", "/stores/{store}"), ("store", "/products")])
def test_the_pages_list_by_name_whatever_the_case_and_accents_across_pages(
        people, monkeypatch, who, path):
    store = people.store()
    reader = store if who == "store" else people.customer()
    stock(store)
    monkeypatch.setattr(pages, "PRODUCTS_PAGE_SIZE", 6)
    url, seen = path.format(store=store.id), []
    while url:
        root = parse(reader.page.get(url).get_data(as_text=True))
        seen.append([h.text.strip() for item in root.find_all("li") if item.has_class("product")
                     for h in item.find_all("h2") + item.find_all("h3")])
        more = [a.attrs["href"] for a in root.find_all("a") if a.text.strip() == "More products"]
        url = more[0] if more else None
    assert seen == [IN_ORDER[:6], IN_ORDER[6:]]


def test_a_renamed_product_moves_to_its_new_place(people):
    store = people.store()
    for name in ("Bigas", "Kape", "mantika"):
        add(store, name=name)
    kape = Product.objects.get(name="Kape")
    assert store.api.patch(f"/api/products/{kape.id}", json={"name": "asin"}).status_code == 200
    assert api_pages(store, store, limit=2) == [["asin", "Bigas"], ["mantika"]]
