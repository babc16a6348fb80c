"""Text search, visual search and the shopping assistant over the serving catalog.

Text search embeds the query with the multilingual encoder (Chinese queries find items
described in English and the other way round) and honours the parsed constraints:
type, colour/material and price bounds are filters, with a soft fallback when a
constraint would leave nothing. Visual search compares the photo's jewelry-adapted
image features with the catalog photos'. The assistant answers from catalog fields
only: retrieval and templates, no generated facts.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
from django.conf import settings

from recommender.embeddings import encoders
from recommender.embeddings.services import text_digest, item_text
from recommender.ml.search.query import ParsedQuery, parse_query
from recommender.models import EncoderOutput, Item, ItemImage

from .catalog import ServingCatalog, serving_catalog
from .customers import customer_context
from .errors import DomainError, NotFoundError, PayloadTooLargeError
from .results import RecommendationResult
from .scenarios import Request, _finish, _ranker, check_k, eligibility

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


def _text_matrix(catalog: ServingCatalog) -> tuple[np.ndarray, np.ndarray]:
    """Search-encoder vectors of each item's current text (zeros + False where not encoded yet)."""
    encoder = encoders.search_text_encoder()

    def build():
        values = {v["id"]: v for v in Item.objects.filter(id__in=catalog.item_pk.tolist()).values(
            "id", "title", "description", "product_type", "colour", "material", "appearance")}
        wanted = {pk: text_digest(item_text(v)) for pk, v in values.items()}
        matrix = np.zeros((len(catalog), encoder.dim), dtype=np.float32)
        has = np.zeros(len(catalog), dtype=bool)
        rows = EncoderOutput.objects.filter(modality="text", encoder=encoder.version, item__is_jewelry=True)
        for item_id, h, dim, blob in rows.values_list("item_id", "input_hash", "dim", "vector").iterator(chunk_size=2000):
            row = catalog.pk_row.get(item_id)
            if row is not None and wanted.get(item_id) == h:
                matrix[row] = np.frombuffer(bytes(blob), dtype="<f4", count=dim)
                has[row] = True
        return matrix, has

    return _cached("text", (catalog.fingerprint, encoder.version), build)


def _adapter():
    """The current jewelry image adapter, or None before one was trained."""
    pointer = Path(settings.JEWELREC_ARTIFACT_DIR) / "image-adapter" / "CURRENT.json"
    if not pointer.exists():
        return None
    info = json.loads(pointer.read_text())

    def build():
        from recommender.ml.encoders.adaptation import ImageAdapter

        return ImageAdapter.load(pointer.parent / info["folder"])

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


def _constraint_masks(catalog: ServingCatalog, parsed: ParsedQuery) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(catalog)
    type_mask = np.isin(catalog.types, parsed.types) if parsed.types else np.ones(n, dtype=bool)
    colour_mask = np.ones(n, dtype=bool)
    if parsed.colours or parsed.materials:
        groups = {g.lower() for g in parsed.colour_groups} | {c.lower() for c in parsed.colours}
        wanted = [m.lower() for m in parsed.materials] + [c.lower() for c in parsed.colours]
        colour_mask = np.isin(catalog.colours, list(groups)) | np.fromiter(
            (any(w in m for w in wanted) for m in catalog.materials), dtype=bool, count=n)
    price_mask = np.ones(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        if parsed.price_min is not None:
            price_mask &= catalog.price >= parsed.price_min
        if parsed.price_max is not None:
            price_mask &= catalog.price <= parsed.price_max
    return type_mask, colour_mask, price_mask


def _parsed_dict(parsed: ParsedQuery) -> dict:
    data = asdict(parsed)
    data.pop("text", None)
    return data


def search_text(query: str, req: Request) -> RecommendationResult:
    k = check_k(req.k)
    query = (query or "").strip()
    if not query:
        raise DomainError("query must not be empty.", field="query", code="required")
    parsed = parse_query(query)
    catalog = serving_catalog()
    ctx = customer_context(req.customer_id)
    eligible = eligibility(catalog, ctx, product_type=req.product_type, exclude_purchased=False)
    type_mask, colour_mask, price_mask = _constraint_masks(catalog, parsed)
    relaxed: list[str] = []
    # Type and price are hard constraints; colour/material relaxes to a boost if nothing matches.
    filtered = eligible & type_mask & price_mask
    if parsed.colours or parsed.materials:
        if (filtered & colour_mask).any():
            filtered &= colour_mask
        else:
            relaxed.append("colour")
    matrix, has = _text_matrix(catalog)
    qvec = encoders.search_text_encoder().encode([query])[0]
    scores = matrix @ qvec
    scores[~has] = -1.0
    scores = scores + 0.1 * colour_mask + 0.1 * (type_mask & bool(parsed.types))
    personalised = False
    if ctx.history:
        model_scores = _ranker(req.model_version).score(catalog, ctx, cart_rows=[], scenario="search")
        span = model_scores.max() - model_scores.min() if len(model_scores) else 0
        if span > 0:
            scores = scores + 0.1 * (model_scores - model_scores.min()) / span
            personalised = True
    return _finish("search", catalog, ctx, scores, filtered, k, ranker_version=encoders.search_text_encoder().version,
                   personalised=personalised, reason_context={"parsed": parsed},
                   extras={"parsed": {**_parsed_dict(parsed), "relaxed": relaxed}, "query": query})


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
        from recommender.ml.encoders.adaptation import type_aware_scores

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
    "material": re.compile(r"made of|material|what.*metal|材质|什么做的|材料"),
    "colour": re.compile(r"colou?r|颜色"),
    "price": re.compile(r"price|cost|how much|多少钱|价格|价钱"),
    "stock": re.compile(r"in stock|available|availability|有货|库存"),
    "type": re.compile(r"what (kind|type) of|what is this|这是什么"),
}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _fmt_price(price: float | None, currency: str) -> str:
    if price is None:
        return "price on request"
    return f"{price:.4g} {currency}" if currency and currency != "XXX" else f"{price:.4g}"


