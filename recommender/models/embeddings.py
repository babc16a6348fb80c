"""Item vectors from pretrained encoders.

``EncoderOutput`` caches raw encoder outputs keyed by encoder version and input hash, so
a re-run with the same photo/text does no work and the fusion can be retrained without
re-encoding. ``ItemVector`` is the fused 512-d multimodal vector of an item.
"""
from __future__ import annotations

from django.db import models

from .catalog import Item


class EncoderOutput(models.Model):
    class Modality(models.TextChoices):
        IMAGE = "image", "Image"
        TEXT = "text", "Text"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="encoder_outputs")
    modality = models.CharField(max_length=8, choices=Modality.choices)
    encoder = models.CharField(max_length=64)  # encoder name + version, e.g. "efficientnet-lite0@1"
    input_hash = models.CharField(max_length=64)  # photo content hash or text hash
    dim = models.PositiveIntegerField()
    vector = models.BinaryField()  # float32 little-endian
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "modality", "encoder", "input_hash"], name="encoder_output_unique"),
        ]
        indexes = [models.Index(fields=["encoder", "modality"])]


class ItemVector(models.Model):
    class Status(models.TextChoices):
        MISSING = "missing", "Missing"
        CURRENT = "current", "Current"
        STALE = "stale", "Stale"
        FAILED = "failed", "Failed"

    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="vector")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.MISSING, db_index=True)
    # The last good fused vector stays here when a later embedding fails.
    vector = models.BinaryField(null=True, blank=True)
    dim = models.PositiveIntegerField(default=0)
    fusion_version = models.CharField(max_length=64, blank=True, default="")
    image_encoder = models.CharField(max_length=64, blank=True, default="")
    text_encoder = models.CharField(max_length=64, blank=True, default="")
    image_hash = models.CharField(max_length=64, blank=True, default="")
    text_hash = models.CharField(max_length=64, blank=True, default="")
    has_image = models.BooleanField(default=False)
    has_text = models.BooleanField(default=False)
    failure_reason = models.TextField(blank=True, default="")
    # indexed: every serving process reads count(*) and max(updated_at) every few seconds to
    # notice catalog changes, an index-only scan instead of a scan of the whole table
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["fusion_version", "status"])]
