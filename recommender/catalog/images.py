"""Photo validation: decide whether some bytes are a photo we are willing to store.

Every photo, from the sample import, the generic import, a ZIP upload or the dashboard,
goes through :func:`image_validate` before anything is written. The checks run in the
order that costs least for hostile input: size, signature sniffing, header parse
(``Image.open`` reads only the header), pixel count (before any decoding, so a
decompression bomb is refused before it allocates memory), ``verify()`` for structural
damage, then a full ``load()`` of the first frame, which catches truncated files.

Decisions:
- Formats accepted: JPEG, PNG, WebP, GIF. SVG is refused (vector, can carry script);
  TIFF/BMP/etc. are refused with a message asking for a common format.
- Animated GIF/WebP/APNG are accepted; the original file is stored and the encoders use
  the first frame (``frames`` records how many there were).
- Any colour mode Pillow can decode is accepted (CMYK JPEG, 16-bit ``I;16`` PNG,
  palette, alpha); the encoders convert to RGB, the stored file keeps its original.
"""
from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
# 40 megapixels is far above any product photo (a 50 MP camera shot should be resized
# before upload) and keeps a decoded RGBA frame under ~160 MB.
MAX_PIXELS = 40_000_000
MAX_BYTES = 20 * 1024 * 1024


class ImageRejected(ValueError):
    """A file that is not an acceptable photo. The message names the file and the reason;
    ``code`` says which rule refused it (``invalid_image``, ``unsupported_image_format``,
    ``too_large``)."""

    def __init__(self, name: str, reason: str, code: str = "invalid_image") -> None:
        self.name = name
        self.reason = reason
        self.code = code
        super().__init__(f"{name}: {reason}")


@dataclass(frozen=True)
class ValidatedImage:
    data: bytes
    content_hash: str  # sha256 hex of ``data``
    width: int
    height: int
    mode: str
    format: str
    frames: int

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def read_bytes(fileobj_or_bytes, *, name: str = "photo", max_bytes: int = MAX_BYTES) -> bytes:
    """Read at most ``max_bytes + 1`` bytes so an oversize upload is refused without reading it all."""
    if isinstance(fileobj_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(fileobj_or_bytes)
    else:
        if hasattr(fileobj_or_bytes, "seek"):
            try:
                fileobj_or_bytes.seek(0)
            except (OSError, ValueError):
                pass
        data = fileobj_or_bytes.read(max_bytes + 1)
        if isinstance(data, str):
            raise ImageRejected(name, "not an image (text was given, expected bytes)")
    if len(data) > max_bytes:
        raise ImageRejected(name, f"file is larger than {max_bytes // (1024 * 1024)} MB", "too_large")
    return data


def _looks_like_svg(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in head.lower())


def image_validate(fileobj_or_bytes, *, name: str = "photo", max_pixels: int = MAX_PIXELS,
                   max_bytes: int = MAX_BYTES) -> ValidatedImage:
    """Return the checked photo or raise :class:`ImageRejected` with a clear reason."""
    data = read_bytes(fileobj_or_bytes, name=name, max_bytes=max_bytes)
    if not data:
        raise ImageRejected(name, "file is empty (0 bytes)")
    if _looks_like_svg(data[:1024]):
        raise ImageRejected(name, "SVG is not accepted (vector files can carry scripts); export a JPEG or PNG",
                            "unsupported_image_format")

    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; make it an error here
        # without touching the process-wide Image.MAX_IMAGE_PIXELS other code relies on.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as im:
                fmt = (im.format or "").upper()
                width, height = im.size
                if fmt not in ACCEPTED_FORMATS:
                    raise ImageRejected(
                        name, f"unsupported image format {fmt or 'unknown'}; use JPEG, PNG, WebP or GIF",
                        "unsupported_image_format",
                    )
                if width <= 0 or height <= 0:
                    raise ImageRejected(name, "image has no pixels")
                if width * height > max_pixels:
                    raise ImageRejected(
                        name,
                        f"image is {width}x{height} = {width * height / 1e6:.0f} megapixels, "
                        f"more than the {max_pixels / 1e6:.0f} megapixel limit (possible decompression bomb)",
                    )
                im.verify()
            with Image.open(io.BytesIO(data)) as im:
                frames = int(getattr(im, "n_frames", 1) or 1)
                im.seek(0)
                im.load()  # decodes the first frame: truncated data fails here
                mode = im.mode
        except ImageRejected:
            raise
        except UnidentifiedImageError as exc:
            raise ImageRejected(name, f"not an image ({_pil_reason(exc)})") from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(
                name,
                f"image is larger than the {max_pixels / 1e6:.0f} megapixel limit (possible decompression bomb): {exc}",
            ) from exc
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
            raise ImageRejected(name, f"damaged or truncated image ({exc})") from exc
    return ValidatedImage(
        data=data,
        content_hash=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        mode=mode,
        format=fmt,
        frames=frames,
    )


def _pil_reason(exc: Exception) -> str:
    text = str(exc)
    # Pillow's message includes the in-memory stream repr, which means nothing to a user.
    return "cannot identify image file" if text.startswith("cannot identify image file") else text
