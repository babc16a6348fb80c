"""What keeps a storefront request cheap: cached configuration, one customer query, and the
large-catalog similarity index; each must stay exactly as correct as the slow path."""
import gc
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recommender.models import (
    Customer,
    Event,
    Item,
    MerchandisingRule,
    RecommenderSettings,
)
from recommender.serving import catalog as catalog_mod
from recommender.serving import scenarios
from recommender.serving.catalog import serving_catalog, serving_catalog_invalidate
from recommender.serving.customers import customer_context
from recommender.serving.rules import rules_active
from tests.factories import item_vectors_clustered

pytestmark = pytest.mark.django_db


@pytest.fixture
def cached_config(settings):
    settings.JEWELREC_SERVING_CONFIG_SECONDS = 60.0
    from recommender.serving.rules import _rules_snapshot
    from recommender.serving.scenarios import _settings_snapshot

    _rules_snapshot.invalidate()
    _settings_snapshot.invalidate()
    yield
    _rules_snapshot.invalidate()
    _settings_snapshot.invalidate()


def test_rules_are_read_once_and_a_change_in_this_process_is_seen_at_once(cached_config):
    assert rules_active("home") == []
    with CaptureQueriesContext(connection) as q:
        rules_active("home")
    assert len(q) == 0  # cached
    rule = MerchandisingRule.objects.create(name="boost gold", action="boost", target="colour", value="Gold")
    assert [r.name for r in rules_active("home")] == ["boost gold"]  # the save signal invalidated
    rule.delete()
    assert rules_active("home") == []


def test_another_process_change_is_seen_after_the_ttl(cached_config, settings):
    rules_active("home")
    # A write that sends no signal here stands in for another server process's write.
    MerchandisingRule.objects.bulk_create([MerchandisingRule(name="elsewhere", action="bury", target="type",
                                                             value="ring")])
    assert rules_active("home") == []  # still the cached list
    settings.JEWELREC_SERVING_CONFIG_SECONDS = 0.0
    assert [r.name for r in rules_active("home")] == ["elsewhere"]


def test_a_cached_scheduled_rule_starts_and_ends_on_time(cached_config):
    now = timezone.now()
    MerchandisingRule.objects.create(name="weekend", action="boost", target="type", value="ring",
                                     starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2),
                                     scenarios=["home"])
    assert rules_active("home", now=now) == []
    assert [r.name for r in rules_active("home", now=now + timedelta(minutes=90))] == ["weekend"]
    assert rules_active("feed", now=now + timedelta(minutes=90)) == []
    assert rules_active("home", now=now + timedelta(hours=3)) == []


def test_settings_change_applies_immediately_in_process(cached_config, shop):
    first = scenarios.recommend_home(scenarios.Request(customer_id="c-none", k=100))
    assert "J901" not in [i.id for i in first.items]  # out of stock, hidden by default
    row = RecommenderSettings.load()
    row.in_stock_only = False
    row.save()
    second = scenarios.recommend_home(scenarios.Request(customer_id="c-none", k=100))
    assert "J901" in [i.id for i in second.items]


def test_customer_context_costs_one_query_with_events_and_two_without(shop):
    hoop = shop["items"]["hoop"]
    Event.objects.create(customer=shop["customers"]["gold"], item=hoop, event_type="view", timestamp=timezone.now())
    with CaptureQueriesContext(connection) as q:
        ctx = customer_context("c-gold")
    assert len(q) == 1
    assert ctx.known and ctx.tier_code == "gold" and ctx.tier_rank > 0 and [h.external_id for h in ctx.history] == ["J001"]
    with CaptureQueriesContext(connection) as q:
        ctx = customer_context("c-silver")
    assert len(q) == 2 and ctx.known and ctx.tier_code == "silver" and ctx.history == []
    plain = Customer.objects.create(external_id="no-tier")
    Event.objects.create(customer=plain, item=hoop, event_type="purchase", timestamp=timezone.now())
    ctx = customer_context("no-tier")
    assert ctx.known and ctx.tier_rank == 0 and ctx.tier_code == "none" and ctx.purchased_pks == {hoop.pk}
    assert customer_context("nobody").known is False


