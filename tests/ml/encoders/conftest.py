"""Shared real-data fixtures; encoders and encodings are built once per session to keep tests fast."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

DATA_DIR = Path(os.environ.get("JEWELREC_DATA_DIR", "/work/shared/datasets"))
TYPES = ("bracelet", "earring", "necklace", "ring", "watch")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "jewelry-photos" / "labels.csv").is_file():
        pytest.skip(f"real datasets not found under {DATA_DIR} (set JEWELREC_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def image_encoder():
    from recommender.ml.encoders.image import ImageEncoder

    return ImageEncoder(batch_size=32)


@pytest.fixture(scope="session")
def labelled_sample(data_dir):
    """20 photos per type from web-train (first 20 by file name): deterministic and small."""
    import csv

    by_type: dict[str, list[str]] = {t: [] for t in TYPES}
    with open(data_dir / "jewelry-photos" / "labels.csv") as fh:
        for row in csv.DictReader(fh):
            if row["path"].startswith("web-train/"):
                by_type[row["type"]].append(row["path"])
    paths, labels = [], []
    for i, t in enumerate(TYPES):
        chosen = sorted(by_type[t])[::7][:20]  # every 7th file: avoids runs of near-duplicates
        paths += [str(data_dir / "jewelry-photos" / p) for p in chosen]
        labels += [i] * len(chosen)
    return paths, np.asarray(labels)


@pytest.fixture(scope="session")
def labelled_features(image_encoder, labelled_sample):
    paths, labels = labelled_sample
    feats, failures = image_encoder.encode_many(paths)
    assert failures == {}
    return feats, labels


@pytest.fixture(scope="session")
def hm_photos(data_dir) -> list[str]:
    return sorted(str(p) for p in (data_dir / "hm-jewelry" / "images").glob("*.jpg"))


@pytest.fixture(scope="session")
def hm_features(image_encoder, hm_photos):
    feats, failures = image_encoder.encode_many(hm_photos)
    assert failures == {}
    return feats
