"""Text search, visual search and the shopping assistant over the serving catalog.

Text search reads the query with the search vocabulary (types, colours, materials,
stones, styles, shapes, occasions, negation, price bounds; English, Chinese or both),
filters on what it understood, and ranks what matches by reciprocal rank fusion of BM25
over names and descriptions and the multilingual sentence vectors (Chinese queries find
items described in English). Visual search compares the photo's jewelry-adapted
image features with the catalog photos'. The assistant answers from catalog fields
only: retrieval and templates, no generated facts.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
import numpy as np
from django.conf import settings

from recommender.artifacts import image_adapter_root
from recommender.embeddings import encoders
from recommender.embeddings.services import text_digest, item_text
from recommender.ml.common.artifacts import pointer_read
from recommender.ml.search.fusion import reciprocal_rank_fusion
from recommender.ml.search.lexical import BM25Index, tokenize
from recommender.ml.search.query import ParsedQuery, parse_query
from recommender.ml.search.vocabulary import Vocabulary
from recommender.models import EncoderOutput, Item, ItemImage

from .catalog import ServingCatalog, canonical_type, serving_catalog
from .customers import customer_context
from .errors import DomainError, NotFoundError, PayloadTooLargeError
from .results import RecommendationResult
from .scenarios import Request, _finish, _ranker, check_k, eligibility
from .vocabulary import search_vocabulary

_lock = threading.Lock()
_cache: dict[str, tuple[tuple, object]] = {}


def _cached(name: str, key: tuple, build):
    with _lock:
        hit = _cache.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
    value = build()
    with _lock:
        _cache[name] = (key, value)
    return value


# --- indexes over the catalog -------------------------------------------------------------------


@dataclass(frozen=True)
class TextVectors:
    """Search-encoder vectors of the items whose current text is encoded, and only of those: a
    dense (items x 512) matrix of zeros was 2 GB of resident memory at 1M items (calloc zeroes
    reused heap pages by writing them) before a single text was encoded."""

    rows: np.ndarray  # catalogue rows, ascending
    matrix: np.ndarray  # (len(rows), dim)
    has: np.ndarray  # per catalogue row: encoded (made once, not per query)

    def scores(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the query's cosine with each row, 0 where not encoded; which rows are encoded)."""
        scores = np.zeros(len(self.has), dtype=np.float32)
        if len(self.rows):
            scores[self.rows] = self.matrix @ query
        return scores, self.has


def _text_matrix(catalog: ServingCatalog) -> TextVectors:
    """Search-encoder vectors of each item's current text."""
    encoder = encoders.search_text_encoder()

    def build() -> TextVectors:
        # Streamed, and items read only when vectors are stored: a dict of every item's values
        # (1M items) left ~2 GB of freed-but-fragmented heap in every serving process.
        outputs = EncoderOutput.objects.filter(modality="text", encoder=encoder.version, item__is_jewelry=True)
        stored = set(outputs.values_list("item_id", flat=True).iterator(chunk_size=5000))
        found: dict[int, bytes] = {}
        if stored:
            fields = ("id", "title", "description", "product_type", "colour", "material", "appearance")
            current = {  # the digest of each stored item's text now: an older text's vector is stale
                row[0]: text_digest(item_text(dict(zip(fields, row))))
                for row in Item.objects.filter(is_jewelry=True).values_list(*fields).iterator(chunk_size=5000)
                if row[0] in stored
            }
            rows = outputs.values_list("item_id", "input_hash", "dim", "vector").iterator(chunk_size=2000)
            for item_id, digest, dim, blob in rows:
                row = catalog.pk_row.get(item_id)
                if row is not None and current.get(item_id) == digest and dim == encoder.dim:
                    found[row] = bytes(blob)
        order = sorted(found)
        matrix = (np.frombuffer(b"".join(found[r] for r in order), dtype="<f4").reshape(len(order), encoder.dim)
                  if order else np.zeros((0, encoder.dim), np.float32))
        rows = np.array(order, dtype=np.int64)
        has = np.zeros(len(catalog), dtype=bool)
        has[rows] = True
        return TextVectors(rows, matrix, has)

    return _cached("text", (catalog.fingerprint, encoder.version), build)