def assistant_answer(message: str, req: Request, *, item_id: str | None = None) -> RecommendationResult:
    """Answer a shopper's question from catalog data, with the matching items."""
    message = (message or "").strip()
    if not message:
        raise DomainError("message must not be empty.", field="message", code="required")
    chinese = bool(_CJK.search(message))
    lowered = message.lower()
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
        intent = next((name for name, pattern in _ITEM_QUESTIONS.items() if pattern.search(lowered)), None)
        if intent is not None:
            answer = _item_answer(item, intent, chinese)
            from .scenarios import recommend_similar

            similar = recommend_similar(item.external_id, Request(customer_id=req.customer_id, k=min(req.k, 4)))
            similar.scenario = "assistant"
            similar.extras = {"answer": answer, "intent": f"item_{intent}", "item_id": item.external_id}
            return similar
    result = search_text(message, Request(customer_id=req.customer_id, k=min(req.k, 5)))
    parsed: dict = result.extras["parsed"]
    described = _describe(parsed, chinese)
    if result.items and not parsed.get("relaxed"):
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
    result.extras = {"answer": answer, "intent": "product_search", "parsed": parsed}
    return result


_ZH = {"earring": "耳环", "necklace": "项链", "ring": "戒指", "bracelet": "手链", "watch": "手表", "gold": "金色",
       "rose gold": "玫瑰金", "silver": "银色", "black": "黑色", "white": "白色", "pink": "粉色", "red": "红色",
       "blue": "蓝色", "green": "绿色", "pearl": "珍珠", "metal": "金属", "crystal": "水晶", "diamond": "钻石"}


def _describe(parsed: dict, chinese: bool) -> str:
    if chinese:
        words = [*(parsed.get("colours") or []), *(parsed.get("materials") or [])]
        text = "".join(_ZH.get(w, w) for w in words) + ("/".join(_ZH.get(t, t) for t in parsed.get("types") or []) or "首饰")
        if parsed.get("price_max") is not None:
            text += f"（{parsed['price_max']:g}以下）"
        if parsed.get("price_min") is not None:
            text += f"（{parsed['price_min']:g}以上）"
        return text
    colours = " ".join(parsed.get("colours") or [])
    materials = " ".join(parsed.get("materials") or [])
    types = " / ".join(f"{t}s" for t in parsed.get("types") or []) or "jewelry"
    text = " ".join(p for p in (colours, materials, types) if p)
    if parsed.get("price_max") is not None:
        text += f" under {parsed['price_max']:g}"
    if parsed.get("price_min") is not None:
        text += f" over {parsed['price_min']:g}"
    return text


def _item_answer(item: Item, intent: str, chinese: bool) -> str:
    title = item.title
    if intent == "material":
        if item.material:
            return f"{title}的材质是{item.material}。" if chinese else f"The {title} is made of {item.material}."
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
