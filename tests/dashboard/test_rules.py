"""Merchandising rules: service validation and the create/edit/delete pages."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django.urls import reverse

from recommender.models import MerchandisingRule
from recommender.serving.rule_services import RuleInvalid, rule_create, rule_delete, rule_update
from tests.dashboard.conftest import make_item

pytestmark = pytest.mark.django_db
JAN = datetime(2026, 1, 1, tzinfo=timezone.utc)
FEB = datetime(2026, 2, 1, tzinfo=timezone.utc)


@pytest.fixture
def ring(db):
    return make_item("0100000001", product_type="Ring", title="Gold ring")


def test_pin_rule_is_created(ring):
    rule = rule_create(name="Hero ring", action="pin", target="item", value="0100000001", position=1, scenarios=["home", "feed"])
    assert (rule.action, rule.position, rule.scenarios, rule.weight, rule.is_enabled) == ("pin", 1, ["feed", "home"], 1.0, True)


@pytest.mark.parametrize(
    "fields,field,fragment",
    [
        ({"action": "pin", "target": "item", "value": "0100000001"}, "position", "needs a position"),
        ({"action": "pin", "target": "colour", "value": "Gold", "position": 2}, "target", "choose target"),
        ({"action": "boost", "target": "item", "value": "0999999999"}, "value", "No item with id '0999999999'"),
        ({"action": "boost", "target": "type", "value": "Ring", "starts_at": FEB, "ends_at": JAN}, "ends_at", "after the start"),
        ({"action": "boost", "target": "type", "value": "Ring", "starts_at": JAN, "ends_at": JAN}, "ends_at", "after the start"),
        ({"action": "boost", "target": "type", "value": "Ring", "scenarios": ["home", "checkout"]}, "scenarios", "checkout"),
        ({"action": "boost", "target": "type", "value": "Ring", "weight": -1}, "weight", "from 0 to"),
        ({"action": "boost", "target": "type", "value": "Ring", "weight": float("nan")}, "weight", "from 0 to"),
        ({"action": "shout", "target": "type", "value": "Ring"}, "action", "Choose one of"),
        ({"action": "boost", "target": "type", "value": "  "}, "value", "Name the item"),
        ({"action": "pin", "target": "item", "value": "0100000001", "position": 0}, "position", "from 1 to"),
    ],
)
def test_invalid_rules_name_the_field_and_write_nothing(ring, fields, field, fragment):
    with pytest.raises(RuleInvalid) as err:
        rule_create(name="r", **fields)
    assert err.value.field == field
    assert fragment in err.value.message
    assert MerchandisingRule.objects.count() == 0


def test_failed_update_changes_nothing(ring):
    rule = rule_create(name="Boost gold", action="boost", target="colour", value="Gold", weight=2.0)
    with pytest.raises(RuleInvalid):
        rule_update(rule, action="pin")  # a pin on a colour is refused
    assert rule.action == "boost"  # the instance is untouched too
    rule.refresh_from_db()
    assert (rule.action, rule.weight) == ("boost", 2.0)
    rule_update(rule, weight=3.5, is_enabled=False)
    rule.refresh_from_db()
    assert (rule.weight, rule.is_enabled, rule.name) == (3.5, False, "Boost gold")
    rule_delete(rule)
    assert not MerchandisingRule.objects.exists()


def _post_data(**overrides):
    data = {"name": "Hero", "action": "pin", "target": "item", "value": "0100000001", "position": "1", "weight": "1",
            "scenarios": ["home", "cross_sell"], "starts_at": "2026-01-01T00:00", "ends_at": "2026-02-01T00:00", "is_enabled": "on"}
    data.update(overrides)
    return data


def test_create_rule_page(staff_client, ring):
    response = staff_client.post(reverse("dashboard:rule_new"), _post_data())
    assert response.status_code == 302
    rule = MerchandisingRule.objects.get()
    assert (rule.name, rule.position, rule.scenarios) == ("Hero", 1, ["cross_sell", "home"])
    assert rule.starts_at == JAN and rule.ends_at == FEB
    html = staff_client.get(reverse("dashboard:rules")).content.decode()
    assert "Hero" in html and "Gold ring" in html and "Cross-sell, Home" in html


def test_create_rule_page_shows_service_errors_inline(staff_client, ring):
    response = staff_client.post(reverse("dashboard:rule_new"), _post_data(position=""))
    html = response.content.decode()
    assert response.status_code == 200
    assert MerchandisingRule.objects.count() == 0
    assert 'id="id_position_error"' in html and "needs a position" in html
    assert 'name="position"' in html and 'aria-invalid="true"' in html

    html = staff_client.post(reverse("dashboard:rule_new"), _post_data(value="nope")).content.decode()
    assert 'id="id_value_error"' in html and "No item with id" in html

    html = staff_client.post(reverse("dashboard:rule_new"), _post_data(ends_at="2025-12-01T00:00")).content.decode()
    assert 'id="id_ends_at_error"' in html and "after the start" in html
    assert MerchandisingRule.objects.count() == 0


def test_edit_and_delete_rule_pages(staff_client, ring):
    rule = rule_create(name="Boost gold", action="boost", target="colour", value="Gold", weight=2.0)
    edit_url = reverse("dashboard:rule_edit", args=[rule.pk])
    form_html = staff_client.get(edit_url).content.decode()
    assert 'value="Boost gold"' in form_html
    response = staff_client.post(edit_url, {"name": "Boost gold more", "action": "boost", "target": "colour", "value": "Gold", "weight": "4"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.weight, rule.is_enabled) == ("Boost gold more", 4.0, False)

    delete_url = reverse("dashboard:rule_delete", args=[rule.pk])
    assert "Delete rule" in staff_client.get(delete_url).content.decode()
    assert MerchandisingRule.objects.filter(pk=rule.pk).exists()
    staff_client.post(delete_url)
    assert not MerchandisingRule.objects.filter(pk=rule.pk).exists()


def test_rule_list_query_count_is_bounded(staff_client, django_assert_max_num_queries):
    for i in range(20):
        make_item(f"02000000{i:02d}")
        rule_create(name=f"pin {i}", action="pin", target="item", value=f"02000000{i:02d}", position=i + 1)
        rule_create(name=f"boost {i}", action="boost", target="tag", value=f"tag{i}")
    with django_assert_max_num_queries(6):
        html = staff_client.get(reverse("dashboard:rules")).content.decode()
    assert html.count("/edit/\">Edit</a>") == 40


# --- the rule form: pickers, a preview of the effect, the merchandisers' time zone -------------

from tests.serving.conftest import shop, tiers  # noqa: E402,F401 - shared fixtures


def _ids(html: str, column: str) -> list[str]:
    import re

    part = html.split(f'data-column="{column}"', 1)[1].split('data-column=', 1)[0]
    return re.findall(r'data-item-id="([^"]+)"', part)


def test_rule_preview_shows_the_effect_side_by_side_and_saves_nothing(staff_client, shop):
    from recommender.serving.catalog import serving_catalog_invalidate

    serving_catalog_invalidate()
    response = staff_client.post(reverse("dashboard:rule_preview"), {
        "name": "Hero cuff", "action": "pin", "target": "item", "value": "J005", "position": "1", "weight": "1",
        "is_enabled": "on", "preview_scenario": "home",
    })
    html = response.content.decode()
    assert response.status_code == 200
    now, with_rule = _ids(html, "Now"), _ids(html, "With this rule")
    assert with_rule[0] == "J005" and now[0] == "J001"  # popularity puts the hoops first today
    assert set(now) == set(with_rule)  # the cuff was already in the top 12: it moves, nothing else changes
    now_part, with_part = html.split('data-column="Now"', 1)[1].split('data-column="With this rule"', 1)
    assert 'data-item-id="J005" data-diff="down"' in now_part
    assert 'data-item-id="J005" data-diff="up"' in with_part
    assert f'<span class="diff-badge diff-up">↑ {now.index("J005")}</span>' in with_part
    assert MerchandisingRule.objects.count() == 0
    # An exclusion removes the item: "only here" on the side that still has it.
    html = staff_client.post(reverse("dashboard:rule_preview"), {
        "name": "No hoops", "action": "exclude", "target": "type", "value": "earring", "weight": "1", "is_enabled": "on",
    }).content.decode()
    assert "J001" not in _ids(html, "With this rule") and "J001" in _ids(html, "Now")
    assert 'data-item-id="J001" data-diff="only"' in html
    assert MerchandisingRule.objects.count() == 0


def test_rule_preview_of_an_edit_replaces_the_saved_rule_and_explains_scope(staff_client, shop):
    saved = rule_create(name="Bury hoops", action="exclude", target="item", value="J001")
    html = staff_client.post(reverse("dashboard:rule_preview"), {
        "rule_id": saved.pk, "name": "Bury hoops", "action": "exclude", "target": "item", "value": "J003",
        "weight": "1", "is_enabled": "on",
    }).content.decode()
    assert "J001" not in _ids(html, "Now")  # today the saved rule hides the hoops
    assert "J001" in _ids(html, "With this rule") and "J003" not in _ids(html, "With this rule")
    scoped = staff_client.post(reverse("dashboard:rule_preview"), {
        "name": "Feed only", "action": "exclude", "target": "item", "value": "J003", "weight": "1",
        "scenarios": ["feed"], "is_enabled": "on", "preview_scenario": "home",
    }).content.decode()
    assert "This rule does not apply to Home: both lists are the same." in scoped
    bad = staff_client.post(reverse("dashboard:rule_preview"), {
        "name": "Pin", "action": "pin", "target": "colour", "value": "Gold", "position": "1", "weight": "1",
    })
    assert bad.status_code == 200 and "Fix the form first -- A pin places one item" in bad.content.decode()


def test_rule_form_offers_the_catalogs_types_colours_and_tags(staff_client, shop):
    from recommender.models import Item

    Item.objects.filter(external_id="J001").update(style_tags=["glittering", "womens"])
    html = staff_client.get(reverse("dashboard:rule_new")).content.decode()
    # The shop fixture writes rows directly, so its "Earrings" skipped the importers' normalisation.
    assert ('<datalist id="values-type"><option value="Bracelet"><option value="Earring"><option value="Earrings">'
            '<option value="Necklace"><option value="Ring"></datalist>') in html
    assert '<option value="Silver">' in html.split('id="values-colour"')[1].split("</datalist>")[0]
    assert html.split('id="values-tag">')[1].split("</datalist>")[0] == '<option value="glittering"><option value="womens">'
    assert 'data-item-finder data-url="/preview/items/"' in html and "/static/js/rules.js" in html


def test_times_are_shown_and_read_in_the_merchandisers_time_zone(staff_client, ring):
    from recommender.models import RecommenderSettings
    from recommender.training.schedule import SettingsInvalid, recommender_settings_update

    response = staff_client.post(reverse("dashboard:settings"), {"rs-time_zone": "Europe/Stockholm"})
    assert response.status_code == 302 and RecommenderSettings.load().time_zone == "Europe/Stockholm"
    with pytest.raises(SettingsInvalid):
        recommender_settings_update(time_zone="Mars/Olympus")

    form = staff_client.get(reverse("dashboard:rule_new")).content.decode()
    assert "Starts at (Europe/Stockholm)" in form and "(UTC)" not in form
    staff_client.post(reverse("dashboard:rule_new"), {
        "name": "Xmas", "action": "boost", "target": "type", "value": "Ring", "weight": "2",
        "starts_at": "2026-12-24T10:00", "is_enabled": "on",
    })
    rule = MerchandisingRule.objects.get(name="Xmas")
    assert rule.starts_at == datetime(2026, 12, 24, 9, 0, tzinfo=timezone.utc)  # 10:00 in Stockholm
    listing = staff_client.get(reverse("dashboard:rules")).content.decode()
    assert "Window (Europe/Stockholm)" in listing and "2026-12-24 10:00" in listing
    edit = staff_client.get(reverse("dashboard:rule_edit", args=[rule.pk])).content.decode()
    assert 'value="2026-12-24T10:00"' in edit