def _adapter():
    """The current jewelry image adapter, or None before one was trained."""
    info = pointer_read(image_adapter_root())
    if info is None:
        return None

    def build():
        from recommender.ml.encoders.image_adapter import ImageAdapter

        return ImageAdapter.load(image_adapter_root() / info["folder"])

    return _cached("adapter", (info["folder"],), build)


def _image_matrix(catalog: ServingCatalog, adapter) -> tuple[np.ndarray, np.ndarray]:
    """Per item, its photos' mean image feature, adapted to jewelry when an adapter exists."""
    image_version = encoders.image_encoder().version

    def build():
        photos: dict[int, set[str]] = {}
        for item_id, h in ItemImage.objects.filter(item__is_jewelry=True).values_list("item_id", "content_hash"):
            photos.setdefault(item_id, set()).add(h)
        sums: dict[int, list] = {}
        rows = EncoderOutput.objects.filter(modality="image", encoder=image_version, item__is_jewelry=True)
        for item_id, h, dim, blob in rows.values_list("item_id", "input_hash", "dim", "vector").iterator(chunk_size=500):
            if h in photos.get(item_id, ()):
                sums.setdefault(item_id, []).append(np.frombuffer(bytes(blob), dtype="<f4", count=dim))
        dim = adapter.out_dim if adapter else encoders.image_encoder().dim
        matrix = np.zeros((len(catalog), dim), dtype=np.float32)
        has = np.zeros(len(catalog), dtype=bool)
        pks = [pk for pk in sums if pk in catalog.pk_row]
        if pks:
            raw = np.stack([np.mean(sums[pk], axis=0) for pk in pks]).astype(np.float32)
            feats = adapter.transform(raw) if adapter else raw
            feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-8)
            rows_idx = [catalog.pk_row[pk] for pk in pks]
            matrix[rows_idx] = feats
            has[rows_idx] = True
        return matrix, has

    return _cached("image", (catalog.fingerprint, image_version, adapter.version if adapter else ""), build)


# --- text search --------------------------------------------------------------------------------

# Relevance within the matches: how many of the query's constraints an item meets counts
# first (one point each), the fused lexical + vector rank second (at most 1); a customer's
# history then moves items by at most PERSONAL_WEIGHT, so it reorders items that match
# equally well and never lifts one that matches less above one that matches more.
PERSONAL_WEIGHT = 0.5
# When the vocabulary understood the whole query, the catalogue's own words (BM25) say more
# than the sentence vectors of those words; free text the vocabulary does not know is the
# vectors' job, and then both count the same.
UNDERSTOOD_VECTOR_WEIGHT = 0.5
POPULARITY_TIE_BREAK = 1e-3
# With free text left over, the "matches" personalisation may reorder are the best ones.
PERSONAL_POOL = 100
_query_vectors: "OrderedDict[tuple[str, str], np.ndarray]" = OrderedDict()
_QUERY_VECTOR_CACHE = 2048


@dataclass
class SearchIndex:
    """Per catalog snapshot and vocabulary: BM25 over names + descriptions, and which
    vocabulary terms each item's text uses."""

    bm25: BM25Index
    terms: dict[str, np.ndarray]


def _search_index(catalog: ServingCatalog, vocab: Vocabulary) -> SearchIndex:
    """BM25 follows the catalogue only; the term masks follow the vocabulary too, so a new
    synonym rebuilds the masks (about a second at 100k items) and not the BM25 index."""
    def texts() -> list[str]:
        return [f"{t} {d or ''}" for t, d in zip(catalog.titles, catalog.descriptions)]

    bm25 = _cached("bm25", (catalog.fingerprint,), lambda: BM25Index(texts()))
    terms = _cached("terms", (catalog.fingerprint, vocab.version), lambda: vocab.item_terms(texts()))
    return SearchIndex(bm25=bm25, terms=terms)


