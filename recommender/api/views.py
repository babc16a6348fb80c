"""Storefront API: one thin view per operation (validate, call one service, serialize)."""
from __future__ import annotations

import time

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers
from rest_framework.response import Response
from rest_framework.views import APIView

from recommender.events.services import events_ingest
from recommender.impressions.log import impression_record
from recommender.serving import scenarios
from recommender.serving.errors import DomainError, NotFoundError, PayloadTooLargeError
from recommender.serving.request_log import api_request_record
from recommender.serving.search import assistant_answer, search_image, search_text

from . import serializers as s
from .auth import ApiKeyAuthentication, ApiKeyThrottle, HasEventsScope, HasReadScope
from .parsers import LimitedJSONParser, MultiPartFormParser


ID_ECHO = 64  # how much of a refused id an error message repeats


def _documented(ok, *statuses: int) -> dict:
    """The success body plus the uniform error body for every error status the operation can answer."""
    error = OpenApiResponse(s.ErrorSerializer, description="{\"error\": {\"code\", \"message\", \"field\"}}")
    # 413: every view checks the body size; 414/431: a URL or header over the limits under /api/
    codes = {400, 401, 403, 413, 414, 429, 431, 503, *statuses}
    return {200: ok, **{code: error for code in sorted(codes)}}


