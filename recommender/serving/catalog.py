"""The serving catalog: every jewelry item as numpy arrays, loaded once per process.

Scenarios score and filter whole arrays instead of querying rows per request. The
snapshot is rebuilt when the catalog's fingerprint changes (checked at most every
``REFRESH_SECONDS``) and swapped in with one assignment, so a request always sees one
consistent snapshot.
"""
from __future__ import annotations

import gc
import hashlib
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta

import numpy as np
from django.db.models import Count, Max
from django.utils import timezone

from recommender.ml.common.mapped import array_digest
from recommender.ml.search.ann import AnnIndex, RowNeighbours
from recommender.models import Event, Item, ItemImage, ItemVector

from .housekeeping import Housekeeper, housekeeper
from .similarity_index import shared_array_as, similarity_index_load_or_build

REFRESH_SECONDS = 5.0
# Above this many items, per-request similarity runs on a 64-d projection of the item
# vectors: a 100k x 512 float32 matrix is 200 MB, too much memory traffic per request.
LARGE_CATALOG = 20_000
PROJECTED_DIM = 64
# Popularity moves with every event; refreshing it this often (not the items: see
# catalog_refresh_behaviour) keeps it fresh without work per event.
MAX_AGE_SECONDS = 300.0
# The items themselves are rebuilt at least this often, as a safety net for changes the
# fingerprint cannot see: a transaction that commits after a later one with an earlier
# ``updated_at`` (an import running while an item is edited) leaves max(updated_at) and the
# counts as they were; so would a write that bypasses ``updated_at`` (raw SQL).
FULL_REBUILD_SECONDS = 1800.0
# The longest pause between retries of a background rebuild that keeps failing.
MAX_RETRY_SECONDS = 300.0
NEW_ITEM_DAYS = 30

_TYPE_ALIASES = {"earrings": "earring"}


def canonical_type(product_type: str) -> str:
    """'Earrings' and 'Earring' are one type to a shopper; compare types through this."""
    value = (product_type or "").strip().lower()
    return _TYPE_ALIASES.get(value, value)

# Neighbours read per anchor from a large catalog's similarity index: the top of a home list
# blends similarity with popularity, and an item outside an anchor's 50 nearest scores too
# little similarity to reach it. At 100k items 8 anchors cost 0.9 ms searched (k=100: 1.6 ms;
# the former IVF 0.9 ms; an exact 64-d scan 6.5 ms; docs/benchmarks.md), and a dict lookup
# once an anchor has been searched in this snapshot (``RowNeighbours``).
SIMILARITY_NEIGHBOURS = 50
# Candidates a similar-items answer reads from the index before it ranks them by the full
# vectors (a scan of 100k x 512 floats per request was its whole cost), and how many product
# pages' candidate lists a snapshot keeps: at 1M items the search for 400 costs ~2.5 ms, a
# kept list a dict lookup; 5,000 lists of 400 rows are ~24 MB per process.
SIMILAR_CANDIDATES = 400
SIMILAR_CACHED_ANCHORS = 5_000