def _text_vector(text: str) -> np.ndarray:
    """The search encoder's vector of a free text, from a bounded per-process cache."""
    encoder = encoders.search_text_encoder()
    key = (encoder.version, text)
    with _lock:
        hit = _query_vectors.get(key)
        if hit is not None:
            _query_vectors.move_to_end(key)
            return hit
    vec = encoder.encode([text])[0]
    with _lock:
        _query_vectors[key] = vec
        while len(_query_vectors) > _QUERY_VECTOR_CACHE:
            _query_vectors.popitem(last=False)
    return vec


def _concept_vectors(vocab: Vocabulary) -> dict[str, np.ndarray]:
    """One search-encoder vector per vocabulary term, encoded once per vocabulary version."""
    encoder = encoders.search_text_encoder()

    def build():
        concepts = list(vocab.terms)
        return dict(zip(concepts, encoder.encode(concepts))) if concepts else {}

    return _cached("concepts", (vocab.version, encoder.version), build)


def _query_vector(parsed: ParsedQuery, vocab: Vocabulary) -> np.ndarray | None:
    """The vector side of the query: the sum of the understood terms' vectors plus the
    encoded free text, normalised. Encoding a new sentence costs 10-100 ms on a busy
    2-core machine, the whole budget of a search; the terms' vectors are made once, so a
    query the vocabulary understands entirely needs no encoder call. Negated terms are left
    out (an encoder puts "not gold" next to "gold"). None when nothing is wanted."""
    concepts = _concept_vectors(vocab)
    parts = [concepts[c] for c in [*parsed.colours, *parsed.terms, *parsed.types] if c in concepts]
    if parsed.remaining_text:
        parts.append(_text_vector(parsed.remaining_text))
    if not parts:
        return None
    vec = np.sum(parts, axis=0)
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else None


@dataclass
class _Masks:
    type: np.ndarray
    colour: np.ndarray
    colour_group: np.ndarray  # the colour by colour group alone: ranks above a material's mention
    price: np.ndarray
    excluded: np.ndarray  # False where an excluded type, colour or term is present
    required: list[np.ndarray]  # one per filtering term the query names
    soft: list[np.ndarray]  # one per boosting-only term


def _colour_mask(catalog: ServingCatalog, vocab: Vocabulary, colours: list[str], *,
                 by_material: bool = True) -> np.ndarray:
    """Items of these colours by colour group, and (``by_material``) items whose material
    names the colour ("gold-plated", "sterling silver")."""
    groups = vocab.colour_groups()
    mask = np.zeros(len(catalog), dtype=bool)
    for colour in colours:
        for group in groups.get(colour, []):
            mask |= catalog.mask("colour", group.lower())
        if by_material:
            mask |= _cached(f"material-colour:{colour}", (catalog.fingerprint,), lambda: np.fromiter(
                (colour in m for m in catalog.materials), dtype=bool, count=len(catalog)))
    return mask


def _constraint_masks(catalog: ServingCatalog, vocab: Vocabulary, index: SearchIndex, parsed: ParsedQuery) -> _Masks:
    n = len(catalog)
    ones = np.ones(n, dtype=bool)
    type_mask = ones.copy()
    if parsed.types:
        type_mask = np.zeros(n, dtype=bool)
        for t in parsed.types:
            type_mask |= catalog.mask("type", t)
    colour_mask = _colour_mask(catalog, vocab, parsed.colours) if parsed.colours else ones.copy()
    colour_group = _colour_mask(catalog, vocab, parsed.colours, by_material=False) if parsed.colours else ones.copy()
    price_mask = ones.copy()
    with np.errstate(invalid="ignore"):
        if parsed.price_min is not None:
            price_mask &= catalog.price >= parsed.price_min
        if parsed.price_max is not None:
            price_mask &= catalog.price <= parsed.price_max
    excluded = ones.copy()
    for t in parsed.excluded_types:
        excluded &= ~catalog.mask("type", t)
    if parsed.excluded_colours:
        excluded &= ~_colour_mask(catalog, vocab, parsed.excluded_colours)
    for concept in parsed.excluded_terms:
        if concept in index.terms:
            excluded &= ~index.terms[concept]
    required, soft = [], []
    for concept in parsed.terms:
        term, has = vocab.term(concept), index.terms.get(concept)
        if term is None or has is None:
            continue
        (required if term.filter else soft).append(has)
    return _Masks(type_mask, colour_mask, colour_group, price_mask, excluded, required, soft)


