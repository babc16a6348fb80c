"""A task travels through the configured broker to a real worker process and back."""
import pytest
from django.db import connection
from django_celery_results.models import TaskResult

from recommender.models import Item
from recommender.tasks.maintenance import worker_ping_task
from tests.support.worker import running_worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_task_round_trip_through_real_worker():
    Item.objects.create(external_id="0000000001", title="Hoop earrings", product_type="Earring", is_jewelry=True)
    with running_worker(queues="default"):
        result = worker_ping_task.delay()
        payload = result.get(timeout=60)
    # The worker is another process that saw the row this test committed.
    assert payload["items"] == 1
    assert payload["database"] == connection.vendor
    # The result is stored in the database backend, visible from Django.
    stored = TaskResult.objects.get(task_id=result.id)
    assert stored.status == "SUCCESS"
    assert stored.task_name == "recommender.tasks.maintenance.worker_ping_task"
