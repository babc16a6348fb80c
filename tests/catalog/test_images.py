"""Photo validation on real sample photos and on hostile files made here."""
from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from recommender.catalog.images import ImageRejected, image_validate
from recommender.catalog.services import item_image_add, item_image_delete, item_images_reorder
from recommender.models import ItemImage
from tests.factories import ItemFactory, png_bytes


def _jpeg(mode="RGB", size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (10, 20, 30) if mode == "RGB" else (10, 20, 30, 40)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width x height``: a decompression-bomb header."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 100)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_real_sample_photos_are_accepted(hm_dir):
    photos = sorted((hm_dir / "images").glob("*.jpg"))[:5]
    assert len(photos) == 5
    for path in photos:
        image = image_validate(path.read_bytes(), name=path.name)
        assert (image.width, image.height) == (360, 540)
        assert image.format == "JPEG"
        assert image.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_real_transparent_png_from_the_jewelry_photos(data_dir):
    png = next(iter(sorted((data_dir / "jewelry-photos" / "catalog-gold").rglob("*.png"))))
    image = image_validate(png.read_bytes(), name=png.name)
    assert image.format == "PNG"
    assert image.width > 0 and image.height > 0


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "file is empty (0 bytes)"),
        (b"hello, this is a text file pretending to be a photo\n", "not an image (cannot identify image file)"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG is not accepted"),
        (b"<svg width='10' height='10'></svg>", "SVG is not accepted"),
    ],
)
def test_non_images_are_rejected_with_a_clear_message(data, reason):
    with pytest.raises(ImageRejected) as exc:
        image_validate(data, name="photo.jpg")
    assert str(exc.value).startswith("photo.jpg: ")
    assert reason in str(exc.value)


def test_truncated_jpeg_is_rejected(hm_dir):
    data = next(iter(sorted((hm_dir / "images").glob("*.jpg")))).read_bytes()
    with pytest.raises(ImageRejected, match="damaged or truncated"):
        image_validate(data[: len(data) // 2], name="half.jpg")


def test_decompression_bomb_header_is_refused_before_decoding():
    with pytest.raises(ImageRejected, match="7000x7000 = 49 megapixels.*decompression bomb"):
        image_validate(_png_header_claiming(7000, 7000), name="bomb.png")
    # Above Pillow's own hard limit too: still our clear message, not a crash.
    with pytest.raises(ImageRejected, match="bomb.png: image is larger than the 40 megapixel limit"):
        image_validate(_png_header_claiming(60000, 60000), name="bomb.png")


def test_cmyk_jpeg_and_16_bit_png_are_accepted():
    cmyk = image_validate(_jpeg("CMYK"), name="cmyk.jpg")
    assert cmyk.mode == "CMYK" and cmyk.format == "JPEG"
    buf = io.BytesIO()
    Image.new("I;16", (40, 30), 40000).save(buf, format="PNG")
    deep = image_validate(buf.getvalue(), name="deep.png")
    assert deep.mode.startswith("I") and (deep.width, deep.height) == (40, 30)


def test_animated_gif_is_accepted_and_frames_counted():
    buf = io.BytesIO()
    frames = [Image.new("RGB", (20, 20), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    image = image_validate(buf.getvalue(), name="anim.gif")
    assert image.format == "GIF" and image.frames == 3


def test_unsupported_format_is_named():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="BMP")
    with pytest.raises(ImageRejected, match="unsupported image format BMP"):
        image_validate(buf.getvalue(), name="x.bmp")


def test_oversize_file_is_refused_without_reading_it_all():
    class Huge(io.RawIOBase):
        read_calls = []

        def read(self, n=-1):
            self.read_calls.append(n)
            return b"\xff" * n

    with pytest.raises(ImageRejected, match="larger than 20 MB"):
        image_validate(Huge(), name="huge.jpg")
    assert Huge.read_calls == [20 * 1024 * 1024 + 1]


# --- storage service ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_item_image_add_stores_under_a_derived_name_and_is_idempotent(hm_dir, _media_root):
    item = ItemFactory(external_id="0235596002")
    data = (hm_dir / "images" / "0235596002.jpg").read_bytes()
    digest = hashlib.sha256(data).hexdigest()

    first = item_image_add(item, io.BytesIO(data), name="../../etc/passwd.jpg")
    assert first.image.name == f"items/0235596002/{digest[:32]}.jpg"
    assert (first.width, first.height, first.mode, first.format) == (360, 540, "RGB", "JPEG")
    assert first.size_bytes == len(data) and first.content_hash == digest and first.position == 0
    assert (Path(_media_root) / first.image.name).read_bytes() == data

    again = item_image_add(item, data)
    assert again.pk == first.pk
    assert ItemImage.objects.count() == 1
    assert len(list(Path(_media_root).rglob("*.*"))) == 1

    second = item_image_add(item, png_bytes())
    assert second.position == 1


@pytest.mark.django_db
def test_rejected_photo_writes_nothing(_media_root):
    item = ItemFactory()
    with pytest.raises(ImageRejected, match="evil.jpg: not an image"):
        item_image_add(item, b"GIF? no, text", name="evil.jpg")
    assert ItemImage.objects.count() == 0
    assert list(Path(_media_root).rglob("*")) == []


@pytest.mark.django_db(transaction=True)
def test_delete_removes_row_and_file_and_reorder_sets_positions(_media_root):
    item = ItemFactory()
    a = item_image_add(item, png_bytes((1, 2, 3)))
    b = item_image_add(item, png_bytes((4, 5, 6)))
    c = item_image_add(item, png_bytes((7, 8, 9)))
    ordered = item_images_reorder(item, [c.pk, a.pk, b.pk])
    assert [(i.pk, i.position) for i in ordered] == [(c.pk, 0), (a.pk, 1), (b.pk, 2)]
    assert list(item.images.values_list("pk", flat=True)) == [c.pk, a.pk, b.pk]
    with pytest.raises(ValueError, match="exactly once"):
        item_images_reorder(item, [c.pk, a.pk])
    path = Path(_media_root) / a.image.name
    assert path.exists()
    item_image_delete(a)
    assert not path.exists()
    assert list(item.images.values_list("pk", flat=True)) == [c.pk, b.pk]


@pytest.mark.django_db
def test_one_photo_hash_per_item_is_a_database_constraint():
    from django.db import IntegrityError, transaction

    from tests.factories import ItemImageFactory

    img = ItemImageFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        ItemImage.objects.create(item=img.item, content_hash=img.content_hash, image=img.image.name)
    # The same photo on another item is fine.
    ItemImage.objects.create(item=ItemFactory(), content_hash=img.content_hash, image=img.image.name)


def test_pillow_hard_limit_header_gets_our_message():
    # 20000x20000 is above Pillow's own 2x MAX_IMAGE_PIXELS, which raises inside Image.open.
    with pytest.raises(ImageRejected, match="bomb.png: image is larger than the 40 megapixel limit"):
        image_validate(_png_header_claiming(20000, 20000), name="bomb.png")
