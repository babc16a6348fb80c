"""The Search page in a real browser: a merchandiser teaches search a word and sees it work."""
from __future__ import annotations

import pytest

from recommender.models import SearchSynonym
from recommender.serving.catalog import serving_catalog_invalidate
from tests.dashboard.conftest import make_item

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_add_a_synonym_and_see_it_in_the_preview(logged_in_page, screenshot):
    make_item("0100000001", product_type="Earring", title="Class Sally Hoops", colour="Gold",
              description="Tear-shaped metal hoop earrings.")
    make_item("0100000002", product_type="Earring", title="Pela Pearl Earring", colour="White",
              description="Earrings with pearly plastic beads.")
    make_item("0100000003", product_type="Ring", title="Silver ring pk", colour="Silver", description="Metal rings.")
    serving_catalog_invalidate()
    page = logged_in_page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search", exact=True).click()
    assert page.locator("h1").inner_text() == "Search vocabulary"
    page.get_by_label("Query").fill("sleepers")
    page.get_by_role("button", name="Search").click()
    assert page.locator("dl.parsed").inner_text().startswith("Free text")
    page.get_by_label("Term", exact=True).fill("hoop")
    page.get_by_label("Synonym", exact=True).fill("sleepers")
    page.get_by_role("button", name="Add and preview").click()
    page.wait_for_url("**/search/?q=sleepers")
    assert "now means" in page.locator(".messages").inner_text()
    assert "Styles" in page.locator("dl.parsed").inner_text()
    assert page.locator("table.preview-results tbody tr").count() == 1
    assert "Class Sally Hoops" in page.locator("table.preview-results").inner_text()
    assert SearchSynonym.objects.filter(concept="hoop", form="sleepers").exists()
    page.get_by_label("Query").fill("不是金色的耳环，不要水钻")
    page.get_by_role("button", name="Search").click()
    assert page.locator("table.preview-results").inner_text().count("Pela Pearl Earring") == 1
    # (headless chromium here has no CJK font: the screenshot uses an English query)
    page.get_by_label("Query").fill("earrings, not gold, without rhinestones")
    page.get_by_role("button", name="Search").click()
    assert "gold, rhinestone" in page.locator("dl.parsed").inner_text()
    screenshot(page, "search-vocabulary")
