"""Training and evaluating the jewelry-type adapter (``image_adapter.py``) on the labelled
photos: augmented views, cached features, near-duplicate-aware hold-out, accuracies.

The backbone stays frozen (1,863 labelled photos are far too few to fine-tune 3.4 M
weights without forgetting); a light projection learns which directions of the 1280-d
ImageNet feature space separate bracelets, earrings, necklaces, rings and watches.

Evaluate with::

    python -m recommender.ml.encoders.adaptation --data-dir /work/shared/datasets --out /tmp/adapter

which encodes the photos once (cached under /tmp), trains, and prints visual-search type
accuracy before and after adaptation.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageEnhance

from ..common.matrix import l2_normalize
from .image import ImageDecodeError, ImageEncoder, image_to_array, load_image, resize_center_crop
from .image_adapter import TYPES, ImageAdapter, type_aware_scores


# H&M product_type_name -> jewelry type used by the labelled photos.
HM_TYPE_MAP = {
    "Earring": "earring",
    "Earrings": "earring",
    "Necklace": "necklace",
    "Ring": "ring",
    "Bracelet": "bracelet",
    "Watch": "watch",
}


# -- augmentation (PIL only: torchvision is not available) ------------------------------

def augment_image(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """One random view: resized crop, flip, small rotation, colour jitter."""
    w, h = im.size
    area = w * h * rng.uniform(0.55, 1.0)
    aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
    cw = int(min(w, max(8, round(np.sqrt(area * aspect)))))
    ch = int(min(h, max(8, round(np.sqrt(area / aspect)))))
    left = int(rng.integers(0, w - cw + 1))
    top = int(rng.integers(0, h - ch + 1))
    im = im.crop((left, top, left + cw, top + ch))
    if rng.random() < 0.5:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    angle = float(rng.uniform(-15, 15))
    im = im.rotate(angle, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=(255, 255, 255))
    im = ImageEnhance.Brightness(im).enhance(float(rng.uniform(0.8, 1.2)))
    im = ImageEnhance.Contrast(im).enhance(float(rng.uniform(0.8, 1.2)))
    im = ImageEnhance.Color(im).enhance(float(rng.uniform(0.7, 1.3)))
    return im


def dhash(im: Image.Image) -> int:
    """64-bit difference hash: near-duplicate photos (re-encodes, small crops) share most bits."""
    g = np.asarray(im.convert("L").resize((9, 8), Image.Resampling.BOX), dtype=np.int16)
    bits = (g[:, 1:] > g[:, :-1]).flatten()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def _seed_for(path: str, base: int) -> int:
    return int(hashlib.sha1(f"{base}:{path}".encode()).hexdigest()[:8], 16)


# -- dataset + feature cache ------------------------------------------------------------

@dataclass
class PhotoFeatures:
    paths: list[str]
    labels: np.ndarray  # int64 index into TYPES
    views: np.ndarray  # (n, n_views, 1280) float32; view 0 is the plain photo
    dhashes: np.ndarray  # uint64
    ok: np.ndarray  # bool: decoded


def encode_photo_views(
    encoder: ImageEncoder, paths: Sequence[str], n_views: int, seed: int = 0, chunk: int = 32, log=None,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode each photo plus ``n_views - 1`` seeded augmentations; returns (views, dhashes, ok).

    ``on_batch(photos_done, photos)`` is called after each chunk of photos.
    """

    def work(path: str):
        try:
            im = load_image(path, draft_size=448 if n_views > 1 else 224)
        except ImageDecodeError:
            return None, 0
        rng = np.random.default_rng(_seed_for(os.path.basename(path), seed))
        arrays = [image_to_array(resize_center_crop(im))]
        for _ in range(n_views - 1):
            arrays.append(image_to_array(resize_center_crop(augment_image(im, rng))))
        return np.stack(arrays), dhash(im)

    n = len(paths)
    views = np.zeros((n, n_views, encoder.dim), np.float32)
    hashes = np.zeros(n, np.uint64)
    ok = np.zeros(n, bool)
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=max(1, encoder.num_workers)) as pool:
        futures = [pool.submit(work, p) for p in paths[:chunk]]
        for start in range(0, n, chunk):
            results = [f.result() for f in futures]
            nxt = start + chunk
            futures = [pool.submit(work, p) for p in paths[nxt : nxt + chunk]]
            good = [(i, r) for i, r in enumerate(results) if r[0] is not None]
            if good:
                stacked = np.concatenate([r[0] for _, r in good])
                feats = encoder.forward_arrays(stacked).reshape(len(good), n_views, -1)
                for (i, r), f in zip(good, feats):
                    views[start + i] = f
                    hashes[start + i] = r[1]
                    ok[start + i] = True
            if log:
                log(f"  encoded {min(nxt, n)}/{n} photos x {n_views} views ({time.time() - t0:.0f}s)")
            if on_batch is not None:
                on_batch(min(nxt, n), n)
    return views, hashes, ok


