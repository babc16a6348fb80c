import json

import pytest

from recommender.ml.search.vocabulary import VOCABULARY_FILE, KINDS, Vocabulary, catalog_pattern


def test_the_file_is_well_formed_and_every_form_has_one_meaning():
    data = json.loads(VOCABULARY_FILE.read_text(encoding="utf-8"))
    vocab = Vocabulary.from_dict(data)
    assert len(vocab.terms) == len(data["terms"])
    assert {t.kind for t in vocab.terms.values()} == set(KINDS)
    owners: dict[str, str] = {}
    for term in vocab.terms.values():
        for form in term.forms:
            assert owners.setdefault(form, term.concept) == term.concept, f"{form!r} means two terms"
    # every text term can mark items, every type and colour maps to catalogue values
    assert all(t.catalog for t in vocab.of_kind("material", "stone", "style", "shape", "occasion"))
    assert all(t.product_types for t in vocab.of_kind("type")) and all(t.colour_groups for t in vocab.of_kind("colour"))
    # both languages for every term
    assert all(t.en and t.zh for t in vocab.terms.values())


@pytest.mark.parametrize(
    "stems, text, hit",
    [
        (["pearl"], "earrings with pearly beads", True),
        (["pearl"], "pearls", True),
        (["stud"], "class studio earring", False),  # a word that only starts like the stem
        (["stud"], "basic 9-pk studs", True),
        (["hoop"], "flirty charm hooppk", True),
        (["-pk"], "cool godfather ringpk", True),
        (["-pk"], "pink ring", False),
        (["various designs"], "metal rings in various  designs.", True),
        (["rhine"], "rhinestone-decorated", False),
    ],
)
def test_catalog_pattern(stems, text, hit):
    assert bool(catalog_pattern(stems).search(text)) is hit


def test_item_terms_and_extension():
    vocab = Vocabulary.builtin()
    terms = vocab.item_terms(["Gold hoops. Metal hoop earrings with pearly beads.", "Silver ring pk"])
    assert terms["hoop"].tolist() == [True, False]
    assert terms["pearl"].tolist() == [True, False]
    assert terms["pack"].tolist() == [False, True]
    bigger = vocab.extended([("skull", "skulls", "shape"), ("skull", "骷髅", "shape")])
    assert bigger.term("skull").catalog == ("skull",) and bigger.term("skull").zh == ("骷髅",)
    assert bigger.item_terms(["Skull ring"])["skull"].tolist() == [True]
    # a new type or colour cannot come from a synonym row; an empty row changes nothing
    assert vocab.extended([("anklet", "anklets", "type"), ("", "x", "style")]) is vocab


def test_a_bad_file_is_refused():
    with pytest.raises(ValueError, match="not a search vocabulary"):
        Vocabulary.from_dict({"format": "other", "terms": []})
    with pytest.raises(ValueError, match="unknown kind"):
        Vocabulary.from_dict({"format": "jewelrec.search_vocabulary/1", "terms": [{"concept": "x", "kind": "mood"}]})


def test_item_terms_agree_with_searching_every_text():
    from pathlib import Path

    from django.conf import settings

    articles = Path(settings.JEWELREC_DATA_DIR) / "hm-jewelry" / "articles.parquet"
    if not articles.exists():
        pytest.skip("the H&M sample is not here")
    import pyarrow.parquet as pq

    rows = pq.read_table(articles, columns=["prod_name", "detail_desc"]).slice(0, 3000).to_pylist()
    texts = [f"{r['prod_name']} {r['detail_desc'] or ''}" for r in rows] + ["Ring pk", "ringpk", "Various  designs"]
    vocab = Vocabulary.builtin()
    fast = vocab.item_terms(texts)
    for term in vocab.of_kind("material", "stone", "style", "shape", "occasion"):
        pattern = catalog_pattern(term.catalog)
        slow = [bool(pattern.search(t.lower())) for t in texts]
        assert fast[term.concept].tolist() == slow, term.concept