@pytest.fixture
def large_catalog(monkeypatch, tiers):
    """A catalog above the (lowered) large-catalog threshold, with vectors in 6 tight clusters."""
    monkeypatch.setattr(catalog_mod, "LARGE_CATALOG", 100)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((6, 512)).astype(np.float32)
    items = Item.objects.bulk_create([
        Item(external_id=f"L{i:04d}", title=f"Item {i}", product_type=["Ring", "Necklace"][i % 2], is_jewelry=True,
             colour="Gold", price=10)
        for i in range(600)
    ])
    items = list(Item.objects.filter(external_id__startswith="L").order_by("id"))
    item_vectors_clustered(items, centres, 0.05, rng)
    serving_catalog_invalidate()
    yield items
    serving_catalog_invalidate()
    gc.unfreeze()  # a large snapshot freezes the process's objects (see the next test); not the suite's


def test_a_large_snapshot_leaves_the_cyclic_collector_alone_and_a_small_one_does_not_freeze(large_catalog, monkeypatch):
    gc.unfreeze()
    serving_catalog()
    assert gc.get_freeze_count() > 0  # what was alive at the build is exempt from full collections
    gc.unfreeze()
    monkeypatch.setattr(catalog_mod, "LARGE_CATALOG", 10_000)
    serving_catalog_invalidate()
    serving_catalog()
    assert gc.get_freeze_count() == 0


def test_large_catalog_personalises_through_the_index(large_catalog):
    catalog = serving_catalog()
    assert catalog.similarity_index is not None and catalog.fast_vectors.shape[1] == catalog_mod.PROJECTED_DIM
    shopper = Customer.objects.create(external_id="shopper")
    # Three items of cluster 2 viewed: everything recommended should come from cluster 2.
    for n in (2, 8, 14):
        Event.objects.create(customer=shopper, item=large_catalog[n], event_type="view", timestamp=timezone.now())
    result = scenarios.recommend_home(scenarios.Request(customer_id="shopper", k=10))
    rows = [int(i.id[1:]) for i in result.items]
    assert len(rows) == 10 and all(r % 6 == 2 for r in rows), rows
    assert result.personalised is True
    # Cluster 2 holds only rings; asked for necklaces, the shopper gets necklaces (popularity).
    necklaces = scenarios.recommend_home(scenarios.Request(customer_id="shopper", k=5, product_type="necklace"))
    assert len(necklaces.items) == 5 and all(i.type == "Necklace" for i in necklaces.items)


def test_the_similarity_index_is_built_once_saved_and_loaded_by_the_next_build(large_catalog):
    from recommender.artifacts import ann_root

    first = serving_catalog()
    folder = ann_root() / first.similarity_index.key
    assert (folder / "index.faiss").is_file()
    written = (folder / "index.faiss").stat().st_mtime_ns
    serving_catalog_invalidate()
    second = serving_catalog()
    assert second.similarity_index is not first.similarity_index  # a new snapshot...
    assert second.similarity_index.key == first.similarity_index.key  # ...of the same vectors,
    assert (folder / "index.faiss").stat().st_mtime_ns == written  # read from the file, not rebuilt


def test_a_corrupt_index_file_is_refused_and_the_running_snapshot_kept(large_catalog, caplog, monkeypatch):
    from recommender.artifacts import ann_root
    from recommender.ml.search.ann import AnnIndexError

    served = serving_catalog()
    folder = ann_root() / served.similarity_index.key
    data = bytearray((folder / "index.faiss").read_bytes())
    data[100] ^= 0xFF
    (folder / "index.faiss").write_bytes(bytes(data))
    # a fresh process (or a rebuild after an invalidation) refuses to build its snapshot
    serving_catalog_invalidate()
    with pytest.raises(AnnIndexError, match="index.faiss is corrupt"):
        serving_catalog()
    assert "refusing the nearest-neighbour index" in caplog.text and str(folder) in caplog.text
    # a running process whose rebuild meets the file keeps serving the snapshot it has
    holder = catalog_mod._holder
    holder._catalog = served
    monkeypatch.setattr(catalog_mod, "FULL_REBUILD_SECONDS", -1.0)  # the refresh must rebuild
    with pytest.raises(AnnIndexError):
        holder._refresh_in_background()
    assert holder._catalog is served
    # and does not retry the failing build at every tick: the next one waits (10 s, then 20 s...)
    assert holder._retry_at - time.monotonic() > 9.0
    holder._refresh_in_background()  # within the pause: nothing tried, nothing raised
    assert holder._catalog is served
    holder._retry_at = 0.0
    with pytest.raises(AnnIndexError):
        holder._refresh_in_background()
    assert holder._failures == 2 and holder._retry_at - time.monotonic() > 19.0
    # deleting the folder lets the next build make the index again
    import shutil

    shutil.rmtree(folder)
    serving_catalog_invalidate()
    assert serving_catalog().similarity_index.key == served.similarity_index.key