class StorefrontView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasReadScope]
    throttle_classes = [ApiKeyThrottle]
    parser_classes = [LimitedJSONParser]
    scenario = "other"

    def initial(self, request, *args, **kwargs):
        self._started = time.perf_counter()
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.JEWELREC_API_MAX_BODY_BYTES and not self._multipart():
            raise PayloadTooLargeError(f"The body is larger than {settings.JEWELREC_API_MAX_BODY_BYTES} bytes.")
        super().initial(request, *args, **kwargs)

    def _multipart(self) -> bool:
        return any(issubclass(p, parsers.MultiPartParser) for p in self.parser_classes)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        started = getattr(self, "_started", None)
        if started is not None:
            api_request_record(self.scenario, response.status_code, (time.perf_counter() - started) * 1000)
        return response

    def query(self, serializer_class):
        # A plain dict, not the QueryDict: DRF reads "k=" from a QueryDict as "k absent", while
        # the schema (and this API) call an empty value what it is, an empty value.
        serializer = serializer_class(data=self.request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def body(self, serializer_class):
        if not isinstance(self.request.data, dict):
            raise DomainError("The body must be a JSON object.", code="invalid_body")
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def _shown(result, data: dict) -> dict:
    """The answer's JSON, after noting what it showed (buffered; written off the request path)."""
    impression_record(result, data.get("customer_id"))
    return s.render_result(result)


def _req(data: dict) -> scenarios.Request:
    return scenarios.Request(customer_id=data.get("customer_id"), k=data.get("k", 10), product_type=data.get("type"),
                             channel=data.get("channel"))


class HomeView(StorefrontView):
    scenario = "home"

    @extend_schema(parameters=[s.HomeQuerySerializer], responses=_documented(s.RecommendationOutputSerializer, 404),
                   summary="Homepage and category-page personalisation")
    def get(self, request):
        data = self.query(s.HomeQuerySerializer)
        return Response(_shown(scenarios.recommend_home(_req(data)), data))


class CrossSellView(StorefrontView):
    scenario = "cross_sell"

    @extend_schema(request=s.CrossSellInputSerializer, responses=_documented(s.RecommendationOutputSerializer, 404),
                   summary="Complementary jewelry for a cart or order")
    def post(self, request):
        data = self.body(s.CrossSellInputSerializer)
        return Response(_shown(scenarios.recommend_cross_sell(_req(data), data["items"]), data))


class MemberExclusiveView(StorefrontView):
    scenario = "member_exclusive"

    @extend_schema(parameters=[s.CustomerQuerySerializer], responses=_documented(s.RecommendationOutputSerializer, 404),
                   summary="Items reserved for the customer's membership tier and below")
    def get(self, request):
        data = self.query(s.CustomerQuerySerializer)
        return Response(_shown(scenarios.recommend_member_exclusive(_req(data)), data))


class FeedView(StorefrontView):
    scenario = "feed"

    @extend_schema(parameters=[s.FeedQuerySerializer], responses=_documented(s.FeedOutputSerializer, 404),
                   summary="Endless personalised feed (cursor pagination)")
    def get(self, request):
        data = self.query(s.FeedQuerySerializer)
        req = scenarios.Request(customer_id=data.get("customer_id"), product_type=data.get("type"),
                                channel=data.get("channel"))
        return Response(_shown(scenarios.feed_page(req, data["page_size"], data.get("cursor")), data))


class SimilarView(StorefrontView):
    scenario = "similar"

    @extend_schema(parameters=[s.SimilarQuerySerializer], responses=_documented(s.RecommendationOutputSerializer, 404),
                   summary="Items similar to this one (photo + text + attributes)")
    def get(self, request, item_id: str):
        data = self.query(s.SimilarQuerySerializer)
        if not s.is_valid_id(item_id):
            # No catalog id has control characters (PostgreSQL could not even compare one with NUL).
            raise NotFoundError(f"Unknown item id '{item_id[:ID_ECHO]}'.", field="id", code="unknown_item")
        return Response(_shown(scenarios.recommend_similar(item_id, _req(data), same_type=data["same_type"]), data))


class SearchView(StorefrontView):
    scenario = "search"

    @extend_schema(request=s.SearchInputSerializer, responses=_documented(s.SearchOutputSerializer, 413, 415),
                   summary="Natural-language search (English, Chinese or mixed; styles, materials, negation)")
    def post(self, request):
        data = self.body(s.SearchInputSerializer)
        return Response(_shown(search_text(data["query"], _req(data), price_min=data.get("price_min"),
                                           price_max=data.get("price_max")), data))


class ImageSearchView(StorefrontView):
    scenario = "image_search"
    parser_classes = [MultiPartFormParser]

    @extend_schema(parameters=[s.ImageSearchQuerySerializer], request={"multipart/form-data": s.ImageSearchInputSerializer},
                   responses=_documented(s.RecommendationOutputSerializer, 413, 415), summary="Visual search: a photo in, similar items out")
    def post(self, request):
        data = self.query(s.ImageSearchQuerySerializer)
        upload = s.ImageSearchInputSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        return Response(_shown(search_image(upload.validated_data["image"], _req(data)), data))


class AssistantView(StorefrontView):
    scenario = "assistant"

    @extend_schema(request=s.AssistantInputSerializer, responses=_documented(s.AssistantOutputSerializer, 404, 413, 415),
                   summary="Shopping assistant: answers grounded in catalog data")
    def post(self, request):
        data = self.body(s.AssistantInputSerializer)
        result = assistant_answer(data["message"], _req(data), item_id=data.get("item_id"))
        return Response(_shown(result, data))


class EventsView(StorefrontView):
    scenario = "events"
    permission_classes = [HasEventsScope]

    @extend_schema(request=s.EventsInputSerializer,
                   responses={**_documented(s.EventsOutputSerializer, 413, 415), 207: s.EventsOutputSerializer},
                   summary="Post a batch of behaviour events (idempotent by event_id)")
    def post(self, request):
        data = self.body(s.EventsInputSerializer)
        # Each event is validated by the ingestion service on its own: bad ones are
        # reported with their field, the valid ones are stored.
        body = s.render_event_outcomes(events_ingest(data["events"]))
        # 207 whenever an event was rejected, all of them included: the request itself was a
        # valid batch, and each event's outcome is in the body. 400 is for a body that is not one.
        return Response(body, status=200 if body["errors"] == 0 else 207)


class PingView(APIView):
    """A trivial endpoint: the framework's ceiling in the latency benchmark."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasReadScope]
    throttle_classes = [ApiKeyThrottle]

    @extend_schema(responses=_documented({"type": "object", "properties": {"ok": {"type": "boolean"}}}),
                   summary="Health check with authentication")
    def get(self, request):
        return Response({"ok": True})
