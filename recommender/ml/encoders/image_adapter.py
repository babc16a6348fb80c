"""The jewelry image adapter: frozen ImageNet features (1280) -> jewelry-aware vectors, and the
visual-search scores that use it. How it is trained and evaluated on the labelled photos is
``adaptation.py``."""
from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np
import torch

from ..common.artifacts import load_artifact, save_artifact
from .image import ImageEncoder

TYPES = ("bracelet", "earring", "necklace", "ring", "watch")
ADAPTER_KIND = "jewelrec.image_adapter"


class _AdapterNet(torch.nn.Module):
    def __init__(self, in_dim: int, hidden: int, out_dim: int, n_classes: int):
        super().__init__()
        if hidden > 0:
            self.proj = torch.nn.Sequential(
                torch.nn.Linear(in_dim, hidden), torch.nn.GELU(), torch.nn.Dropout(0.2), torch.nn.Linear(hidden, out_dim)
            )
        else:
            self.proj = torch.nn.Linear(in_dim, out_dim)
        self.prototypes = torch.nn.Parameter(torch.randn(n_classes, out_dim) * 0.05)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.proj(x), dim=1)


class ImageAdapter:
    """Frozen EfficientNet features (1280) -> L2-normalised jewelry-aware vectors (``out_dim``).

    Trained with a cosine-softmax over type prototypes (normalised embeddings, scale
    ``s``), which pulls photos of a type together on the sphere so that cosine nearest
    neighbours in the adapted space share the type.
    """

    def __init__(self, in_dim: int = 1280, out_dim: int = 256, hidden: int = 512, classes: Sequence[str] = TYPES):
        self.in_dim, self.out_dim, self.hidden = int(in_dim), int(out_dim), int(hidden)
        self.classes = list(classes)
        self.mean = np.zeros(self.in_dim, np.float32)
        self.std = np.ones(self.in_dim, np.float32)
        self.net = _AdapterNet(self.in_dim, self.hidden, self.out_dim, len(self.classes))
        self.net.eval()
        self.version = ""
        self.train_info: dict = {}

    def fit(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        epochs: int = 60,
        lr: float = 2e-3,
        weight_decay: float = 1e-3,
        scale: float = 16.0,
        batch_size: int = 256,
        feature_noise: float = 0.1,
        seed: int = 0,
        on_epoch: Callable[[int, int], None] | None = None,
    ) -> "ImageAdapter":
        """Train on raw features ``(n, 1280)`` (augmented views are just more rows) and int labels.

        ``on_epoch(done, epochs)`` is called after each epoch.
        """
        features = np.asarray(features, np.float32)
        labels = np.asarray(labels, np.int64)
        if features.ndim != 2 or features.shape[1] != self.in_dim or len(features) != len(labels):
            raise ValueError(f"expected features (n, {self.in_dim}) and n labels, got {features.shape} / {labels.shape}")
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        self.mean = features.mean(axis=0).astype(np.float32)
        self.std = (features.std(axis=0) + 1e-4).astype(np.float32)
        x = torch.from_numpy((features - self.mean) / self.std)
        y = torch.from_numpy(labels)
        # Class-balanced sampling weights: earrings are 3x rings in the labels.
        counts = np.bincount(labels, minlength=len(self.classes)).astype(np.float64)
        class_w = torch.tensor(counts.sum() / np.maximum(counts, 1) / len(self.classes), dtype=torch.float32)
        self.net = _AdapterNet(self.in_dim, self.hidden, self.out_dim, len(self.classes))
        opt = torch.optim.AdamW(self.net.parameters(), lr=lr, weight_decay=weight_decay)
        steps = epochs * int(np.ceil(len(x) / batch_size))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        self.net.train()
        losses = []
        for epoch in range(1, epochs + 1):
            order = torch.from_numpy(rng.permutation(len(x)))
            total = 0.0
            for s in range(0, len(x), batch_size):
                idx = order[s : s + batch_size]
                xb = x[idx]
                if feature_noise:
                    xb = xb + feature_noise * torch.randn_like(xb)
                z = self.net.embed(xb)
                protos = torch.nn.functional.normalize(self.net.prototypes, dim=1)
                logits = scale * z @ protos.T
                loss = torch.nn.functional.cross_entropy(logits, y[idx], weight=class_w)
                if not torch.isfinite(loss):
                    raise FloatingPointError("adapter loss became NaN/inf")
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            losses.append(total / len(x))
            if on_epoch is not None:
                on_epoch(epoch, epochs)
        self.net.eval()
        self.train_info = {"epochs": epochs, "lr": lr, "scale": scale, "n": int(len(x)), "final_loss": losses[-1]}
        self.version = self._compute_version()
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        """(n, 1280) raw features -> (n, out_dim) L2-normalised float32."""
        features = np.asarray(features, np.float32)
        if features.ndim == 1:
            return self.transform(features[None])[0]
        if features.shape[1] != self.in_dim:
            raise ValueError(f"expected (n, {self.in_dim}) features, got {features.shape}")
        with torch.inference_mode():
            z = self.net.embed(torch.from_numpy((features - self.mean) / self.std))
        return z.numpy().astype(np.float32)

    def predict_proba(self, features: np.ndarray, scale: float = 16.0) -> np.ndarray:
        z = torch.from_numpy(self.transform(features))
        protos = torch.nn.functional.normalize(self.net.prototypes.detach(), dim=1)
        return torch.softmax(scale * z @ protos.T, dim=1).numpy()

    def _tensors(self) -> dict[str, np.ndarray]:
        t = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        t["mean"], t["std"] = self.mean, self.std
        return t

    def _compute_version(self) -> str:
        from ..common.artifacts import tensors_digest

        return f"image-adapter@{tensors_digest(self._tensors())[:12]}"

    def save(self, directory: str | os.PathLike) -> str:
        meta = {
            "in_dim": self.in_dim,
            "out_dim": self.out_dim,
            "hidden": self.hidden,
            "classes": self.classes,
            "version": self.version,
            "train_info": self.train_info,
            "base_encoder": ImageEncoder.version,
        }
        save_artifact(directory, ADAPTER_KIND, self._tensors(), meta)
        return self.version

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "ImageAdapter":
        tensors, meta = load_artifact(directory, ADAPTER_KIND)
        obj = cls(meta["in_dim"], meta["out_dim"], meta["hidden"], meta["classes"])
        obj.mean, obj.std = tensors.pop("mean"), tensors.pop("std")
        state = {k[len("net.") :]: torch.from_numpy(v.copy()) for k, v in tensors.items()}
        obj.net.load_state_dict(state, strict=True)
        obj.net.eval()
        obj.train_info = meta.get("train_info", {})
        obj.version = obj._compute_version()
        if meta.get("version") and meta["version"] != obj.version:
            raise ValueError(f"{directory}: stored version {meta['version']} != weights {obj.version}")
        return obj


def type_aware_scores(adapter: "ImageAdapter", query_features: np.ndarray, gallery_adapted: np.ndarray,
                      gallery_types: Sequence[str], weight: float = 1.0) -> np.ndarray:
    """Visual-search scores that also use what the catalog already knows: each item's type.

    score = cosine(adapted query, adapted item) + weight * P(item's type | query photo).
    The adapter's type classifier transfers far better from web photos to studio catalog
    shots than raw nearest neighbours do, and a catalog item's type is metadata, not a guess.
    ``query_features`` are raw (n, 1280) features, ``gallery_adapted`` (m, out_dim) adapted
    and L2-normalised; returns (n, m).
    """
    q = adapter.transform(np.asarray(query_features, np.float32).reshape(-1, adapter.in_dim))
    probs = adapter.predict_proba(np.asarray(query_features, np.float32).reshape(-1, adapter.in_dim))
    index = {c: i for i, c in enumerate(adapter.classes)}
    cols = np.array([index.get(t, -1) for t in gallery_types])
    type_prob = np.where(cols[None, :] >= 0, probs[:, np.clip(cols, 0, None)], 0.0)
    return q @ np.asarray(gallery_adapted, np.float32).T + weight * type_prob