def test_a_large_catalogs_vectors_are_mapped_from_one_shared_file(large_catalog):
    from recommender.artifacts import mapped_root
    from recommender.serving.catalog import catalog_build

    first = serving_catalog()
    for array in (first.vectors, first.fast_vectors):
        assert isinstance(array, np.memmap) and not array.flags.writeable
        assert Path(array.filename).parent.parent == mapped_root()
    # the next build (another worker, or this one after a change) maps the same files
    second = catalog_build()
    assert second.vectors.filename == first.vectors.filename
    assert second.fast_vectors.filename == first.fast_vectors.filename
    np.testing.assert_array_equal(second.vectors, first.vectors)
    norms = np.linalg.norm(np.asarray(first.vectors), axis=1)
    assert np.allclose(norms[first.has_vector], 1.0, atol=1e-5)
    # and repeated attribute values are one object each, not one per row
    assert first.currency[0] is first.currency[1] and first.types[0] is first.types[2]


def test_the_projection_is_made_once_and_read_by_every_later_build(large_catalog, monkeypatch):
    """A projection's last bits depend on BLAS's thread count (1 in a web worker, all cores in a
    shell); read from the first maker's file, every process has the same one, so the same
    index key, and none rebuilds the index (minutes at 1M items)."""
    from recommender.serving.catalog import catalog_build

    first = serving_catalog()

    def different_bits(vectors, has):
        raise AssertionError("the projection was computed again")

    monkeypatch.setattr(catalog_mod, "_fast_vectors", different_bits)
    second = catalog_build()
    assert second.fast_vectors.filename == first.fast_vectors.filename
    assert second.similarity_index.key == first.similarity_index.key


def test_a_corrupt_vectors_file_is_refused_like_a_corrupt_index(large_catalog, caplog):
    from recommender.ml.common.mapped import MappedArrayError

    path = Path(serving_catalog().vectors.filename)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    serving_catalog_invalidate()
    with pytest.raises(MappedArrayError, match="corrupt"):
        serving_catalog()
    assert "refusing the shared catalogue vectors" in caplog.text and str(path.parent) in caplog.text
    import shutil

    shutil.rmtree(path.parent)  # deleting the folder lets the next build write it again
    serving_catalog_invalidate()
    assert Path(serving_catalog().vectors.filename) == path


def test_similar_items_through_the_index_match_the_exact_scan(large_catalog):
    catalog = serving_catalog()
    index = catalog.similarity_index
    asks = [scenarios.Request(k=10), scenarios.Request(k=5, product_type="necklace")]

    def answers():
        return [[i.id for i in scenarios.recommend_similar("L0002", req).items] for req in asks]

    through_index = answers()
    neighbours = catalog.similar_neighbours
    catalog.similarity_index = catalog.similar_neighbours = None  # the small-catalog path: every row compared
    try:
        exact = answers()
    finally:
        catalog.similarity_index, catalog.similar_neighbours = index, neighbours
    assert through_index == exact
    assert all(int(i[1:]) % 6 == 2 for i in through_index[0])  # L0002's own cluster (rings)
    assert catalog.similar_neighbours.misses == 1  # the product's candidates searched once, then kept
    assert answers() == through_index and catalog.similar_neighbours.misses == 1
    # no neighbour is a necklace: the filtered ask fell back to every row, and found necklaces
    assert len(through_index[1]) == 5 and all(int(i[1:]) % 2 == 1 for i in through_index[1])


def test_catalog_masks_are_cached_and_read_only(large_catalog):
    catalog = serving_catalog()
    rings = catalog.mask("type", "ring")
    assert rings.sum() == 300 and catalog.mask("type", "ring") is rings
    with pytest.raises(ValueError):
        rings[0] = not rings[0]
    assert catalog.type_names == frozenset({"ring", "necklace"})
    # coded masks answer what comparing the strings answers, unknown values included
    for attribute, values in (("type", catalog.types), ("colour", catalog.colours), ("material", catalog.materials)):
        for value in {*values.tolist(), "no-such-value"}:
            np.testing.assert_array_equal(catalog.mask(attribute, value), values == value)


