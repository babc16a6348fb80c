import pytest

from recommender.ml.search import parse_query


@pytest.mark.parametrize(
    "text, types, colours, materials, pmin, pmax, rest",
    [
        ("gold hoop earrings", ["earring"], ["gold"], [], None, None, ""),
        ("do you have silver hoops under 20?", ["earring"], ["silver"], [], None, 20.0, "do you have"),
        ("silver necklace with pendant", ["necklace"], ["silver"], [], None, None, "pendant"),
        ("under 20", [], [], [], None, 20.0, ""),
        ("between 10 and 30", [], [], [], 10.0, 30.0, ""),
        ("rose gold ring under $15", ["ring"], ["rose gold"], [], None, 15.0, ""),
        ("Pearl Earrings over 5 EUR", ["earring"], [], ["pearl"], 5.0, None, ""),
        ("金色耳环", ["earring"], ["gold"], [], None, None, ""),
        ("我想要银色的项链", ["necklace"], ["silver"], [], None, None, ""),
        ("20元以下", [], [], [], None, 20.0, ""),
        ("10-30元的手链", ["bracelet"], [], [], 10.0, 30.0, ""),
        ("珍珠耳钉 50元以上", ["earring"], [], ["pearl"], 50.0, None, ""),
        ("金属手镯", ["bracelet"], [], ["metal"], None, None, ""),  # 金属 is metal, not gold
        ("黑色手表", ["watch"], ["black"], [], None, None, ""),
        ("戒指", ["ring"], [], [], None, None, ""),
    ],
)
def test_parse_query(text, types, colours, materials, pmin, pmax, rest):
    q = parse_query(text)
    assert (q.types, q.colours, q.materials, q.price_min, q.price_max, q.remaining_text) == (
        types, colours, materials, pmin, pmax, rest
    )


def test_hm_product_type_and_colour_mapping():
    q = parse_query("gold earrings or rings")
    assert q.product_types == ["Earring", "Earrings", "Ring"]
    assert q.colour_groups == ["Gold"]


def test_free_text_and_empty():
    q = parse_query("Boho tassel style")
    assert q.types == [] and q.remaining_text == "boho tassel style" and not q.is_empty
    assert parse_query("   ").is_empty
    with pytest.raises(TypeError):
        parse_query(None)
