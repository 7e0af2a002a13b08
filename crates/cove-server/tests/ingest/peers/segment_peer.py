"""Drives segment-analytics-python against a Cove server.

usage: segment_peer.py HOST WRITE_KEY RUN_ID

Sends, as one anonymous visitor who then signs up: track and page while
anonymous, identify (userId + anonymousId), alias (a second anonymous id of
the same person), track as the user; gzip bodies. Then sends the very same
messages again (same messageIds), as a client retrying after a lost answer.
Exits non-zero if the library reports any error. Prints the message ids.
"""
import json
import sys

import segment.analytics as analytics_module
from segment.analytics.client import Client

host, write_key, run = sys.argv[1], sys.argv[2], sys.argv[3]
errors = []


def on_error(error, items):
    errors.append(repr(error))


user = f"py-user-{run}"
anon = f"py-anon-{run}"
anon2 = f"py-anon2-{run}"


def send(client):
    client.track(anonymous_id=anon, event="Product Viewed",
                 properties={"sku": "X1-CARBON", "price_fen": 899900},
                 message_id=f"py-{run}-1")
    client.page(anonymous_id=anon, name="Gaming Laptops",
                properties={"path": "/c/gaming"}, message_id=f"py-{run}-2")
    client.identify(user_id=user, anonymous_id=anon,
                    traits={"email": f"{user}@example.cn", "plan": "member"},
                    message_id=f"py-{run}-3")
    client.alias(previous_id=anon2, user_id=user, message_id=f"py-{run}-4")
    client.track(user_id=user, event="Order Completed",
                 properties={"total_fen": 899900}, message_id=f"py-{run}-5")
    client.flush()


for attempt in range(2):
    client = Client(write_key, host=host, gzip=True, sync_mode=True,
                    max_retries=1, on_error=on_error)
    send(client)

if errors:
    print(json.dumps({"errors": errors}))
    sys.exit(1)
print(json.dumps({"library": analytics_module.VERSION,
                  "messages": [f"py-{run}-{i}" for i in range(1, 6)]}))
