"""Model registry: exactly one active version; promotion and rollback are explicit and audited."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from recommender.models import ModelVersion, PromotionEvent


class RegistryError(ValueError):
    pass


def model_version_promote(version: ModelVersion, *, user=None, action: str = PromotionEvent.Action.PROMOTE,
                          note: str = "") -> ModelVersion:
    """Make ``version`` the active one. Only a finished (ready) version can be promoted."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if version.status != ModelVersion.Status.READY:
            raise RegistryError(f"Version {version.name} is {version.status}; only a ready version can be promoted.")
        current = ModelVersion.objects.select_for_update().filter(is_active=True).first()
        if current is not None and current.pk == version.pk:
            return version
        if current is not None:
            # Deactivate first: the partial unique index allows one active row at a time.
            ModelVersion.objects.filter(pk=current.pk).update(is_active=False)
        version.is_active = True
        version.activated_at = timezone.now()
        version.save(update_fields=["is_active", "activated_at"])
        PromotionEvent.objects.create(version=version, previous=current, action=action, user=user, note=note[:255])
    return version


def model_version_rollback(*, user=None) -> ModelVersion:
    """Re-activate the version that was active before the current one."""
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(is_active=True).first()
        if current is None:
            raise RegistryError("No version is active, so there is nothing to roll back.")
        last = PromotionEvent.objects.filter(version=current).exclude(previous=None).order_by("-at", "-id").first()
        if last is None or last.previous is None:
            raise RegistryError(f"{current.name} has no earlier active version to roll back to.")
        previous = last.previous
        if previous.status != ModelVersion.Status.READY:
            raise RegistryError(f"The previous version {previous.name} is {previous.status} and cannot be restored.")
        ModelVersion.objects.filter(pk=current.pk).update(is_active=False)
        ModelVersion.objects.filter(pk=previous.pk).update(is_active=True, activated_at=timezone.now())
        PromotionEvent.objects.create(version=previous, previous=current, action=PromotionEvent.Action.ROLLBACK,
                                      user=user, note=f"rolled back from {current.name}")
        previous.refresh_from_db()
    return previous


def model_version_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()