# A term's other catalogue words count half as much as the words the shopper used: "sparkly"
# ranks items that say sparkly above those that only say rhinestone.
EXPANSION_WEIGHT = 0.5


def _lexical_scores(bm25: BM25Index, parsed: ParsedQuery, vocab: Vocabulary) -> np.ndarray:
    """BM25 of the query in the catalogue's words. Each wanted term is one BM25 term made of
    its name and its one-word catalogue stems ("耳钉" searches "stud"), a word the shopper
    did not use counting EXPANSION_WEIGHT; as one term, "plastic and resin" is not twice as
    plastic as "plastic", and rare "acetate" does not outweigh common "plastic". The free
    text's own words add to it."""
    own = set(tokenize(parsed.text))
    total = np.zeros(len(bm25), dtype=np.float32)
    for concept in [*parsed.colours, *parsed.terms, *parsed.types]:
        term = vocab.term(concept)
        words = {concept: 1.0}
        for phrase in (term.catalog if term else ()):
            tokens = tokenize(phrase)
            if len(tokens) == 1 and not phrase.startswith("-"):
                words.setdefault(tokens[0], 1.0 if tokens[0] in own else EXPANSION_WEIGHT)
        if " " in concept:  # a two-word name ("rose gold") is two words to BM25
            words.pop(concept)
            words.update({tok: 1.0 for tok in tokenize(concept)})
        total += bm25.synonym_scores(words)
    if parsed.remaining_text:
        total += bm25.scores(parsed.remaining_text)
    return total


def _parsed_dict(parsed: ParsedQuery, **extra) -> dict:
    data = asdict(parsed)
    data.pop("text", None)
    return {**data, **extra}


def search_warm() -> None:
    """Build what text search reads before a worker takes traffic: the search encoder, the
    items' text vectors, the BM25 index and term masks, and the vocabulary's term vectors."""
    vocab = search_vocabulary()
    catalog = serving_catalog()
    _text_matrix(catalog)
    _search_index(catalog, vocab)
    _concept_vectors(vocab)


