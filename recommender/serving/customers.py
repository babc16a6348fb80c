"""What serving knows about a customer at request time: tier and recent behaviour.

Read from the database (one indexed query; two for a customer without events), so an event
posted a moment ago changes the very next recommendation without retraining.

With a cache shared by every process (Redis), contexts are also kept there -- an online
feature store: the history query cost the database ~2 ms of CPU per home request at 100k
items, more than the rest of the request's database work. An entry is stamped with the
customer's generation and a global epoch, read together with it in one round trip; every
write that changes a context (events, customers, imports) bumps them after it commits, so a
request never uses a context older than the last committed change.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from recommender.ml.data import CHANNEL_CODES, EVENT_WEIGHTS
from recommender.models import Customer, Event

logger = logging.getLogger(__name__)
HISTORY_LIMIT = 50
_EPOCH_KEY = "jr:ctx:epoch"


@dataclass(frozen=True)
class HistoryEntry:
    item_pk: int
    external_id: str
    title: str
    product_type: str
    is_jewelry: bool
    event_type: str
    weight: float


@dataclass
class CustomerContext:
    external_id: str | None
    known: bool
    tier_rank: int = 0
    tier_code: str = "none"
    history: list[HistoryEntry] = field(default_factory=list)  # most recent first, one per item
    purchased_pks: set[int] = field(default_factory=set)
    # Share of the customer's recent events in the online channel (0 = store), None = no
    # channel known. A request's own ``channel`` overrides it (``with_channel``).
    online_share: float | None = None

    def with_channel(self, channel: str | None) -> "CustomerContext":
        """This context as seen from a request placed in ``channel`` ("online" or "store")."""
        if not channel:
            return self
        return CustomerContext(self.external_id, self.known, self.tier_rank, self.tier_code, self.history,
                               self.purchased_pks, 1.0 if channel == "online" else 0.0)

    @property
    def is_member(self) -> bool:
        return self.tier_rank > 0


_HISTORY_COLUMNS = ("item_id", "item__external_id", "item__title", "item__product_type", "item__is_jewelry",
                    "event_type", "customer__tier__rank", "customer__tier__code", "channel")


@functools.lru_cache(maxsize=8)
def _history_sql(vendor: str, limit: int) -> str:
    """The customer's recent events (with their items and tier) as SQL, compiled once.

    Django spends ~2 ms building this three-join query, three times what the database
    needs to run it; the text never changes, only the customer id bound to it does.
    ``vendor`` keys the cache because the SQL is backend specific."""
    query = (Event.objects.filter(customer__external_id="?").order_by("-timestamp", "-id")
             .values_list(*_HISTORY_COLUMNS)[:limit]).query
    sql, params = query.sql_with_params()
    if list(params) != ["?"]:  # the customer id must be the only parameter
        raise RuntimeError(f"unexpected parameters in the history query: {params!r}")
    return sql


def _recent_events(external_id: str, limit: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_history_sql(connection.vendor, limit), [external_id])
        return cursor.fetchall()


def _cache_seconds() -> int:
    return int(getattr(settings, "JEWELREC_CONTEXT_CACHE_SECONDS", 0))


def _keys(external_id: str) -> tuple[str, str]:
    digest = hashlib.sha1(external_id.encode()).hexdigest()  # any id, a short key
    return f"jr:ctx:gen:{digest}", f"jr:ctx:{digest}"


def customer_context(external_id: str | None, *, history_limit: int = HISTORY_LIMIT) -> CustomerContext:
    if not external_id:
        return CustomerContext(external_id=None, known=False)
    seconds = _cache_seconds()
    if seconds <= 0 or history_limit != HISTORY_LIMIT:
        return _context_from_db(external_id, history_limit)
    gen_key, ctx_key = _keys(external_id)
    found = _quietly(lambda: cache.get_many([_EPOCH_KEY, gen_key, ctx_key]))
    if found is None:  # the cache is an accelerator: without it, read the database
        return _context_from_db(external_id, history_limit)
    # Read before the database: a change committed after this point carries a newer stamp.
    stamp = (found.get(_EPOCH_KEY), found.get(gen_key))
    entry = found.get(ctx_key)
    if entry is not None and entry[0] == stamp:
        return entry[1]
    ctx = _context_from_db(external_id, history_limit)
    _quietly(lambda: cache.set(ctx_key, (stamp, ctx), seconds))
    return ctx


def _quietly(operation):
    """Run a cache operation; if the cache is down, log it and return None (entries that
    were not invalidated then age out within their timeout)."""
    try:
        return operation()
    except Exception as exc:  # noqa: BLE001 - the cache must never fail a request or a write
        logger.warning("customer context cache unavailable: %s", exc)
        return None


def customer_context_invalidate(external_ids: Iterable[str]) -> None:
    """These customers' events or tier changed: once the change commits, cached contexts
    stamped before it no longer match (a new generation), and are dropped."""
    ids = sorted(set(external_ids))
    if not ids or _cache_seconds() <= 0:
        return

    def bump() -> None:
        generation = uuid.uuid4().hex[:16]
        keys = [_keys(i) for i in ids]
        cache.set_many({gen: generation for gen, _ in keys}, timeout=None)
        cache.delete_many([ctx for _, ctx in keys])

    transaction.on_commit(lambda: _quietly(bump))


def customer_contexts_invalidate_all() -> None:
    """Bulk writes (imports): every cached context is stale once they commit."""
    if _cache_seconds() <= 0:
        return

    transaction.on_commit(lambda: _quietly(lambda: cache.set(_EPOCH_KEY, uuid.uuid4().hex[:16], timeout=None)))


def _context_from_db(external_id: str, history_limit: int) -> CustomerContext:
    # One query for the usual case, a customer with events: the events carry the customer's
    # tier along. Only a customer without events costs a second query (do they exist, tier?).
    rows = _recent_events(external_id, history_limit * 4)
    if rows:
        tier_rank, tier_code = rows[0][6], rows[0][7]
    else:
        customer = Customer.objects.select_related("tier").filter(external_id=external_id).first()
        if customer is None:
            return CustomerContext(external_id=external_id, known=False)
        tier_rank, tier_code = (customer.tier.rank, customer.tier.code) if customer.tier else (None, None)
    history: list[HistoryEntry] = []
    seen: dict[int, int] = {}
    purchased: set[int] = set()
    channels = [CHANNEL_CODES.get(row[8] or "", 0) for row in rows]
    known_channels = [c for c in channels if c]
    online = (sum(c == CHANNEL_CODES["online"] for c in known_channels) / len(known_channels)
              if known_channels else None)
    for item_pk, ext, title, ptype, is_jewelry, etype, _, _, _ in rows:
        if etype == Event.Type.PURCHASE:
            purchased.add(item_pk)
        weight = EVENT_WEIGHTS.get(etype, 0.25)
        if item_pk in seen:
            # One entry per item, carrying its strongest signal.
            idx = seen[item_pk]
            if weight > history[idx].weight:
                history[idx] = HistoryEntry(item_pk, ext, title, ptype, bool(is_jewelry), etype, weight)
            continue
        if len(history) < history_limit:
            seen[item_pk] = len(history)
            history.append(HistoryEntry(item_pk, ext, title, ptype, bool(is_jewelry), etype, weight))
    return CustomerContext(
        external_id=external_id,
        known=True,
        tier_rank=tier_rank or 0,
        tier_code=tier_code or "none",
        history=history,
        purchased_pks=purchased,
        online_share=online,
    )


def _on_customer_change(sender, instance: Customer, **kwargs) -> None:
    customer_context_invalidate([instance.external_id])  # a tier changed, a customer created or deleted


def _on_event_change(sender, instance: Event, **kwargs) -> None:
    # Single-row writes (admin, fixtures); ingestion and imports bulk-write and call the
    # invalidation themselves.
    if _cache_seconds() > 0:
        external_id = Customer.objects.filter(pk=instance.customer_id).values_list("external_id", flat=True).first()
        customer_context_invalidate([external_id] if external_id else [])


def context_signals_connect() -> None:
    """Called once from the app config: every process that writes rows invalidates."""
    from django.db.models.signals import post_delete, post_save

    for signal in (post_save, post_delete):
        signal.connect(_on_customer_change, sender=Customer, dispatch_uid=f"ctx-customer-{signal is post_save}")
        signal.connect(_on_event_change, sender=Event, dispatch_uid=f"ctx-event-{signal is post_save}")
