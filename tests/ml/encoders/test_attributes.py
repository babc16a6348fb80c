import numpy as np
import pytest

from recommender.ml.encoders.attributes import AttributeEncoder

ITEMS = [
    {"product_type": "Earring", "colour": "Gold", "colour_master": "Metal", "material": "metal, glass", "price": 0.01, "section": "Womens"},
    {"product_type": "Earring", "colour": "Silver", "colour_master": "Metal", "material": "metal", "price": 0.02, "section": "Womens"},
    {"product_type": "Ring", "colour": "Gold", "colour_master": "Metal", "material": ["metal"], "price": 0.03, "exclusive_tier": "gold"},
    {"product_type": "Ring", "colour": "Gold", "colour_master": "Metal", "material": None, "price": None, "exclusive_tier": "gold"},
    {"product_type": "Necklace", "colour": "Black", "price": 0.05},
]


def test_vector_layout_oov_and_missing():
    enc = AttributeEncoder(min_count=2).fit(ITEMS)
    names = enc.feature_names()
    x = enc.transform(ITEMS + [{"product_type": "Tiara", "colour": "Gold", "price": 999}])
    assert x.shape == (6, enc.dim) == (6, len(names))
    row = dict(zip(names, x[0]))
    assert row["product_type=earring"] == 1 and row["colour=gold"] == 1 and row["material=metal"] == 1
    assert row["material=<oov>"] == 1  # "glass" appears once: below min_count
    assert row["exclusive_tier=<missing>"] == 1
    tiara = dict(zip(names, x[5]))
    assert tiara["product_type=<oov>"] == 1 and tiara["product_type=ring"] == 0
    assert tiara[f"price_bucket={len(enc.price_edges)}"] == 1  # above every edge: top bucket
    missing_price = dict(zip(names, x[3]))
    assert missing_price["price_missing"] == 1 and missing_price["log_price_z"] == 0


def test_json_round_trip_gives_identical_vectors_and_version():
    enc = AttributeEncoder().fit(ITEMS)
    again = AttributeEncoder.from_json(enc.to_json())
    np.testing.assert_array_equal(enc.transform(ITEMS), again.transform(ITEMS))
    assert enc.version == again.version and enc.version.startswith("attributes@")


def test_bad_json_and_unfitted():
    with pytest.raises(ValueError, match="invalid AttributeEncoder JSON"):
        AttributeEncoder.from_json('{"fields": []}')
    with pytest.raises(RuntimeError, match="not fitted"):
        AttributeEncoder().transform(ITEMS)
    with pytest.raises(ValueError, match="at least one item"):
        AttributeEncoder().fit([])


def test_real_catalog_attributes(data_dir):
    import pandas as pd

    a = pd.read_parquet(data_dir / "hm-jewelry" / "articles.parquet")
    j = a[a.product_type_name.isin(["Earring", "Earrings", "Necklace", "Ring", "Bracelet"])]
    prices = pd.read_parquet(data_dir / "hm-jewelry" / "transactions.parquet").groupby("article_id").price.median()
    items = [
        {
            "product_type": r.product_type_name,
            "colour": r.colour_group_name,
            "colour_master": r.perceived_colour_master_name,
            "appearance": r.graphical_appearance_name,
            "department": r.department_name,
            "section": r.section_name,
            "index_group": r.index_group_name,
            "price": prices.get(r.article_id),
        }
        for r in j.itertuples()
    ]
    enc = AttributeEncoder().fit(items)
    x = enc.transform(items)
    assert x.shape == (2171, enc.dim)
    # Every field block has exactly one hot slot (one-valued fields; missing gets its own slot).
    col = 0
    for name, _ in enc.fields:
        width = len(enc.vocab[name])
        assert np.all(x[:, col : col + width].sum(1) == 1), name
        col += width
