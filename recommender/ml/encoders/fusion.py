"""Fuse image, text and attribute vectors into one 512-d item vector.

Every modality m has a projection (mu_m, W_m) into the shared 512-d space:

    z_m   = normalize((normalize(x_m) - mu_m) @ W_m)
    fused = normalize(sum over present m of  w_m * z_m)

Two ways to get the projections, one transform:

* ``"contrastive"`` (enough items with photo + text): each W_m is a full 512-column
  matrix trained so that the image, text and attribute projections of the same item agree
  (symmetric InfoNCE) and, when labels are given, items of the same type agree too. The
  modalities then share one space, so an item without a photo lands near similar items
  with photos; modality dropout in training makes partial vectors match full ones.
* ``"pca"`` (fallback, too little data): each W_m is a PCA basis placed in its own block
  of the 512 columns (a weighted concatenation), deterministic and training-free.

The raw encoder outputs are the inputs, so refitting never re-encodes photos or texts.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..common.artifacts import load_artifact, save_artifact, tensors_digest
from ..common.matrix import l2_normalize

FUSION_KIND = "jewelrec.fusion"
OUT_DIM = 512
MODALITIES = ("image", "text", "attr")
# Block sizes of the PCA fallback (sum = 512) and the modality weights of both modes.
PCA_BLOCKS = {"image": 224, "text": 192, "attr": 96}
DEFAULT_WEIGHTS = {"image": 1.0, "text": 1.0, "attr": 0.5}


@dataclass
class FusedVectors:
    """Output of :meth:`FusionModel.transform`."""

    vectors: np.ndarray  # (n, 512) float32, L2-normalised; all-zero where no part exists
    has_image: np.ndarray  # (n,) bool
    has_text: np.ndarray
    has_attr: np.ndarray

    def parts(self, i: int) -> list[str]:
        return [m for m, flag in zip(MODALITIES, (self.has_image[i], self.has_text[i], self.has_attr[i])) if flag]


def _stack(vecs, n: int | None, name: str) -> tuple[np.ndarray | None, np.ndarray]:
    """Accept an (n, d) array (rows of NaN/zeros = missing), a list with None, or None."""
    if vecs is None:
        if n is None:
            raise ValueError(f"{name}: cannot infer the number of items")
        return None, np.zeros(n, bool)
    if isinstance(vecs, np.ndarray):
        arr = np.asarray(vecs, np.float32)
        if arr.ndim != 2:
            raise ValueError(f"{name}: expected a 2-d array, got shape {arr.shape}")
        present = np.isfinite(arr).all(axis=1) & (np.abs(arr).sum(axis=1) > 0)
        return np.where(present[:, None], np.nan_to_num(arr), 0.0).astype(np.float32), present
    rows = list(vecs)
    dims = {np.asarray(r).shape[-1] for r in rows if r is not None}
    if len(dims) > 1:
        raise ValueError(f"{name}: rows have different dimensions {sorted(dims)}")
    if not dims:
        return None, np.zeros(len(rows), bool)
    d = dims.pop()
    arr = np.zeros((len(rows), d), np.float32)
    present = np.zeros(len(rows), bool)
    for i, r in enumerate(rows):
        if r is not None:
            r = np.asarray(r, np.float32).reshape(-1)
            if np.isfinite(r).all() and np.abs(r).sum() > 0:
                arr[i], present[i] = r, True
    return arr, present


class FusionModel:
    def __init__(self, out_dim: int = OUT_DIM, weights: dict[str, float] | None = None):
        self.out_dim = int(out_dim)
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        self.mode = ""
        self.dims: dict[str, int] = {}
        self.mu: dict[str, np.ndarray] = {}
        self.W: dict[str, np.ndarray] = {}
        self.meta: dict = {}
        self._version = ""  # content digest of the fitted tensors, set by fit() and load()

    # -- fitting ---------------------------------------------------------------------------
    def fit(
        self,
        image_vecs,
        text_vecs,
        attr_vecs,
        labels: Sequence | None = None,
        mode: str = "auto",
        min_pairs: int = 200,
        epochs: int = 100,
        seed: int = 0,
    ) -> "FusionModel":
        """Fit projections. ``mode``: "auto" (contrastive if >= ``min_pairs`` items have both
        a photo and a text, else PCA), "contrastive" or "pca"."""
        text, has_t = _stack(text_vecs, None, "text_vecs")
        n = len(has_t)
        image, has_i = _stack(image_vecs, n, "image_vecs")
        attr, has_a = _stack(attr_vecs, n, "attr_vecs")
        if len(has_i) != n or len(has_a) != n:
            raise ValueError(f"image/text/attr inputs have different lengths: {len(has_i)}, {n}, {len(has_a)}")
        data = {"image": (image, has_i), "text": (text, has_t), "attr": (attr, has_a)}
        self.dims = {m: int(x.shape[1]) for m, (x, _) in data.items() if x is not None}
        if not self.dims:
            raise ValueError("FusionModel.fit needs at least one modality")
        self.mu = {}
        for m, (x, present) in data.items():
            if x is None:
                continue
            if present.sum() == 0:
                self.dims.pop(m)
                continue
            self.mu[m] = l2_normalize(x[present]).mean(axis=0).astype(np.float32)
        n_pairs = int((has_i & has_t).sum()) if "image" in self.dims and "text" in self.dims else 0
        if mode == "auto":
            mode = "contrastive" if n_pairs >= min_pairs else "pca"
        if mode == "pca":
            from threadpoolctl import threadpool_limits

            # These are small factorisations; multi-threaded OpenBLAS QR/SVD was measured
            # 40x slower than one thread on a busy 2-core machine.
            with threadpool_limits(1, user_api="blas"):
                self._fit_pca(data, seed)
        elif mode == "contrastive":
            if n_pairs < 2:
                raise ValueError("contrastive fusion needs items with both an image and a text")
            self._fit_contrastive(data, labels, epochs, seed)
        else:
            raise ValueError(f"unknown fusion mode {mode!r}")
        self.mode = mode
        self.meta = {"n_items": n, "n_pairs": n_pairs, "n_images": int(has_i.sum()), "n_texts": int(has_t.sum())}
        self._version = ""
        return self

    def _centered(self, m: str, x: np.ndarray) -> np.ndarray:
        return l2_normalize(x) - self.mu[m]

    def _fit_pca(self, data, seed: int) -> None:
        rng = np.random.default_rng(seed)
        present_mods = [m for m in MODALITIES if m in self.dims]
        # Blocks of absent modalities go to the present ones so the output stays 512-d.
        sizes = {m: PCA_BLOCKS[m] for m in present_mods}
        spare = self.out_dim - sum(sizes.values())
        sizes[present_mods[0]] += spare
        col = 0
        self.W = {}
        for m in present_mods:
            x, present = data[m]
            xc = self._centered(m, x[present])
            k = sizes[m]
            basis = np.zeros((self.dims[m], k), np.float32)
            _, _, vt = np.linalg.svd(xc.astype(np.float64), full_matrices=False)
            r = min(k, vt.shape[0])
            basis[:, :r] = vt[:r].T
            if r < k and self.dims[m] >= k:
                # Fewer samples than the block: complete the PCA basis with random orthogonal
                # directions so the rest of the input is not thrown away.
                q, _ = np.linalg.qr(np.hstack([vt[:r].T, rng.standard_normal((self.dims[m], k - r))]))
                basis[:, r:] = q[:, r:k]
            w = np.zeros((self.dims[m], self.out_dim), np.float32)
            w[:, col : col + k] = basis
            self.W[m] = w
            col += k

    def _fit_contrastive(self, data, labels, epochs: int, seed: int) -> None:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        mods = [m for m in MODALITIES if m in self.dims]
        xs = {m: torch.from_numpy(np.where(data[m][1][:, None], self._centered(m, data[m][0]), 0.0).astype(np.float32)) for m in mods}
        masks = {m: torch.from_numpy(data[m][1]) for m in mods}
        proj = torch.nn.ModuleDict({m: torch.nn.Linear(self.dims[m], self.out_dim, bias=False) for m in mods})
        y = None
        if labels is not None:
            codes = {v: i for i, v in enumerate(sorted({str(l) for l in labels}))}
            y = torch.tensor([codes[str(l)] for l in labels])
        opt = torch.optim.AdamW(proj.parameters(), lr=1e-3, weight_decay=1e-2)
        tau = 0.07
        n = len(next(iter(masks.values())))
        batch = min(256, n)
        w = {m: self.weights.get(m, 1.0) for m in mods}

        def info_nce(a, b):
            logits = a @ b.T / tau
            target = torch.arange(len(a))
            return 0.5 * (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target))

        self.meta_loss = []
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(n))
            for s in range(0, n, batch):
                idx = order[s : s + batch]
                z = {m: torch.nn.functional.normalize(proj[m](xs[m][idx]), dim=1) for m in mods}
                mk = {m: masks[m][idx] for m in mods}
                loss = torch.zeros(())
                terms = 0
                for i, a in enumerate(mods):
                    for b in mods[i + 1 :]:
                        both = mk[a] & mk[b]
                        if both.sum() >= 2:
                            loss = loss + info_nce(z[a][both], z[b][both])
                            terms += 1
                # Modality dropout: a vector from a random subset of parts should still find
                # the full vector of the same item among the batch.
                keep = {m: mk[m] & (torch.rand(len(idx)) > 0.5) for m in mods}
                full = torch.nn.functional.normalize(sum(w[m] * z[m] * mk[m][:, None] for m in mods), dim=1)
                part = torch.nn.functional.normalize(sum(w[m] * z[m] * keep[m][:, None] for m in mods), dim=1)
                ok = part.norm(dim=1) > 0
                if ok.sum() >= 2:
                    loss = loss + info_nce(part[ok], full[ok])
                    terms += 1
                if y is not None:
                    yb = y[idx]
                    sim = full @ full.T / tau
                    eye = torch.eye(len(idx), dtype=torch.bool)
                    pos = (yb[:, None] == yb[None, :]) & ~eye
                    has_pos = pos.any(1)
                    if has_pos.any():
                        log_prob = sim - torch.logsumexp(sim.masked_fill(eye, -1e9), dim=1, keepdim=True)
                        supcon = -(log_prob * pos).sum(1)[has_pos] / pos.sum(1)[has_pos]
                        loss = loss + 0.5 * supcon.mean()
                        terms += 1
                if terms == 0:
                    continue
                if not torch.isfinite(loss):
                    raise FloatingPointError("fusion loss became NaN/inf")
                opt.zero_grad()
                loss.backward()
                opt.step()
            self.meta_loss.append(float(loss.detach()))
        self.W = {m: proj[m].weight.detach().numpy().T.copy().astype(np.float32) for m in mods}

    # -- transform ---------------------------------------------------------------------
    def _check(self) -> None:
        if not self.W:
            raise RuntimeError("FusionModel is not fitted; call fit() or load()")

    def transform(self, image_vecs, text_vecs, attr_vecs) -> FusedVectors:
        """Inputs as in :meth:`fit` (missing parts: None rows, all-zero/NaN rows or None)."""
        self._check()
        lengths = [len(v) for v in (image_vecs, text_vecs, attr_vecs) if v is not None]
        if not lengths:
            raise ValueError("transform needs at least one of image_vecs, text_vecs, attr_vecs")
        if len(set(lengths)) > 1:
            raise ValueError(f"image/text/attr inputs have different lengths: {lengths}")
        n = lengths[0]
        inputs = {"image": _stack(image_vecs, n, "image_vecs"), "text": _stack(text_vecs, n, "text_vecs"), "attr": _stack(attr_vecs, n, "attr_vecs")}
        out = np.zeros((n, self.out_dim), np.float32)
        flags = {}
        for m in MODALITIES:
            x, present = inputs[m]
            if m not in self.W or x is None:
                flags[m] = np.zeros(n, bool)
                continue
            if x.shape[1] != self.dims[m]:
                raise ValueError(f"{m} vectors have {x.shape[1]} dims, the fusion was fitted on {self.dims[m]}")
            flags[m] = present
            if present.any():
                z = l2_normalize(self._centered(m, x[present]) @ self.W[m])
                out[present] += self.weights.get(m, 1.0) * z
        return FusedVectors(l2_normalize(out), flags["image"], flags["text"], flags["attr"])

    # -- persistence -------------------------------------------------------------------
    def _tensors(self) -> dict[str, np.ndarray]:
        t = {}
        for m in self.W:
            t[f"W.{m}"] = self.W[m]
            t[f"mu.{m}"] = self.mu[m]
        return t

    @property
    def version(self) -> str:
        # Hashing ~1M floats costs milliseconds and callers ask per item: computed once.
        self._check()
        if not self._version:
            self._version = f"fusion-{self.mode}@{tensors_digest(self._tensors())[:12]}"
        return self._version

    def save(self, directory: str | os.PathLike) -> str:
        self._check()
        meta = {"mode": self.mode, "out_dim": self.out_dim, "dims": self.dims, "weights": self.weights, "version": self.version, "fit": self.meta}
        save_artifact(directory, FUSION_KIND, self._tensors(), meta)
        return self.version

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "FusionModel":
        tensors, meta = load_artifact(directory, FUSION_KIND)
        obj = cls(out_dim=int(meta["out_dim"]), weights={k: float(v) for k, v in meta["weights"].items()})
        obj.mode = str(meta["mode"])
        obj.dims = {k: int(v) for k, v in meta["dims"].items()}
        obj.meta = meta.get("fit", {})
        for m in obj.dims:
            obj.W[m] = tensors[f"W.{m}"]
            obj.mu[m] = tensors[f"mu.{m}"]
            if obj.W[m].shape != (obj.dims[m], obj.out_dim):
                raise ValueError(f"{directory}: W.{m} has shape {obj.W[m].shape}, expected {(obj.dims[m], obj.out_dim)}")
        if meta.get("version") != obj.version:
            raise ValueError(f"{directory}: stored version {meta.get('version')} != weights {obj.version}")
        return obj
