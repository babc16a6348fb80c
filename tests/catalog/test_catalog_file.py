"""Generic CSV/parquet catalog import and the CSV + ZIP bulk import: all or nothing."""
from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from recommender.catalog.importers import import_catalog_file, import_catalog_with_photos
from recommender.models import Item, ItemImage
from tests.factories import ItemFactory, png_bytes

pytestmark = pytest.mark.django_db

GOOD = (
    "id,title,product_type,description,category,colour,material,style_tags,price,currency,in_stock,is_active,exclusive_tier\n"
    "R-1,Gold ring,Ring,Plain band,Accessories,Gold,gold-plated,minimal;stacking,19.90,EUR,yes,true,\n"
    "N-1,Pearl necklace,Necklace,,Accessories,White,pearl,,49,EUR,no,1,gold\n"
    'T-1,"=HYPERLINK(""http://x"")",Vest top,"multi\nline",Garment,Black,,,5.5,,,,\n'
)


def _write(tmp_path, text: str, name="catalog.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _snapshot(media):
    rows = list(Item.objects.order_by("external_id").values())
    files = sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())
    return rows, ItemImage.objects.count(), files


def test_good_csv_creates_items_and_a_rerun_is_unchanged(tmp_path):
    path = _write(tmp_path, GOOD)
    report = import_catalog_file(path)
    assert report.ok, report.summary()
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    ring = Item.objects.get(external_id="R-1")
    assert ring.is_jewelry and ring.price == Decimal("19.9") and ring.style_tags == ["minimal", "stacking"]
    assert ring.product_group == "Accessories" and ring.in_stock is True and ring.exclusive_tier is None
    necklace = Item.objects.get(external_id="N-1")
    assert necklace.exclusive_tier.code == "gold" and necklace.in_stock is False and necklace.price == 49
    top = Item.objects.get(external_id="T-1")
    # Stored as text, never evaluated.
    assert top.title == '=HYPERLINK("http://x")' and top.is_jewelry is False and top.description == "multi\nline"

    again = import_catalog_file(path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)


def test_existing_items_are_updated_with_the_given_columns_only(tmp_path):
    ItemFactory(external_id="R-1", title="Old", product_type="Ring", colour="Silver", description="keep me")
    report = import_catalog_file(_write(tmp_path, "id,title,product_type\nR-1,New,Ring\n"))
    assert (report.created, report.updated) == (0, 1)
    item = Item.objects.get(external_id="R-1")
    assert (item.title, item.colour, item.description) == ("New", "Silver", "keep me")


def test_mapping_renames_the_retailers_columns(tmp_path):
    path = _write(tmp_path, "SKU;Name;Type;Cost\nA1;Hoops;Earring;3,5\n".replace("3,5", "3.5"))
    report = import_catalog_file(path, mapping={"id": "SKU", "title": "Name", "product_type": "Type", "price": "Cost"})
    assert report.ok, report.summary()
    assert Item.objects.get(external_id="A1").price == Decimal("3.5")


@pytest.mark.parametrize(
    ("text", "row", "field", "message"),
    [
        ("id,title,product_type,price\nA,a,Ring,12,5x\n", 2, "", "row has 5 cells"),
        ("id,title,product_type,price\nA,a,Ring,1.2.3\n", 2, "price", "'1.2.3' is not a number"),
        ("id,title,product_type,price\nA,a,Ring,-4\n", 2, "price", "must be >= 0"),
        ("id,title,product_type,colour_code\nA,a,Ring,3\n", 1, "colour_code", "unknown column 'colour_code'"),
        ("id,title\nA,a\n", 1, "product_type", "missing required column 'product_type'"),
        ("id,title,product_type\nA,a,Ring\nB,b,Ring\nA,c,Ring\n", 4, "id", "duplicate id 'A' (first on row 2)"),
        ("id,title,product_type,exclusive_tier\nA,a,Ring,diamond\n", 2, "exclusive_tier", "unknown tier 'diamond'"),
        ("id,title,product_type\nA,,Ring\n", 2, "title", "must not be empty"),
        ("id,title,product_type\n../x,a,Ring\n", 2, "id", "slash"),
        ("id,title,product_type,in_stock\nA,a,Ring,maybe\n", 2, "in_stock", "not true/false"),
    ],
)
def test_each_kind_of_bad_row_is_reported_and_nothing_is_written(tmp_path, _media_root, text, row, field, message):
    ItemFactory(external_id="KEEP")
    before = _snapshot(_media_root)
    path = _write(tmp_path, text)
    report = import_catalog_file(path)
    assert not report.ok
    assert any(e.row == row and e.field == field and message in e.message and e.file == "catalog.csv"
               for e in report.errors), report.summary()
    assert "nothing was written" in report.summary()
    assert _snapshot(_media_root) == before


def test_one_bad_row_among_good_ones_blocks_the_whole_file(tmp_path, _media_root):
    before = _snapshot(_media_root)
    report = import_catalog_file(_write(tmp_path, GOOD + "X-9,Bad,Ring,,,,,,-1,,,,\n"))
    # Header is row 1 and each record is one row, even the one whose quoted cell spans two lines.
    assert [(e.row, e.field) for e in report.errors] == [(5, "price")]
    assert _snapshot(_media_root) == before
    assert report.as_dict()["errors"][0]["row"] == 5


