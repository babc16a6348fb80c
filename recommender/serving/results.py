"""What every scenario returns; the API and the dashboard preview render the same objects."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecommendedItem:
    id: str
    title: str
    type: str
    price: float | None
    currency: str
    image_url: str
    score: float
    reason: str
    exclusive_tier: str | None = None


@dataclass
class RecommendationResult:
    scenario: str
    items: list[RecommendedItem]
    model_version: str
    personalised: bool
    customer_known: bool
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    extras: dict[str, Any] = field(default_factory=dict)
