"""Input and output serializers of the storefront API (one pair per operation)."""
from __future__ import annotations

import math
import re

from django.conf import settings
from rest_framework import serializers

from recommender.catalog.images import ImageRejected, image_validate
from recommender.serving.errors import DomainError, PayloadTooLargeError, UnsupportedFormatError
from recommender.serving.scenarios import CHANNELS, MAX_K

ID_MAX = 128
# Every number written in a query or message (a price bound, a size) must be at most this:
# a few hundred nines became float infinity, which no JSON answer can carry.
MAX_TEXT_NUMBER = 10**12
# The same numbers the query parser reads (recommender/ml/search/query.py, _NUM).
_TEXT_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def numbers_in_range(text: str) -> str:
    """Refuse a text with a number the search could not use as a finite price bound."""
    for match in _TEXT_NUMBER.finditer(text):
        value = float(match.group().replace(",", "."))
        if not math.isfinite(value) or value > MAX_TEXT_NUMBER:
            raise serializers.ValidationError(
                f"The number {match.group()[:20]}{'…' if len(match.group()) > 20 else ''} is larger than "
                f"{MAX_TEXT_NUMBER:,}.", code="number_out_of_range")
    return text


class KField(serializers.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_K)
        kwargs.setdefault("default", 10)
        super().__init__(**kwargs)


class ChannelField(serializers.ChoiceField):
    """The sales channel the request comes from; without it, the customer's own events say."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "online or store: popularity is read in this channel (default: the "
                                       "customer's own channel mix)")
        kwargs.setdefault("error_messages", {"invalid_choice": f"channel must be one of {', '.join(CHANNELS)}; "
                                                               "got \"{input}\"."})
        super().__init__(choices=CHANNELS, **kwargs)


class HomeQuerySerializer(serializers.Serializer):
    customer_id = serializers.CharField(required=False, max_length=ID_MAX, allow_blank=False)
    k = KField()
    type = serializers.CharField(required=False, max_length=64, help_text="ring, earring, necklace, bracelet…")
    channel = ChannelField()


class CustomerQuerySerializer(serializers.Serializer):
    customer_id = serializers.CharField(max_length=ID_MAX)
    k = KField()
    type = serializers.CharField(required=False, max_length=64)
    channel = ChannelField()


class CrossSellInputSerializer(serializers.Serializer):
    customer_id = serializers.CharField(required=False, max_length=ID_MAX)
    items = serializers.ListField(child=serializers.CharField(max_length=ID_MAX), min_length=1, max_length=100)
    k = KField()
    type = serializers.CharField(required=False, max_length=64)
    channel = ChannelField()


class FeedQuerySerializer(serializers.Serializer):
    customer_id = serializers.CharField(required=False, max_length=ID_MAX)
    page_size = serializers.IntegerField(min_value=1, max_value=MAX_K, default=20)
    cursor = serializers.CharField(required=False, max_length=6000, help_text="The previous page's next_cursor, as given.")
    type = serializers.CharField(required=False, max_length=64)
    channel = ChannelField()


class SimilarQuerySerializer(serializers.Serializer):
    k = KField()
    customer_id = serializers.CharField(required=False, max_length=ID_MAX)
    same_type = serializers.BooleanField(required=False, default=False)
    type = serializers.CharField(required=False, max_length=64)


class SearchInputSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=500, trim_whitespace=True, validators=[numbers_in_range])
    customer_id = serializers.CharField(required=False, max_length=ID_MAX)
    k = KField()


class ImageSearchQuerySerializer(serializers.Serializer):
    k = KField()
    customer_id = serializers.CharField(required=False, max_length=ID_MAX)


class ImageSearchInputSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="The photo (JPEG, PNG, WebP or GIF).")

    def validate_image(self, upload) -> bytes:
        """The photo's bytes, checked like every stored photo: format, size, pixels, damage."""
        try:
            return image_validate(upload, name="image", max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE).data
        except ImageRejected as exc:
            error = {"too_large": PayloadTooLargeError,
                     "unsupported_image_format": UnsupportedFormatError}.get(exc.code, DomainError)
            raise error(f"The photo was refused: {exc.reason}.", field="image", code=exc.code) from None


class AssistantInputSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=1000, trim_whitespace=True, validators=[numbers_in_range])
    customer_id = serializers.CharField(required=False, max_length=ID_MAX)
    item_id = serializers.CharField(required=False, max_length=ID_MAX)


class EventsInputSerializer(serializers.Serializer):
    """Each event is validated on its own; a bad one is reported, the good ones are stored."""

    # Anything at all per event, null included: a bad event is reported in its own result.
    events = serializers.ListField(child=serializers.JSONField(allow_null=True), min_length=1, max_length=1000)


# --- outputs ------------------------------------------------------------------------------


class RecommendedItemSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The retailer's item id.")
    title = serializers.CharField()
    type = serializers.CharField()
    price = serializers.FloatField(allow_null=True)
    currency = serializers.CharField()
    image_url = serializers.CharField(allow_blank=True)
    score = serializers.FloatField()
    reason = serializers.CharField()
    exclusive_tier = serializers.CharField(allow_null=True)


class RecommendationOutputSerializer(serializers.Serializer):
    scenario = serializers.CharField()
    items = RecommendedItemSerializer(many=True)
    model_version = serializers.CharField()
    personalised = serializers.BooleanField()
    customer_known = serializers.BooleanField()
    request_id = serializers.CharField()


class FeedOutputSerializer(RecommendationOutputSerializer):
    next_cursor = serializers.CharField(allow_null=True)


class SearchOutputSerializer(RecommendationOutputSerializer):
    parsed = serializers.DictField()


class AssistantOutputSerializer(RecommendationOutputSerializer):
    answer = serializers.CharField()
    intent = serializers.CharField()


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    event_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "duplicate", "error"])
    error = serializers.DictField(allow_null=True)


class EventsOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = EventResultSerializer(many=True)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. 'unknown_item', 'missing_scope'.")
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True, help_text="The input field at fault, when there is one.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def render_result(result) -> dict:
    """A RecommendationResult as the JSON every recommendation endpoint returns."""
    body = {
        "scenario": result.scenario,
        "items": [item.__dict__ for item in result.items],
        "model_version": result.model_version,
        "personalised": result.personalised,
        "customer_known": result.customer_known,
        "request_id": result.request_id,
    }
    body.update(result.extras)
    return body
