"""Embedding pipeline throughput vs the raw forward pass of the same models, in one run.

    python bench/bench_embedding.py [--data-dir DIR] [--images N] [--texts N] [--text-encoder use-multilingual]

* images/s of the whole pipeline (read file, decode, EXIF, resize, crop, scale, forward,
  float32 rows) vs the model's forward pass alone on the same, already preprocessed
  tensors with the same batch size;
* texts/s of MiniLM's pipeline (clean, tokenize, forward, mean-pool, normalise) vs its
  forward alone on pre-tokenized batches; USE-multilingual texts/s (pure numpy, its own
  tokenizer; no separate forward to compare against);
* end-to-end seconds to encode the sample jewelry catalog: every jewelry text and every
  catalog photo (the Django store step is not included).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.ml.encoders.image import ImageEncoder, preprocess_image  # noqa: E402
from recommender.ml.encoders.text import get_text_encoder  # noqa: E402

JEWELRY_TYPES = ["Earring", "Earrings", "Necklace", "Ring", "Bracelet"]


def item_text(row) -> str:
    parts = [row.prod_name, row.product_type_name, row.colour_group_name, row.graphical_appearance_name, row.detail_desc]
    return ". ".join(str(p) for p in parts if isinstance(p, str) and p)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("JEWELREC_DATA_DIR", "/work/shared/datasets")))
    ap.add_argument("--images", type=int, default=128, help="photos for the throughput comparison")
    ap.add_argument("--texts", type=int, default=512, help="texts for the throughput comparison")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--text-encoder", default="use-multilingual")
    ap.add_argument("--skip-catalog", action="store_true")
    args = ap.parse_args()

    import pandas as pd

    photos = sorted(str(p) for p in (args.data_dir / "hm-jewelry" / "images").glob("*.jpg"))
    articles = pd.read_parquet(args.data_dir / "hm-jewelry" / "articles.parquet")
    jewelry = articles[articles.product_type_name.isin(JEWELRY_TYPES)]
    texts = [item_text(r) for r in jewelry.itertuples()]
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"load average at start: {os.getloadavg()}")

    # -- images -----------------------------------------------------------------
    enc = ImageEncoder(batch_size=args.batch_size)
    sample = photos[: args.images]
    arrays = np.stack([preprocess_image(p) for p in sample])
    # The raw limit: the model alone on input tensors made beforehand (scaled, channels_last).
    tensors = [enc.to_tensor(arrays[i : i + args.batch_size]) for i in range(0, len(arrays), args.batch_size)]
    enc.forward_tensor(tensors[0])  # warm-up (oneDNN kernel selection)
    raw_s = best_of(lambda: [enc.forward_tensor(x) for x in tensors], args.repeats)
    pipe_s = best_of(lambda: enc.encode_many(sample), args.repeats)
    raw_rate, pipe_rate = len(sample) / raw_s, len(sample) / pipe_s
    print(f"images: pipeline {pipe_rate:.1f}/s, raw forward {raw_rate:.1f}/s, ratio {pipe_rate / raw_rate:.1%} (n={len(sample)}, batch {args.batch_size})")

    # -- texts --------------------------------------------------------------------
    tsample = texts[: args.texts]
    minilm = get_text_encoder("minilm")
    minilm.encode(tsample[:64])
    order = sorted(range(len(tsample)), key=lambda i: len(tsample[i]))
    batches = [
        minilm.tokenizer([tsample[i] for i in order[s : s + minilm.batch_size]], padding=True, truncation=True, max_length=minilm.max_length, return_tensors="pt")
        for s in range(0, len(order), minilm.batch_size)
    ]

    def raw_minilm():
        with torch.inference_mode():
            for b in batches:
                minilm.model(**b)

    raw_t = best_of(raw_minilm, args.repeats)
    pipe_t = best_of(lambda: minilm.encode(tsample), args.repeats)
    print(f"texts (minilm): pipeline {len(tsample) / pipe_t:.1f}/s, raw forward {len(tsample) / raw_t:.1f}/s, ratio {raw_t / pipe_t:.1%} (n={len(tsample)})")
    use = get_text_encoder("use-multilingual")
    use.encode(tsample[:32])
    use_t = best_of(lambda: use.encode(tsample), args.repeats)
    print(f"texts (use-multilingual): pipeline {len(tsample) / use_t:.1f}/s (n={len(tsample)})")

    # -- whole sample catalog --------------------------------------------------------
    if not args.skip_catalog:
        text_enc = get_text_encoder(args.text_encoder)
        t = time.perf_counter()
        tv = text_enc.encode(texts)
        t_text = time.perf_counter() - t
        t = time.perf_counter()
        iv, failures = enc.encode_many(photos)
        t_img = time.perf_counter() - t
        print(
            f"catalog end-to-end: {len(texts)} texts ({args.text_encoder}) {t_text:.1f}s + {len(photos)} photos {t_img:.1f}s "
            f"= {t_text + t_img:.1f}s; shapes {tv.shape} {iv.shape}; failures {len(failures)}"
        )
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
