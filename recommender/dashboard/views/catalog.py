"""Catalog: searchable list, item detail/edit with photos, item creation and bulk import."""
from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from recommender.catalog import services as catalog_services
from recommender.models import Item, ItemImage, MembershipTier

from .. import selectors
from ..access import staff_required
from ..forms import CatalogFilterForm, CatalogImportForm, ItemCreateForm, ItemForm, PhotoUploadForm


def _tiers() -> list[MembershipTier]:
    return list(MembershipTier.objects.order_by("rank"))


def _item_fields(cleaned: dict) -> dict:
    fields = dict(cleaned)
    fields["style_tags"] = [t.strip() for t in (fields.get("style_tags") or "").split(";") if t.strip()]
    for name in ("product_group", "colour", "material", "description"):
        fields[name] = fields.get(name) or ""
    return fields


@staff_required
@require_GET
def item_list(request: HttpRequest) -> HttpResponse:
    scope = request.GET.get("scope") if request.GET.get("scope") in ("jewelry", "all") else "jewelry"
    options = selectors.catalog_filter_options(scope)
    tiers = _tiers()
    form = CatalogFilterForm(
        request.GET or None, product_types=options["product_types"], colours=options["colours"], tiers=tiers
    )
    filters = {"scope": scope}
    if form.is_bound and form.is_valid():
        filters.update({k: v for k, v in form.cleaned_data.items() if v not in (None, "")})
        filters["scope"] = scope
    try:
        page_number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page_number = 1
    page = selectors.catalog_items_page(page_number, **filters) if not form.errors else selectors.CheapPage([], 1, 1)
    query = {k: v for k, v in request.GET.items() if k != "page" and v}
    return render(
        request,
        "dashboard/catalog/list.html",
        {
            "section": "catalog",
            "form": form,
            "page": page,
            "scope": scope,
            "query_prefix": (urlencode(query) + "&") if query else "",
            "filtered": any(k for k in query if k != "scope"),
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def item_new(request: HttpRequest) -> HttpResponse:
    tiers = _tiers()
    form = ItemCreateForm(request.POST or None, tiers=tiers)
    if request.method == "POST" and form.is_valid():
        try:
            item = catalog_services.item_create(user=request.user, **_item_fields(form.cleaned_data))
        except catalog_services.ItemInvalid as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc).split(": ", 1)[-1])
        else:
            messages.success(request, f"Item {item.external_id} created; its vector is being computed. Add photos below.")
            return redirect("dashboard:item_detail", item_id=item.pk)
    return render(request, "dashboard/catalog/new.html", {"section": "catalog", "form": form})


def _detail_page(request: HttpRequest, item: Item, form=None, photo_form=None, status: int = 200) -> HttpResponse:
    tiers = _tiers()
    return render(
        request,
        "dashboard/catalog/detail.html",
        {
            "section": "catalog",
            "item": item,
            "images": list(item.images.all()),
            "form": form or ItemForm(initial=ItemForm.initial_from(item), tiers=tiers),
            "photo_form": photo_form or PhotoUploadForm(),
            "event_counts": selectors.item_event_counts(item.pk),
            "embedding_job": selectors.item_embedding_job(item.pk),
            "vector": getattr(item, "vector", None) if _has_vector(item) else None,
        },
        status=status,
    )


def _has_vector(item: Item) -> bool:
    try:
        item.vector
    except Item.vector.RelatedObjectDoesNotExist:
        return False
    return True


def _get_item(item_id: int) -> Item:
    item = selectors.item_detail(item_id)
    if item is None:
        raise Http404(f"No item #{item_id}")
    return item


@staff_required
@require_http_methods(["GET", "POST"])
def item_detail(request: HttpRequest, item_id: int) -> HttpResponse:
    item = _get_item(item_id)
    if request.method == "GET":
        return _detail_page(request, item)
    form = ItemForm(request.POST, tiers=_tiers())
    if form.is_valid():
        try:
            catalog_services.item_update(item, user=request.user, **_item_fields(form.cleaned_data))
        except catalog_services.ItemInvalid as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc).split(": ", 1)[-1])
        else:
            messages.success(request, f"Item {item.external_id} saved.")
            return redirect("dashboard:item_detail", item_id=item.pk)
    item = _get_item(item_id)  # the failed update may have left unsaved values on the instance
    return _detail_page(request, item, form=form, status=400)


