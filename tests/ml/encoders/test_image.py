import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from recommender.ml.common.matrix import l2_normalize
from recommender.ml.encoders.image import (
    IMAGE_SIZE,
    ImageDecodeError,
    build_efficientnet_lite0,
    load_image,
    preprocess_image,
)

NECKLACE_CLASSES = {679, 488}  # necklace, chain
WATCH_CLASSES = {409, 531, 826, 635}  # analog clock, digital watch, stopwatch, magnetic compass


def _png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def _pixel(arr: np.ndarray) -> np.ndarray:
    """Centre pixel of a preprocessed array back in 0..255."""
    return arr[:, IMAGE_SIZE // 2, IMAGE_SIZE // 2] * 128 + 127


# -- preprocessing contract -------------------------------------------------------------

def test_preprocess_shape_and_scale():
    arr = preprocess_image(_png_bytes(Image.new("RGB", (300, 500), (127, 255, 0))))
    assert arr.shape == (3, IMAGE_SIZE, IMAGE_SIZE) and arr.dtype == np.float32
    np.testing.assert_allclose(arr[:, 0, 0], [0.0, 1.0, -127 / 128], atol=1e-6)


def test_transparent_png_is_flattened_onto_white():
    im = Image.new("RGBA", (240, 240), (255, 0, 0, 0))  # fully transparent red
    im.paste((0, 0, 255, 255), (0, 0, 10, 10))
    np.testing.assert_allclose(_pixel(preprocess_image(_png_bytes(im))), [255, 255, 255], atol=1)


def test_palette_with_transparency_is_flattened_onto_white():
    im = Image.new("P", (240, 240), 0)
    im.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    im.info["transparency"] = 0
    np.testing.assert_allclose(_pixel(preprocess_image(_png_bytes(im))), [255, 255, 255], atol=1)


def test_cmyk_jpeg_converts_to_rgb():
    rgb = Image.new("RGB", (256, 256), (200, 30, 30))
    data = _jpeg_bytes(rgb.convert("CMYK"), quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    np.testing.assert_allclose(_pixel(preprocess_image(data)), [200, 30, 30], atol=8)


def test_16bit_greyscale_is_scaled_not_clipped():
    arr16 = np.full((240, 240), 32896, dtype=np.uint16)  # 32896 / 257 = 128
    im = Image.fromarray(arr16)
    data = _png_bytes(im)
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    np.testing.assert_allclose(_pixel(preprocess_image(data)), [128, 128, 128], atol=1)


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (240, 240), (255, 0, 0)), Image.new("RGB", (240, 240), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    px = _pixel(preprocess_image(buf.getvalue()))
    assert px[0] > 200 and px[2] < 50


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (400, 200), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = _jpeg_bytes(im, exif=exif.tobytes())
    assert load_image(data, draft_size=None).size == (200, 400)


def test_grey_and_la_modes():
    assert load_image(_png_bytes(Image.new("L", (50, 60), 90))).mode == "RGB"
    la = Image.new("LA", (50, 60), (0, 0))
    assert load_image(_png_bytes(la)).getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"hello, this is not an image at all" * 10, "not a recognised image"),
    ],
)
def test_bad_bytes_raise_with_reason(data, reason):
    with pytest.raises(ImageDecodeError, match=reason):
        preprocess_image(data)


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty file"):
        preprocess_image(p)


