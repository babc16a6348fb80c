"""Text search and the assistant: query understanding, filters, relaxation, fallback,
personalisation within the matches, merchandiser synonyms, item-in-context answers."""
from __future__ import annotations

import pytest
from django.utils import timezone

from recommender.models import Customer, Event, Item, RecommenderSettings, SearchSynonym
from recommender.serving.catalog import serving_catalog_invalidate
from recommender.serving.errors import DomainError
from recommender.serving.scenarios import Request
from recommender.serving.search import assistant_answer, search_text
from recommender.serving.vocabulary import search_synonym_add, search_synonym_delete, search_vocabulary

pytestmark = pytest.mark.django_db

ITEMS = [
    # id, title, type, colour, description
    ("E1", "Pela Pearl hoops", "Earring", "Gold", "Metal hoop earrings with pearly plastic beads."),
    ("E2", "Pela Pearl hoops", "Earring", "Silver", "Metal hoop earrings with pearly plastic beads."),
    ("E3", "Sparkle studs", "Earring", "Silver", "Metal studs decorated with rhinestones."),
    ("E4", "Tassel drops", "Earring", "Gold", "Long earrings with tassels in fabric."),
    ("E5", "Pearl studs", "Earring", "White", "Studs with a round plastic pearl."),
    ("E6", "Black hoops", "Earring", "Black", "Matte metal hoop earrings."),
    ("N1", "Choker pearl", "Necklace", "Gold", "Choker in metal with pearls."),
    ("N2", "Pendant chain", "Necklace", "Silver", "Thin metal chain necklace with a heart-shaped pendant."),
    ("N3", "Rhinestone collar", "Necklace", "Silver", "Short necklace decorated with rhinestones."),
    ("R1", "Ring pk", "Ring", "Gold", "Metal rings in various designs."),
    ("R2", "Signet ring", "Ring", "Silver", "Chunky metal signet ring."),
    ("B1", "Bead bracelet", "Bracelet", "Black", "Elastic bracelet with wooden beads."),
]


@pytest.fixture
def jewels(db):
    items = {eid: Item.objects.create(external_id=eid, title=title, product_type=ptype, colour=colour, description=desc,
                                      is_jewelry=True, price=10 + n)
             for n, (eid, title, ptype, colour, desc) in enumerate(ITEMS)}
    now = timezone.now()
    for n, key in enumerate(["E6", "E6", "E6", "E4", "E4", "N2"]):  # popularity: E6 > E4 > N2
        buyer = Customer.objects.create(external_id=f"buyer-{n}")
        Event.objects.create(customer=buyer, item=items[key], event_type="purchase", timestamp=now)
    serving_catalog_invalidate()
    yield items
    serving_catalog_invalidate()


def ids(result):
    return [item.id for item in result.items]


def search(query, **kw):
    return search_text(query, Request(k=kw.pop("k", 10), customer_id=kw.pop("customer_id", None)), **kw)


@pytest.mark.parametrize("query, expected", [
    ("pearl earrings", {"E1", "E2", "E5"}),
    ("珍珠耳环", {"E1", "E2", "E5"}),
    ("pearl 耳环", {"E1", "E2", "E5"}),
    ("hoops", {"E1", "E2", "E6"}),
    ("圈圈耳环", {"E1", "E2", "E6"}),
    ("耳钉", {"E3", "E5"}),
    ("流苏耳环", {"E4"}),
    ("水钻项链", {"N3"}),
    ("吊坠", {"N2"}),
    ("颈链", {"N1"}),
    ("a pack of rings", {"R1"}),
    ("beaded bracelet", {"B1"}),
    ("silver pearl hoops", {"E2"}),
])
def test_styles_and_materials_in_both_languages_filter(jewels, query, expected):
    assert set(ids(search(query))) == expected


@pytest.mark.parametrize("query, expected", [
    ("earrings that are not gold", {"E2", "E3", "E5", "E6"}),
    ("不是金色的耳环", {"E2", "E3", "E5", "E6"}),
    ("necklace, no silver", {"N1"}),
    ("earrings without rhinestones", {"E1", "E2", "E4", "E5", "E6"}),
    ("不要水钻的耳环", {"E1", "E2", "E4", "E5", "E6"}),
    ("earrings, not studs", {"E1", "E2", "E4", "E6"}),
    ("pearl earrings without hoops", {"E5"}),
])
def test_negation_excludes_what_was_excluded(jewels, query, expected):
    assert set(ids(search(query))) == expected


def test_terms_nothing_has_together_relax_to_any_of_them(jewels):
    result = search("pearl earrings with a heart")  # no earring has a heart: pearl or heart
    assert result.extras["parsed"]["relaxed"] == ["terms"]
    assert set(ids(result)) == {"E1", "E2", "E5"}
    assert ids(search("gold pearl earrings")) == ["E1"]