@dataclass
class ServingCatalog:
    fingerprint: tuple
    built_at: float
    item_pk: np.ndarray
    external_ids: list[str]
    titles: list[str]
    product_types: list[str]  # as stored, for display
    types: np.ndarray  # canonical lower-case type per row (object array)
    colours: np.ndarray  # lower-case colour name
    materials: np.ndarray
    tags: list[frozenset[str]]
    descriptions: list[str]
    price: np.ndarray  # float, NaN when unknown
    currency: list[str]
    tier_rank: np.ndarray  # 0 = open to everyone, else minimum membership rank
    tier_code: list[str]
    is_active: np.ndarray
    in_stock: np.ndarray
    is_new: np.ndarray  # created_recent, or nobody bought it yet
    created_recent: np.ndarray  # added within NEW_ITEM_DAYS of the newest item
    popularity: np.ndarray  # purchases in the last 30 days of data, recency weighted
    buyers: np.ndarray  # distinct purchase counts (all time)
    image_urls: list[str]
    vectors: np.ndarray  # (n, d) L2-normalised fused item vectors, zeros where missing
    has_vector: np.ndarray
    vector_version: str
    # L2-normalised vectors used for per-request similarity: the full vectors for a normal
    # catalog, a 64-d PCA projection for a large one (see LARGE_CATALOG).
    fast_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    # For a large catalog, a nearest-neighbour index over ``fast_vectors`` (faiss HNSW, loaded
    # from its file when another process built it): per-request similarity then compares only
    # the items nearest the customer's, instead of every row.
    similarity_index: AnnIndex | None = None
    # The index's answer per anchor row, kept for this snapshot's life (anchors repeat): the
    # shopper's items (home) and the product a similar-items request is for.
    anchor_neighbours: RowNeighbours | None = None
    similar_neighbours: RowNeighbours | None = None
    # log-popularity scaled to [0, 1], computed once per snapshot instead of per request.
    popularity_score: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    # Rows by popularity_score, highest first, and how many rows hold the lowest score: a
    # large catalogue's request walks the head of this order instead of scoring every row
    # (``rankers.SparseScores``).
    popularity_order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    popularity_min_count: int = 0
    type_names: frozenset[str] = frozenset()  # the canonical types present, to validate filters
    # Per item, the non-jewelry product types its buyers bought most (for reasons).
    co_buy_types: list[tuple[str, ...]] = field(default_factory=list)
    items_built_at: float = 0.0  # when the items were last read (built_at: any refresh)
    row_of: dict[str, int] = field(default_factory=dict)
    pk_row: dict[int, int] = field(default_factory=dict)
    # Per attribute ("type", "colour", "material"): each row's value as a small integer, and
    # the integer of each value. A mask is then one integer comparison (0.1 ms at 1M rows),
    # not a comparison of Python strings (~50 ms at 1M rows, paid again in every worker).
    attribute_codes: dict[str, tuple[np.ndarray, dict[str, int]]] = field(default_factory=dict, repr=False)
    # Boolean row masks by (attribute, value), computed on first use and cached. The snapshot
    # never changes, so the masks never go stale.
    _masks: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.external_ids)

    def mask(self, attribute: str, value: str) -> np.ndarray:
        """Rows whose ``attribute`` ("type", "colour", "material" or "tag") equals ``value``
        (already canonical / lower-case). Read-only: combine with ``&``, never in place."""
        key = (attribute, value)
        found = self._masks.get(key)
        if found is None:
            coded = self.attribute_codes.get(attribute)
            if coded is not None:
                codes, code_of = coded
                code = code_of.get(value)
                found = codes == code if code is not None else np.zeros(len(self), dtype=bool)
            elif attribute == "type":
                found = self.types == value
            elif attribute == "colour":
                found = self.colours == value
            elif attribute == "material":
                found = self.materials == value
            elif attribute == "tag":
                found = np.fromiter((value in tags for tags in self.tags), dtype=bool, count=len(self))
            else:
                raise ValueError(f"unknown attribute {attribute!r}")
            found = np.asarray(found, dtype=bool)
            found.flags.writeable = False
            if len(self._masks) < 4096:  # bounded: values come from rules and requests
                self._masks[key] = found
        return found

    def showable(self, tier_rank: int, in_stock_only: bool) -> np.ndarray:
        """Active rows open to a shopper of ``tier_rank`` (and in stock when asked): the part of
        eligibility that depends on the tier alone, cached like a mask (read-only). Three
        passes over every row were 0.4 ms a request at 1M items; a copy of this is 0.05 ms."""
        key = ("showable", f"{tier_rank}:{int(in_stock_only)}")
        found = self._masks.get(key)
        if found is None:
            found = self.is_active & (self.tier_rank <= tier_rank)
            if in_stock_only:
                found &= self.in_stock
            found.flags.writeable = False
            if len(self._masks) < 4096:
                self._masks[key] = found
        return found

    def rows_for(self, external_ids) -> list[int]:
        return [self.row_of[i] for i in external_ids if i in self.row_of]


