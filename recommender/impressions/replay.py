"""Replay: the sample's last days played through the storefront API, as a storefront would.

For each customer and day of the held-out window, in time order: ask for the home page
(``GET /recommendations/home``), then post what the customer really bought that day
(``POST /events``), with the answer's ``request_id`` as ``recommendation_id`` on the
purchases of items it showed. The figures that fill the dashboards are the real behaviour of
real customers against what the recommender would have shown them.

The import stores the whole week, so before playing a customer-day its imported purchases
(the sample's own event ids) are taken out of the history: the answer must not know what
the customer is about to buy (it would even leave those items out as already bought). The
replay posts them back under the same ids with the same content, so afterwards the history
is what the import made, plus the impressions and their attributions; a second replay
withdraws and re-posts only purchases that were not credited yet (a credited one stays, and is
never credited twice).

The sample has purchases only (no views or carts), so on replayed traffic CTR and add-to-cart
stay 0 and conversion is the figure to read.
"""
from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from recommender.catalog.importing.hm_sample import CHANNELS, event_id_for, sample_dir, sample_price
from recommender.models import Attribution, Event, Item
from recommender.serving.customers import customer_contexts_invalidate_all

EVENTS_PER_POST = 200


@dataclass
class Purchase:
    event_id: str
    item_id: str
    price: Decimal
    channel: str


@dataclass
class Session:
    """One customer's day in the window: what they bought, in file order."""

    customer_id: str
    day: str
    timestamp: datetime
    channel: str
    purchases: list[Purchase] = field(default_factory=list)
    jewelry: bool = False


@dataclass
class ReplayReport:
    sessions: int = 0
    requests: int = 0
    purchases_posted: int = 0
    purchases_of_shown_items: int = 0
    created: int = 0
    duplicates: int = 0
    attributed: int = 0
    skipped: int = 0
    pending: int = 0
    withdrawn: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": self.errors[:20]}


def replay_plan(*, days: int = 2, customers: int | None = None, data_dir: str | Path | None = None) -> list[Session]:
    """The held-out window's sessions (customer x day), oldest day first.

    ``customers`` keeps that many customers: first every customer who bought jewelry in the
    window (the recommendations are jewelry, so only they can convert), then others in a
    fixed pseudo-random order (a hash of the id). Only items of the catalog are played.
    """
    import pandas as pd

    transactions = pd.read_parquet(sample_dir(data_dir) / "transactions.parquet")
    all_days = sorted(transactions["t_dat"].unique())
    window = set(all_days[-max(1, days):])
    held = transactions[transactions["t_dat"].isin(window)]
    known = dict(Item.objects.filter(external_id__in=set(held["article_id"].tolist())).values_list("external_id",
                                                                                                     "is_jewelry"))
    rows = zip(held.index.tolist(), held["customer_id"].tolist(), held["article_id"].tolist(), held["t_dat"].tolist(),
               held["price"].astype("float64").tolist(), held["sales_channel_id"].tolist(), strict=True)
    sessions: dict[tuple[str, Any], Session] = {}
    for index, customer_id, article_id, day, price, channel in rows:
        if article_id not in known:
            continue
        key = (customer_id, day)
        session = sessions.get(key)
        if session is None:
            # the import's own noon timestamp: the re-posted purchase is the imported one, unchanged
            ts = datetime.combine(day if not isinstance(day, str) else datetime.fromisoformat(day).date(),
                                  dtime(12, 0), tzinfo=UTC)
            session = sessions[key] = Session(customer_id, str(day), ts, CHANNELS.get(int(channel), ""))
        session.purchases.append(Purchase(event_id_for(index, customer_id, article_id, day, price), article_id,
                                          sample_price(price), CHANNELS.get(int(channel), "")))
        session.jewelry = session.jewelry or bool(known[article_id])
    chosen = list(sessions.values())
    if customers is not None:
        buyers = sorted({s.customer_id for s in chosen if s.jewelry})
        others = sorted({s.customer_id for s in chosen} - set(buyers),
                        key=lambda c: hashlib.sha256(c.encode()).hexdigest())
        keep = set((buyers + others)[:max(0, customers)])
        chosen = [s for s in chosen if s.customer_id in keep]
    return sorted(chosen, key=lambda s: (s.day, s.customer_id))