def search_text(query: str, req: Request, *, price_min: float | None = None,
                price_max: float | None = None) -> RecommendationResult:
    """Hybrid search: parsed constraints filter, BM25 and the multilingual vectors rank
    (fused by reciprocal rank), personalisation reorders within the matches.

    Explicit ``price_min`` / ``price_max`` (already validated) win over bounds in the text; a
    lower bound above the upper one is read as the range between them.
    A constraint that would leave nothing is relaxed to a boost and named in
    ``parsed.relaxed`` (colour, then the style/material terms); exclusions and type and
    price never are. A query with nothing to search on (stop words, emoji) answers the
    popular items with ``parsed.fallback == "popular"``."""
    k = check_k(req.k)
    query = (query or "").strip()
    if not query:
        raise DomainError("query must not be empty.", field="query", code="required")
    vocab = search_vocabulary()
    parsed = parse_query(query, vocab)
    if price_min is not None:
        parsed.price_min = price_min
    if price_max is not None:
        parsed.price_max = price_max
    if parsed.price_min is not None and parsed.price_max is not None and parsed.price_min > parsed.price_max:
        # Read as the range between them, as "between 30 and 10" in the text is.
        parsed.price_min, parsed.price_max = parsed.price_max, parsed.price_min
    catalog = serving_catalog()
    ctx = customer_context(req.customer_id)
    eligible = eligibility(catalog, ctx, product_type=req.product_type, exclude_purchased=False)
    version = encoders.search_text_encoder().version
    if parsed.is_empty:
        return _finish("search", catalog, ctx, catalog.popularity_score.astype(np.float64), eligible, k,
                       ranker_version=version, personalised=False,
                       extras={"parsed": _parsed_dict(parsed, relaxed=[], fallback="popular"), "query": query})
    index = _search_index(catalog, vocab)
    masks = _constraint_masks(catalog, vocab, index, parsed)
    relaxed: list[str] = []
    filtered = eligible & masks.type & masks.price & masks.excluded
    if parsed.colours:
        if (filtered & masks.colour).any():
            filtered &= masks.colour
        else:
            relaxed.append("colour")
    if masks.required:
        some = np.logical_or.reduce(masks.required)
        every = some if parsed.any_terms else np.logical_and.reduce(masks.required)
        if (filtered & every).any():
            filtered &= every
        elif (filtered & some).any():
            filtered &= some
            relaxed.append("terms")
        else:
            relaxed.append("terms")
    rows = np.flatnonzero(filtered)
    lexical = _lexical_scores(index.bm25, parsed, vocab)
    rankings, weights = [(lexical, lexical > 0)], [1.0]
    qvec = _query_vector(parsed, vocab)
    if qvec is not None:
        rankings.append(_text_matrix(catalog).scores(qvec))
        weights.append(1.0 if parsed.remaining_text else UNDERSTOOD_VECTOR_WEIGHT)
    fused = reciprocal_rank_fusion(rankings, rows, weights=weights)
    top = fused.max() if len(fused) else 0.0
    colour_met = np.where(masks.colour_group[rows], 1.0, np.where(masks.colour[rows], 0.5, 0.0))
    met = (masks.type[rows].astype(np.float64) * bool(parsed.types) + colour_met * bool(parsed.colours)
           + sum(m[rows] for m in masks.required + masks.soft))
    # Popularity only breaks ties: "without rhinestones" ranks nothing by text, so the
    # items that pass its filter come best sellers first instead of in table order.
    relevance = met + (fused / top if top > 0 else 0.0) + POPULARITY_TIE_BREAK * catalog.popularity_score[rows]
    scores = np.full(len(catalog), -np.inf)
    scores[rows] = relevance
    personalised = False
    if ctx.history and len(rows):
        pool = rows
        if parsed.remaining_text and len(rows) > PERSONAL_POOL:
            pool = rows[np.argsort(-relevance, kind="stable")[:PERSONAL_POOL]]
            filtered = np.zeros_like(filtered)
            filtered[pool] = True
        model_scores = _ranker(req, "search")[0].score(catalog, ctx, cart_rows=[], scenario="search")
        values = model_scores[pool].astype(np.float64)
        finite = np.isfinite(values)  # a two-stage ranker scores only what it retrieved
        values = np.where(finite, values, values[finite].min() if finite.any() else 0.0)
        span = float(values.max() - values.min())
        if span > 0:
            scores[pool] += PERSONAL_WEIGHT * (values - values.min()) / span
            personalised = True
    return _finish("search", catalog, ctx, scores, filtered, k, ranker_version=version,
                   personalised=personalised, reason_context={"parsed": parsed},
                   extras={"parsed": _parsed_dict(parsed, relaxed=relaxed), "query": query})


# --- visual search -------------------------------------------------------------------------------


def search_image(upload, req: Request) -> RecommendationResult:

    k = check_k(req.k)
    data = upload.read(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) if hasattr(upload, "read") else bytes(upload)
    if len(data) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise PayloadTooLargeError("The photo is larger than the upload limit.", field="image")
    if not data:
        raise DomainError("The photo is empty (0 bytes).", field="image", code="invalid_image")
    vectors, failures = encoders.image_encoder().encode_many([data])
    if failures:
        raise DomainError(f"Could not read the photo: {failures[0]}", field="image", code="invalid_image")
    adapter = _adapter()
    catalog = serving_catalog()
    ctx = customer_context(req.customer_id)
    eligible = eligibility(catalog, ctx, product_type=req.product_type, exclude_purchased=False)
    matrix, has = _image_matrix(catalog, adapter)
    eligible &= has
    if adapter is not None:
        from recommender.ml.encoders.image_adapter import type_aware_scores

        scores = type_aware_scores(adapter, vectors[:1], matrix, catalog.types.tolist())[0]
    else:
        scores = matrix @ (vectors[0] / max(float(np.linalg.norm(vectors[0])), 1e-8))
    if adapter is not None:
        probs = adapter.predict_proba(vectors[:1])[0]
        predicted = adapter.classes[int(np.argmax(probs))]
    else:
        predicted = None
    return _finish("image_search", catalog, ctx, scores, eligible, k,
                   ranker_version=adapter.version if adapter else encoders.image_encoder().version,
                   personalised=False, reason_context={"predicted_type": predicted},
                   extras={"predicted_type": predicted})