def test_a_colour_nothing_has_relaxes_to_a_boost_and_says_so(jewels):
    result = search("purple rings")
    assert result.extras["parsed"]["relaxed"] == ["colour"]
    assert set(ids(result)) == {"R1", "R2"}


def test_stop_words_or_emoji_answer_popular_items_flagged_as_fallback(jewels):
    for query in ("the of and", "🙂🎉", "的 吗"):
        result = search(query, k=3)
        assert result.extras["parsed"]["fallback"] == "popular"
        assert ids(result) == ["E6", "E4", "N2"]
    with pytest.raises(DomainError) as err:
        search("   ")
    assert err.value.code == "required"


def test_a_very_long_query_is_cut_not_refused_by_the_service(jewels):
    result = search("pearl earrings " + "x" * 10_000)
    assert result.extras["parsed"]["truncated"] is True
    assert set(ids(result)) == {"E1", "E2", "E5"}


def test_price_bounds_from_the_text_and_explicit_ones_win(jewels):
    assert set(ids(search("earrings under 12"))) == {"E1", "E2", "E3"}  # prices 10, 11, 12
    assert set(ids(search("earrings under 12", price_min=11, price_max=11))) == {"E2"}
    assert ids(search("earrings under 0")) == []  # a bound nothing meets: an empty answer, not an error


def test_personalisation_reorders_only_within_the_matches(jewels):
    shopper = Customer.objects.create(external_id="fan")
    for key in ("N2", "N3", "R2"):  # history of silver necklaces and rings, none of them earrings
        Event.objects.create(customer=shopper, item=jewels[key], event_type="purchase", timestamp=timezone.now())
    serving_catalog_invalidate()
    result = search("pearl earrings", customer_id="fan")
    assert set(ids(result)) == {"E1", "E2", "E5"}
    result = search("earrings that are not gold", customer_id="fan")
    assert set(ids(result)) == {"E2", "E3", "E5", "E6"}


def test_a_merchandiser_synonym_works_at_once_and_can_be_removed(jewels):
    before = search("sleepers").extras["parsed"]
    assert before["styles"] == [] and before["remaining_text"] == "sleepers"
    synonym = search_synonym_add(concept="hoop", form="Sleepers")
    assert (synonym.concept, synonym.form, synonym.kind) == ("hoop", "sleepers", "style")
    assert set(ids(search("sleepers"))) == {"E1", "E2", "E6"}
    assert search_vocabulary().term("hoop").en[-1] == "sleepers"
    # a new concept marks the items whose text uses it
    search_synonym_add(concept="matte", form="哑光", kind="style")
    assert ids(search("哑光耳环")) == ["E6"]
    assert search_synonym_delete(synonym.id) is True
    assert search("sleepers").extras["parsed"]["styles"] == []


@pytest.mark.parametrize("kwargs, code, field", [
    ({"concept": "hoop", "form": "pearl"}, "duplicate", "form"),  # already means pearl
    ({"concept": "hoop", "form": "hoops"}, "duplicate", "form"),
    ({"concept": "hoop", "form": "  "}, "required", "form"),
    ({"concept": "", "form": "x"}, "required", "concept"),
    ({"concept": "brand new", "form": "x"}, "invalid", "kind"),  # a new term needs its kind
    ({"concept": "hoop", "form": "x" * 65}, "too_long", "form"),
    ({"concept": "哑光", "form": "磨砂", "kind": "style"}, "invalid", "concept"),  # a new term is named in English
])
def test_a_bad_synonym_is_refused_and_nothing_is_stored(jewels, kwargs, code, field):
    with pytest.raises(DomainError) as err:
        search_synonym_add(**kwargs)
    assert (err.value.code, err.value.field) == (code, field)
    assert SearchSynonym.objects.count() == 0


def test_assistant_finds_this_item_in_another_colour(jewels):
    result = assistant_answer("do you have this in silver?", Request(k=5), item_id="E1")
    assert result.extras["intent"] == "item_variants"
    assert ids(result)[0] == "E2"  # the same product in silver first
    assert "E1" not in ids(result)
    assert result.extras["answer"].startswith("Yes, the Pela Pearl hoops also comes in silver: Pela Pearl hoops")
    assert all(jewels[i].product_type == "Earring" and jewels[i].colour == "Silver" for i in ids(result))
    chinese = assistant_answer("这款有黑色的吗？", Request(k=5), item_id="E1")
    assert ids(chinese) == ["E6"]
    assert chinese.extras["answer"].startswith("Pela Pearl hoops本身没有黑色款")


