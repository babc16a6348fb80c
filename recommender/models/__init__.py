"""Database models, split by area and re-exported here so ``recommender.models.X`` works."""
from .catalog import Customer, Item, ItemImage, MembershipTier
from .embeddings import EncoderOutput, ItemVector
from .events import Event, EventDailyCount, EventRollupState
from .impressions import (
    Attribution,
    AttributionPending,
    Experiment,
    ExperimentArm,
    Impression,
    ImpressionDailyMetric,
    ImpressionRollupState,
)
from .jobs import Job
from .search import SearchSynonym
from .serving import ApiKey, ApiRequestLog, MerchandisingRule
from .training import ModelVersion, PromotionEvent, RecommenderSettings

__all__ = [
    "ApiKey",
    "Attribution",
    "AttributionPending",
    "ApiRequestLog",
    "Customer",
    "EncoderOutput",
    "Event",
    "EventDailyCount",
    "EventRollupState",
    "Experiment",
    "ExperimentArm",
    "Impression",
    "ImpressionDailyMetric",
    "ImpressionRollupState",
    "Item",
    "ItemImage",
    "ItemVector",
    "Job",
    "MembershipTier",
    "MerchandisingRule",
    "ModelVersion",
    "PromotionEvent",
    "RecommenderSettings",
    "SearchSynonym",
]
