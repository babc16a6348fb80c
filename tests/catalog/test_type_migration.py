"""The data migration that gives existing rows one spelling per jewelry type."""
from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from recommender.models import Item

pytestmark = pytest.mark.django_db

migration = importlib.import_module("recommender.migrations.0005_product_type_canonical_spelling")


def test_existing_rows_get_the_canonical_type_and_a_rerun_changes_nothing():
    Item.objects.bulk_create([
        Item(external_id="A", title="a", product_type="Earrings", is_jewelry=True),
        Item(external_id="B", title="b", product_type="Earring", is_jewelry=True),
        Item(external_id="C", title="c", product_type="rings", is_jewelry=True),
        Item(external_id="D", title="d", product_type="Trousers", is_jewelry=False),
    ])
    migration.forwards(apps, None)
    assert dict(Item.objects.values_list("external_id", "product_type")) == {
        "A": "Earring", "B": "Earring", "C": "Ring", "D": "Trousers",
    }
    stamps = dict(Item.objects.values_list("external_id", "updated_at"))
    migration.forwards(apps, None)
    assert dict(Item.objects.values_list("external_id", "updated_at")) == stamps