def test_non_utf8_file_is_refused_with_the_line(tmp_path):
    path = _write(tmp_path, "id,title,product_type\nA,Boucle d'oreille é,Earring\n", encoding="latin-1")
    report = import_catalog_file(path)
    assert not report.ok and report.errors[0].row == 2
    assert "not UTF-8" in report.errors[0].message
    assert Item.objects.count() == 0


def test_dry_run_validates_and_counts_but_writes_nothing(tmp_path):
    ItemFactory(external_id="R-1", title="Gold ring", product_type="Ring")
    report = import_catalog_file(_write(tmp_path, GOOD), dry_run=True)
    assert report.ok and report.dry_run
    assert (report.created, report.updated) == (2, 1)
    assert Item.objects.count() == 1
    assert "dry run: nothing was written" in report.summary()


def test_parquet_export_is_accepted(tmp_path):
    path = tmp_path / "catalog.parquet"
    pd.DataFrame({"id": ["P1", "P2"], "title": ["Ring", "Cuff"], "product_type": ["Ring", "Bracelet"],
                  "price": [9.5, None], "in_stock": [True, False]}).to_parquet(path)
    report = import_catalog_file(path)
    assert report.ok, report.summary()
    assert Item.objects.get(external_id="P1").price == Decimal("9.5")
    assert Item.objects.get(external_id="P2").price is None and not Item.objects.get(external_id="P2").in_stock


def test_import_catalog_command(tmp_path, capsys):
    good = _write(tmp_path, GOOD)
    call_command("import_catalog", str(good), "--dry-run", skip_checks=True)
    assert "3 would be created" in capsys.readouterr().out and Item.objects.count() == 0
    bad = _write(tmp_path, "id,title,product_type,price\nA,a,Ring,abc\n", name="bad.csv")
    with pytest.raises(CommandError, match="1 invalid row"):
        call_command("import_catalog", str(bad), skip_checks=True)
    assert "bad.csv row 2 [price]: 'abc' is not a number" in capsys.readouterr().out


# --- CSV + ZIP of photos ----------------------------------------------------------------------


def _zip(members: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    buf.seek(0)
    buf.name = "photos.zip"
    return buf


def test_csv_with_zip_stores_photos_named_by_id(tmp_path, hm_dir, _media_root):
    real = (hm_dir / "images" / "0235596002.jpg").read_bytes()
    archive = _zip({"R-1.jpg": real, "N-1/front.png": png_bytes(), "N-1/back.png": png_bytes((1, 1, 1)),
                    "__MACOSX/._R-1.jpg": b"junk", "folder/": b""})
    report = import_catalog_with_photos(io.BytesIO(GOOD.encode()), archive)
    assert report.ok, report.summary()
    assert report.kinds["photos"]["created"] == 3
    assert ItemImage.objects.filter(item__external_id="N-1").count() == 2
    assert len([p for p in _media_root.rglob("*") if p.is_file()]) == 3
    again = import_catalog_with_photos(io.BytesIO(GOOD.encode()), _zip({"R-1.jpg": real}))
    assert again.kinds["photos"] == {"created": 0, "updated": 0, "unchanged": 1, "skipped": 0}


@pytest.mark.parametrize(
    ("member", "data", "message"),
    [
        ("../../evil.jpg", None, "unsafe path"),
        ("/abs/R-1.jpg", None, "unsafe path"),
        ("R-1/inner.zip", None, "nested archives"),
        ("R-1.jpg", b"PK\x03\x04 zip bytes named like a photo", "nested archives"),
        ("R-1.jpg", b"just text", "not an image"),
        ("R-1.jpg", b"", "empty"),
        ("NOPE.jpg", None, "unknown item id 'NOPE'"),
        ("a/b/c.jpg", None, "name photos <id>.jpg"),
    ],
)
def test_bad_zip_members_block_the_import_and_leave_no_files(tmp_path, _media_root, member, data, message):
    ItemFactory(external_id="KEEP")
    before = _snapshot(_media_root)
    inner = _zip({"x.jpg": png_bytes()}).getvalue()
    payload = data if data is not None else (inner if member.endswith(".zip") else png_bytes())
    archive = _zip({"N-1.png": png_bytes(), member: payload})
    report = import_catalog_with_photos(io.BytesIO(GOOD.encode()), archive)
    assert not report.ok
    assert any(message in e.message and e.file.startswith("photos.zip:") for e in report.errors), report.summary()
    assert _snapshot(_media_root) == before


def test_oversize_zip_member_is_refused(tmp_path, _media_root, monkeypatch):
    from recommender.catalog.importing import catalog_file

    monkeypatch.setattr(catalog_file, "MAX_PHOTO_BYTES", 100)
    report = import_catalog_with_photos(io.BytesIO(GOOD.encode()), _zip({"R-1.png": png_bytes(size=(300, 300))}))
    assert not report.ok and "more than" in report.errors[0].message
    assert Item.objects.count() == 0


def test_database_failure_after_photos_were_stored_removes_the_files(tmp_path, _media_root, monkeypatch):
    from recommender.catalog.importing import catalog_file

    def boom(plan, report):
        original(plan, report)
        raise RuntimeError("database went away")

    original = catalog_file._write_photos
    monkeypatch.setattr(catalog_file, "_write_photos", boom)
    with pytest.raises(RuntimeError):
        import_catalog_with_photos(io.BytesIO(GOOD.encode()), _zip({"R-1.png": png_bytes()}))
    assert Item.objects.count() == 0 and ItemImage.objects.count() == 0
    assert [p for p in _media_root.rglob("*") if p.is_file()] == []
