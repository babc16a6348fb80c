import pytest

from recommender.ml.search import parse_query
from recommender.ml.search.query import MAX_QUERY_CHARS
from recommender.ml.search.vocabulary import Vocabulary


@pytest.mark.parametrize(
    "text, types, colours, materials, pmin, pmax, rest",
    [
        ("gold hoop earrings", ["earring"], ["gold"], [], None, None, ""),
        ("do you have silver hoops under 20?", ["earring"], ["silver"], [], None, 20.0, ""),
        ("silver necklace with pendant", ["necklace"], ["silver"], [], None, None, ""),
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
        ("sterling silver skull ring", ["ring"], ["silver"], ["sterling silver"], None, None, "skull"),
    ],
)
def test_parse_query(text, types, colours, materials, pmin, pmax, rest):
    q = parse_query(text)
    assert (q.types, q.colours, q.materials, q.price_min, q.price_max, q.remaining_text) == (
        types, colours, materials, pmin, pmax, rest
    )


@pytest.mark.parametrize(
    "text, types, styles, materials",
    [
        ("hoops", ["earring"], ["hoop"], []),  # a style that implies its type
        ("圈圈耳环", ["earring"], ["hoop"], []),
        ("耳圈", ["earring"], ["hoop"], []),
        ("耳钉", ["earring"], ["stud"], []),
        ("颈链", ["necklace"], ["choker"], []),
        ("choker with a pendant", ["necklace"], ["choker", "pendant"], []),
        ("吊坠", [], ["pendant"], []),
        ("流苏耳环", ["earring"], ["tassel"], []),
        ("水钻项链", ["necklace"], [], ["rhinestone"]),
        ("beaded bracelet", ["bracelet"], ["bead"], []),
        ("a pack of rings", ["ring"], ["pack"], []),
        ("一套戒指", ["ring"], ["pack"], []),
        ("pearl 项链", ["necklace"], [], ["pearl"]),  # mixed language
        ("gold 耳环 with tassels", ["earring"], ["tassel"], []),
        ("💍", ["ring"], [], []),
    ],
)
def test_styles_materials_and_mixed_language(text, types, styles, materials):
    q = parse_query(text)
    assert (q.types, q.styles, q.materials) == (types, styles, materials)


@pytest.mark.parametrize(
    "text, types, colours, excluded_colours, terms, excluded_terms, excluded_types",
    [
        ("earrings that are not gold", ["earring"], [], ["gold"], [], [], []),
        ("necklace, no silver", ["necklace"], [], ["silver"], [], [], []),
        ("不是金色的耳环", ["earring"], [], ["gold"], [], [], []),
        ("除了银色的项链", ["necklace"], [], ["silver"], [], [], []),
        ("without rhinestones", [], [], [], [], ["rhinestone"], []),
        ("earrings, not studs", ["earring"], [], [], [], ["stud"], []),  # a negated style adds no type
        ("不要耳钉的耳环", ["earring"], [], [], [], ["stud"], []),
        ("no gold or silver earrings, with pearls", ["earring"], [], ["gold", "silver"], ["pearl"], [], []),
        ("without pearls and rhinestones", [], [], [], [], ["pearl", "rhinestone"], []),
        ("not gold hoops", ["earring"], [], ["gold"], ["hoop"], [], []),  # the negated word describes the hoops
        ("不是金色的链条手链", ["bracelet"], [], ["gold"], ["chain"], [], []),
        ("不带水钻的珍珠耳环", ["earring"], [], [], ["pearl"], ["rhinestone"], []),
        ("without rhinestones pearl earrings", ["earring"], [], [], ["pearl"], ["rhinestone"], []),
        ("耳环不要金色要银色", ["earring"], ["silver"], ["gold"], [], [], []),
        ("戒指，金色的不要", ["ring"], [], ["gold"], [], [], []),  # negation after its term
        ("金色的不要了，戒指", ["ring"], [], ["gold"], [], [], []),
        ("金色耳环不贵的", ["earring"], ["gold"], [], [], [], []),  # 不贵 (not dear) negates no term
        ("necklaces but not with a pendant", ["necklace"], [], [], [], ["pendant"], []),
        ("有没有金色的耳环", ["earring"], ["gold"], [], [], [], []),  # 有没有 asks, it does not negate
        ("jewelry, not earrings", [], [], [], [], [], ["earring"]),
        ("gold, not rings", [], ["gold"], [], [], [], ["ring"]),
    ],
)
def test_negation(text, types, colours, excluded_colours, terms, excluded_terms, excluded_types):
    q = parse_query(text)
    assert (q.types, q.colours, q.excluded_colours, q.terms, q.excluded_terms, q.excluded_types) == (
        types, colours, excluded_colours, terms, excluded_terms, excluded_types
    )


def test_free_text_and_empty():
    q = parse_query("Boho tassel skull")
    assert q.types == [] and q.styles == ["boho", "tassel"] and q.remaining_text == "skull" and not q.is_empty
    assert parse_query("   ").is_empty
    assert parse_query("the of and with").is_empty  # only stop words
    assert parse_query("🙂🙂🎉").is_empty
    assert parse_query("的 吗 呢").is_empty
    with pytest.raises(TypeError):
        parse_query(None)


def test_long_input_is_cut_and_said_so():
    q = parse_query("gold " * 2000 + "necklace")
    assert q.truncated and q.colours == ["gold"] and q.types == []  # the type came after the cut
    short = parse_query("gold necklace")
    assert not short.truncated and len("gold " * 2000) > MAX_QUERY_CHARS


def test_a_merchandiser_synonym_is_understood():
    vocab = Vocabulary.builtin().extended([("hoop", "sleepers", "style"), ("bow", "bows", "shape"), ("bow", "蝴蝶结", "shape")])
    assert parse_query("sleepers", vocab).styles == ["hoop"]
    assert parse_query("sleepers").styles == []  # the built-in vocabulary is unchanged
    q = parse_query("蝴蝶结耳环", vocab)
    assert (q.types, q.styles) == (["earring"], ["bow"])
    assert vocab.version != Vocabulary.builtin().version


@pytest.mark.parametrize("text, terms, any_terms", [
    ("pearl or rhinestone necklace", ["pearl", "rhinestone"], True),
    ("珍珠或者水钻项链", ["pearl", "rhinestone"], True),
    ("pearl and rhinestone necklace", ["pearl", "rhinestone"], False),
    ("pearl rhinestone necklace", ["pearl", "rhinestone"], False),
    ("gold or silver hoops", ["hoop"], False),  # alternative colours are always either
    ("pearl earrings or necklaces with rhinestones", ["pearl", "rhinestone"], False),
])
def test_or_between_wanted_terms_makes_them_alternatives(text, terms, any_terms):
    q = parse_query(text)
    assert (q.terms, q.any_terms) == (terms, any_terms)
