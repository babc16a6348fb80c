"""Search vocabulary page: a merchandiser adds a synonym and sees its effect in the preview."""
from __future__ import annotations

import pytest
from django.urls import reverse

from recommender.models import SearchSynonym
from recommender.serving.catalog import serving_catalog_invalidate
from tests.dashboard.conftest import make_item

pytestmark = pytest.mark.django_db
URL = "/search/"


@pytest.fixture
def hoops(db):
    make_item("0100000001", product_type="Earring", title="Gold hoops", colour="Gold", description="Metal hoop earrings.")
    make_item("0100000002", product_type="Ring", title="Silver ring", colour="Silver", description="Metal ring.")
    serving_catalog_invalidate()
    yield
    serving_catalog_invalidate()


def test_page_lists_terms_and_previews_a_query(staff_client, hoops):
    assert reverse("dashboard:search_vocabulary") == URL
    response = staff_client.get(URL, {"q": "不是银色的圈圈耳环"})
    assert response.status_code == 200
    html = response.content.decode()
    parsed = response.context["parsed"]
    assert (parsed["types"], parsed["styles"], parsed["excluded_colours"]) == (["earring"], ["hoop"], ["silver"])
    assert [i.id for i in response.context["preview"].items] == ["0100000001"]
    assert "Gold hoops" in html and "耳圈" in html  # the result and the vocabulary table
    assert "<dt>Excluded</dt><dd>silver</dd>" in html


def test_adding_a_synonym_changes_the_preview_at_once(staff_client, hoops):
    before = staff_client.get(URL, {"q": "sleepers"})
    assert before.context["parsed"]["styles"] == [] and before.context["parsed"]["remaining_text"] == "sleepers"
    response = staff_client.post(reverse("dashboard:search_synonym_add"), {"concept": "hoop", "form": "Sleepers", "kind": ""})
    assert response.status_code == 302 and response["Location"] == f"{URL}?q=sleepers"
    after = staff_client.get(response["Location"])
    assert after.context["parsed"]["styles"] == ["hoop"]
    assert [i.id for i in after.context["preview"].items] == ["0100000001"]
    synonym = SearchSynonym.objects.get()
    assert (synonym.concept, synonym.form, synonym.kind) == ("hoop", "sleepers", "style")
    staff_client.post(reverse("dashboard:search_synonym_delete", args=[synonym.pk]))
    assert not SearchSynonym.objects.exists()
    assert staff_client.get(URL, {"q": "sleepers"}).context["parsed"]["styles"] == []


def test_a_refused_synonym_shows_the_reason_and_stores_nothing(staff_client, hoops):
    response = staff_client.post(reverse("dashboard:search_synonym_add"), {"concept": "hoop", "form": "pearl"})
    assert response.status_code == 400
    assert "already means" in response.content.decode()
    response = staff_client.post(reverse("dashboard:search_synonym_add"), {"concept": "skull", "form": "skulls"})
    assert response.status_code == 400 and "choose what kind it is" in response.content.decode()
    assert not SearchSynonym.objects.exists()