# --- shopping assistant --------------------------------------------------------------------------

_ITEM_QUESTIONS = {
    "material": re.compile(r"made of|made from|material|what.*metal|材质|什么做的|什么材料|材料|什么金属"),
    "colour": re.compile(r"what colou?r|which colou?r|颜色"),
    "price": re.compile(r"price|cost|how much|多少钱|价格|价钱"),
    "stock": re.compile(r"in stock|available|availability|有货|库存"),
    "type": re.compile(r"what (kind|type) of|what is this|这是什么"),
}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _fmt_price(price: float | None, currency: str) -> str:
    if price is None:
        return "price on request"
    return f"{price:.4g} {currency}" if currency and currency != "XXX" else f"{price:.4g}"


def _dedupe(result: RecommendationResult, k: int) -> RecommendationResult:
    """One line per product name: the catalogue repeats a name under several ids (colours,
    sizes, packs), and an answer listing "Class Lama earring RT" twice reads as a mistake.
    The other colours are one question away ("do you have this in silver?")."""
    seen: set[str] = set()
    kept = []
    for item in result.items:
        key = " ".join(item.title.lower().split())
        if key not in seen:
            seen.add(key)
            kept.append(item)
    result.items = kept[:k]
    return result


def assistant_answer(message: str, req: Request, *, item_id: str | None = None) -> RecommendationResult:
    """Answer a shopper's question from catalog data, with the matching items.

    Product questions go through the same query understanding and hybrid search as the
    search box; with an item in context, "what is it made of?" is answered from that
    item's attributes and text, and "do you have this in silver?" finds silver items of
    its type and style (the same product in another colour first)."""
    message = (message or "").strip()
    if not message:
        raise DomainError("message must not be empty.", field="message", code="required")
    chinese = bool(_CJK.search(message))
    lowered = message.lower()
    k = min(req.k, 5)
    if item_id:
        item = Item.objects.select_related("exclusive_tier").filter(external_id=item_id).first()
        if item is None:
            raise NotFoundError(f"Unknown item id '{item_id}'.", field="item_id", code="unknown_item")
        ctx = customer_context(req.customer_id)
        entitled = item.exclusive_tier is None or item.exclusive_tier.rank <= ctx.tier_rank
        if not entitled:
            # A member-only item is unknown to everyone else: not even its name leaks.
            raise NotFoundError(f"Unknown item id '{item_id}'.", field="item_id", code="unknown_item")
        if not item.is_jewelry:
            raise NotFoundError(f"Item '{item_id}' is not jewelry; the assistant answers about jewelry only.",
                                field="item_id", code="not_jewelry")
        parsed = parse_query(message, search_vocabulary())
        intent = next((name for name, pattern in _ITEM_QUESTIONS.items() if pattern.search(lowered)), None)
        # "do you have this in silver?", "这款有银色的吗": the item in another colour, material or style
        asks_variant = (parsed.colours or parsed.terms) and set(parsed.types) <= {canonical_type(item.product_type)}
        if intent not in ("material", "colour") and asks_variant:
            return _item_variants(item, parsed, req, chinese, k)
        if intent is not None:
            answer = _item_answer(item, intent, chinese)
            from .scenarios import recommend_similar

            similar = _dedupe(recommend_similar(item.external_id, replace(req, k=min(k * 3, 100))), k)
            similar.scenario = "assistant"
            similar.extras = {"answer": answer, "intent": f"item_{intent}", "item_id": item.external_id}
            return similar
    # The same request (customer, model version for the preview), more items: some are repeats.
    result = _dedupe(search_text(message, replace(req, k=min(k * 3, 100))), k)
    parsed_dict: dict = result.extras["parsed"]
    described = _describe(parsed_dict, chinese)
    if parsed_dict.get("fallback"):
        listing = "; ".join(i.title for i in result.items[:3])
        answer = (f"请告诉我您想找什么（款式、颜色、材质），先看看热门款：{listing}。" if chinese
                  else f"Tell me what you are looking for (a type, a colour, a style); meanwhile, our popular pieces: {listing}.")
    elif result.items and not parsed_dict.get("relaxed"):
        listing = "; ".join(f"{i.title} ({_fmt_price(i.price, i.currency)})" for i in result.items[:3])
        answer = (f"有的！我们有这些{described}：{listing}。" if chinese
                  else f"Yes, we have {described}. Top picks: {listing}.")
    elif result.items:
        listing = "; ".join(i.title for i in result.items[:3])
        answer = (f"没有完全符合的{described}，最接近的是：{listing}。" if chinese
                  else f"I couldn't find {described} exactly; the closest matches are: {listing}.")
    else:
        answer = (f"抱歉，目前没有{described}。" if chinese else f"Sorry, we don't have {described} right now.")
    result.scenario = "assistant"
    result.extras = {"answer": answer, "intent": "product_search", "parsed": parsed_dict}
    return result


