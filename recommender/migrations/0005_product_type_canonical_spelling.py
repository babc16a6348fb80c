"""One spelling per jewelry type for rows imported before the importers normalised it.

Idempotent: only rows whose type differs from its canonical spelling change (a second run,
or a database imported after this change, updates nothing). The map is copied here, not
imported, so this migration keeps meaning what it meant when it was written.
"""
from django.db import migrations
from django.utils import timezone

CANONICAL_TYPES = {
    "earring": "Earring", "earrings": "Earring",
    "necklace": "Necklace", "necklaces": "Necklace",
    "ring": "Ring", "rings": "Ring",
    "bracelet": "Bracelet", "bracelets": "Bracelet",
}


def forwards(apps, schema_editor):
    Item = apps.get_model("recommender", "Item")
    # Few distinct types (~130 in the sample): compare them in Python, update per type.
    for product_type in Item.objects.order_by().values_list("product_type", flat=True).distinct():
        canonical = CANONICAL_TYPES.get((product_type or "").strip().lower())
        if canonical and canonical != product_type:
            # updated_at moves so serving processes notice the catalog changed and rebuild.
            Item.objects.filter(product_type=product_type).update(
                product_type=canonical, is_jewelry=True, updated_at=timezone.now()
            )


class Migration(migrations.Migration):
    dependencies = [("recommender", "0004_search_synonym")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
