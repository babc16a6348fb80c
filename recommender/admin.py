"""Django admin for every model: search, filters and photo thumbnails."""
from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from recommender.models import (
    ApiKey,
    ApiRequestLog,
    Customer,
    EncoderOutput,
    Event,
    Item,
    ItemImage,
    ItemVector,
    Job,
    MembershipTier,
    MerchandisingRule,
    ModelVersion,
    PromotionEvent,
    RecommenderSettings,
    SearchSynonym,
)


def _thumb(image: ItemImage | None, size: int = 60) -> str:
    if image is None or not image.image:
        return "—"
    return format_html('<img src="{}" style="height:{}px;border-radius:4px" alt="">', image.image.url, size)


class ItemImageInline(admin.TabularInline):
    model = ItemImage
    extra = 0
    fields = ("preview", "image", "position", "width", "height", "mode", "format", "content_hash")
    readonly_fields = ("preview", "width", "height", "mode", "format", "content_hash")

    @admin.display(description="Photo")
    def preview(self, obj: ItemImage) -> str:
        return _thumb(obj, 90)


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("thumbnail", "external_id", "title", "product_type", "colour", "price", "is_jewelry", "exclusive_tier", "is_active", "in_stock")
    list_display_links = ("thumbnail", "external_id")
    list_filter = ("is_jewelry", "product_type", "product_group", "is_active", "in_stock", "exclusive_tier", "index_group")
    search_fields = ("external_id", "title", "description", "colour")
    list_select_related = ("exclusive_tier",)
    inlines = [ItemImageInline]
    list_per_page = 50
    show_full_result_count = False  # the catalog has 100k+ rows; COUNT(*) per page is waste

    def get_queryset(self, request):
        from django.db.models import Prefetch

        return super().get_queryset(request).prefetch_related(Prefetch("images", queryset=ItemImage.objects.order_by("position", "id")))

    @admin.display(description="Photo")
    def thumbnail(self, obj: Item) -> str:
        images = list(obj.images.all())
        return _thumb(images[0] if images else None)


@admin.register(ItemImage)
class ItemImageAdmin(admin.ModelAdmin):
    list_display = ("preview", "item", "position", "width", "height", "mode", "format", "size_bytes")
    search_fields = ("item__external_id", "content_hash")
    list_filter = ("format", "mode")
    raw_id_fields = ("item",)
    list_select_related = ("item",)

    @admin.display(description="Photo")
    def preview(self, obj: ItemImage) -> str:
        return _thumb(obj)


@admin.register(MembershipTier)
class MembershipTierAdmin(admin.ModelAdmin):
    list_display = ("rank", "code", "name")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("external_id", "tier", "created_at")
    list_filter = ("tier",)
    search_fields = ("external_id",)
    list_select_related = ("tier",)
    show_full_result_count = False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("timestamp", "event_type", "customer", "item", "price", "channel")
    list_filter = ("event_type", "channel", "item__is_jewelry")
    search_fields = ("customer__external_id", "item__external_id", "client_event_id")
    raw_id_fields = ("customer", "item")
    list_select_related = ("customer", "item")
    date_hierarchy = "timestamp"
    show_full_result_count = False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "progress", "message", "created_at", "finished_at")
    list_filter = ("kind", "status")
    readonly_fields = ("created_at", "started_at", "finished_at", "heartbeat_at")


@admin.register(ItemVector)
class ItemVectorAdmin(admin.ModelAdmin):
    list_display = ("item", "status", "fusion_version", "has_image", "has_text", "updated_at")
    list_filter = ("status", "fusion_version", "has_image", "has_text")
    search_fields = ("item__external_id",)
    raw_id_fields = ("item",)
    exclude = ("vector",)


@admin.register(EncoderOutput)
class EncoderOutputAdmin(admin.ModelAdmin):
    list_display = ("item", "modality", "encoder", "dim", "created_at")
    list_filter = ("modality", "encoder")
    search_fields = ("item__external_id",)
    raw_id_fields = ("item",)
    exclude = ("vector",)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "model_type", "status", "is_active", "created_at", "duration_seconds")
    list_filter = ("status", "is_active", "model_type")
    readonly_fields = ("is_active", "activated_at")  # promote/rollback go through the registry service


@admin.register(PromotionEvent)
class PromotionEventAdmin(admin.ModelAdmin):
    list_display = ("at", "action", "version", "previous", "user")


@admin.register(MerchandisingRule)
class MerchandisingRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "action", "target", "value", "position", "weight", "starts_at", "ends_at", "is_enabled")
    list_filter = ("action", "target", "is_enabled")


@admin.register(SearchSynonym)
class SearchSynonymAdmin(admin.ModelAdmin):
    """Read-only here: the dashboard's Search page adds them through search_synonym_add, which
    refuses a form another term owns."""

    list_display = ("form", "concept", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("form", "concept")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "scopes", "created_at", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = ("prefix", "key_hash", "last_used_at")


@admin.register(ApiRequestLog)
class ApiRequestLogAdmin(admin.ModelAdmin):
    list_display = ("minute", "scenario", "requests", "errors", "max_latency_ms")
    list_filter = ("scenario",)


admin.site.register(RecommenderSettings)
admin.site.site_header = "JewelRec administration"