def catalog_fingerprint() -> tuple:
    """Changes whenever an item, a vector or a photo is added, changed or deleted.

    Every serving process runs this every ``REFRESH_SECONDS``, so it reads whole tables
    without joins (a join to filter jewelry tripled its cost at 100k items): a change to a
    non-jewelry row only costs one needless rebuild. ``count(*)`` with ``max(updated_at)``
    is answered from the ``updated_at`` index alone on PostgreSQL (34 -> 6 ms for 100k items).
    """
    items = Item.objects.aggregate(n=Count("*"), changed=Max("updated_at"))
    vec = ItemVector.objects.aggregate(n=Count("*"), changed=Max("updated_at"))
    photos = ItemImage.objects.aggregate(n=Count("id"), last=Max("id"))
    return (items["n"], items["changed"], vec["n"], vec["changed"], photos["n"], photos["last"])


def _popularity(item_pks: np.ndarray, pos: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Recency-weighted purchase counts: the newest day of data weighs 1, a week back 0.5.
    ``pos`` is the snapshot's pk -> row (building one per refresh held the GIL for ~0.3 s at
    1M items, stalling the worker's requests)."""
    last = Event.objects.filter(event_type=Event.Type.PURCHASE).aggregate(last=Max("timestamp"))["last"]
    pop = np.zeros(len(item_pks), dtype=np.float32)
    buyers = np.zeros(len(item_pks), dtype=np.float32)
    if last is None:
        return pop, buyers
    rows = (
        Event.objects.filter(item__is_jewelry=True, event_type=Event.Type.PURCHASE)
        .values_list("item_id", "timestamp")
    )
    half_life = timedelta(days=7).total_seconds()
    for item_id, ts in rows.iterator(chunk_size=5000):
        i = pos.get(item_id)
        if i is None:
            continue
        age = (last - ts).total_seconds()
        pop[i] += 0.5 ** (age / half_life)
        buyers[i] += 1
    return pop, buyers


def catalog_build() -> ServingCatalog:
    fingerprint = catalog_fingerprint()
    # Plain rows, one column per field: model instances for 100k items cost ~3 s of the
    # build, with the GIL held (the worker's request threads wait).
    rows = list(
        Item.objects.filter(is_jewelry=True).order_by("id").values_list(
            "id", "external_id", "title", "product_type", "colour", "material", "style_tags", "description",
            "price", "currency", "is_active", "in_stock", "created_at", "exclusive_tier__rank", "exclusive_tier__code",
        )
    )
    (pks, external_ids, titles, product_types, colours, materials, style_tags, descriptions, prices, currency,
     is_active, in_stock, created_at, tier_ranks, tier_codes) = (list(col) for col in zip(*rows)) if rows else ([] for _ in range(15))
    item_pk = np.array(pks, dtype=np.int64)
    first_photo: dict[int, str] = {}
    for item_id, name in (
        ItemImage.objects.filter(item__is_jewelry=True).order_by("item_id", "position", "id").values_list("item_id", "image")
    ):
        first_photo.setdefault(item_id, name)
    from django.core.files.storage import default_storage

    newest = max(created_at, default=timezone.now())
    new_cutoff = newest - timedelta(days=NEW_ITEM_DAYS)
    recent = np.array([c >= new_cutoff for c in created_at], dtype=bool)
    pk_row = {int(pk): i for i, pk in enumerate(item_pk)}
    pop, buyers = _popularity(item_pk, pk_row)
    vectors, has_vector, version = _load_vectors(item_pk, pk_row)
    catalog = ServingCatalog(
        fingerprint=fingerprint,
        built_at=time.monotonic(),
        item_pk=item_pk,
        external_ids=external_ids,
        titles=titles,
        product_types=_deduplicated(product_types),
        types=np.array(_deduplicated(canonical_type(t) for t in product_types), dtype=object),
        colours=np.array(_deduplicated((c or "").lower() for c in colours), dtype=object),
        materials=np.array(_deduplicated((m or "").lower() for m in materials), dtype=object),
        tags=_deduplicated(frozenset(str(t).lower() for t in (tags or [])) for tags in style_tags),
        descriptions=descriptions,
        price=np.array([float(p) if p is not None else np.nan for p in prices], dtype=np.float64),
        currency=_deduplicated(currency),
        tier_rank=np.array([r or 0 for r in tier_ranks], dtype=np.int16),
        tier_code=_deduplicated(c or "" for c in tier_codes),
        is_active=np.array(is_active, dtype=bool),
        in_stock=np.array(in_stock, dtype=bool),
        # Recently added items, or ones nobody bought yet, fill the feed's exploration slots.
        is_new=recent | (buyers == 0),
        created_recent=recent,
        popularity=pop,
        buyers=buyers,
        image_urls=[default_storage.url(first_photo[pk]) if pk in first_photo else "" for pk in pks],
        vectors=vectors,
        has_vector=has_vector,
        vector_version=version,
    )
    catalog.items_built_at = catalog.built_at
    if len(item_pk) > LARGE_CATALOG and has_vector.any():
        # Mapped from files every process shares (2.3 GB at 1M items), not held per worker; the
        # projection is computed once, by the first process, and read by every other.
        key = array_digest(vectors)
        catalog.vectors = shared_array_as(key, lambda: vectors)
        catalog.fast_vectors = shared_array_as(_projection_key(key, has_vector),
                                               lambda: _fast_vectors(vectors, has_vector))
        catalog.similarity_index = similarity_index_load_or_build(catalog.fast_vectors, np.flatnonzero(has_vector))
        catalog.anchor_neighbours = RowNeighbours(catalog.similarity_index, catalog.fast_vectors,
                                                  SIMILARITY_NEIGHBOURS)
        catalog.similar_neighbours = RowNeighbours(catalog.similarity_index, catalog.fast_vectors,
                                                   SIMILAR_CANDIDATES, capacity=SIMILAR_CACHED_ANCHORS)
    else:
        catalog.fast_vectors = _fast_vectors(vectors, has_vector)
    catalog.popularity_score, catalog.popularity_order, catalog.popularity_min_count = _popularity_ranking(pop)
    catalog.attribute_codes = {name: _coded(values) for name, values in
                               (("type", catalog.types), ("colour", catalog.colours), ("material", catalog.materials))}
    catalog.type_names = frozenset(catalog.types.tolist())
    catalog.co_buy_types = _co_buy_types(item_pk, pk_row)
    catalog.row_of = {eid: i for i, eid in enumerate(catalog.external_ids)}
    catalog.pk_row = pk_row
    return catalog


def catalog_refresh_behaviour(catalog: ServingCatalog) -> ServingCatalog:
    """The same snapshot with fresh purchase statistics (popularity, buyers, what is new,
    what else buyers bought): what moves with every purchase while the items stay the same.
    A full build at 100k items holds the worker's GIL for ~8 s (its request threads stall);
    this reads only the purchases. Everything else, cached masks included, is shared."""
    pop, buyers = _popularity(catalog.item_pk, catalog.pk_row)
    score, order, min_count = _popularity_ranking(pop)
    return replace(
        catalog,
        built_at=time.monotonic(),
        popularity=pop,
        buyers=buyers,
        is_new=catalog.created_recent | (buyers == 0),
        popularity_score=score,
        popularity_order=order,
        popularity_min_count=min_count,
        co_buy_types=_co_buy_types(catalog.item_pk, catalog.pk_row),
    )


def _deduplicated(values) -> list:
    """The values as a list in which equal values are one object: a type, colour, currency or
    tag set repeats across most of a catalogue, and one string object per row costs ~50 bytes
    each (hundreds of MB at 1M items)."""
    seen: dict = {}
    return [seen.setdefault(v, v) for v in values]


def _popularity_ranking(pop: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(score in [0, 1], rows by score highest first, rows at the lowest score)."""
    score = _scaled(np.log1p(pop))
    if not len(score):
        return score, np.zeros(0, np.int32), 0
    # The same order as a stable argsort of -score, sorting only the rows above the lowest
    # score (the few bought items): sorting every row held the GIL ~0.1 s at 1M items.
    lowest = score == score.min()
    above = np.flatnonzero(~lowest)
    order = np.concatenate([above[np.argsort(-score[above], kind="stable")], np.flatnonzero(lowest)])
    return score, order.astype(np.int32), int(np.count_nonzero(lowest))


def _coded(values: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """(each row's value as an integer, the integer of each value)."""
    code_of: dict[str, int] = {}
    codes = np.fromiter((code_of.setdefault(v, len(code_of)) for v in values), dtype=np.int32, count=len(values))
    return codes, code_of


def _scaled(values: np.ndarray) -> np.ndarray:
    span = float(values.max() - values.min()) if len(values) else 0.0
    return ((values - values.min()) / span).astype(np.float32) if span > 0 else np.zeros(len(values), np.float32)


def _projection_key(vectors_key: str, has: np.ndarray) -> str:
    """The key of ``_fast_vectors`` for the vectors saved under ``vectors_key``."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"projection|{vectors_key}|{PROJECTED_DIM}|".encode())
    h.update(np.packbits(has).tobytes())
    return h.hexdigest()


def _fast_vectors(vectors: np.ndarray, has: np.ndarray) -> np.ndarray:
    if len(vectors) <= LARGE_CATALOG or vectors.shape[1] <= PROJECTED_DIM or not has.any():
        return vectors
    rng = np.random.default_rng(0)
    sample = vectors[rng.choice(np.flatnonzero(has), size=min(10_000, int(has.sum())), replace=False)]
    # The top principal directions keep most of the cosine structure at an eighth of the size.
    _, _, vt = np.linalg.svd(sample - sample.mean(axis=0), full_matrices=False)
    projected = vectors @ vt[:PROJECTED_DIM].T.astype(np.float32)
    projected /= np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-8)
    projected[~has] = 0.0
    return np.ascontiguousarray(projected, dtype=np.float32)


def _co_buy_types(item_pks: np.ndarray, pos: dict[int, int], top: int = 3) -> list[tuple[str, ...]]:
    """For each jewelry item, the top non-jewelry product types bought by its buyers
    (``pos``: the snapshot's pk -> row)."""
    from collections import Counter, defaultdict

    buyers_of: dict[int, set[int]] = defaultdict(set)
    for item_id, customer_id in Event.objects.filter(
        item__is_jewelry=True, event_type=Event.Type.PURCHASE
    ).values_list("item_id", "customer_id").iterator(chunk_size=5000):
        if item_id in pos:
            buyers_of[customer_id].add(pos[item_id])
    counts: dict[int, Counter] = defaultdict(Counter)  # rows with buyers only (few of 100k)
    if buyers_of:
        customer_ids = list(buyers_of)
        for start in range(0, len(customer_ids), 900):
            chunk = customer_ids[start:start + 900]
            for customer_id, ptype in Event.objects.filter(
                customer_id__in=chunk, item__is_jewelry=False, event_type=Event.Type.PURCHASE
            ).values_list("customer_id", "item__product_type"):
                for row in buyers_of[customer_id]:
                    counts[row][ptype] += 1
    # One shared empty tuple for the rows nobody bought (most of a large catalogue).
    types: list[tuple[str, ...]] = [()] * len(item_pks)
    for row, counter in counts.items():
        types[row] = tuple(t for t, _ in counter.most_common(top))
    return types


def _load_vectors(item_pk: np.ndarray, pos: dict[int, int]) -> tuple[np.ndarray, np.ndarray, str]:
    rows = list(
        ItemVector.objects.filter(item__is_jewelry=True, vector__isnull=False)
        .exclude(dim=0)
        .values_list("item_id", "vector", "dim", "fusion_version")
    )
    dim = max((r[2] for r in rows), default=0)
    if dim == 0:
        return np.zeros((len(item_pk), 0), dtype=np.float32), np.zeros(len(item_pk), dtype=bool), ""
    vectors = np.zeros((len(item_pk), dim), dtype=np.float32)
    has = np.zeros(len(item_pk), dtype=bool)
    versions: dict[str, int] = {}
    at: list[int] = []
    blobs: list[bytes] = []
    for item_id, blob, d, version in rows:
        i = pos.get(item_id)
        if i is None or d != dim or len(blob) != 4 * dim:  # another dimension, or a damaged row
            continue
        at.append(i)
        blobs.append(blob)
        versions[version] = versions.get(version, 0) + 1
    if at:  # one copy of all the blobs, not a numpy assignment per row (100k of them)
        vectors[at] = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(at), dim)
        has[at] = True
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors /= np.maximum(norms, 1e-8)
    version = max(versions, key=versions.get) if versions else ""
    return vectors, has, version


def _settle_memory(replaced: bool, large: bool) -> None:
    """After a snapshot is built: return the previous one's memory, and keep a large one out
    of the cyclic garbage collector's way.

    A refresh briefly holds two snapshots (hundreds of MB at 100k items); glibc keeps freed
    pages unless asked (without malloc_trim each worker's RSS stepped up 2-3% at every
    5-minute refresh in the soak test). A serving process at 100k items holds ~400k
    long-lived Python objects (ids, titles, tag sets): every full collection walked all of
    them, 190 ms with the GIL held, stalling every thread of the worker -- the 200-400 ms tail
    of the API under load. ``gc.freeze`` exempts what is alive now; the frozen snapshot is
    still freed by reference counting once a newer one replaces it (it holds no cycles).
    """
    if not (replaced or large):
        return
    gc.collect()  # the old snapshot goes, and nothing collectable is frozen
    # Give the freed pages back: the old snapshot's, or a large build's transient rows and blobs.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
    if large:
        gc.freeze()


class _CatalogHolder:
    """Process-wide holder; the lock only serialises checks and rebuilds, readers never wait
    on it once a snapshot exists.

    While the process's housekeeping thread runs (``housekeeping.py``) it checks the
    fingerprint every ``REFRESH_SECONDS`` and rebuilds when it changed, so no storefront
    request pays for the check (40-80 ms at 100k items, more under load: the request that
    ran it was the API's 99th percentile). Otherwise the request that finds the snapshot due
    checks it itself while the others keep serving what they have.
    """

    def __init__(self, keeper: Housekeeper = housekeeper) -> None:
        self._catalog: ServingCatalog | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._failures = 0  # background rebuilds failed in a row
        self._retry_at = 0.0  # no background rebuild before this (monotonic) time
        self._keeper = keeper
        keeper.register(f"catalog-{id(self)}", self._refresh_in_background, lambda: REFRESH_SECONDS)

    def get(self) -> ServingCatalog:
        catalog = self._catalog
        if catalog is not None and self._keeper.running():
            return catalog
        if catalog is not None and time.monotonic() - self._checked_at < REFRESH_SECONDS:
            return catalog
        # Only without any snapshot yet does a reader wait for the lock.
        if not self._lock.acquire(blocking=catalog is None):
            return catalog
        try:
            if self._catalog is None or time.monotonic() - self._checked_at >= REFRESH_SECONDS:
                self._refresh_locked()
            return self._catalog
        finally:
            self._lock.release()

    def _refresh_locked(self) -> None:
        """Check the fingerprint and rebuild if needed (the caller holds the lock)."""
        catalog, now = self._catalog, time.monotonic()
        if (catalog is None or now - catalog.items_built_at > FULL_REBUILD_SECONDS
                or catalog_fingerprint() != catalog.fingerprint):
            self._catalog = catalog_build()
            _settle_memory(catalog is not None, large=len(self._catalog) > LARGE_CATALOG)
        elif now - catalog.built_at > MAX_AGE_SECONDS:
            self._catalog = catalog_refresh_behaviour(catalog)
            if len(self._catalog) > LARGE_CATALOG:
                gc.freeze()  # its new per-item lists too stay out of full collections (_settle_memory)
        self._checked_at = time.monotonic()

    def _refresh_in_background(self) -> None:
        """A rebuild that fails (a refused index file, the database down) is retried after a
        doubling pause, up to ``MAX_RETRY_SECONDS``, not every ``REFRESH_SECONDS``: a failing
        build at 100k items still holds the GIL for seconds, stalling the worker's requests."""
        if time.monotonic() < self._retry_at:
            return
        with self._lock:
            if self._catalog is not None:  # after an invalidation the next reader builds
                try:
                    self._refresh_locked()
                except Exception:
                    self._failures += 1
                    self._retry_at = time.monotonic() + min(MAX_RETRY_SECONDS, REFRESH_SECONDS * 2 ** self._failures)
                    raise
                self._failures = 0

    def invalidate(self) -> None:
        with self._lock:
            self._checked_at = 0.0
            self._catalog = None
            self._failures, self._retry_at = 0, 0.0


_holder = _CatalogHolder()


def serving_catalog() -> ServingCatalog:
    return _holder.get()


def serving_catalog_invalidate() -> None:
    """Tests and writers in this process call this to see their change at once."""
    _holder.invalidate()