@staff_required
@require_POST
def item_photo_upload(request: HttpRequest, item_id: int) -> HttpResponse:
    item = _get_item(item_id)
    form = PhotoUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _detail_page(request, item, photo_form=form, status=400)
    upload = catalog_services.item_photos_upload(item, form.cleaned_data["photos"], user=request.user)
    added = len(upload.added)
    if added:
        messages.success(request, f"{added} photo(s) added; the item's vector is being recomputed (job #{upload.job.pk}).")
    if upload.rejected:
        for reason in upload.rejected:
            form.add_error("photos", reason)
        return _detail_page(request, _get_item(item_id), photo_form=form, status=400)
    return redirect("dashboard:item_detail", item_id=item.pk)


@staff_required
@require_POST
def item_photo_reorder(request: HttpRequest, item_id: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=item_id)
    ids = list(ItemImage.objects.filter(item=item).order_by("position", "id").values_list("id", flat=True))
    try:
        if "order" in request.POST:
            new_order = [int(x) for x in request.POST["order"].split(",") if x.strip()]
        else:
            # Move one photo left/right: the no-JavaScript buttons.
            image_id, direction = int(request.POST["image"]), request.POST["move"]
            i = ids.index(image_id)
            j = i - 1 if direction == "left" else i + 1
            if 0 <= j < len(ids):
                ids[i], ids[j] = ids[j], ids[i]
            new_order = ids
        catalog_services.item_images_reorder(item, new_order)
    except (KeyError, ValueError) as exc:
        messages.error(request, f"Could not reorder photos: {exc}")
    else:
        messages.success(request, "Photo order saved.")
    return redirect("dashboard:item_detail", item_id=item.pk)


@staff_required
@require_http_methods(["GET", "POST"])
def item_photo_delete(request: HttpRequest, item_id: int, image_id: int) -> HttpResponse:
    image = get_object_or_404(ItemImage.objects.select_related("item"), pk=image_id, item_id=item_id)
    if request.method == "GET":
        return render(
            request,
            "dashboard/confirm.html",
            {
                "section": "catalog",
                "title": f"Delete photo {image.position + 1} of {image.item.external_id}?",
                "body": "The photo and its file are removed. This cannot be undone.",
                "confirm_label": "Delete photo",
                "back_url": f"/catalog/items/{item_id}/",
            },
        )
    catalog_services.item_image_delete(image, user=request.user)
    messages.success(request, "Photo deleted.")
    return redirect("dashboard:item_detail", item_id=item_id)


PREVIEW_ROWS = 10
PREVIEW_BYTES = 256 * 1024


def csv_preview(upload, error_rows: set[int]) -> dict | None:
    """The header and first rows of an uploaded CSV, for display only (the importer validates)."""
    try:
        upload.seek(0)
        head = upload.read(PREVIEW_BYTES)
        upload.seek(0)
        text = head.decode("utf-8-sig", errors="replace") if isinstance(head, bytes) else head
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if not header:
            return None
        rows = []
        for line_number, cells in enumerate(reader, start=2):
            if len(rows) >= PREVIEW_ROWS:
                break
            rows.append({"row": line_number, "cells": cells, "error": line_number in error_rows})
    except (csv.Error, OSError, ValueError):
        return None
    return {"header": header, "rows": rows}


def _importer():
    """The catalog importer, once the catalog package provides it (None until then)."""
    try:
        from recommender.catalog.importers import import_catalog_with_photos
    except ImportError:
        return None
    return import_catalog_with_photos


@staff_required
@require_http_methods(["GET", "POST"])
def catalog_import(request: HttpRequest) -> HttpResponse:
    importer = _importer()
    form = CatalogImportForm(request.POST or None, request.FILES or None)
    report = None
    preview = None
    status = 200
    if request.method == "POST" and importer is not None and form.is_valid():
        csv_file = form.cleaned_data["csv_file"]
        zip_file = form.cleaned_data.get("photos_zip")
        report = importer(csv_file, zip_file, dry_run=form.cleaned_data["dry_run"])
        preview = csv_preview(csv_file, {e.row for e in report.errors if e.row})
        if not report.ok:
            status = 400
        elif not report.dry_run:
            messages.success(request, f"Imported: {report.created} created, {report.updated} updated.")
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "dashboard/catalog/import.html",
        {
            "section": "catalog",
            "form": form,
            "report": report,
            # A list, not the dict: a template lookup of ``kinds.items`` would find the "items" kind.
            "report_kinds": sorted(report.kinds.items()) if report else [],
            "preview": preview,
            "importer_ready": importer is not None,
        },
        status=status,
    )
