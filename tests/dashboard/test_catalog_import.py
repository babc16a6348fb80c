"""Bulk import page: CSV + optional photo ZIP, dry-run preview, row errors, then the real import."""
from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from recommender.models import Item, ItemImage
from tests.dashboard.conftest import png_bytes

pytestmark = pytest.mark.django_db
URL = "/catalog/import/"

GOOD_CSV = b"id,title,product_type,colour,price\n0500000001,Star studs,Earring,Gold,9.99\n0500000002,Chain,Necklace,Silver,19.5\n"
BAD_CSV = b"id,title,product_type,colour,price\n0500000001,Star studs,Earring,Gold,9.99\n0500000002,,Necklace,Silver,3\n0500000003,Cuff,Bracelet,Gold,-3\n"


def _csv(data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("catalog.csv", data, content_type="text/csv")


def _zip(members: dict[str, bytes]) -> SimpleUploadedFile:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return SimpleUploadedFile("photos.zip", buf.getvalue(), content_type="application/zip")


def test_url_is_stable():
    assert reverse("dashboard:catalog_import") == URL


def test_dry_run_previews_and_writes_nothing(staff_client):
    response = staff_client.post(URL, {"csv_file": _csv(GOOD_CSV), "photos_zip": _zip({"0500000001.png": png_bytes()}), "dry_run": "on"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Dry-run preview" in html and "no errors" in html
    assert "Untick “Dry run”" in html
    assert "Star studs" in html  # preview row
    assert Item.objects.count() == 0 and ItemImage.objects.count() == 0


def test_real_import_writes_items_and_photos(staff_client):
    response = staff_client.post(URL, {"csv_file": _csv(GOOD_CSV), "photos_zip": _zip({"0500000001.png": png_bytes()})})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Import result" in html
    assert set(Item.objects.values_list("external_id", flat=True)) == {"0500000001", "0500000002"}
    assert ItemImage.objects.get().item.external_id == "0500000001"
    assert Item.objects.get(external_id="0500000002").is_jewelry


def test_import_names_the_rows_without_a_photo(staff_client):
    csv_data = GOOD_CSV + b"0500000003,Hoops,Earrings,Gold,4.99\n"
    response = staff_client.post(URL, {"csv_file": _csv(csv_data), "photos_zip": _zip({"0500000001.png": png_bytes()}),
                                       "dry_run": "on"})
    html = response.content.decode()
    assert 'data-without-photo="2"' in html and "2 rows without a photo" in html
    assert "row 3 · <span class=\"mono\">0500000002</span>" in html
    assert "row 4 · <span class=\"mono\">0500000003</span>" in html
    assert "0500000001</span>" not in html
    # Imported for real, then the same CSV again without a ZIP: the stored photo still counts.
    staff_client.post(URL, {"csv_file": _csv(csv_data), "photos_zip": _zip({"0500000001.png": png_bytes()})})
    assert Item.objects.get(external_id="0500000003").product_type == "Earring"
    html = staff_client.post(URL, {"csv_file": _csv(csv_data), "dry_run": "on"}).content.decode()
    assert 'data-without-photo="2"' in html and "0500000001</span>" not in html


def test_bad_rows_are_reported_per_row_and_nothing_is_written(staff_client):
    response = staff_client.post(URL, {"csv_file": _csv(BAD_CSV)})
    html = response.content.decode()
    assert response.status_code == 400
    assert "nothing was written" in html
    assert html.count('class="row-error"') == 2  # the preview marks spreadsheet rows 3 and 4
    assert html.count("<td class=\"mono\">title</td>") == 1 and html.count("<td class=\"mono\">price</td>") == 1
    assert Item.objects.count() == 0


def test_missing_csv_is_an_inline_error(staff_client):
    response = staff_client.post(URL, {"dry_run": "on"})
    assert response.status_code == 400
    assert 'id="id_csv_file_error"' in response.content.decode()
