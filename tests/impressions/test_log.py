"""The impression buffer: nothing lost when the database refuses a flush, nothing written twice."""
from __future__ import annotations

import pytest
from django.db import DatabaseError

from recommender.impressions import log
from recommender.models import Impression
from recommender.serving.results import RecommendationResult, RecommendedItem

pytestmark = pytest.mark.django_db


def _result(n: int) -> RecommendationResult:
    items = [RecommendedItem(id=f"I{i}", title="t", type="Ring", price=1.0, currency="EUR", image_url="", score=1.0,
                             reason="r") for i in range(n)]
    return RecommendationResult("home", items, "blend-x", True, True)


def test_a_refused_flush_keeps_the_rows_for_the_next(monkeypatch):
    first, second = _result(2), _result(3)
    log.impression_record(first, "c1")
    log.impression_record(second, None)

    def refuse(rows):
        raise DatabaseError("database is restarting")

    monkeypatch.setattr(log, "_insert", refuse)
    assert log.impressions_flush() == 0 and log.impressions_buffered() == 2
    monkeypatch.undo()
    assert log.impressions_flush() == 2 and log.impressions_buffered() == 0
    rows = {r.request_id: r for r in Impression.objects.all()}
    assert rows[first.request_id].items == ["I0", "I1"] and rows[first.request_id].customer_key == "c1"
    assert rows[second.request_id].items == ["I0", "I1", "I2"] and rows[second.request_id].customer_key == ""


def test_rows_written_before_are_skipped_not_refused():
    result = _result(1)
    log.impression_record(result, "c1")
    assert log.impressions_flush() == 1
    log.impression_record(result, "c1")  # the same answer again (a retried flush after a lost connection)
    log.impression_record(_result(1), "c2")
    assert log.impressions_flush() == 2
    assert Impression.objects.count() == 2


def test_logging_can_be_turned_off(settings):
    settings.JEWELREC_IMPRESSIONS = False
    log.impression_record(_result(1), "c1")
    assert log.impressions_buffered() == 0
