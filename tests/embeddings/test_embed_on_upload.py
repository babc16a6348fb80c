"""New items and photos get their vector through the embedding queue, not at the next catalog job."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from recommender.catalog.services import item_create, item_image_add, item_update
from recommender.embeddings import services as emb
from recommender.jobs import services as jobs_services
from recommender.models import Job, ItemVector
from recommender.serving import scenarios
from recommender.serving.catalog import serving_catalog_invalidate
from recommender.tasks.embedding import embed_item_task
from tests.embeddings.test_embedding_pipeline import real_catalog  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db]


def _item_jobs(item) -> list[Job]:
    return list(Job.objects.filter(kind=Job.Kind.EMBED_ITEM, params__item_pk=item.pk).order_by("id"))


def test_create_edit_and_photo_queue_one_item_job_each_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(jobs_services, "job_send", lambda job_id, kind: sent.append(job_id) or True)
    with django_capture_on_commit_callbacks(execute=True):
        item = item_create(external_id="N1", title="Hoops", product_type="Earring", colour="Gold")
    assert [j.pk for j in _item_jobs(item)] == sent and len(sent) == 1
    assert ItemVector.objects.get(item=item).status == ItemVector.Status.MISSING

    with django_capture_on_commit_callbacks(execute=True):
        item_update(item, in_stock=False)  # not an input of the vector: nothing queued
    assert len(sent) == 1
    with django_capture_on_commit_callbacks(execute=True):
        item_update(item, colour="Silver")
    assert len(sent) == 2 and _item_jobs(item)[-1].params == {"item_id": "N1", "item_pk": item.pk}


def test_dashboard_photo_upload_queues_the_vector_job_shown_on_the_item_page(django_user_model, monkeypatch,
                                                                             django_capture_on_commit_callbacks):
    from tests.dashboard.conftest import png_bytes

    staff_user = django_user_model.objects.create_user(username="m", password="x", is_staff=True)
    sent: list[int] = []
    monkeypatch.setattr(jobs_services, "job_send", lambda job_id, kind: sent.append(job_id) or True)
    client = Client()
    client.force_login(staff_user)
    item = item_create(external_id="N2", title="Chain", product_type="Necklace")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/catalog/items/{item.pk}/photos/",
                               {"photos": [SimpleUploadedFile("a.png", png_bytes(colour=(1, 2, 3))),
                                           SimpleUploadedFile("b.png", png_bytes(colour=(3, 2, 1)))]})
    assert response.status_code == 302
    job = _item_jobs(item)[-1]
    assert sent == [job.pk]  # one job for both photos, sent after they committed
    assert job.created_by == staff_user and job.status == Job.Status.QUEUED
    page = client.get(f"/catalog/items/{item.pk}/").content.decode()
    assert f'data-job-status-url="/jobs/{job.pk}/status.json"' in page


@pytest.mark.slow
def test_uploaded_photo_makes_the_item_similar_once_its_queued_job_ran(real_catalog, hm_dir,  # noqa: F811
                                                                      django_capture_on_commit_callbacks):
    emb.embed_items([i.pk for i in real_catalog.values()])  # the catalog as the last catalog job left it
    anchor = next(i for i in real_catalog.values() if i.product_type == "Earring" and i.images.exists())
    photo = (hm_dir / "images" / f"{anchor.external_id}.jpg").read_bytes()
    serving_catalog_invalidate()
    with django_capture_on_commit_callbacks(execute=False):
        new = item_create(external_id="0999999001", title=anchor.title, product_type="Earring", colour=anchor.colour,
                          description=anchor.description)
        item_image_add(new, photo)
        from recommender.catalog.services import item_photos_upload

        item_photos_upload(new, [SimpleUploadedFile("same.jpg", photo + b"\0")])  # a different file, same picture
    before = scenarios.recommend_similar(anchor.external_id, scenarios.Request(k=5))
    assert new.external_id not in [i.id for i in before.items]  # no vector yet

    job = _item_jobs(new)[-1]
    embed_item_task.apply(args=[job.pk])  # what the embedding worker does with the queued message
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    vector = ItemVector.objects.get(item=new)
    assert vector.status == ItemVector.Status.CURRENT and vector.has_image
    serving_catalog_invalidate()  # serving processes notice the new vector within seconds
    after = scenarios.recommend_similar(anchor.external_id, scenarios.Request(k=5))
    assert after.items[0].id == new.external_id
