"""What every scenario returns; the API and the dashboard preview render the same objects."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def request_id_new() -> str:
    """32 hex digits like a uuid4, of which the first 12 are the time in milliseconds: an
    event that sends the id back can tell "not written yet" (impressions are stored in
    batches a second later) from "unknown" without a lookup table."""
    return f"{int(time.time() * 1000):012x}{uuid.uuid4().hex[:20]}"


def request_id_time(request_id: str) -> datetime | None:
    """When the id was issued, or None for a string that is not one of ours."""
    if len(request_id) != 32:
        return None
    try:
        millis = int(request_id[:12], 16)
        int(request_id[12:], 16)
    except ValueError:
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


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
    request_id: str = field(default_factory=request_id_new)
    extras: dict[str, Any] = field(default_factory=dict)
    # The A/B experiment and arm that chose the ranker (None / "" outside experiments).
    experiment_id: int | None = None
    arm: str = ""