def _item_variants(item: Item, parsed: ParsedQuery, req: Request, chinese: bool, k: int) -> RecommendationResult:
    """Items of the context item's type with what the message asks for (a colour, a material,
    a style), ranked: the same product in that colour, then the items sharing most of its
    style terms, then the nearest fused vectors."""
    vocab = search_vocabulary()
    catalog = serving_catalog()
    ctx = customer_context(req.customer_id)
    anchor = catalog.row_of.get(item.external_id)
    item_type = canonical_type(item.product_type)
    wanted = replace(parsed, types=[item_type] if item_type in catalog.type_names else [])
    index = _search_index(catalog, vocab)
    masks = _constraint_masks(catalog, vocab, index, wanted)
    eligible = eligibility(catalog, ctx, exclude_rows=[anchor] if anchor is not None else None, exclude_purchased=False)
    filtered = eligible & masks.type & masks.price & masks.excluded & masks.colour
    if masks.required:
        filtered &= np.logical_and.reduce(masks.required)
    same_name = np.fromiter((t.strip().lower() == item.title.strip().lower() for t in catalog.titles), dtype=bool,
                            count=len(catalog))
    scores = 3.0 * same_name
    if anchor is not None:
        style = [c for c, has in index.terms.items() if has[anchor] and c not in parsed.terms
                 and vocab.term(c) is not None and vocab.term(c).kind in ("style", "shape", "stone")]
        if style:
            scores = scores + sum(index.terms[c].astype(np.float64) for c in style) / len(style)
        if catalog.has_vector[anchor]:
            scores = scores + 0.5 * (catalog.vectors @ catalog.vectors[anchor])
    result = _dedupe(_finish("assistant", catalog, ctx, scores, filtered, min(k * 3, 100),
                             ranker_version=catalog.vector_version or "attributes", personalised=False,
                             reason_context={"anchor_row": anchor, "anchor_title": item.title}), k)
    asked = _describe({"colours": wanted.colours, "materials": wanted.materials, "styles": wanted.styles}, chinese,
                      noun=False)
    same = [i for i in result.items if i.title.strip().lower() == item.title.strip().lower()]
    listing = "; ".join(f"{i.title} ({_fmt_price(i.price, i.currency)})" for i in result.items[:3])
    if same:
        answer = (f"有的！{item.title}也有{asked}款：{listing}。" if chinese
                  else f"Yes, the {item.title} also comes in {asked}: {listing}.")
    elif result.items:
        kind = _label(item_type, chinese)
        answer = (f"{item.title}本身没有{asked}款，这些{asked}{kind}风格相同：{listing}。" if chinese
                  else f"The {item.title} itself does not come in {asked}, but these {asked} {kind}s have its style: {listing}.")
    else:
        answer = (f"抱歉，{item.title}没有{asked}款，目前也没有类似的{asked}款式。" if chinese
                  else f"Sorry, the {item.title} does not come in {asked}, and we have nothing like it in {asked} right now.")
    result.extras = {"answer": answer, "intent": "item_variants", "item_id": item.external_id,
                     "parsed": _parsed_dict(wanted)}
    return result


