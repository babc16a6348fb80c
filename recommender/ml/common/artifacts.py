"""Model artifacts: tensors in safetensors, everything else in a JSON sidecar.

Never pickle: an artifact directory may come from an upload or another machine, and
safetensors + JSON cannot execute code when loaded.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

WEIGHTS_FILE = "weights.safetensors"
META_FILE = "meta.json"


class ArtifactError(ValueError):
    """An artifact directory is missing, incomplete, of the wrong kind or corrupt."""


def tensors_digest(tensors: dict[str, np.ndarray]) -> str:
    """sha256 over names, dtypes, shapes and bytes, in name order: a content version."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        h.update(name.encode())
        h.update(str(arr.dtype).encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def atomic_write(path: Path, write) -> None:
    """Write ``path`` through a temporary file in its folder and one rename: a crash never
    leaves a half-written file that a later load would accept."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_artifact(directory: str | os.PathLike, kind: str, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    """Write ``weights.safetensors`` + ``meta.json`` into ``directory``; return the digest.

    Each file is replaced atomically so a crash mid-save never leaves a half-written file
    that a later load would accept.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    digest = tensors_digest(arrays)
    full_meta = {"kind": kind, "digest": digest, **meta}
    atomic_write(d / WEIGHTS_FILE, lambda p: save_file(arrays, p))
    atomic_write(d / META_FILE, lambda p: Path(p).write_text(json.dumps(full_meta, indent=2, sort_keys=True)))
    return digest


# Rankers saved before the one layout wrote their metadata here, with the kind under
# "model_type" and no digest: still readable (the versions on disk keep serving).
LEGACY_META_FILE = "metadata.json"


def load_artifact(directory: str | os.PathLike, kind: str | None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read an artifact written by :func:`save_artifact`, checking kind (unless None) and digest."""
    d = Path(directory)
    weights, meta_path = d / WEIGHTS_FILE, d / META_FILE
    legacy = not meta_path.is_file() and (d / LEGACY_META_FILE).is_file()
    if legacy:
        meta_path = d / LEGACY_META_FILE
    if not weights.is_file() or not meta_path.is_file():
        raise ArtifactError(f"{d}: expected {WEIGHTS_FILE} and {META_FILE}")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{meta_path}: unreadable metadata ({exc})") from exc
    if legacy:
        meta = {"kind": meta.pop("model_type", None), **meta}
    if kind is not None and meta.get("kind") != kind:
        raise ArtifactError(f"{d}: artifact kind is {meta.get('kind')!r}, expected {kind!r}")
    try:
        tensors = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ArtifactError(f"{weights}: unreadable weights ({exc})") from exc
    if not legacy and tensors_digest(tensors) != meta.get("digest"):
        raise ArtifactError(f"{d}: weights do not match the digest in {META_FILE}")
    return tensors, meta


POINTER_FILE = "CURRENT.json"


def pointer_write(root: str | os.PathLike, info: dict[str, Any]) -> None:
    """Point ``root/CURRENT.json`` at a published artefact, atomically: readers see the old
    pointer or the new one, never half of either."""
    r = Path(root)
    r.mkdir(parents=True, exist_ok=True)
    atomic_write(r / POINTER_FILE, lambda tmp: Path(tmp).write_text(json.dumps(info, indent=1)))


def pointer_read(root: str | os.PathLike) -> dict[str, Any] | None:
    """The published artefact's pointer, or None when nothing was published (or it is unreadable)."""
    try:
        return json.loads((Path(root) / POINTER_FILE).read_text())
    except (OSError, ValueError):
        return None