def _cache_path(cache_dir: Path, name: str, paths: Sequence[str], n_views: int, seed: int, version: str) -> Path:
    key = hashlib.sha1(json.dumps([version, n_views, seed, list(paths)]).encode()).hexdigest()[:16]
    return cache_dir / f"{name}-{key}.npz"


def cached_photo_features(
    encoder: ImageEncoder, paths: Sequence[str], n_views: int, cache_dir: Path, name: str, seed: int = 0, log=None,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = _cache_path(cache_dir, name, paths, n_views, seed, encoder.version)
    if path.exists():
        with np.load(path) as z:  # plain arrays only; allow_pickle stays False
            return z["views"], z["dhashes"], z["ok"]
    views, hashes, ok = encode_photo_views(encoder, paths, n_views, seed=seed, log=log, on_batch=on_batch)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, views=views, dhashes=hashes, ok=ok)
    os.replace(tmp, path)
    return views, hashes, ok


def read_labels(data_dir: Path) -> tuple[list[str], np.ndarray]:
    root = data_dir / "jewelry-photos"
    paths, labels = [], []
    with open(root / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["type"] not in TYPES:
                raise ValueError(f"labels.csv: unknown type {row['type']!r} for {row['path']}")
            paths.append(str(root / row["path"]))
            labels.append(TYPES.index(row["type"]))
    return paths, np.asarray(labels, np.int64)


def read_hm_catalog_photos(data_dir: Path) -> tuple[list[str], np.ndarray, list[str]]:
    import pandas as pd

    root = data_dir / "hm-jewelry"
    ids = sorted(p.stem for p in (root / "images").glob("*.jpg"))
    articles = pd.read_parquet(root / "articles.parquet", columns=["article_id", "product_type_name"])
    type_of = dict(zip(articles.article_id, articles.product_type_name))
    paths, labels, kept = [], [], []
    for aid in ids:
        t = HM_TYPE_MAP.get(type_of.get(aid, ""))
        if t is None:
            continue
        paths.append(str(root / "images" / f"{aid}.jpg"))
        labels.append(TYPES.index(t))
        kept.append(aid)
    return paths, np.asarray(labels, np.int64), kept


# -- near-duplicate grouping + deterministic split --------------------------------------

def near_duplicate_groups(
    hashes: np.ndarray, max_hamming: int = 6, features: np.ndarray | None = None, min_cos: float = 0.9
) -> np.ndarray:
    """Union near-duplicate photos; returns a group id per photo.

    Two photos are near-duplicates when their dHash differs in <= ``max_hamming`` bits and,
    if ``features`` are given, their feature cosine is >= ``min_cos``. dHash alone chains
    unrelated product shots on plain white backgrounds into one giant group.
    """
    n = len(hashes)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    bits = np.unpackbits(hashes.astype(">u8").view(np.uint8).reshape(n, 8), axis=1).astype(np.int16)
    unit = l2_normalize(features) if features is not None else None
    for i in range(n):
        close = np.abs(bits[i + 1 :] - bits[i]).sum(axis=1) <= max_hamming
        if unit is not None:
            close &= unit[i + 1 :] @ unit[i] >= min_cos
        for j in np.nonzero(close)[0]:
            a, b = find(i), find(i + 1 + int(j))
            if a != b:
                parent[max(a, b)] = min(a, b)
    return np.array([find(i) for i in range(n)])


def heldout_mask(paths: Sequence[str], groups: np.ndarray, fraction: float = 0.2) -> np.ndarray:
    """Hold out whole near-duplicate groups, chosen by a hash of the group's first path.

    The choice depends only on file names, so it is the same on every machine and run.
    """
    buckets = int(round(1 / fraction))
    first = {}
    for i, g in enumerate(groups):
        first.setdefault(int(g), os.path.relpath(paths[i], os.path.dirname(os.path.dirname(os.path.dirname(paths[i])))))
    chosen = {g for g, p in first.items() if int(hashlib.sha1(p.encode()).hexdigest()[:8], 16) % buckets == 0}
    return np.array([int(g) in chosen for g in groups])


# -- evaluation protocol --------------------------------------------------------------------

def nn_type_accuracy(queries: np.ndarray, q_labels: np.ndarray, gallery: np.ndarray, g_labels: np.ndarray) -> float:
    """Top-1 cosine nearest neighbour in ``gallery`` has the query's type (fraction of queries)."""
    q, g = l2_normalize(queries), l2_normalize(gallery)
    nearest = np.argmax(q @ g.T, axis=1)
    return float(np.mean(g_labels[nearest] == q_labels))


def loo_knn_accuracy(x: np.ndarray, labels: np.ndarray, groups: np.ndarray | None = None, k: int = 1) -> float:
    """Leave-one-out kNN type accuracy; with ``groups``, near-duplicates of the query are excluded too."""
    v = l2_normalize(x)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    if groups is not None:
        sims[groups[:, None] == groups[None, :]] = -np.inf
    nn = np.argsort(-sims, axis=1)[:, :k]
    votes = labels[nn]
    pred = np.array([np.bincount(r, minlength=labels.max() + 1).argmax() for r in votes])
    return float(np.mean(pred == labels))


def chance_accuracy(q_labels: np.ndarray, g_labels: np.ndarray) -> float:
    """Expected top-1 accuracy of a random gallery item: sum_t p_query(t) * p_gallery(t)."""
    k = int(max(q_labels.max(), g_labels.max())) + 1
    pq = np.bincount(q_labels, minlength=k) / len(q_labels)
    pg = np.bincount(g_labels, minlength=k) / len(g_labels)
    return float(pq @ pg)


# Planned share of run_evaluation's time per phase: encoding photos dominates on a CPU; the
# adapter fit and the evaluation take the rest. Within encoding, work is images x views.
ENCODE_SHARE, FIT_SHARE = 0.85, 0.12


def run_evaluation(data_dir: Path, out_dir: Path, cache_dir: Path, n_views: int = 2, seed: int = 0, log=print,
                   progress: Callable[[float, str, list], None] | None = None) -> dict:
    """Train the adapter on the labelled photos and evaluate it against the H&M catalog photos.

    ``progress(fraction, message, steps)`` reports each chunk of photos encoded and each
    adapter epoch, with steps as (unit, done, total) tuples.
    """
    report = progress or (lambda fraction, message, steps: None)
    encoder = ImageEncoder()
    paths, labels = read_labels(data_dir)
    hm_paths, hm_labels, _ = read_hm_catalog_photos(data_dir)
    log(f"labelled photos: {len(paths)}; H&M catalog photos with a jewelry type: {len(hm_paths)}")
    t0 = time.time()
    work = max(1, len(paths) * n_views + len(hm_paths))

    def encoded(base: float, per_photo: int, name: str):
        def on_batch(done: int, total: int) -> None:
            report(ENCODE_SHARE * (base + done * per_photo) / work, f"encoding {name} photos",
                   [("photo", done, total)])
        return on_batch

    views, hashes, ok = cached_photo_features(encoder, paths, n_views, cache_dir, "labelled", seed=seed, log=log,
                                              on_batch=encoded(0, n_views, "labelled"))
    hm_views, _, hm_ok = cached_photo_features(encoder, hm_paths, 1, cache_dir, "hm", seed=seed, log=log,
                                               on_batch=encoded(len(paths) * n_views, 1, "catalog"))
    report(ENCODE_SHARE, "photos encoded", [])
    log(f"features ready in {time.time() - t0:.0f}s")
    paths = [p for p, o in zip(paths, ok) if o]
    labels, views, hashes = labels[ok], views[ok], hashes[ok]
    gallery, g_labels = hm_views[hm_ok, 0], hm_labels[hm_ok]

    groups = near_duplicate_groups(hashes, features=views[:, 0])
    held = heldout_mask(paths, groups)
    train = ~held
    n_groups = len(set(groups.tolist()))
    log(f"near-duplicate groups: {n_groups} for {len(paths)} photos; held out {held.sum()} photos, train {train.sum()}")

    raw_q = views[held, 0]
    before = nn_type_accuracy(raw_q, labels[held], gallery, g_labels)
    chance = chance_accuracy(labels[held], g_labels)
    loo_raw = loo_knn_accuracy(views[:, 0], labels, groups)

    adapter = ImageAdapter()
    train_x = views[train].reshape(-1, views.shape[-1])
    train_y = np.repeat(labels[train], views.shape[1])
    t1 = time.time()
    adapter.fit(train_x, train_y, seed=seed, on_epoch=lambda done, epochs: report(
        ENCODE_SHARE + FIT_SHARE * done / epochs, "training the adapter", [("epoch", done, epochs)]))
    fit_s = time.time() - t1
    report(ENCODE_SHARE + FIT_SHARE, "evaluating visual search", [])
    after = nn_type_accuracy(adapter.transform(raw_q), labels[held], adapter.transform(gallery), g_labels)
    held_cls = float(np.mean(adapter.predict_proba(raw_q).argmax(1) == labels[held]))
    # What visual search serves: adapted cosine plus the query's type probability of each
    # catalog item's (known) type.
    g_types = [adapter.classes[i] for i in g_labels]
    aware = type_aware_scores(adapter, raw_q, adapter.transform(gallery), g_types)
    after_type_aware = float(np.mean(g_labels[aware.argmax(1)] == labels[held]))
    # LOO within the held-out photos only: the adapter never saw them.
    loo_adapted_held = loo_knn_accuracy(adapter.transform(raw_q), labels[held], groups[held])
    loo_raw_held = loo_knn_accuracy(raw_q, labels[held], groups[held])
    loo_chance = chance_accuracy(labels, labels)
    version = adapter.save(out_dir)
    result = {
        "protocol": (
            "queries = held-out labelled photos (20% of near-duplicate groups: dHash<=6 and cosine>=0.9); gallery = H&M catalog "
            "photos with a jewelry type; metric = top-1 cosine NN has the query's type"
        ),
        "n_labelled": len(paths),
        "n_heldout": int(held.sum()),
        "n_train_photos": int(train.sum()),
        "n_views": int(views.shape[1]),
        "n_gallery": int(len(gallery)),
        "visual_search_top1_before": round(before, 4),
        "visual_search_top1_after": round(after, 4),
        "visual_search_top1_after_type_aware": round(after_type_aware, 4),
        "visual_search_chance": round(chance, 4),
        "heldout_type_classification_after": round(held_cls, 4),
        "loo_1nn_all_labelled_raw": round(loo_raw, 4),
        "loo_1nn_heldout_raw": round(loo_raw_held, 4),
        "loo_1nn_heldout_adapted": round(loo_adapted_held, 4),
        "loo_chance": round(loo_chance, 4),
        "adapter_fit_seconds": round(fit_s, 1),
        "adapter_version": version,
        "out_dir": str(out_dir),
    }
    (out_dir / "evaluation.json").write_text(json.dumps(result, indent=2))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("JEWELREC_DATA_DIR", "/work/shared/datasets")))
    parser.add_argument("--out", type=Path, required=True, help="directory for the adapter weights + evaluation.json")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/jewelrec-feature-cache"))
    parser.add_argument("--views", type=int, default=2, help="plain photo + (views-1) augmented copies per training photo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not (args.data_dir / "jewelry-photos" / "labels.csv").is_file():
        parser.error(f"{args.data_dir}: no jewelry-photos/labels.csv")
    result = run_evaluation(args.data_dir, args.out, args.cache_dir, n_views=args.views, seed=args.seed)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
