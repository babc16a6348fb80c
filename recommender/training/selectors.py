"""Reads of the model registry for the dashboard's Models pages (the writes are in
``registry``): each query names the columns its page shows."""
from __future__ import annotations

from django.db.models import QuerySet

from recommender.models import ModelVersion, PromotionEvent

COMPARE_CHOICES = 200


def model_versions_for_list() -> QuerySet[ModelVersion]:
    # epoch_losses can hold hundreds of rows per version; the table needs only the metrics.
    return ModelVersion.objects.defer("epoch_losses", "config", "data_snapshot", "error")


def model_version_active_name() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).only("id", "name").first()


def model_version_with_job(version_id: int) -> ModelVersion | None:
    return ModelVersion.objects.select_related("job").filter(pk=version_id).first()


def model_version_others(version: ModelVersion, limit: int = 50) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.exclude(pk=version.pk).only("id", "name")[:limit]


def model_versions_for_compare() -> list[ModelVersion]:
    return list(ModelVersion.objects.only("id", "name", "status", "is_active")[:COMPARE_CHOICES])


def promotion_last_with_previous(version: ModelVersion | None) -> PromotionEvent | None:
    """The promotion that made ``version`` active over another: what a rollback restores."""
    if version is None:
        return None
    return (PromotionEvent.objects.filter(version=version).exclude(previous=None)
            .select_related("previous").first())


def promotions_recent(limit: int = 10) -> QuerySet[PromotionEvent]:
    return PromotionEvent.objects.select_related("version", "previous", "user")[:limit]
