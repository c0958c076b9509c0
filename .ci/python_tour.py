"""The README's tour, made by a client generated from the shop's own /openapi.json
(openapi-python-client): log in, list and read the catalogue, read an order, place one and
replay it with the same Idempotency-Key, cancel it, log out. Every request goes through the
generated code; none is written by hand. Run by .ci/python-client against a running shop.

Usage: python3 python_tour.py HTTPS_BASE CA_FILE CREDENTIALS_JSON
"""

import json
import sys
import uuid

from msa_shop_client import AuthenticatedClient, Client
from msa_shop_client.api.auth import login, logout, session
from msa_shop_client.api.demo import greet, hello
from msa_shop_client.api.orders import cancel_order, get_order, list_orders, place_order
from msa_shop_client.api.products import get_product, list_products
from msa_shop_client.models import GreetLang, ListProductsSort, Login, OrderItemInput, PlaceOrder

SESSION_COOKIE = "__Host-msa_session"


def check(condition, what):
    if not condition:
        sys.exit(f"python tour: {what}")


def main():
    base, ca, credentials = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
    visitor = Client(base_url=base, verify_ssl=ca, raise_on_unexpected_status=True)

    check(hello.sync(client=visitor).message == "Hello, API!", "hello")
    check(greet.sync(client=visitor, lang=GreetLang.KO).lang == "ko", "greet in Korean")

    logged_in = login.sync_detailed(
        client=visitor,
        body=Login(email="alice@example.com", password=credentials["alice@example.com"]),
    )
    check(logged_in.status_code == 200, f"login answered {logged_in.status_code}")
    cookie = logged_in.headers["set-cookie"].split(";")[0]
    check(cookie.startswith(SESSION_COOKIE + "="), "login set the session cookie")
    # The document's `session` scheme is a cookie: the generated client sends it as one.
    alice = AuthenticatedClient(
        base_url=base,
        verify_ssl=ca,
        token=cookie,
        prefix="",
        auth_header_name="Cookie",
        raise_on_unexpected_status=True,
    )
    check(session.sync(client=alice).user_id == logged_in.parsed.user_id, "the session")

    page = list_products.sync(client=alice, sort=ListProductsSort.PRICE, limit=1)
    check(len(page.items) == 1 and page.next_page == 2, "a page of one product, and more")
    rest = list_products.sync(client=alice, sort=ListProductsSort.PRICE, limit=1, page=2)
    check(rest.items[0].price_cents >= page.items[0].price_cents, "sorted by price")
    cheapest = get_product.sync_detailed(id=page.items[0].id, client=alice)
    check(cheapest.parsed.name == page.items[0].name, "one product read")
    check(cheapest.headers["etag"] == f'"{cheapest.parsed.version}"', "its ETag")

    enriched = get_order.sync(id=9001, client=alice)
    check(enriched.user.name == "Alice" and enriched.items, "order 9001, enriched")

    key = uuid.uuid4().hex
    order = PlaceOrder(items=[OrderItemInput(product_id=page.items[0].id, quantity=1)])
    placed = place_order.sync_detailed(client=alice, body=order, idempotency_key=key)
    check(placed.status_code == 201, f"placing answered {placed.status_code}")
    order_id = placed.parsed.order_id
    location = placed.headers["location"]
    check(location == f"/api/v1/orders/{order_id}", f"Location {location}")
    replayed = place_order.sync_detailed(client=alice, body=order, idempotency_key=key)
    check(replayed.status_code == 201, "the replay is the same answer")
    check(replayed.headers.get("idempotent-replayed") == "true", "marked as a replay")
    check(replayed.parsed.order_id == order_id, "and no second order")
    check(replayed.headers["location"] == location, "with the same Location")

    cancelled = cancel_order.sync(id=order_id, client=alice)
    check(cancelled.status.value == "cancelled", f"cancelled: {cancelled.status}")
    mine = list_orders.sync(client=alice, limit=20)
    check(
        any(o.order_id == order_id and o.status.value == "cancelled" for o in mine.items),
        "the cancelled order is in the list",
    )

    check(logout.sync_detailed(client=alice).status_code == 204, "logout")
    gone = session.sync_detailed(client=alice)
    check(gone.status_code == 401, "the session is over")
    print(f"python tour: ok, order {order_id} placed once, replayed and cancelled")


if __name__ == "__main__":
    main()
