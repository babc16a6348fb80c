"""Catalog: items of every category, their photos, customers and membership tiers."""
from __future__ import annotations

from django.db import models
from django.db.models import Q


class MembershipTier(models.Model):
    """A membership level. Tiers are data: ``rank`` orders them (0 = no membership)."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    rank = models.PositiveSmallIntegerField(unique=True)

    class Meta:
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    """A sellable article of any category; jewelry is the target domain.

    ``external_id`` is the retailer's own id (the 10-digit H&M ``article_id`` for the
    sample data) and is the public id in the API and the dashboard.
    """

    external_id = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    product_type = models.CharField(max_length=64, db_index=True)
    product_group = models.CharField(max_length=64, blank=True, default="", db_index=True)
    is_jewelry = models.BooleanField(default=False, db_index=True)
    colour = models.CharField(max_length=64, blank=True, default="", db_index=True)
    colour_value = models.CharField(max_length=64, blank=True, default="")
    colour_master = models.CharField(max_length=64, blank=True, default="")
    material = models.CharField(max_length=64, blank=True, default="")
    appearance = models.CharField(max_length=64, blank=True, default="")
    department = models.CharField(max_length=128, blank=True, default="")
    section = models.CharField(max_length=128, blank=True, default="")
    index_group = models.CharField(max_length=64, blank=True, default="")
    garment_group = models.CharField(max_length=64, blank=True, default="")
    style_tags = models.JSONField(default=list, blank=True)
    price = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)  # normalised prices are tiny
    currency = models.CharField(max_length=3, default="EUR")
    in_stock = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True, db_index=True)
    # Null: everyone may see it. Otherwise only customers of this tier's rank or higher.
    exclusive_tier = models.ForeignKey(
        MembershipTier, null=True, blank=True, on_delete=models.PROTECT, related_name="exclusive_items"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # indexed: every serving process reads count(*) and max(updated_at) every few seconds to
    # notice catalog changes, an index-only scan instead of a scan of the whole table
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["external_id"]
        indexes = [models.Index(fields=["is_jewelry", "is_active", "product_type"])]
        constraints = [
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gte=0), name="item_price_non_negative"),
            models.CheckConstraint(condition=~Q(external_id=""), name="item_external_id_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} {self.title}"


def item_image_upload_to(instance: "ItemImage", filename: str) -> str:
    # The stored name never comes from the user: item id + content hash + safe extension.
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}.get(instance.format.upper(), "img")
    return f"items/{instance.item.external_id}/{instance.content_hash[:32]}.{ext}"


class ItemImage(models.Model):
    """A photo of an item. Several per item, ordered by ``position``."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to=item_image_upload_to, width_field="width", height_field="height")
    content_hash = models.CharField(max_length=64, db_index=True)  # sha256 of the file bytes
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    mode = models.CharField(max_length=16, blank=True, default="")
    format = models.CharField(max_length=16, blank=True, default="")
    size_bytes = models.PositiveIntegerField(default=0)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "content_hash"], name="item_image_unique_content"),
        ]

    def __str__(self) -> str:
        return f"{self.item.external_id} photo {self.position}"


class Customer(models.Model):
    """A shopper, addressed by the retailer's id (hashed ``customer_id`` in the sample)."""

    external_id = models.CharField(max_length=128, unique=True)
    tier = models.ForeignKey(
        MembershipTier, null=True, blank=True, on_delete=models.PROTECT, related_name="customers"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["external_id"]
        constraints = [models.CheckConstraint(condition=~Q(external_id=""), name="customer_external_id_not_empty")]

    def __str__(self) -> str:
        return self.external_id
