#!/usr/bin/env python3
"""Sends a fixed, known set of Segment calls to a Tailor server through the official
Python library, segment-analytics-python (`segment.analytics`), configured as a customer
would: only `host` is changed. crates/tailor/tests/segment_clients.rs runs this and then
checks the resulting profile through the admin API.

Usage: python3 tests/compat/segment_python.py URL WRITE_KEY RUN_ID

Exit status: 0 when every event was delivered, 1 on any delivery error (the library's
`on_error`, an exception from a synchronous send, a non-2xx reply, or a 200 reply that
lists `rejected` messages), 2 on wrong usage.

What it exercises:
- the module-level API (`analytics.write_key`, `analytics.host`, `analytics.on_error`),
  whose background consumer sends `POST {host}/v1/batch` in batches of at most 100
  messages (`Client.DefaultConfig.upload_size`); SEARCHES extra tracks force more than
  one batch;
- a second `Client(gzip=True, sync_mode=True)` that sends one identify gzipped
  (`Content-Encoding: gzip`), so the server's gzip path is used.
"""

import gzip as gzip_module
import json
import sys
from datetime import datetime, timedelta, timezone

try:
    import segment.analytics as analytics
    from segment.analytics import Client
    from segment.analytics import request as segment_request
except ImportError as e:  # pragma: no cover - reported to the Rust test
    print(
        f"segment_python: cannot import segment.analytics ({e}); "
        "run tests/compat/install.sh (pip install -r tests/compat/requirements.txt)",
        file=sys.stderr,
    )
    sys.exit(1)

# Extra "Products Searched" tracks: with 14 other calls this is more than one batch of 100.
SEARCHES = 120