def _label(concept: str, chinese: bool) -> str:
    term = search_vocabulary().term(concept)
    return (term.label_zh if term else concept) if chinese else concept


def _describe(parsed: dict, chinese: bool, *, noun: bool = True) -> str:
    """The parsed query back in words, in the shopper's language, from the vocabulary's labels."""
    def words(key: str) -> list[str]:
        return [_label(w, chinese) for w in parsed.get(key) or []]

    attributes = [*words("colours"), *words("materials"), *words("styles")]
    excluded = [*words("excluded_colours"), *words("excluded_terms"), *words("excluded_types")]
    if chinese:
        text = "".join(attributes)
        if noun:
            text += "/".join(words("types")) or "首饰"
        if excluded:
            text += f"（不要{'、'.join(excluded)}）"
        if parsed.get("price_max") is not None:
            text += f"（{parsed['price_max']:g}以下）"
        if parsed.get("price_min") is not None:
            text += f"（{parsed['price_min']:g}以上）"
        return text
    text = " ".join(attributes)
    if noun:
        types = " / ".join(f"{t}s" for t in words("types")) or "jewelry"
        text = f"{text} {types}".strip()
    if excluded:
        text += f" (not {', '.join(excluded)})"
    if parsed.get("price_max") is not None:
        text += f" under {parsed['price_max']:g}"
    if parsed.get("price_min") is not None:
        text += f" over {parsed['price_min']:g}"
    return text


def _item_materials(item: Item) -> list[str]:
    """What the item is made of: its material field, then the vocabulary's materials and
    stones its name and description use ("metal", "glass", "rhinestone")."""
    found = [item.material] if item.material else []
    text = f"{item.title} {item.description or ''}"
    terms = search_vocabulary().item_terms([text])
    for term in search_vocabulary().of_kind("material", "stone"):
        if terms[term.concept][0] and term.concept != "recycled" and term.concept.lower() not in (f.lower() for f in found):
            found.append(term.concept)
    return found


def _item_answer(item: Item, intent: str, chinese: bool) -> str:
    title = item.title
    if intent == "material":
        materials = _item_materials(item)
        if materials:
            if chinese:
                return f"{title}的材质：{'、'.join(_label(m, True) for m in materials)}。"
            listed = materials[0] if len(materials) == 1 else f"{', '.join(materials[:-1])} and {materials[-1]}"
            return f"The {title} is made of {listed}."
        sentence = _sentence_with(item.description, ("metal", "silver", "gold", "steel", "plated", "glass", "pearl"))
        if sentence:
            return f"商品描述：{sentence}" if chinese else f"The product description says: \"{sentence}\""
        return (f"{title}的目录中没有注明材质。" if chinese
                else f"The catalog does not state what the {title} is made of.")
    if intent == "colour":
        colour = item.colour or "not specified"
        return f"{title}的颜色：{colour}。" if chinese else f"The {title} is {colour.lower()}."
    if intent == "price":
        price = float(item.price) if item.price is not None else None
        return (f"{title}的价格：{_fmt_price(price, item.currency)}。" if chinese
                else f"The {title} costs {_fmt_price(price, item.currency)}.")
    if intent == "stock":
        ok = item.in_stock and item.is_active
        if chinese:
            return f"{title}{'有货' if ok else '暂时缺货'}。"
        return f"The {title} is {'in stock' if ok else 'currently out of stock'}."
    return (f"这是一件{item.product_type}：{title}。" if chinese
            else f"It is a {item.product_type.lower()}: {title}. {item.description}".strip())


def _sentence_with(text: str, words: tuple[str, ...]) -> str:
    for sentence in re.split(r"(?<=[.!?])\s+", text or ""):
        if any(w in sentence.lower() for w in words):
            return sentence.strip()
    return ""