def test_truncated_jpeg_raises(hm_photos):
    data = open(hm_photos[0], "rb").read()
    with pytest.raises(ImageDecodeError, match="truncated|corrupt"):
        preprocess_image(data[: len(data) // 2])


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\x00" * 16)
    idat_chunk = struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + chunk + idat_chunk


def test_decompression_bomb_header_is_refused_before_decoding():
    with pytest.raises(ImageDecodeError, match="MP"):
        preprocess_image(_png_header_only(8000, 6000))  # 48 MP > 40 MP limit
    with pytest.raises(ImageDecodeError, match="too large|MP"):
        preprocess_image(_png_header_only(30000, 30000))  # beyond Pillow's own bomb limit


# -- the model -------------------------------------------------------------------------

@pytest.mark.slow
def test_batchnorm_folding_is_exact(hm_photos):
    x = torch.from_numpy(np.stack([preprocess_image(p) for p in hm_photos[:2]]))
    with torch.inference_mode():
        plain = build_efficientnet_lite0(optimize=False).extract_features(x).mean((2, 3))
        fused = build_efficientnet_lite0(optimize=True).extract_features(x).mean((2, 3))
    assert torch.allclose(plain, fused, atol=1e-3), float((plain - fused).abs().max())


@pytest.mark.slow
def test_imagenet_head_recognises_jewelry(image_encoder, labelled_sample):
    paths, labels = labelled_sample
    necklaces = [p for p, y in zip(paths, labels) if y == 2][:8]
    watches = [p for p, y in zip(paths, labels) if y == 4][:8]
    top = image_encoder.classify(necklaces + watches, k=5)
    neck_hits = sum(bool({c for c, _, _ in t} & NECKLACE_CLASSES) for t in top[:8])
    watch_hits = sum(bool({c for c, _, _ in t} & WATCH_CLASSES) for t in top[8:])
    # A random top-5 out of 1000 classes would hit 2-4 classes ~1-2% of the time.
    assert neck_hits >= 5, top[:8]
    assert watch_hits >= 6, top[8:]
    probs = [sum(p for _, p, _ in t) for t in top]
    assert all(0 < s <= 1.0001 for s in probs)


@pytest.mark.slow
def test_features_cluster_by_type(labelled_features):
    feats, labels = labelled_features
    assert feats.shape == (len(labels), 1280) and len(labels) >= 95 and feats.dtype == np.float32
    v = l2_normalize(feats)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    acc = float(np.mean(labels[sims.argmax(1)] == labels))
    # 5 balanced types: chance is 0.2.
    assert acc > 0.5, acc


@pytest.mark.slow
def test_augmented_copy_finds_its_original(image_encoder, hm_photos, hm_features):
    rng = np.random.default_rng(0)
    gallery = l2_normalize(hm_features)
    picks = rng.choice(len(hm_photos), size=6, replace=False)
    queries = []
    for i in picks:
        im = load_image(hm_photos[i], draft_size=None)
        w, h = im.size
        im = im.crop((int(0.06 * w), int(0.05 * h), int(0.95 * w), int(0.93 * h)))
        im = im.rotate(8, fillcolor=(255, 255, 255), resample=Image.Resampling.BILINEAR)
        queries.append(_jpeg_bytes(im, quality=60))
    q = image_encoder.encode(queries, normalize=True)
    top1 = (q @ gallery.T).argmax(1)
    assert list(top1) == list(picks)


def test_encode_many_keeps_going_past_bad_items(image_encoder, hm_photos):
    sources = [hm_photos[0], b"", b"garbage bytes here", hm_photos[1]]
    feats, failures = image_encoder.encode_many(sources)
    assert set(failures) == {1, 2}
    assert "empty" in failures[1] and "not a recognised" in failures[2]
    assert feats.shape == (4, 1280)
    assert np.all(feats[[1, 2]] == 0) and np.all(np.abs(feats[[0, 3]]).sum(1) > 0)
    # A failure elsewhere in the batch does not change a good item's features.
    alone = image_encoder.encode([hm_photos[0]])
    np.testing.assert_allclose(alone[0], feats[0], atol=1e-4)
    with pytest.raises(ImageDecodeError, match="image 1: empty"):
        image_encoder.encode(sources)


def test_normalized_copy(image_encoder, hm_photos):
    raw = image_encoder.encode(hm_photos[:2])
    unit = image_encoder.encode(hm_photos[:2], normalize=True)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)
