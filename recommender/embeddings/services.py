"""Item vectors: encode photos and texts with the pretrained encoders, fuse to 512-d.

Work is idempotent and resumable: raw encoder outputs are cached per (item, modality,
encoder version, input hash), so a re-run, or a run resumed after a worker died,
encodes only what is missing; fused vectors are rewritten only when an input or the
fusion version changed. A photo that cannot be decoded fails its item with a reason
while the item keeps its last good vector and the batch goes on.
"""
from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from recommender.artifacts import fusion_root
from recommender.jobs.services import JobReporter, ProgressStep, job_create, job_enqueue
from recommender.ml.common.artifacts import pointer_read, pointer_write
from recommender.models import EncoderOutput, Event, Item, ItemImage, ItemVector, Job

from . import encoders

logger = logging.getLogger(__name__)

SCOPES = ("jewelry", "interacted", "all")
BATCH_ITEMS = 64
ITEM_FIELDS = ("id", "external_id", "title", "description", "product_type", "colour", "colour_master", "material",
               "appearance", "department", "section", "index_group", "price", "exclusive_tier__code", "is_jewelry")


@dataclass
class EmbedSummary:
    items: int = 0
    images_encoded: int = 0
    texts_encoded: int = 0
    vectors_written: int = 0
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "items": self.items, "images_encoded": self.images_encoded, "texts_encoded": self.texts_encoded,
            "vectors_written": self.vectors_written, "unchanged": self.unchanged, "failed": len(self.failed),
            "failures": dict(list(self.failed.items())[:50]),
            "message": (f"{self.vectors_written} vectors written, {self.unchanged} unchanged, "
                        f"{len(self.failed)} failed ({self.images_encoded} photos, {self.texts_encoded} texts encoded)"),
        }


# --- inputs -----------------------------------------------------------------------------


def item_text(values: dict) -> str:
    """What the text encoder reads: the title, the attributes a shopper would say, the description."""
    attrs = " ".join(v for v in (values.get("colour"), values.get("material"), values.get("product_type")) if v)
    parts = [values.get("title") or "", attrs, values.get("appearance") or "", values.get("description") or ""]
    return ". ".join(p.strip() for p in parts if p and p.strip())


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _attr_values(values: dict) -> dict:
    return {
        "product_type": values["product_type"], "colour": values["colour"], "colour_master": values["colour_master"],
        "material": values["material"], "appearance": values["appearance"], "department": values["department"],
        "section": values["section"], "index_group": values["index_group"],
        "exclusive_tier": values.get("exclusive_tier__code") or "", "price": values["price"],
    }


def embedding_targets(scope: str) -> list[int]:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got '{scope}'")
    qs = Item.objects.all()
    if scope == "jewelry":
        qs = qs.filter(is_jewelry=True)
    elif scope == "interacted":
        qs = qs.filter(Q(is_jewelry=True) | Exists(Event.objects.filter(item_id=OuterRef("pk"))))
    return list(qs.order_by("id").values_list("id", flat=True))


# --- starting jobs --------------------------------------------------------------------------