def test_a_changed_catalog_replaces_the_snapshot_in_place(shop, monkeypatch):
    monkeypatch.setattr(catalog_mod, "REFRESH_SECONDS", 0.0)
    first = serving_catalog()
    assert serving_catalog() is first  # unchanged fingerprint: the same snapshot
    Item.objects.create(external_id="J777", title="New gold ring", product_type="Ring", is_jewelry=True, price=5)
    second = serving_catalog()  # rebuilt on the fingerprint change (and freed memory released)
    assert second is not first and "J777" in second.row_of and "J777" not in first.row_of


@pytest.mark.django_db(transaction=True)
def test_the_background_refresher_picks_up_a_committed_change_while_readers_never_wait(settings, monkeypatch):
    import time

    from recommender.serving.housekeeping import Housekeeper

    settings.JEWELREC_BACKGROUND_REFRESH = True
    monkeypatch.setattr(catalog_mod, "REFRESH_SECONDS", 0.1)
    keeper = Housekeeper()  # its own thread, stopped below
    holder = catalog_mod._CatalogHolder(keeper)
    try:
        Item.objects.create(external_id="R001", title="Ring one", product_type="Ring", is_jewelry=True, price=5)
        first = holder.get()  # no snapshot yet: built in this call
        Item.objects.create(external_id="R002", title="Ring two", product_type="Ring", is_jewelry=True, price=6)
        assert holder.get() is first  # served at once; the check runs elsewhere
        deadline = time.monotonic() + 20
        while "R002" not in holder.get().row_of and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "R002" in holder.get().row_of and "R002" not in first.row_of
    finally:
        keeper.stop()
    assert not keeper._thread


def test_an_aged_snapshot_refreshes_purchase_statistics_without_rebuilding_the_items(shop, monkeypatch):
    from django.utils import timezone

    from recommender.models import Customer, Event

    monkeypatch.setattr(catalog_mod, "REFRESH_SECONDS", 0.0)
    first = serving_catalog()
    cuff = first.row_of["J005"]
    first.mask("type", "ring")  # a cached mask, shared with the refreshed snapshot
    assert first.buyers[cuff] == 0 and first.is_new[cuff]
    buyer = Customer.objects.create(external_id="cuff-buyer")
    Event.objects.create(customer=buyer, item=shop["items"]["cuff"], event_type="purchase", timestamp=timezone.now())
    Event.objects.create(customer=buyer, item=shop["items"]["jeans"], event_type="purchase", timestamp=timezone.now())
    monkeypatch.setattr(catalog_mod, "MAX_AGE_SECONDS", 0.0)
    second = serving_catalog()
    assert second is not first and second.fingerprint == first.fingerprint
    assert second.external_ids is first.external_ids and second._masks is first._masks  # items not rebuilt
    assert second.buyers[cuff] == 1 and second.popularity[cuff] > 0
    # created today, so still new; the popularity ranking and the co-bought types moved
    assert second.is_new[cuff] == second.created_recent[cuff]
    assert second.popularity_score[cuff] > first.popularity_score[cuff]
    assert second.co_buy_types[cuff] == ("Trousers",)


def test_items_are_reread_periodically_even_when_the_fingerprint_cannot_see_a_change(shop, monkeypatch):
    # A write the fingerprint misses (here: raw SQL, no updated_at) -- or an import's update
    # committing behind a later edit -- is picked up by the periodic full rebuild.
    from django.db import connection

    monkeypatch.setattr(catalog_mod, "REFRESH_SECONDS", 0.0)
    first = serving_catalog()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE recommender_item SET title = %s WHERE external_id = %s", ["Gold hoops XL", "J001"])
    assert serving_catalog() is first  # unchanged fingerprint, not due yet
    monkeypatch.setattr(catalog_mod, "FULL_REBUILD_SECONDS", 0.0)
    second = serving_catalog()
    assert second.titles[second.row_of["J001"]] == "Gold hoops XL" and second.external_ids is not first.external_ids


def test_the_popularity_order_is_a_stable_sort_of_the_scores_highest_first():
    from recommender.serving.catalog import _popularity_ranking

    rng = np.random.default_rng(3)
    for pop in (np.zeros(50, np.float32), rng.integers(0, 4, 500).astype(np.float32),
                np.where(rng.random(2000) < 0.05, rng.random(2000) * 9, 0).astype(np.float32)):
        score, order, lowest = _popularity_ranking(pop)
        np.testing.assert_array_equal(order, np.argsort(-score, kind="stable"))
        assert lowest == int(np.count_nonzero(score == score.min()))
    score, order, lowest = _popularity_ranking(np.zeros(0, np.float32))
    assert len(order) == 0 and lowest == 0
