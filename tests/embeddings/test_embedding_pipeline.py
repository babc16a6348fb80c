"""The embedding pipeline on real catalog rows and photos from the shared dataset."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from recommender.catalog.services import item_create, item_image_add
from recommender.embeddings import services as emb
from recommender.models import EncoderOutput, ItemImage, ItemVector
from recommender.serving import scenarios
from recommender.serving.catalog import serving_catalog_invalidate
from recommender.serving.search import search_text

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

JEWELRY = {"Earring", "Earrings", "Necklace", "Ring", "Bracelet"}


@pytest.fixture
def real_catalog(hm_dir, settings, tmp_path):
    """36 real jewelry articles: those with photos first, then some without."""
    settings.JEWELREC_ARTIFACT_DIR = tmp_path / "artifacts"
    articles = pd.read_parquet(hm_dir / "articles.parquet")
    jewelry = articles[articles.product_type_name.isin(JEWELRY)]
    photos = {p.stem for p in (hm_dir / "images").glob("*.jpg")}
    with_photo = jewelry[jewelry.article_id.isin(photos)].groupby("product_type_name").head(6)
    without = jewelry[~jewelry.article_id.isin(photos)].groupby("product_type_name").head(2)
    items = {}
    for row in pd.concat([with_photo, without]).itertuples():
        item = item_create(external_id=row.article_id, title=row.prod_name, description=row.detail_desc or "",
                           product_type=row.product_type_name, colour=row.colour_group_name,
                           colour_master=row.perceived_colour_master_name, appearance=row.graphical_appearance_name,
                           section=row.section_name, department=row.department_name, price="0.02")
        if row.article_id in photos:
            item_image_add(item, (hm_dir / "images" / f"{row.article_id}.jpg").read_bytes())
        items[row.article_id] = item
    serving_catalog_invalidate()
    yield items
    serving_catalog_invalidate()


def test_vectors_are_512d_say_which_parts_they_have_and_rerun_does_nothing(real_catalog):
    pks = [i.pk for i in real_catalog.values()]
    first = emb.embed_items(pks)
    assert first.vectors_written == len(pks) and not first.failed
    assert first.images_encoded == ItemImage.objects.count()
    vectors = ItemVector.objects.filter(item_id__in=pks)
    assert vectors.count() == len(pks)
    for iv in vectors:
        assert iv.dim == 512 and iv.status == "current" and iv.has_text
        assert iv.has_image == ItemImage.objects.filter(item_id=iv.item_id).exists()
        v = np.frombuffer(bytes(iv.vector), dtype="<f4")
        assert abs(np.linalg.norm(v) - 1) < 1e-4
    outputs = EncoderOutput.objects.count()
    second = emb.embed_items(pks)
    # Same encoders, same photos, same texts: nothing encoded, nothing rewritten.
    assert (second.images_encoded, second.texts_encoded, second.vectors_written) == (0, 0, 0)
    assert second.unchanged == len(pks)
    assert EncoderOutput.objects.count() == outputs


def test_text_change_reencodes_only_that_item(real_catalog):
    pks = [i.pk for i in real_catalog.values()]
    emb.embed_items(pks)
    item = next(iter(real_catalog.values()))
    item.description = "Completely new description of a chunky gold chain."
    item.save()
    summary = emb.embed_items(pks)
    assert summary.texts_encoded == 2  # fusion encoder + search encoder, one item
    assert summary.vectors_written == 1 and summary.images_encoded == 0


def test_broken_photo_fails_its_item_keeps_last_vector_and_batch_goes_on(real_catalog, settings):
    pks = [i.pk for i in real_catalog.values()]
    emb.embed_items(pks)
    victim = ItemImage.objects.first()
    before = bytes(ItemVector.objects.get(item_id=victim.item_id).vector)
    # A second photo that passes upload validation but is truncated on disk later (a corrupt store).
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "gold").save(buf, "JPEG")
    image = item_image_add(victim.item, buf.getvalue())
    path = settings.MEDIA_ROOT / image.image.name
    path.write_bytes(path.read_bytes()[:40])
    summary = emb.embed_items(pks)
    iv = ItemVector.objects.get(item_id=victim.item_id)
    assert iv.status == "failed" and "photo" in iv.failure_reason
    assert bytes(iv.vector) == before  # the last good vector is kept
    assert summary.failed == {victim.item.external_id: iv.failure_reason}
    assert ItemVector.objects.filter(item_id__in=pks, status="current").count() == len(pks) - 1


def test_colour_type_queries_and_chinese_find_matching_items(real_catalog):
    emb.embed_items([i.pk for i in real_catalog.values()])
    serving_catalog_invalidate()
    for query, wanted_type in [("gold earrings", "earring"), ("silver necklace", "necklace"),
                               ("金色耳环", "earring"), ("我想要银色的项链", "necklace")]:
        result = search_text(query, scenarios.Request(k=10))
        assert result.items, query
        types = {i.type.lower().rstrip("s") for i in result.items}
        assert types == {wanted_type}, (query, types)


def test_similar_items_use_the_vectors(real_catalog):
    emb.embed_items([i.pk for i in real_catalog.values()])
    serving_catalog_invalidate()
    earring = next(i for i in real_catalog.values() if i.product_type.startswith("Earring"))
    result = scenarios.recommend_similar(earring.external_id, scenarios.Request(k=5))
    assert earring.external_id not in [i.id for i in result.items]
    assert result.model_version.startswith("fusion-")
    assert sum(i.type.startswith("Earring") for i in result.items) >= 3
