"""Device selection in one place so encoders, trainers and benchmarks agree."""
from __future__ import annotations

import os

import torch


def select_device(preferred: str | None = None) -> torch.device:
    """Return the device to run on.

    ``preferred`` (or env ``JEWELREC_DEVICE``) may be "cpu", "cuda", "cuda:1", "mps" or "auto".
    Asking for an accelerator that is absent is an error rather than a silent CPU fallback,
    because a benchmark or a job config that says "cuda" should not quietly run 50x slower.
    """
    choice = (preferred or os.environ.get("JEWELREC_DEVICE") or "auto").strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {choice!r} requested but CUDA is not available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"device {choice!r} requested but MPS is not available")
    return device
