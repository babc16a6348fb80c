"""Search vocabulary added by merchandisers on top of the reviewed vocabulary file."""
from __future__ import annotations

from django.db import models
from django.db.models import Q


class SearchSynonym(models.Model):
    """One more way shoppers say a vocabulary term ("sleepers" for hoop, "耳圈" for hoop).

    ``concept`` names a term of ``recommender/ml/search/data/vocabulary.json`` or a new
    term of ``kind`` (materials, stones, styles, shapes, occasions only). Search reads the
    rows through a per-process snapshot, so a new synonym works without a deploy."""

    class Kind(models.TextChoices):
        TYPE = "type", "Jewelry type"
        COLOUR = "colour", "Colour"
        MATERIAL = "material", "Material"
        STONE = "stone", "Stone"
        STYLE = "style", "Style"
        SHAPE = "shape", "Shape"
        OCCASION = "occasion", "Occasion"

    concept = models.CharField(max_length=64)
    form = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["concept", "form"]
        constraints = [
            models.UniqueConstraint(fields=["form"], name="search_synonym_form_unique"),
            models.CheckConstraint(condition=~Q(concept="") & ~Q(form=""), name="search_synonym_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.form} -> {self.concept}"