def catalog_embedding_start(*, scope: str = "jewelry", force: bool = False, refit_fusion: bool = False, user=None) -> Job:
    """Queue a catalog embedding job; if one is already queued or running, return that one."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got '{scope}'")
    with transaction.atomic():
        running = Job.objects.select_for_update().filter(kind=Job.Kind.EMBED_CATALOG, status__in=Job.ACTIVE_STATUSES).first()
        if running is not None:
            return running
        job = job_create(kind=Job.Kind.EMBED_CATALOG, user=user,
                         params={"scope": scope, "force": force, "refit_fusion": refit_fusion})
        job_enqueue(job)
    return job


def item_embedding_start(item: Item, *, user=None) -> Job:
    """Queue embedding of one item (after create, photo upload or a text change)."""
    return items_embedding_start([item], user=user)


def items_embedding_start(items: list[Item], *, user=None) -> Job:
    """Queue one embedding job for these items (a bulk import's new items and photos).

    Their current vectors turn stale at once, so pages say a new vector is on its way; the
    job runs on the embedding queue after the caller's transaction commits.
    """
    if not items:
        raise ValueError("items_embedding_start needs at least one item")
    pks = [i.pk for i in items]
    params = {"item_id": items[0].external_id, "item_pk": items[0].pk}
    if len(items) > 1:
        params = {"item_ids": [i.external_id for i in items[:20]], "item_pks": pks}
    with transaction.atomic():
        job = job_create(kind=Job.Kind.EMBED_ITEM, user=user, params=params)
        have = set(ItemVector.objects.filter(item_id__in=pks).values_list("item_id", flat=True))
        ItemVector.objects.bulk_create([ItemVector(item_id=pk) for pk in pks if pk not in have], ignore_conflicts=True)
        ItemVector.objects.filter(item_id__in=pks, status=ItemVector.Status.CURRENT).update(status=ItemVector.Status.STALE)
        job_enqueue(job)
    return job


# --- fusion artifact ----------------------------------------------------------------------------


def fusion_current():
    """(FusionModel, AttributeEncoder) of the current fusion, or None before the first fit."""
    from recommender.ml.encoders.attributes import AttributeEncoder
    from recommender.ml.encoders.fusion import FusionModel

    info = pointer_read(fusion_root())
    if info is None:
        return None
    folder = fusion_root() / info["folder"]
    fusion = FusionModel.load(folder)
    attrs = AttributeEncoder.from_json((folder / "attributes.json").read_text())
    return fusion, attrs


def _fusion_save(fusion, attrs) -> str:
    version = fusion.version
    folder = fusion_root() / version.replace("@", "-")
    fusion.save(folder)
    (folder / "attributes.json").write_text(attrs.to_json())
    pointer_write(fusion_root(), {"folder": folder.name, "version": version})
    return version


def fusion_version_current() -> str:
    info = pointer_read(fusion_root())
    return info["version"] if info else ""


# --- the work ---------------------------------------------------------------------------------


def _encoder_outputs(item_pks: list[int], modality: str, encoder: str) -> dict[tuple[int, str], np.ndarray]:
    out = {}
    qs = EncoderOutput.objects.filter(modality=modality, encoder=encoder, item_id__in=item_pks)
    for item_id, h, dim, blob in qs.values_list("item_id", "input_hash", "dim", "vector"):
        out[(item_id, h)] = np.frombuffer(bytes(blob), dtype="<f4", count=dim)
    return out


def _store_outputs(rows: list[EncoderOutput]) -> None:
    if rows:
        EncoderOutput.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)


def _encode_texts(values: list[dict], enc, force: bool) -> int:
    """Cache ``enc``'s output for each item's current text; returns how many it encoded."""
    pks = [v["id"] for v in values]
    cached = {} if force else _encoder_outputs(pks, EncoderOutput.Modality.TEXT, enc.version)
    todo = [(v["id"], item_text(v)) for v in values]
    todo = [(pk, t) for pk, t in todo if force or (pk, text_digest(t)) not in cached]
    if not todo:
        return 0
    vecs = enc.encode([t for _, t in todo])
    if force:
        EncoderOutput.objects.filter(item_id__in=[pk for pk, _ in todo], modality="text", encoder=enc.version).delete()
    _store_outputs([
        EncoderOutput(item_id=pk, modality="text", encoder=enc.version, input_hash=text_digest(t), dim=vecs.shape[1],
                      vector=vecs[i].astype("<f4").tobytes())
        for i, (pk, t) in enumerate(todo)
    ])
    return len(todo)


def search_vectors_ensure(item_pks: list[int]) -> int:
    """Only the search encoder's text vectors for these items (what text search reads),
    without photos or fusion: seconds for a catalogue. Returns how many texts it encoded."""
    encoded = 0
    for start in range(0, len(item_pks), 500):
        values = list(Item.objects.filter(id__in=item_pks[start:start + 500]).order_by("id").values(*ITEM_FIELDS))
        encoded += _encode_texts(values, encoders.search_text_encoder(), force=False)
    return encoded


def _encode_batch(values: list[dict], photos: dict[int, list[tuple[str, str]]], force: bool,
                  summary: EmbedSummary, failures: dict[int, str]) -> None:
    """Fill the encoder-output cache for one batch of items."""
    pks = [v["id"] for v in values]
    # Texts: the fusion encoder and the search encoder.
    for enc in {encoders.text_encoder(), encoders.search_text_encoder()}:
        summary.texts_encoded += _encode_texts(values, enc, force)
    # Photos: one cached output per photo content hash.
    image_enc = encoders.image_encoder()
    cached = {} if force else _encoder_outputs(pks, EncoderOutput.Modality.IMAGE, image_enc.version)
    todo = [(pk, h, path) for pk in pks for h, path in photos.get(pk, []) if force or (pk, h) not in cached]
    if todo:
        vecs, bad = image_enc.encode_many([path for _, _, path in todo])
        rows = []
        for i, (pk, h, path) in enumerate(todo):
            if i in bad:
                failures[pk] = f"photo {Path(path).name}: {bad[i]}"
                continue
            rows.append(EncoderOutput(item_id=pk, modality="image", encoder=image_enc.version, input_hash=h,
                                      dim=vecs.shape[1], vector=vecs[i].astype("<f4").tobytes()))
        if force:
            EncoderOutput.objects.filter(item_id__in=pks, modality="image", encoder=image_enc.version).delete()
        _store_outputs(rows)
        summary.images_encoded += len(rows)


def _photos_for(pks: list[int]) -> dict[int, list[tuple[str, str]]]:
    photos: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for item_id, h, name in ItemImage.objects.filter(item_id__in=pks).order_by("position", "id").values_list(
        "item_id", "content_hash", "image"
    ):
        photos[item_id].append((h, str(Path(settings.MEDIA_ROOT) / name)))
    return photos


def _inputs(values: list[dict], photos: dict[int, list[tuple[str, str]]]):
    """Per item: mean image feature over its photos, text vector, text hash, image hash."""
    pks = [v["id"] for v in values]
    text_enc, image_enc = encoders.text_encoder(), encoders.image_encoder()
    texts = _encoder_outputs(pks, "text", text_enc.version)
    images = _encoder_outputs(pks, "image", image_enc.version)
    image_vecs, text_vecs, text_hashes, image_hashes = [], [], [], []
    for v in values:
        th = text_digest(item_text(v))
        text_hashes.append(th)
        text_vecs.append(texts.get((v["id"], th)))
        feats = [images[(v["id"], h)] for h, _ in photos.get(v["id"], []) if (v["id"], h) in images]
        image_vecs.append(np.mean(feats, axis=0) if feats else None)
        image_hashes.append(text_digest(",".join(h for h, _ in photos.get(v["id"], []))) if photos.get(v["id"]) else "")
    return image_vecs, text_vecs, text_hashes, image_hashes


def _fit_fusion(say):
    """Fit the attribute vocabulary and the fusion projections on all jewelry items' cached outputs."""
    from recommender.ml.encoders.attributes import AttributeEncoder
    from recommender.ml.encoders.fusion import FusionModel

    values = list(Item.objects.filter(is_jewelry=True).order_by("id").values(*ITEM_FIELDS))
    photos = _photos_for([v["id"] for v in values])
    image_vecs, text_vecs, _, _ = _inputs(values, photos)
    attrs = AttributeEncoder().fit([_attr_values(v) for v in values])
    attr_vecs = attrs.transform([_attr_values(v) for v in values])
    labels = [v["product_type"].lower().rstrip("s") for v in values]
    say(0.82, f"Fitting the fusion on {len(values)} jewelry items", log=True, steps=[])
    # 40 epochs reach a flat loss on the sample catalog; more only costs minutes on 2 cores.
    fusion = FusionModel().fit(image_vecs, text_vecs, attr_vecs, labels=labels, epochs=40, seed=0)
    version = _fusion_save(fusion, attrs)
    say(0.85, f"Fusion {version} ({fusion.mode}) saved", log=True)
    return fusion, attrs


def _write_vectors(values: list[dict], photos, fusion, attrs, failures: dict[int, str], force: bool,
                   summary: EmbedSummary) -> None:
    image_vecs, text_vecs, text_hashes, image_hashes = _inputs(values, photos)
    fused = fusion.transform(image_vecs, text_vecs, attrs.transform([_attr_values(v) for v in values]))
    existing = {iv.item_id: iv for iv in ItemVector.objects.filter(item_id__in=[v["id"] for v in values])}
    text_version, image_version = encoders.text_encoder().version, encoders.image_encoder().version
    to_create, to_update = [], []
    for i, v in enumerate(values):
        iv = existing.get(v["id"]) or ItemVector(item_id=v["id"])
        if v["id"] in failures:
            iv.status, iv.failure_reason = ItemVector.Status.FAILED, failures[v["id"]][:2000]
            summary.failed[v["external_id"]] = failures[v["id"]]
        else:
            unchanged = (
                not force and iv.pk is not None and iv.status == ItemVector.Status.CURRENT
                and iv.fusion_version == fusion.version and iv.text_hash == text_hashes[i]
                and iv.image_hash == image_hashes[i] and iv.text_encoder == text_version
                and iv.image_encoder == image_version
            )
            if unchanged:
                summary.unchanged += 1
                continue
            iv.vector = fused.vectors[i].astype("<f4").tobytes()
            iv.dim = fused.vectors.shape[1]
            iv.status, iv.failure_reason = ItemVector.Status.CURRENT, ""
            iv.fusion_version, iv.text_encoder, iv.image_encoder = fusion.version, text_version, image_version
            iv.text_hash, iv.image_hash = text_hashes[i], image_hashes[i]
            iv.has_image, iv.has_text = bool(fused.has_image[i]), bool(fused.has_text[i])
            summary.vectors_written += 1
        (to_update if iv.pk else to_create).append(iv)
    fields = ["vector", "dim", "status", "failure_reason", "fusion_version", "text_encoder", "image_encoder",
              "text_hash", "image_hash", "has_image", "has_text"]
    with transaction.atomic():
        ItemVector.objects.bulk_create(to_create, batch_size=500)
        ItemVector.objects.bulk_update(to_update, fields, batch_size=500)


def embeddings_mark_stale() -> int:
    """Vectors made by other encoder or fusion versions than the current ones are stale."""
    version = fusion_version_current()
    text_v, image_v = encoders.text_encoder().version, encoders.image_encoder().version
    return ItemVector.objects.filter(status=ItemVector.Status.CURRENT).exclude(
        fusion_version=version, text_encoder=text_v, image_encoder=image_v
    ).update(status=ItemVector.Status.STALE)


def embed_items(item_pks: list[int], *, reporter: JobReporter | None = None, force: bool = False,
                refit_fusion: bool = False) -> EmbedSummary:
    """Encode what is missing for these items, (re)fit the fusion if asked or absent, write vectors."""
    summary = EmbedSummary(items=len(item_pks))
    failures: dict[int, str] = {}
    say = reporter or (lambda *a, **k: None)
    # Phase 1 (0-80%): the encoder-output cache, batch by batch (each batch commits).
    for start in range(0, len(item_pks), BATCH_ITEMS):
        batch = item_pks[start:start + BATCH_ITEMS]
        values = list(Item.objects.filter(id__in=batch).order_by("id").values(*ITEM_FIELDS))
        _encode_batch(values, _photos_for(batch), force, summary, failures)
        say(0.8 * min(1.0, (start + len(batch)) / max(1, len(item_pks))),
            f"Encoded {start + len(batch)}/{len(item_pks)} items",
            steps=[ProgressStep("item encoded", start + len(batch), len(item_pks))])
    # Phase 2: the fusion.
    current = None if refit_fusion else fusion_current()
    if current is None:
        current = _fit_fusion(say)
        item_pks = sorted(set(item_pks) | set(ItemVector.objects.values_list("item_id", flat=True)))
        summary.items = len(item_pks)
    fusion, attrs = current
    # Phase 3 (85-100%): fused vectors.
    for start in range(0, len(item_pks), 500):
        batch = item_pks[start:start + 500]
        values = list(Item.objects.filter(id__in=batch).order_by("id").values(*ITEM_FIELDS))
        _write_vectors(values, _photos_for(batch), fusion, attrs, failures, force, summary)
        say(0.85 + 0.15 * min(1.0, (start + len(batch)) / max(1, len(item_pks))),
            f"Fused {start + len(batch)}/{len(item_pks)} vectors",
            steps=[ProgressStep("vector", start + len(batch), len(item_pks))])
    return summary


def embedding_job_run(job: Job, reporter: JobReporter) -> dict:
    """The body of both embedding tasks."""
    params = job.params
    if job.kind == Job.Kind.EMBED_ITEM:
        wanted = params.get("item_pks") or [params.get("item_pk")]
        pks = list(Item.objects.filter(pk__in=wanted).order_by("id").values_list("id", flat=True))
        if not pks:
            raise ValueError(f"Item '{params.get('item_id') or params.get('item_ids')}' no longer exists.")
        summary = embed_items(pks, reporter=reporter)
    else:
        pks = embedding_targets(params.get("scope", "jewelry"))
        reporter.log(f"Embedding {len(pks)} items (scope {params.get('scope', 'jewelry')})")
        summary = embed_items(pks, reporter=reporter, force=bool(params.get("force")),
                              refit_fusion=bool(params.get("refit_fusion")))
        embeddings_mark_stale()
    return summary.as_dict()