def replay_withdraw(sessions: list[Session]) -> int:
    """Take the window's not-yet-credited imported purchases out of the history (see the module doc)."""
    ids = [p.event_id for s in sessions for p in s.purchases]
    withdrawn = 0
    with transaction.atomic():
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            credited = set(Attribution.objects.filter(event__client_event_id__in=chunk)
                           .values_list("event__client_event_id", flat=True))
            withdrawn += Event.objects.filter(client_event_id__in=[i for i in chunk if i not in credited]).delete()[1] \
                .get(Event._meta.label, 0)
    customer_contexts_invalidate_all()
    return withdrawn


class HttpStorefront:
    """The storefront over HTTP, against a running server (``--url``, ``--key``)."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base, self.key = base_url.rstrip("/"), key

    def call(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None) -> tuple[int, dict]:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Token {self.key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")


class InProcessStorefront:
    """The storefront through Django's whole request stack in this process (no server needed)."""

    def __init__(self, key: str) -> None:
        from django.test import Client

        host = next((h for h in settings.ALLOWED_HOSTS if h and "*" not in h and not h.startswith(".")), "localhost")
        self.client = Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Token {key}")

    def call(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None) -> tuple[int, dict]:
        if method == "GET":
            response = self.client.get(path, params or {})
        else:
            response = self.client.post(path, json.dumps(body), content_type="application/json")
        return response.status_code, response.json()


def _paced(items: list, rate: float | None) -> Iterator:
    """Yield items no faster than ``rate`` per second (None: as fast as the API answers)."""
    started = time.monotonic()
    for n, item in enumerate(items):
        if rate:
            wait = started + n / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        yield item


def _call(storefront, method: str, path: str, **kw) -> tuple[int, dict]:
    """One call, waiting out the key's throttle (429) like a polite client: up to ~2 minutes."""
    for attempt in range(12):
        status, body = storefront.call(method, path, **kw)
        if status != 429:
            return status, body
        time.sleep(min(2.0 ** attempt, 15.0))
    return status, body


def replay_run(sessions: list[Session], storefront, *, k: int = 12, rate: float | None = None,
               progress: Callable[[int], None] | None = None) -> ReplayReport:
    """Play ``sessions`` (already withdrawn) through ``storefront``; returns what happened."""
    report = ReplayReport()
    started = time.monotonic()
    for session in _paced(sessions, rate):
        params = {"customer_id": session.customer_id, "k": k}
        if session.channel:
            params["channel"] = session.channel
        status, body = _call(storefront, "GET", "/api/v1/recommendations/home", params=params)
        report.sessions += 1
        report.requests += 1
        if status != 200:
            report.errors.append(f"home for {session.customer_id[:16]}: {status} {body.get('error', body)}")
            if progress:
                progress(1)
            continue
        shown = {item["id"] for item in body["items"]}
        events = []
        for n, purchase in enumerate(session.purchases):
            event = {"event_id": purchase.event_id, "customer_id": session.customer_id, "item_id": purchase.item_id,
                     "type": "purchase", "timestamp": session.timestamp.isoformat(), "price": str(purchase.price)}
            if purchase.channel:
                event["channel"] = purchase.channel
            if purchase.item_id in shown:
                event["recommendation_id"] = body["request_id"]
                report.purchases_of_shown_items += 1
            events.append(event)
        for start in range(0, len(events), EVENTS_PER_POST):
            status, answer = _call(storefront, "POST", "/api/v1/events", body={"events": events[start:start + EVENTS_PER_POST]})
            report.requests += 1
            if status not in (200, 207):
                report.errors.append(f"events for {session.customer_id[:16]}: {status} {answer.get('error', answer)}")
                continue
            report.purchases_posted += len(answer["results"])
            report.created += answer["created"]
            report.duplicates += answer["duplicates"]
            for result in answer["results"]:
                if result["status"] == "error":
                    report.errors.append(f"event {result['event_id']}: {result['error']}")
                outcome = result.get("attribution") or {}
                status_name = outcome.get("status")
                if status_name in ("attributed", "skipped", "pending"):
                    setattr(report, status_name, getattr(report, status_name) + 1)
        if progress:
            progress(1)
    report.seconds = time.monotonic() - started
    return report


def replay_storefront_key() -> tuple[str, Callable[[], None]]:
    """A temporary key with both scopes for the in-process storefront, and how to revoke it."""
    from recommender.models import ApiKey
    from recommender.serving.api_keys import api_key_create, api_key_revoke

    created = api_key_create(name="replay (temporary)", scopes=[ApiKey.Scope.READ, ApiKey.Scope.EVENTS])
    return created.secret, lambda: api_key_revoke(created.key)