def test_assistant_says_what_an_item_is_made_of_from_its_attributes(jewels):
    result = assistant_answer("what is it made of?", Request(k=3), item_id="E1")
    assert result.extras["intent"] == "item_material"
    assert result.extras["answer"] == "The Pela Pearl hoops is made of pearl, metal and plastic."
    chinese = assistant_answer("这是什么材质？", Request(k=3), item_id="B1")
    assert chinese.extras["answer"] == "Bead bracelet的材质：木质。"


def test_assistant_answers_do_not_repeat_a_product(jewels):
    Item.objects.create(external_id="E7", title="Pela Pearl hoops", product_type="Earring", colour="Gold",
                        description="Metal hoop earrings with pearly plastic beads.", is_jewelry=True, price=10)
    serving_catalog_invalidate()
    result = assistant_answer("pearl hoops", Request(k=5))
    assert [i.title for i in result.items] == ["Pela Pearl hoops"]  # three ids, two colours: one product
    assert result.extras["answer"] == "Yes, we have pearl hoop earrings. Top picks: Pela Pearl hoops (10 EUR)."


def test_a_warmed_worker_searches_without_a_query(jewels, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from recommender.serving import search as search_mod
    from recommender.serving.warmup import serving_warm

    settings.JEWELREC_SERVING_CONFIG_SECONDS = 60.0  # the snapshots warmed are then reused
    RecommenderSettings.load()  # its first load creates the row, which invalidates that load
    search_mod._cache.clear()
    assert "search" in serving_warm()
    with CaptureQueriesContext(connection) as queries:
        result = search("不是金色的珍珠耳环")
    assert set(ids(result)) == {"E2", "E5"}
    assert [q["sql"] for q in queries.captured_queries] == []


def test_a_query_with_only_exclusions_ranks_best_sellers_first(jewels):
    result = search("without rhinestones", k=3)
    assert result.extras["parsed"]["excluded_terms"] == ["rhinestone"]
    assert ids(result) == ["E6", "E4", "N2"]  # the most bought; N3 and E3 (rhinestones) never
    assert not {"E3", "N3"} & set(ids(search("without rhinestones", k=20)))


def test_alternative_terms_need_one_of_them(jewels):
    assert set(ids(search("pearl or rhinestone necklace"))) == {"N1", "N3"}
    assert set(ids(search("pearl and rhinestone necklace"))) == {"N1", "N3"}  # nothing has both: relaxed
    assert search("pearl and rhinestone necklace").extras["parsed"]["relaxed"] == ["terms"]
    assert search("pearl or rhinestone necklace").extras["parsed"]["relaxed"] == []


def test_the_text_matrix_holds_each_items_vector_of_its_current_text_only(jewels):
    """Vectors of an older text (the title changed since) are stale: the item counts as not
    encoded until its new text is."""
    import numpy as np

    from recommender.embeddings.services import item_text, text_digest
    from recommender.embeddings import encoders
    from recommender.models import EncoderOutput
    from recommender.serving.catalog import serving_catalog
    from recommender.serving.search import _text_matrix

    encoder = encoders.search_text_encoder()
    fields = ("title", "description", "product_type", "colour", "material", "appearance")
    items = list(Item.objects.filter(is_jewelry=True).order_by("id")[:3])
    for n, item in enumerate(items):
        text = item_text({f: getattr(item, f) for f in fields})
        vector = np.full(encoder.dim, n + 1, dtype="<f4")
        EncoderOutput.objects.create(item=item, modality="text", encoder=encoder.version, input_hash=text_digest(text),
                                     dim=encoder.dim, vector=vector.tobytes())
    # the third item's older text, stored too: never the one used
    EncoderOutput.objects.create(item=items[2], modality="text", encoder=encoder.version, input_hash="0" * 64,
                                 dim=encoder.dim, vector=np.full(encoder.dim, 99, dtype="<f4").tobytes())
    items[1].title = "A renamed piece"
    items[1].save()
    serving_catalog_invalidate()
    catalog = serving_catalog()
    text = _text_matrix(catalog)
    rows = [catalog.pk_row[i.pk] for i in items]
    assert text.has.sum() == 2 and text.has[rows[0]] and not text.has[rows[1]] and text.has[rows[2]]
    assert sorted(text.rows.tolist()) == sorted([rows[0], rows[2]]) and text.matrix.shape == (2, encoder.dim)
    scores, has = text.scores(np.ones(encoder.dim, np.float32))
    assert scores.shape == (len(catalog),) and (has == text.has).all()
    assert scores[rows[0]] == encoder.dim and scores[rows[2]] == 3 * encoder.dim and scores[rows[1]] == 0