def main():
    if len(sys.argv) != 4:
        print("usage: segment_python.py URL WRITE_KEY RUN_ID", file=sys.stderr)
        return 2
    url, write_key, run_id = sys.argv[1:]

    failures = []
    requests_seen = []

    def on_error(error, batch):
        failures.append(f"on_error: {error!r} for a batch of {len(batch)} message(s)")

    # The library treats any 2xx as delivered and never reads the body. Tailor answers a
    # batch with 200 even when it drops invalid messages (listing them in `rejected`), so
    # look at each reply, and at what was sent, through a response hook on the library's
    # requests session.
    def inspect(response, *args, **kwargs):
        req = response.request
        body = req.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        encoding = req.headers.get("Content-Encoding")
        try:
            sent = json.loads(gzip_module.decompress(body) if encoding == "gzip" else body)
            messages = len(sent.get("batch", []))
        except Exception as e:  # noqa: BLE001 - any undecodable body is a finding
            failures.append(f"could not decode the request the library sent: {e!r}")
            messages = -1
        requests_seen.append(
            {"path": req.path_url, "encoding": encoding, "messages": messages, "status": response.status_code}
        )
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if not 200 <= response.status_code < 300:
            failures.append(f"HTTP {response.status_code} from {req.url}: {response.text}")
        elif not isinstance(reply, dict) or reply.get("success") is not True:
            failures.append(f"reply from {req.url} is not {{\"success\":true,...}}: {response.text}")
        elif reply.get("rejected"):
            failures.append(f"server rejected messages: {json.dumps(reply['rejected'])}")

    session = getattr(segment_request, "_session", None)
    if session is not None:
        session.hooks["response"].append(inspect)
    else:
        print("segment_python: warning: no requests session to inspect replies with", file=sys.stderr)

    analytics.write_key = write_key
    analytics.host = url
    analytics.on_error = on_error
    analytics.max_retries = 2  # fail fast against a broken server

    user_id = f"py-{run_id}"
    anonymous_id = f"py-anon-{run_id}"
    previous_id = f"py-old-{run_id}"

    # Explicit timestamps one second apart: the calls follow one another in event time
    # as they do in the script.
    start = datetime.now(timezone.utc) - timedelta(minutes=10)
    step = 0

    def at():
        nonlocal step
        step += 1
        return start + timedelta(seconds=step)

    # Before the person is known: an anonymous visit.
    analytics.page(
        anonymous_id=anonymous_id, name="Home", properties={"path": "/", "url": "https://shop.example/"}, timestamp=at()
    )
    analytics.track(
        anonymous_id=anonymous_id,
        event="Product Viewed",
        properties={"product_id": "sku-1", "name": "Trail Runner", "category": "Shoes/Running", "brand": "Acme", "price": 80},
        timestamp=at(),
    )

    # Identification ties the anonymous visit to the user.
    analytics.identify(
        user_id=user_id,
        anonymous_id=anonymous_id,
        traits={"email": f"{user_id}@example.com", "name": "Python Tester"},
        timestamp=at(),
    )

    # E-commerce Spec v2.
    analytics.track(
        user_id=user_id,
        event="Product Viewed",
        properties={"product_id": "sku-2", "name": "Mountain Boot", "category": "Shoes/Trail", "price": 120},
        timestamp=at(),
    )
    analytics.track(
        user_id=user_id,
        event="Product Added",
        properties={"cart_id": f"cart-{run_id}", "product_id": "sku-1", "category": "Shoes/Running", "price": 80, "quantity": 2},
        timestamp=at(),
    )
    analytics.track(
        user_id=user_id,
        event="Product Added",
        properties={"cart_id": f"cart-{run_id}", "product_id": "sku-2", "category": "Shoes/Trail", "price": 120, "quantity": 1},
        timestamp=at(),
    )
    analytics.track(
        user_id=user_id,
        event="Order Completed",
        properties={
            "checkout_id": f"co-{run_id}",
            "order_id": f"order-{run_id}",
            "total": 280,
            "subtotal": 280,
            "currency": "USD",
            "products": [
                {"product_id": "sku-1", "category": "Shoes/Running", "price": 80, "quantity": 2},
                {"product_id": "sku-2", "category": "Shoes/Trail", "price": 120, "quantity": 1},
            ],
        },
        timestamp=at(),
    )
    # After the order the cart is empty; this starts a new one.
    analytics.track(
        user_id=user_id,
        event="Product Added",
        properties={"product_id": "sku-3", "category": "Accessories/Socks", "price": 12.5, "quantity": 1},
        timestamp=at(),
    )

    analytics.page(user_id=user_id, category="Shop", name="Checkout", properties={"path": "/checkout"}, timestamp=at())
    analytics.screen(user_id=user_id, name="Settings", properties={"variant": "dark"}, timestamp=at())
    analytics.group(
        user_id=user_id, group_id=f"group-{run_id}", traits={"name": "Acme Inc", "plan": "enterprise"}, timestamp=at()
    )

    # Enough tracks that the consumer must send more than one batch.
    for i in range(SEARCHES):
        analytics.track(user_id=user_id, event="Products Searched", properties={"query": f"shoes {i}"}, timestamp=at())

    # A second identity of the same person, seen before it is aliased.
    analytics.page(user_id=previous_id, name="Old Account", timestamp=at())
    analytics.alias(previous_id=previous_id, user_id=user_id, timestamp=at())

    # Deliver everything queued, then stop the consumer thread.
    analytics.shutdown()
    batches = len(requests_seen)

    # One more call, gzipped, from a synchronous client (it posts before returning).
    gz = Client(write_key, host=url, gzip=True, sync_mode=True, on_error=on_error, max_retries=2)
    try:
        gz.identify(user_id=user_id, traits={"plan": "gzip"}, timestamp=at())
    except Exception as e:  # noqa: BLE001 - sync_mode raises instead of calling on_error
        failures.append(f"gzip identify: {e!r}")

    print(f"segment_python: {len(requests_seen)} request(s): {json.dumps(requests_seen)}")
    if session is not None:
        if batches < 2:
            failures.append(f"expected more than one batch from the background consumer, saw {batches}")
        if not any(r["encoding"] == "gzip" for r in requests_seen):
            failures.append("the gzip client sent no gzip-encoded request")
        delivered = sum(r["messages"] for r in requests_seen if 200 <= r["status"] < 300)
        if delivered != step:
            failures.append(f"{step} calls made but {delivered} message(s) delivered")
    if failures:
        print(f"segment_python: {len(failures)} failure(s):\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print(f"segment_python: {step} calls delivered for {user_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
