import pytest
from django.db import IntegrityError, transaction

from recommender.models import ModelVersion, PromotionEvent
from recommender.training.registry import RegistryError, model_version_promote, model_version_rollback

pytestmark = pytest.mark.django_db


def version(name, status=ModelVersion.Status.READY):
    return ModelVersion.objects.create(name=name, status=status)


def test_promote_keeps_exactly_one_active_and_audits():
    a, b = version("a"), version("b")
    model_version_promote(a)
    model_version_promote(b)
    assert list(ModelVersion.objects.filter(is_active=True).values_list("name", flat=True)) == ["b"]
    event = PromotionEvent.objects.first()
    assert (event.version.name, event.previous.name, event.action) == ("b", "a", "promote")


def test_rollback_restores_previous_version():
    a, b = version("a"), version("b")
    model_version_promote(a)
    model_version_promote(b)
    restored = model_version_rollback()
    assert restored.name == "a"
    assert ModelVersion.objects.get(is_active=True).name == "a"
    assert PromotionEvent.objects.first().action == "rollback"


def test_cannot_promote_unfinished_or_failed_versions():
    for status in (ModelVersion.Status.TRAINING, ModelVersion.Status.FAILED):
        with pytest.raises(RegistryError):
            model_version_promote(version(f"v-{status}", status))
    assert not ModelVersion.objects.filter(is_active=True).exists()


def test_rollback_without_history_is_a_clear_error():
    with pytest.raises(RegistryError, match="No version is active"):
        model_version_rollback()
    model_version_promote(version("only"))
    with pytest.raises(RegistryError, match="no earlier active version"):
        model_version_rollback()
    assert ModelVersion.objects.get(is_active=True).name == "only"


def test_database_refuses_two_active_versions():
    version("x").__class__.objects.filter(name="x").update(is_active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(name="y", status="ready", is_active=True)
